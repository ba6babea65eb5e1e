"""The package's import graph (docs/architecture.md): no module imports, at run time, one that
imports it back, directly or round a circle. The layers themselves are import-linter's
contracts (``lint-imports``); this is what they do not check.

Imports made only for type hints (``if TYPE_CHECKING:``) still close three circles, through
``Core`` and ``LabApp`` handed to the services and screens: those go with the composition
root. They are pinned here so no new one joins them.
"""

from __future__ import annotations

import grimp

#: Circles that exist only through ``TYPE_CHECKING`` imports, each as its set of modules.
TYPE_ONLY_CIRCLES_LEFT = [
    {"labtui.core.health.poller", "labtui.core.health.service"},
    {
        "labtui.core.importer",
        "labtui.core.importer.apply_history",
        "labtui.core.importer.apply_inventory",
        "labtui.core.importer.run",
        "labtui.core.instances",
        "labtui.core.inventory.actions",
        "labtui.core.inventory.adapters",
        "labtui.core.inventory.objects",
        "labtui.core.inventory.vultr_sync",
        "labtui.core.jobs",
        "labtui.core.jobs.queue",
        "labtui.core.runtime",
        "labtui.core.schedules",
        "labtui.core.startup",
        "labtui.core.sync",
        "labtui.core.system_tasks",
    },
    {
        "labtui.tui.app",
        "labtui.tui.palette",
        "labtui.tui.screens.auth_form",
        "labtui.tui.screens.base",
        "labtui.tui.screens.dashboard",
        "labtui.tui.screens.health",
        "labtui.tui.screens.health_history",
        "labtui.tui.screens.health_shared",
        "labtui.tui.screens.login",
        "labtui.tui.screens.redeem",
        "labtui.tui.screens.setup",
        "labtui.tui.screens.table_screen",
    },
]


def circles(graph: grimp.ImportGraph) -> list[set[str]]:
    """The strongly connected groups of more than one module (Tarjan, without recursion)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    found: list[set[str]] = []
    counter = 0
    for root in sorted(graph.modules):
        if root in index:
            continue
        work = [(root, iter(sorted(graph.find_modules_directly_imported_by(root))))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.find_modules_directly_imported_by(child)))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
            if low[node] == index[node]:
                group = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    group.add(member)
                    if member == node:
                        break
                if len(group) > 1:
                    found.append(group)
    return found


def test_no_import_circle_at_run_time() -> None:
    graph = grimp.build_graph("labtui", exclude_type_checking_imports=True, cache_dir=None)
    assert circles(graph) == []


def test_no_new_circle_through_type_hints() -> None:
    graph = grimp.build_graph("labtui", cache_dir=None)
    for group in circles(graph):
        assert any(group <= known for known in TYPE_ONLY_CIRCLES_LEFT), f"a new import circle: {sorted(group)}"
