"""The roles screen's parts: the permission checklist (a tree grouped by category) and the
name / description form.

A tree reads better than a flat list at 80x24: categories fold, each shows how many of its
permissions are ticked, and space on a category ticks or clears all of it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, ClassVar

from rich.style import Style
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.message import Message
from textual.widgets import Button, Input, Label, Static, Tree
from textual.widgets.tree import TreeNode

from labtui.core.errors import LabtuiError
from labtui.core.permissions_catalog import PermissionDef
from labtui.core.rbac import RoleInfo
from labtui.tui.screens.user_forms import FormModal

NodeData = tuple[str, str]
"""``("category", name)`` or ``("permission", codename)``."""


class PermissionTree(Tree[NodeData]):
    """Every permission under its category, each with a checkbox.

    Space toggles the permission under the cursor (on a category: all of it); Enter or a
    click on a permission toggles it too. With :attr:`read_only` set, toggling shows that
    reason instead.
    """

    DEFAULT_CSS = """
    PermissionTree > .permission-tree--on { color: $text-success; text-style: bold; }
    PermissionTree > .permission-tree--partial { color: $text-warning; text-style: bold; }
    PermissionTree > .permission-tree--off { color: $text-muted; }
    PermissionTree > .permission-tree--label { color: $text-muted; }
    """

    COMPONENT_CLASSES: ClassVar[set[str]] = Tree.COMPONENT_CLASSES | {
        "permission-tree--on",
        "permission-tree--partial",
        "permission-tree--off",
        "permission-tree--label",
    }

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("space", "toggle_permission", "Toggle", show=False),
    ]

    class Changed(Message):
        """The ticked set changed (by the person, not by :meth:`set_checked`)."""

        def __init__(self, tree: PermissionTree, checked: frozenset[str]) -> None:
            super().__init__()
            self.tree = tree
            self.checked = checked

        @property
        def control(self) -> PermissionTree:
            return self.tree

    def __init__(self, definitions: list[PermissionDef], *, id: str | None = None) -> None:
        super().__init__("Permissions", id=id)
        self.show_root = False
        self.guide_depth = 2
        self.checked: set[str] = set()
        self.read_only: str | None = None
        """Why this role's permissions cannot be changed here, or None."""
        self.labels = {d.codename: d.label for d in definitions}
        self.categories: dict[str, list[str]] = {}
        for d in definitions:
            self.categories.setdefault(d.category, []).append(d.codename)
        self.nodes_by_name: dict[str, TreeNode[NodeData]] = {}
        for category, codenames in self.categories.items():
            node = self.root.add(Text(category), ("category", category), expand=True)
            self.nodes_by_name[f"category:{category}"] = node
            for codename in codenames:
                self.nodes_by_name[codename] = node.add_leaf(Text(codename), ("permission", codename))

    def set_checked(self, checked: set[str] | frozenset[str], read_only: str | None = None) -> None:
        """Show another role's permissions (no :class:`Changed` message)."""
        self.checked = set(checked)
        self.read_only = read_only
        for node in self.nodes_by_name.values():
            node.refresh()

    def node_for(self, codename: str) -> TreeNode[NodeData]:
        return self.nodes_by_name[codename]

    # -- rendering -----------------------------------------------------------------------------

    def _state(self, data: NodeData) -> str:
        kind, name = data
        if kind == "permission":
            return "on" if name in self.checked else "off"
        ticked = sum(1 for c in self.categories[name] if c in self.checked)
        return "on" if ticked == len(self.categories[name]) else "partial" if ticked else "off"

    def render_label(self, node: TreeNode[NodeData], base_style: Style, style: Style) -> Text:
        if node.data is None:
            return super().render_label(node, base_style, style)
        kind, name = node.data
        state = self._state(node.data)
        box = {"on": "[x] ", "partial": "[-] ", "off": "[ ] "}[state]
        box_style = self.get_component_rich_style(f"permission-tree--{state}", partial=True) + style
        muted = self.get_component_rich_style("permission-tree--label", partial=True) + style
        if kind == "permission":
            return Text.assemble((box, box_style), (name, style), (f"  {self.labels.get(name, '')}", muted))
        codenames = self.categories[name]
        ticked = sum(1 for c in codenames if c in self.checked)
        icon = self.ICON_NODE_EXPANDED if node.is_expanded else self.ICON_NODE
        return Text.assemble(
            (icon, base_style + Style(bold=True)),
            (box, box_style),
            (name, style + Style(bold=True)),
            (f"  {ticked}/{len(codenames)}", muted),
        )

    # -- toggling ------------------------------------------------------------------------------

    def action_toggle_permission(self) -> None:
        node = self.cursor_node
        if node is not None:
            self.toggle(node)

    @on(Tree.NodeSelected)
    def _selected(self, event: Tree.NodeSelected[NodeData]) -> None:
        """Enter or a click: a permission toggles; a category folds (Tree's own behaviour)."""
        if event.node.data and event.node.data[0] == "permission":
            event.stop()
            self.toggle(event.node)

    def toggle(self, node: TreeNode[NodeData]) -> None:
        if node.data is None:
            return
        if self.read_only:
            self.notify(self.read_only, severity="warning", markup=False)
            return
        kind, name = node.data
        codenames = [name] if kind == "permission" else self.categories[name]
        turn_on = not all(c in self.checked for c in codenames)
        for codename in codenames:
            (self.checked.add if turn_on else self.checked.discard)(codename)
            self.nodes_by_name[codename].refresh()
        category = node if kind == "category" else node.parent
        if category is not None:
            category.refresh()
        self.post_message(self.Changed(self, frozenset(self.checked)))


class RoleForm(FormModal):
    """Name and description of a new or existing role; returns the saved name."""

    def __init__(self, save: Callable[[str, str], Awaitable[Any]], existing: RoleInfo | None = None) -> None:
        super().__init__()
        self.save = save
        self.existing = existing

    def compose(self) -> ComposeResult:
        e = self.existing
        with VerticalScroll() as box:
            box.border_title = f"Edit role {e.name}" if e else "New role"
            with Grid():
                yield Label("Name", classes="field")
                yield Input(e.name if e else "", id="name", placeholder="2-50 letters, digits, space . - _")
                yield Label("Description", classes="field")
                yield Input(e.description if e else "", id="description", placeholder="what this role is for")
            if not e:
                yield Static("Tick its permissions on the roles screen after creating it.", classes="hint")
            yield Static("", id="error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    @on(Input.Submitted)
    async def _submitted(self) -> None:
        await self.action_save()

    async def action_save(self) -> None:
        name = self.query_one("#name", Input).value.strip()
        description = self.query_one("#description", Input).value.strip()
        try:
            await self.save(name, description)
        except LabtuiError as exc:
            self.show_error(exc)
            return
        self.dismiss(name)
