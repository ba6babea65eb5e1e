"""Sync adapters: code that fills an inventory type from another source (docs/cloudlab.md, inventory types).

A type file names its source with ``sync: <source>`` (or ``sync: {source: <source>}``).
Later issues register the adapters CloudLab had — ``vultr_inventory``,
``service_discovery``, ``user_sync``, ``deployment_sync`` — with::

    from labtui.core.sync import adapters

    @adapters.register("vultr_inventory")
    async def sync_vultr(core: Core, type_def: InventoryTypeDef) -> dict[str, int]:
        ...
        return {"added": 3, "updated": 1, "deleted": 0}

At startup :func:`run_sync_adapters` runs, for each loaded type, the adapter its ``sync``
names. One adapter failing never stops the others or startup.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from labtui.core.errors import LabtuiError, ValidationError
from labtui.core.inventory.types import KNOWN_SYNC_SOURCES, InventoryTypeDef

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from labtui.core.actor import Actor
    from labtui.core.runtime import Core

log = logging.getLogger("labtui.startup")

SyncAdapter = Callable[["Core", InventoryTypeDef], Awaitable[Mapping[str, int]]]


class SyncRegistry:
    """Source name -> adapter. One process-wide instance, :data:`adapters`."""

    def __init__(self) -> None:
        self._adapters: dict[str, SyncAdapter] = {}

    def register(self, source: str) -> Callable[[SyncAdapter], SyncAdapter]:
        """Decorator registering ``fn`` as the adapter for ``source`` (replaces an earlier one)."""

        def deco(fn: SyncAdapter) -> SyncAdapter:
            self._adapters[source] = fn
            return fn

        return deco

    def add(self, source: str, fn: SyncAdapter) -> None:
        self._adapters[source] = fn

    def remove(self, source: str) -> None:
        self._adapters.pop(source, None)

    def get(self, source: str) -> SyncAdapter | None:
        return self._adapters.get(source)

    def __contains__(self, source: object) -> bool:
        return source in self._adapters

    @property
    def sources(self) -> list[str]:
        return sorted(self._adapters)


adapters = SyncRegistry()


def _register_local_adapters() -> None:
    """The adapters of the lab's local sources (services, users, deployments, service outputs)."""
    from labtui.core.inventory.adapters import register

    register(adapters)


_register_local_adapters()


@dataclass
class SyncReport:
    """Per type: the adapter's counts, or why it did not run."""

    ran: dict[str, Mapping[str, int]] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)
    #: Known CloudLab sources whose adapter is not registered yet (logged, not a problem).
    pending: dict[str, str] = field(default_factory=dict)
    #: Sources nobody knows: a typo in a type file (goes to the startup report).
    unknown: dict[str, str] = field(default_factory=dict)

    @property
    def problems(self) -> list[str]:
        out = [f"sync of type '{slug}' failed: {error}" for slug, error in self.failed.items()]
        out += [
            f"type '{slug}' names sync source '{source}', which no adapter provides "
            f"(known: {', '.join(sorted(set(KNOWN_SYNC_SOURCES) | set(adapters.sources)))})"
            for slug, source in self.unknown.items()
        ]
        return out


async def run_sync_adapters(core: Core, registry: SyncRegistry | None = None) -> SyncReport:
    """Run the adapter of every loaded type that names a sync source, one after another."""
    registry = registry if registry is not None else adapters
    report = SyncReport()
    for slug, type_def in core.inventory_types.items():
        source = type_def.sync
        if not source:
            continue
        adapter = registry.get(source)
        if adapter is None:
            if source in KNOWN_SYNC_SOURCES:
                report.pending[slug] = source
                log.info("sync: type '%s' uses '%s', not available yet", slug, source)
            else:
                report.unknown[slug] = source
                log.warning("sync: type '%s' names unknown source '%s'", slug, source)
            continue
        try:
            counts = await adapter(core, type_def)
        except Exception as exc:  # an adapter's bug or an unreachable API must not stop startup
            report.failed[slug] = str(exc) or type(exc).__name__
            log.warning("sync: %s for type '%s' failed", source, slug, exc_info=True)
            continue
        report.ran[slug] = dict(counts or {})
        log.info("sync: %s for type '%s': %s", source, slug, report.ran[slug])
    return report


async def run_on_demand(core: Core, actor: Actor, source: str | None = None) -> list[tuple[str, str, dict[str, int]]]:
    """Run ``source`` (or every source the loaded types use) as ``actor``, who needs
    ``inventory.<type>.edit`` on each type synced. Returns (source, type, counts) per run."""
    from labtui.core.inventory.adapters import OUTPUTS, SERVICES, _types_for, sync_actor, sync_services_only

    registry = adapters
    if source is None:
        sources = sorted({t.sync for t in core.inventory_types.values() if t.sync and t.sync in registry})
        if _types_for(core, OUTPUTS) and OUTPUTS not in sources:
            sources.append(OUTPUTS)
    else:
        if source not in registry:
            if source in KNOWN_SYNC_SOURCES:
                raise LabtuiError(f"Sync source '{source}' is not available yet")
            known = ", ".join(sorted(set(KNOWN_SYNC_SOURCES) | set(registry.sources)))
            raise ValidationError(f"Unknown sync source '{source}' (known: {known})", "source")
        sources = [source]
    targets = [(src, t) for src in sources for t in _types_for(core, src)]
    if source is not None and not targets:
        raise ValidationError(f"No loaded inventory type uses the sync source '{source}'", "source")

    def check(s: Session) -> None:
        for _, t in targets:
            core.rbac.require(s, actor, t.permission("edit"), f"inventory/{t.slug}")

    await core.db.run(check)
    results: list[tuple[str, str, dict[str, int]]] = []
    token = sync_actor.set(actor)
    try:
        for src, t in targets:
            adapter = registry.get(src)
            assert adapter is not None
            if src == SERVICES:
                counts = await sync_services_only(core, t)
            else:
                counts = dict(await adapter(core, t))
            results.append((src, t.slug, counts))
    finally:
        sync_actor.reset(token)
    return results
