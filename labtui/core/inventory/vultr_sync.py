"""The ``vultr_inventory`` sync adapter: the instances cache → ``server`` objects.

The cache is CloudLab's Ansible inventory in ``app_metadata.instances_cache`` (written by
:meth:`labtui.core.instances.Instances.refresh`, or imported from CloudLab). Each host becomes
one object of the type that names this source, in CloudLab's data shape (docs/cloudlab.md):
``{hostname, ip_address, region, plan, os, power_status, vultr_id, vultr_label, vultr_tags}``.

Beyond CloudLab (see :mod:`labtui.core.inventory.adapters`): an object is keyed by its Vultr
id (so a renamed host stays the same object; hosts without an id fall back to the
hostname), a hand-made object with the same hostname is adopted, only these fields are
written (hand edits of the type's other fields survive), an instance gone from the cache
is marked stale instead of deleted, and a run that changes nothing writes nothing.

With no cache at all (never refreshed) the adapter does nothing: an absent cache is not
news that every server vanished.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from sqlalchemy.orm import Session

from labtui.core.db.engine import get_metadata
from labtui.core.inventory.adapters import Counts, Item, _run, apply
from labtui.core.inventory.adapters import sync_actor as sync_actor  # the instances sync sets it
from labtui.core.sync import adapters as registry

if TYPE_CHECKING:
    from labtui.core.inventory.types import InventoryTypeDef
    from labtui.core.runtime import Core

SOURCE = "vultr_inventory"
CACHE_KEY = "instances_cache"
CACHE_TIME_KEY = "instances_cache_time"


def hosts_of(cache: Any) -> dict[str, dict[str, Any]]:
    """``all.hosts`` of an Ansible inventory dict, tolerating missing or malformed parts."""
    if not isinstance(cache, Mapping):
        return {}
    hosts = (cache.get("all") or {}).get("hosts") if isinstance(cache.get("all"), Mapping) else None
    if not isinstance(hosts, Mapping):
        return {}
    return {str(name): (dict(v) if isinstance(v, Mapping) else {}) for name, v in hosts.items()}


def _tags(raw: Any) -> list[str]:
    if isinstance(raw, list):
        return [str(t) for t in raw]
    if isinstance(raw, str) and raw:
        return [raw]
    return []


def server_data(hostname: str, host: Mapping[str, Any]) -> dict[str, Any]:
    """CloudLab's server object data for one cached host."""
    return {
        "hostname": hostname,
        "ip_address": str(host.get("ansible_host") or ""),
        "region": str(host.get("vultr_region") or ""),
        "plan": str(host.get("vultr_plan") or ""),
        "os": str(host.get("vultr_os") or ""),
        "power_status": str(host.get("vultr_power_status") or host.get("vultr_power") or "unknown"),
        "vultr_id": str(host.get("vultr_id") or ""),
        "vultr_label": str(host.get("vultr_label") or hostname),
        "vultr_tags": _tags(host.get("vultr_tags")),
    }


def items_from_cache(cache: Any) -> list[Item]:
    items = []
    for hostname, host in hosts_of(cache).items():
        data = server_data(hostname, host)
        items.append(Item(key=data["vultr_id"] or f"host:{hostname}", owned=data, match=hostname))
    return items


async def sync_vultr(core: Core, type_def: InventoryTypeDef) -> dict[str, int]:
    """``vultr_inventory``: the cached instances as objects of ``type_def``."""
    actor = sync_actor.get()

    def q(s: Session) -> Counts:
        cache = get_metadata(s, CACHE_KEY)
        if cache is None:
            return Counts()
        return apply(s, type_def, SOURCE, items_from_cache(cache), match_field="hostname", actor=actor)

    return (await _run(core, q)).as_dict()


async def sync_all(core: Core) -> list[tuple[str, dict[str, int]]]:
    """Run the adapter for every loaded type whose ``sync`` names it: (type slug, counts)."""
    return [(t.slug, await sync_vultr(core, t)) for t in core.inventory_types.values() if t.sync == SOURCE]


registry.add(SOURCE, sync_vultr)
