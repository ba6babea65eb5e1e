"""Cloud instances (Vultr): the cached list, refresh, power actions, destroy, and costs.

The cache is CloudLab's: the Ansible inventory ``all.hosts.<hostname>.{ansible_host,
vultr_label, vultr_region, vultr_plan, vultr_os, vultr_power_status, vultr_id, vultr_tags}``
(plus ``all.children`` groups by tag) in ``app_metadata.instances_cache`` with
``instances_cache_time``, and also written to the lab's ``inventory/vultr.yml`` so its
playbooks and health checks use it. After every change of the cache the ``vultr_inventory``
sync brings the ``server`` objects in step.

A destroy is definitive: the host leaves the cache and its ``server`` object is deleted at
once, whether through :meth:`Instances.destroy` (Vultr's API) or a completed ``destroy``
inventory action of the server type (the lab's own playbook), as CloudLab did. A host that
merely vanished from Vultr's list on a refresh only goes stale (docs/cloudlab.md, the instances
cache).

A refresh asks Vultr first and only then touches anything: if Vultr refuses (401, 429 after
the bounded ``Retry-After`` waits, 5xx, a timeout), the cache, the file and the objects stay
as they were and the error says so. Every action checks its permission (``instances.view``,
``instances.refresh``, ``instances.stop``, ``costs.view``, ``costs.refresh``,
``system.stop_all``) and is audited,
failures included.

Costs (CloudLab's cost view): each instance's monthly cost from Vultr's plans (cached in
``app_metadata.plans_cache``; a plan not in it costs 0), grouped by tag and by region.

Stop all (CloudLab's ``system.stop_all``) runs as a job: the lab's two stop playbooks with
no ``service_filter``, once ``system.stop_all`` is checked and the phrase ``stop all`` typed.

Registers the system tasks ``refresh_instances`` and ``refresh_costs``, the ``stop_all`` job
planner and the after-job hook of the server type's ``destroy`` action.
"""

from __future__ import annotations

import asyncio
import builtins
import datetime as dt
import json
import logging
import os
import re
import tempfile
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.config import VultrConfig
from labtui.core.db.base import utcnow
from labtui.core.db.engine import Database, get_metadata, set_metadata
from labtui.core.db.inventory import InventoryObject
from labtui.core.db.jobs import COMPLETED, INVENTORY_ACTION, Job
from labtui.core.db.models import InventoryType
from labtui.core.errors import LabtuiError, NotFound, ValidationError
from labtui.core.integrations.vultr import VultrApi, VultrClient, VultrError
from labtui.core.inventory import vultr_sync
from labtui.core.inventory.vultr_sync import CACHE_KEY, CACHE_TIME_KEY, hosts_of
from labtui.core.jobs.queue import GENERATE_INVENTORY, STOP_INSTANCES, JobInfo, Jobs, Plan, job_info
from labtui.core.jobs.runner import Step
from labtui.core.permissions_catalog import Perm
from labtui.core.rbac import Rbac
from labtui.core.system_tasks import Say, system_tasks

if TYPE_CHECKING:
    from labtui.core.inventory.types import InventoryTypeDef
    from labtui.core.runtime import Core

log = logging.getLogger("labtui.instances")

PLANS_KEY = "plans_cache"
COSTS_TIME_KEY = "cost_cache_time"
INVENTORY_FILE = Path("inventory") / "vultr.yml"
UNTAGGED = "(untagged)"
_GROUP_UNSAFE = re.compile(r"[^A-Za-z0-9_]")
#: CloudLab's stop-all job: ``Job.service`` and ``Job.action`` (imported jobs look the same).
STOP_ALL_SERVICE = "all"
STOP_ALL = "stop_all"
#: What the person types to confirm a stop of every instance.
STOP_ALL_PHRASE = "stop all"
#: The inventory type CloudLab's after-action hook names, and the action that destroys.
SERVER_TYPE = "server"
DESTROY_ACTION = "destroy"

SyncFn = Callable[[Actor], Awaitable[list[tuple[str, dict[str, int]]]]]
ClientFactory = Callable[[], VultrApi]


class RefreshFailed(LabtuiError):
    """Vultr could not be asked; nothing cached was changed. ``cause`` is the Vultr error."""

    def __init__(self, message: str, cause: VultrError) -> None:
        super().__init__(message)
        self.cause = cause


# -- what callers get ---------------------------------------------------------------------------


@dataclass(frozen=True)
class InstanceInfo:
    hostname: str
    label: str
    region: str
    plan: str
    os: str
    ip: str
    power_status: str
    vultr_id: str
    tags: tuple[str, ...]
    #: From the plans cache; None when the plan is not in it (counted as 0 in totals).
    monthly_cost: float | None

    def as_json(self) -> dict[str, Any]:
        return {
            "hostname": self.hostname,
            "label": self.label,
            "region": self.region,
            "plan": self.plan,
            "os": self.os,
            "ip": self.ip,
            "power_status": self.power_status,
            "vultr_id": self.vultr_id,
            "tags": list(self.tags),
            "monthly_cost": self.monthly_cost,
        }


@dataclass(frozen=True)
class InstanceList:
    instances: list[InstanceInfo]
    #: When the cache was last refreshed (None: never).
    cache_time: dt.datetime | None

    def age(self, now: dt.datetime | None = None) -> dt.timedelta | None:
        if self.cache_time is None:
            return None
        return (now or utcnow()) - self.cache_time


@dataclass(frozen=True)
class RefreshResult:
    count: int
    added: list[str]
    removed: list[str]
    #: Whether the cached hosts differ from before (the file is rewritten only then).
    changed: bool
    cache_time: dt.datetime
    #: The vultr_inventory sync's counts per synced type.
    synced: list[tuple[str, dict[str, int]]] = field(default_factory=list)
    #: Things that went wrong after the cache was stored (the file, the sync).
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{self.count} instances cached"
        if self.added or self.removed:
            text += f" ({len(self.added)} new, {len(self.removed)} gone)"
        for slug, counts in self.synced:
            changed = {k: v for k, v in counts.items() if v and k != "unchanged"}
            text += f"; {slug}: " + (", ".join(f"{v} {k}" for k, v in changed.items()) or "no change")
        return text


@dataclass(frozen=True)
class CostGroup:
    name: str
    monthly_cost: float
    count: int


@dataclass(frozen=True)
class CostReport:
    total: float
    instances: list[InstanceInfo]
    by_tag: list[CostGroup]
    by_region: list[CostGroup]
    #: Plans in the cache (0: costs unknown until a costs refresh) and when they were fetched.
    plans: int
    plans_time: dt.datetime | None

    def as_json(self) -> dict[str, Any]:
        def groups(gs: list[CostGroup]) -> list[dict[str, Any]]:
            return [{"name": g.name, "monthly_cost": g.monthly_cost, "count": g.count} for g in gs]

        return {
            "total": self.total,
            "by_tag": groups(self.by_tag),
            "by_region": groups(self.by_region),
            "instances": [i.as_json() for i in self.instances],
            "plans": self.plans,
            "plans_time": self.plans_time.isoformat() if self.plans_time else None,
        }


# -- the cache format ---------------------------------------------------------------------------


def _parse_time(raw: Any) -> dt.datetime | None:
    if not isinstance(raw, str) or not raw:
        return None
    try:
        when = dt.datetime.fromisoformat(raw)
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=dt.UTC)


def plan_costs(raw: Any) -> dict[str, float]:
    """Plan id -> monthly cost from a plans cache: labtui's list of ``{id, monthly_cost}``,
    Vultr's ``{plans: [...]}``, or a plain ``{id: cost}`` / ``{id: {monthly_cost}}`` map
    (whatever a CloudLab ``instance_plans_output.json`` held)."""
    if isinstance(raw, Mapping) and isinstance(raw.get("plans"), list):
        raw = raw["plans"]
    out: dict[str, float] = {}
    if isinstance(raw, list):
        entries = [(p.get("id"), p.get("monthly_cost")) for p in raw if isinstance(p, Mapping)]
    elif isinstance(raw, Mapping):
        entries = [(k, v.get("monthly_cost") if isinstance(v, Mapping) else v) for k, v in raw.items()]
    else:
        entries = []
    for plan, cost in entries:
        try:
            out[str(plan)] = float(cost)  # type: ignore[arg-type]  # None and junk: the except
        except (TypeError, ValueError):
            continue
    return out


def _hostname(raw: Mapping[str, Any], taken: set[str]) -> str:
    """The inventory name of an instance: its hostname, else its label, else its id; made
    unique with the id's start when two instances share one."""
    base = str(raw.get("hostname") or raw.get("label") or raw.get("id") or "instance").strip() or "instance"
    name = base
    if name in taken:
        name = f"{base}-{str(raw.get('id') or '')[:8]}"
        n = 2
        while name in taken:
            name = f"{base}-{n}"
            n += 1
    taken.add(name)
    return name


def build_cache(instances: list[dict[str, Any]]) -> dict[str, Any]:
    """CloudLab's Ansible inventory from Vultr's instance list (``children`` groups by tag)."""
    hosts: dict[str, dict[str, Any]] = {}
    children: dict[str, dict[str, Any]] = {}
    taken: set[str] = set()
    for raw in instances:
        name = _hostname(raw, taken)
        tags = [str(t) for t in raw.get("tags") or [] if t]
        hosts[name] = {
            "ansible_host": str(raw.get("main_ip") or ""),
            "vultr_label": str(raw.get("label") or ""),
            "vultr_region": str(raw.get("region") or ""),
            "vultr_plan": str(raw.get("plan") or ""),
            "vultr_os": str(raw.get("os") or ""),
            "vultr_power_status": str(raw.get("power_status") or "unknown"),
            "vultr_id": str(raw.get("id") or ""),
            "vultr_tags": tags,
        }
        for tag in tags:
            # Ansible group names are identifiers; a tag like "svc:web" becomes svc_web.
            group = _GROUP_UNSAFE.sub("_", tag)
            children.setdefault(group, {"hosts": {}})["hosts"][name] = None
    return {"all": {"hosts": hosts, "children": children}}


def _without(cache: Mapping[str, Any], hostname: str) -> dict[str, Any]:
    """The cache without ``hostname``, in ``all.hosts`` and every children group (CloudLab)."""
    all_ = dict(cache.get("all") or {})
    hosts = {k: v for k, v in (all_.get("hosts") or {}).items() if k != hostname}
    children: dict[str, Any] = {}
    for group, body in (all_.get("children") or {}).items():
        if isinstance(body, Mapping) and isinstance(body.get("hosts"), Mapping):
            body = {**body, "hosts": {k: v for k, v in body["hosts"].items() if k != hostname}}
        children[group] = body
    return {**cache, "all": {**all_, "hosts": hosts, "children": children}}


def _with_power(cache: Mapping[str, Any], hostname: str, power: str) -> dict[str, Any]:
    all_ = dict(cache.get("all") or {})
    hosts = dict(all_.get("hosts") or {})
    hosts[hostname] = {**hosts.get(hostname, {}), "vultr_power_status": power}
    return {**cache, "all": {**all_, "hosts": hosts}}


#: Strings YAML reads back as the same string when written bare (else they are JSON-quoted,
#: which YAML reads as a double-quoted scalar).
_PLAIN = re.compile(r"[A-Za-z_/][A-Za-z0-9_./-]*")
_NOT_PLAIN = re.compile(r"(?i)y|n|yes|no|true|false|on|off|null|[-+]?(\.inf|\.nan)")


#: Text Ansible would template (Jinja's expression, statement and comment openers).
_JINJA = re.compile(r"\{[{%#]")


def _scalar(value: Any) -> str:
    if isinstance(value, str):
        if _PLAIN.fullmatch(value) and not _NOT_PLAIN.fullmatch(value):
            return value
        if _JINJA.search(value):
            # A label or tag set at Vultr is data: Ansible templates inventory vars, so
            # "{{ lookup('pipe', ...) }}" would run on the controller (docs/jobs.md). Text
            # with a "{" never reads back as another type under the tag (ansible-core 2.19
            # resolves a tagged scalar as if unquoted).
            return "!unsafe " + json.dumps(value, ensure_ascii=False)
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, list):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    return json.dumps(value, ensure_ascii=False)


def _yaml_lines(value: Mapping[str, Any], indent: int, out: list[str]) -> None:
    """Block-style YAML of plain data (PyYAML's C dumper takes twice as long on 10,000 hosts)."""
    pad = "  " * indent
    for key, item in value.items():
        head = f"{pad}{_scalar(str(key))}:"
        if isinstance(item, Mapping) and item:
            out.append(head)
            _yaml_lines(item, indent + 1, out)
        elif isinstance(item, Mapping):
            out.append(f"{head} {{}}")
        else:
            out.append(f"{head} {_scalar(item)}")


def inventory_yaml(cache: Mapping[str, Any]) -> str:
    out = ["# Written by labtui from the Vultr API; a refresh replaces it."]
    _yaml_lines(cache, 0, out)
    return "\n".join(out) + "\n"


def write_inventory_file(lab_dir: Path, cache: Mapping[str, Any]) -> Path:
    """``<lab>/inventory/vultr.yml``, replaced atomically (a playbook never reads half a file)."""
    path = lab_dir / INVENTORY_FILE
    path.parent.mkdir(parents=True, exist_ok=True)
    text = inventory_yaml(cache)
    fd, tmp = tempfile.mkstemp(prefix=".vultr.", suffix=".yml", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def _info(hostname: str, host: Mapping[str, Any], plans: Mapping[str, float]) -> InstanceInfo:
    data = vultr_sync.server_data(hostname, host)
    return InstanceInfo(
        hostname=hostname,
        label=str(host.get("vultr_label") or ""),
        region=data["region"],
        plan=data["plan"],
        os=data["os"],
        ip=data["ip_address"],
        power_status=data["power_status"],
        vultr_id=data["vultr_id"],
        tags=tuple(data["vultr_tags"]),
        monthly_cost=plans.get(data["plan"]),
    )


def _find(hosts: Mapping[str, Mapping[str, Any]], ref: str) -> tuple[str, Mapping[str, Any]]:
    """A cached host by hostname, Vultr id or (unique) label."""
    if ref in hosts:
        return ref, hosts[ref]
    by_id = [(k, h) for k, h in hosts.items() if str(h.get("vultr_id") or "") == ref]
    by_label = [(k, h) for k, h in hosts.items() if str(h.get("vultr_label") or "") == ref]
    for found in (by_id, by_label):
        if len(found) == 1:
            return found[0]
    if len(by_label) > 1:
        raise ValidationError(f"Several instances are labelled '{ref}': name one by hostname", "instance")
    raise NotFound(f"No cached instance '{ref}' (refresh the list if it is new)")


def hosts_of_object(hosts: Mapping[str, Mapping[str, Any]], data: Mapping[str, Any]) -> list[str]:
    """The cached hosts a ``server`` object stands for: by its Vultr id, else (CloudLab's
    rule) every host whose ``vultr_label`` and ``vultr_region`` both match, else by hostname."""
    vultr_id = str(data.get("vultr_id") or "")
    if vultr_id:
        by_id = [name for name, h in hosts.items() if str(h.get("vultr_id") or "") == vultr_id]
        if by_id:
            return by_id
    label, region = str(data.get("vultr_label") or ""), str(data.get("region") or "")
    if label:
        found = [
            name
            for name, h in hosts.items()
            if str(h.get("vultr_label") or "") == label and str(h.get("vultr_region") or "") == region
        ]
        if found:
            return found
    hostname = str(data.get("hostname") or "")
    return [hostname] if hostname in hosts else []


def _delete_servers(s: Session, actor: Actor, keys: set[str], reason: dict[str, Any]) -> list[int]:
    """Delete the ``vultr_inventory`` objects whose source key is in ``keys`` (each audited)."""
    if not keys:
        return []
    rows = s.execute(
        select(InventoryObject, InventoryType.slug)
        .join(InventoryType, InventoryObject.type_id == InventoryType.id)
        .where(InventoryObject.source == vultr_sync.SOURCE, InventoryObject.source_key.in_(sorted(keys)))
    ).all()
    gone = []
    for obj, slug in rows:
        _drop_object(s, actor, obj, slug, reason)
        gone.append(obj.id)
    return gone


def _drop_object(s: Session, actor: Actor, obj: InventoryObject, slug: str, reason: dict[str, Any]) -> None:
    data = json.loads(obj.data or "{}")
    title = str(data.get("hostname") or data.get("name") or obj.id) if isinstance(data, dict) else str(obj.id)
    audit.record(s, actor, "inventory.object.delete", f"inventory/{slug}/{obj.id}", {"title": title, **reason})
    s.delete(obj)  # its tag links and ACL entries go with it, as Inventory.delete


def _source_keys(hosts: Mapping[str, Mapping[str, Any]], names: list[str]) -> set[str]:
    """The sync's keys of cached hosts (``vultr_sync.items_from_cache``: id, else ``host:``)."""
    return {str(hosts[n].get("vultr_id") or "") or f"host:{n}" for n in names if n in hosts}


def stop_all_steps(lab: Path, inventory: Path | None) -> list[Step]:
    """CloudLab's ``stop_all``: the two steps of a service's stop flow without
    ``service_filter``, so the lab's ``stop-instances.yaml`` stops every instance."""
    if not ((lab / GENERATE_INVENTORY).is_file() and (lab / STOP_INSTANCES).is_file()):
        raise ValidationError(
            f"The lab has no {GENERATE_INVENTORY} and {STOP_INSTANCES}: there is nothing to stop every instance with",
            "lab",
        )
    vultr = lab / INVENTORY_FILE
    return [
        Step("playbook", lab / GENERATE_INVENTORY, lab, header="--- Generating inventory ---", check=False),
        Step(
            "playbook",
            lab / STOP_INSTANCES,
            lab,
            header="--- Stopping all instances ---",
            inventory=vultr if vultr.is_file() else inventory,
        ),
    ]


def _groups(pairs: list[tuple[str, float]]) -> list[CostGroup]:
    sums: dict[str, list[float]] = {}
    for name, cost in pairs:
        acc = sums.setdefault(name, [0.0, 0])
        acc[0] += cost
        acc[1] += 1
    groups = [CostGroup(name, round(v[0], 2), int(v[1])) for name, v in sums.items()]
    return sorted(groups, key=lambda g: (-g.monthly_cost, g.name))


# -- the service --------------------------------------------------------------------------------


class Instances:
    """Vultr instances for front ends; every method checks the actor's permission and audits."""

    def __init__(
        self,
        db: Database,
        rbac: Rbac,
        config: VultrConfig,
        lab_dir: Callable[[], Path],
        sync: SyncFn,
        client_factory: ClientFactory | None = None,
        jobs: Jobs | None = None,
        types: Callable[[], Mapping[str, InventoryTypeDef]] | None = None,
    ) -> None:
        self.db = db
        self.rbac = rbac
        self.config = config
        self._lab_dir = lab_dir
        self._sync = sync
        self._client_factory = client_factory or (lambda: VultrClient.from_config(config))
        #: The job queue stop-all goes through (None: no jobs here, stop-all is refused).
        self.jobs = jobs
        #: ``() -> Mapping[slug, InventoryTypeDef]``: the lab's loaded types (for the destroy hook).
        self._types = types or dict
        #: One refresh at a time per process (a second asker waits and gets fresh data).
        self._refresh_lock = asyncio.Lock()

    @classmethod
    def for_core(cls, core: Core) -> Instances:
        """The instances of a :class:`Core`: plans its ``stop_all`` jobs for the workers and
        hooks the server type's ``destroy`` action (its job's end)."""

        async def sync(actor: Actor) -> list[tuple[str, dict[str, int]]]:
            token = vultr_sync.sync_actor.set(actor)
            try:
                return await vultr_sync.sync_all(core)
            finally:
                vultr_sync.sync_actor.reset(token)

        svc = cls(
            core.db,
            core.rbac,
            core.config.vultr,
            lambda: core.lab_dir,
            sync,
            jobs=core.jobs,
            types=lambda: core.inventory_types,
        )
        core.jobs.planners[STOP_ALL] = svc.plan_stop_all
        core.jobs.on_finished.append(svc.after_job)
        return svc

    @property
    def configured(self) -> bool:
        return bool(self.config.api_key)

    @property
    def inventory_file(self) -> Path:
        return self._lab_dir() / INVENTORY_FILE

    # -- reading ---------------------------------------------------------------------------

    async def list(self, actor: Actor) -> InstanceList:
        """The cached instances, by hostname (``instances.view``)."""

        def q(s: Session) -> InstanceList:
            self.rbac.require(s, actor, "instances.view", "instances")
            plans = plan_costs(get_metadata(s, PLANS_KEY))
            hosts = hosts_of(get_metadata(s, CACHE_KEY))
            items = [_info(name, host, plans) for name, host in sorted(hosts.items())]
            return InstanceList(items, _parse_time(get_metadata(s, CACHE_TIME_KEY)))

        return await self.db.run(q)

    async def costs(self, actor: Actor) -> CostReport:
        """Monthly cost per instance, by tag and by region, most expensive first (``costs.view``)."""

        def q(s: Session) -> CostReport:
            self.rbac.require(s, actor, "costs.view", "costs")
            plans = plan_costs(get_metadata(s, PLANS_KEY))
            hosts = hosts_of(get_metadata(s, CACHE_KEY))
            items = [_info(name, host, plans) for name, host in hosts.items()]
            items.sort(key=lambda i: (-(i.monthly_cost or 0.0), i.hostname))
            by_tag = [(tag, i.monthly_cost or 0.0) for i in items for tag in (i.tags or (UNTAGGED,))]
            by_region = [(i.region or "?", i.monthly_cost or 0.0) for i in items]
            return CostReport(
                total=round(sum(i.monthly_cost or 0.0 for i in items), 2),
                instances=items,
                by_tag=_groups(by_tag),
                by_region=_groups(by_region),
                plans=len(plans),
                plans_time=_parse_time(get_metadata(s, COSTS_TIME_KEY)),
            )

        return await self.db.run(q)

    # -- refreshing ------------------------------------------------------------------------

    async def _audit(self, actor: Actor, action: str, target: str, detail: dict[str, Any]) -> None:
        def q(s: Session) -> None:
            audit.record(s, actor, action, target, detail)

        await self.db.run(q)

    async def refresh(self, actor: Actor) -> RefreshResult:
        """Ask Vultr for every instance, store the cache (and the file), then sync the
        objects (``instances.refresh``). On a Vultr error nothing changes and
        :class:`RefreshFailed` says what is kept."""
        await self.db.run(lambda s: self.rbac.require(s, actor, "instances.refresh", "instances"))
        async with self._refresh_lock:
            try:
                async with _opened(self._client_factory()) as vultr:
                    raw = await vultr.list_instances()
                    plans = await self._plans_if_missing(vultr)
            except VultrError as exc:
                await self._audit(actor, "instances.refresh", "instances", {"ok": False, "error": str(exc)})
                raise RefreshFailed(f"Refresh failed: {exc}. {await self._kept()}", exc) from None
            # Once Vultr has answered, storing, writing the file and syncing run to the end
            # even if the asker goes away (a cancelled job, a closed screen), so the cache,
            # the file and the objects never disagree.
            return await asyncio.shield(self._store(actor, raw, plans))

    async def _store(
        self, actor: Actor, raw: builtins.list[dict[str, Any]], plans: builtins.list[dict[str, Any]] | None
    ) -> RefreshResult:
        cache = build_cache(raw)
        now = utcnow()

        def store(s: Session) -> tuple[list[str], list[str], bool]:
            old = get_metadata(s, CACHE_KEY)
            before, after = hosts_of(old), hosts_of(cache)
            added = sorted(set(after) - set(before))
            removed = sorted(set(before) - set(after))
            changed = old != cache
            if changed:
                set_metadata(s, CACHE_KEY, cache)
            set_metadata(s, CACHE_TIME_KEY, now.isoformat())
            if plans is not None:
                set_metadata(s, PLANS_KEY, plans)
                set_metadata(s, COSTS_TIME_KEY, now.isoformat())
            audit.record(
                s,
                actor,
                "instances.refresh",
                "instances",
                {"ok": True, "count": len(after), "added": len(added), "removed": len(removed)},
            )
            return added, removed, changed

        added, removed, changed = await self.db.run(store)
        warnings = await self._after_change(actor, cache, rewrite=changed or not self.inventory_file.exists())
        synced, sync_warnings = await self._run_sync(actor)
        return RefreshResult(len(hosts_of(cache)), added, removed, changed, now, synced, warnings + sync_warnings)

    async def _plans_if_missing(self, vultr: VultrApi) -> builtins.list[dict[str, Any]] | None:
        """Vultr's plans when none are cached yet, so costs show without a costs refresh
        (best effort: a failure here does not fail the instances refresh)."""
        have = await self.db.run(lambda s: get_metadata(s, PLANS_KEY))
        if plan_costs(have):
            return None
        try:
            return [{"id": p.id, "monthly_cost": p.monthly_cost} for p in await vultr.list_plans()]
        except VultrError as exc:
            log.warning("instances: plans not fetched: %s", exc)
            return None

    async def _kept(self) -> str:
        def q(s: Session) -> str:
            hosts = hosts_of(get_metadata(s, CACHE_KEY))
            when = _parse_time(get_metadata(s, CACHE_TIME_KEY))
            if when is None and not hosts:
                return "Nothing was cached yet."
            stamp = f" from {when:%Y-%m-%d %H:%M} UTC" if when else ""
            return f"The cached list of {len(hosts)} instances{stamp} is kept."

        return await self.db.run(q)

    async def _after_change(
        self, actor: Actor, cache: Mapping[str, Any], *, rewrite: bool = True
    ) -> builtins.list[str]:
        """Write the inventory file; a failure is reported, not raised (the cache is stored)."""
        if not rewrite:
            return []
        try:
            await asyncio.to_thread(write_inventory_file, self._lab_dir(), cache)
        except OSError as exc:
            log.warning("instances: cannot write %s: %s", self.inventory_file, exc)
            return [f"could not write {self.inventory_file}: {exc.strerror or exc}"]
        return []

    async def _run_sync(self, actor: Actor) -> tuple[builtins.list[tuple[str, dict[str, int]]], builtins.list[str]]:
        try:
            return await self._sync(actor), []
        except LabtuiError as exc:
            return [], [f"server objects not synced: {exc}"]
        except Exception as exc:  # the cache is stored; a sync bug must not hide that
            log.exception("instances: vultr_inventory sync failed")
            return [], [f"server objects not synced: {type(exc).__name__}: {exc}"]

    async def refresh_costs(self, actor: Actor) -> int:
        """Fetch Vultr's plans (their monthly costs) into the plans cache (``costs.refresh``)."""
        await self.db.run(lambda s: self.rbac.require(s, actor, "costs.refresh", "costs"))
        try:
            async with _opened(self._client_factory()) as vultr:
                plans = await vultr.list_plans()
        except VultrError as exc:
            await self._audit(actor, "costs.refresh", "costs", {"ok": False, "error": str(exc)})
            raise RefreshFailed(f"Costs refresh failed: {exc}. The cached plans are kept.", exc) from None
        now = utcnow()

        def store(s: Session) -> None:
            set_metadata(s, PLANS_KEY, [{"id": p.id, "monthly_cost": p.monthly_cost} for p in plans])
            set_metadata(s, COSTS_TIME_KEY, now.isoformat())
            audit.record(s, actor, "costs.refresh", "costs", {"ok": True, "plans": len(plans)})

        await self.db.run(store)
        return len(plans)

    # -- acting on one instance ------------------------------------------------------------

    async def _target(self, actor: Actor, ref: str) -> tuple[str, dict[str, Any]]:
        def q(s: Session) -> tuple[str, dict[str, Any]]:
            self.rbac.require(s, actor, "instances.stop", f"instances/{ref}")
            name, host = _find(hosts_of(get_metadata(s, CACHE_KEY)), ref)
            if not host.get("vultr_id"):
                raise ValidationError(f"Instance '{name}' has no Vultr id in the cache: refresh first", "instance")
            return name, dict(host)

        return await self.db.run(q)

    async def _call(
        self, actor: Actor, action: str, name: str, host: Mapping[str, Any], call: Callable[[VultrApi], Awaitable[None]]
    ) -> None:
        detail = {
            "label": host.get("vultr_label") or "",
            "region": host.get("vultr_region") or "",
            "vultr_id": host.get("vultr_id") or "",
        }
        try:
            async with _opened(self._client_factory()) as vultr:
                await call(vultr)
        except VultrError as exc:
            await self._audit(
                actor, f"instances.{action}", f"instances/{name}", {**detail, "ok": False, "error": str(exc)}
            )
            raise
        await self._audit(actor, f"instances.{action}", f"instances/{name}", {**detail, "ok": True})

    async def _update_cache(
        self,
        actor: Actor,
        change: Callable[[Mapping[str, Any]], dict[str, Any]],
        also: Callable[[Session, Mapping[str, Any]], object] | None = None,
    ) -> builtins.list[str]:
        """Store ``change(cache)``, write the file, sync; ``also(session, old cache)`` runs in
        the same transaction (a destroy deletes the object with the host)."""

        def q(s: Session) -> dict[str, Any]:
            old = get_metadata(s, CACHE_KEY) or {"all": {"hosts": {}, "children": {}}}
            cache = change(old)
            set_metadata(s, CACHE_KEY, cache)
            if also is not None:
                also(s, old)
            return cache

        cache = await self.db.run(q)
        warnings = await self._after_change(actor, cache)
        _, sync_warnings = await self._run_sync(actor)
        return warnings + sync_warnings

    async def _power(self, actor: Actor, ref: str, verb: str, power: str) -> builtins.list[str]:
        name, host = await self._target(actor, ref)
        vultr_id = str(host["vultr_id"])
        await self._call(actor, verb, name, host, lambda v: getattr(v, verb)(vultr_id))
        return await asyncio.shield(self._update_cache(actor, lambda c: _with_power(c, name, power)))

    async def halt(self, actor: Actor, ref: str) -> builtins.list[str]:
        """Power the instance off (``instances.stop``). Returns warnings (file, sync), if any."""
        return await self._power(actor, ref, "halt", "stopped")

    async def start(self, actor: Actor, ref: str) -> builtins.list[str]:
        return await self._power(actor, ref, "start", "running")

    async def reboot(self, actor: Actor, ref: str) -> builtins.list[str]:
        return await self._power(actor, ref, "reboot", "running")

    async def destroy(self, actor: Actor, ref: str, typed_label: str) -> builtins.list[str]:
        """Delete the instance at Vultr (``instances.stop``); ``typed_label`` must be its
        label (or hostname if it has none). The host leaves the cache and its server object
        is deleted with it (CloudLab's sync deleted it; labtui's only marks vanished hosts
        stale, and a destroy is no mere vanishing)."""
        name, host = await self._target(actor, ref)
        expected = str(host.get("vultr_label") or name)
        if typed_label.strip() != expected:
            raise ValidationError(f"Type the instance's label '{expected}' to destroy it", "label")
        vultr_id = str(host["vultr_id"])
        await self._call(actor, "destroy", name, host, lambda v: v.delete(vultr_id))

        def drop(s: Session, old: Mapping[str, Any]) -> None:
            _delete_servers(s, actor, _source_keys(hosts_of(old), [name]), {"destroyed": name})

        return await asyncio.shield(self._update_cache(actor, lambda c: _without(c, name), drop))

    # -- the server type's destroy action --------------------------------------------------

    def _destroys_server(self, job: JobInfo) -> bool:
        if job.action != INVENTORY_ACTION or job.status != COMPLETED or job.script != DESTROY_ACTION:
            return False
        if job.object_id is None or not job.type_slug:
            return False
        type_def = self._types().get(job.type_slug)
        return job.type_slug == SERVER_TYPE or (type_def is not None and type_def.sync == vultr_sync.SOURCE)

    async def after_job(self, job: JobInfo) -> None:
        """After a completed ``destroy`` action on a server object (CloudLab's after-action
        hook): its host leaves the cache (``all.hosts`` and every group) and the file, the
        object is deleted, and the sync runs. The action's permission was checked when it
        was queued; the deletion is audited as the job's user."""
        if not self._destroys_server(job):
            return
        actor = Actor(job.user_id, job.username)
        object_id = job.object_id

        def q(s: Session) -> tuple[dict[str, Any] | None, builtins.list[str]]:
            row = s.execute(
                select(InventoryObject, InventoryType.slug)
                .join(InventoryType, InventoryObject.type_id == InventoryType.id)
                .where(InventoryObject.id == object_id)
            ).first()
            if row is None:
                return None, []
            obj, slug = row
            data = json.loads(obj.data or "{}")
            old = get_metadata(s, CACHE_KEY)
            hosts = hosts_of(old)
            names = hosts_of_object(hosts, data if isinstance(data, dict) else {})
            reason = {"job_id": job.id, "action": DESTROY_ACTION, "hosts": names}
            # Other objects of the same hosts (a second type synced from Vultr) go too.
            keys = _source_keys(hosts, names) - {obj.source_key or ""}
            _drop_object(s, actor, obj, slug, reason)
            _delete_servers(s, actor, keys, reason)
            if not names or not isinstance(old, Mapping):
                return None, names
            cache: dict[str, Any] = dict(old)
            for name in names:
                cache = _without(cache, name)
            set_metadata(s, CACHE_KEY, cache)
            return cache, names

        cache, names = await self.db.run(q)
        log.info("job %s destroyed server object %s (hosts %s)", job.id, object_id, ", ".join(names) or "none cached")
        if cache is not None:
            for warning in await self._after_change(actor, cache):
                log.warning("job %s: %s", job.id, warning)
        _, warnings = await self._run_sync(actor)
        for warning in warnings:
            log.warning("job %s: %s", job.id, warning)

    # -- stop all --------------------------------------------------------------------------

    async def stop_all(self, actor: Actor, typed: str) -> JobInfo:
        """Queue CloudLab's ``stop_all`` (``system.stop_all``): the lab's stop playbooks
        with no ``service_filter``. ``typed`` must be :data:`STOP_ALL_PHRASE`; audited."""
        jobs = self.jobs
        if jobs is None:
            raise LabtuiError("Stop all is not available here: no job queue")
        lab = self._lab_dir()

        def q(s: Session) -> JobInfo:
            self.rbac.require(s, actor, Perm.SYSTEM_STOP_ALL, "system/stop_all")
            if " ".join(typed.split()).lower() != STOP_ALL_PHRASE:
                raise ValidationError(f"Type '{STOP_ALL_PHRASE}' to stop every instance of the lab", "confirm")
            stop_all_steps(lab, None)  # refuses a lab without the playbooks, before a job exists
            job = jobs.insert(s, actor, service=STOP_ALL_SERVICE, action=STOP_ALL)
            audit.record(s, actor, "system.stop_all", "system/stop_all", {"job_id": job.id})
            return job_info(job)

        job = await self.db.run(q)
        jobs.wake_workers()
        return job

    def plan_stop_all(self, s: Session, job: Job) -> Plan:
        """The worker's plan of a ``stop_all`` job, from the lab as it is now."""
        assert self.jobs is not None  # registered by for_core, which sets it
        env, extravars, inventory = self.jobs.base_plan(job)
        return Plan(stop_all_steps(self._lab_dir(), inventory), env, extravars)


class _opened:
    """``async with`` for any :class:`VultrApi` (closes it on the way out)."""

    def __init__(self, api: VultrApi) -> None:
        self.api = api

    async def __aenter__(self) -> VultrApi:
        return self.api

    async def __aexit__(self, *exc: object) -> None:
        await self.api.aclose()


# -- system tasks -------------------------------------------------------------------------------


async def refresh_instances_task(core: Core, actor: Actor, say: Say) -> None:
    await say("--- Refreshing instances from Vultr ---")
    result = await core.instances.refresh(actor)
    await say(result.summary())
    for warning in result.warnings:
        await say(f"warning: {warning}")


async def refresh_costs_task(core: Core, actor: Actor, say: Say) -> None:
    await say("--- Refreshing plan costs from Vultr ---")
    plans = await core.instances.refresh_costs(actor)
    report = await core.instances.costs(actor)
    await say(f"{plans} plans cached; {len(report.instances)} instances cost ${report.total:,.2f} a month")


system_tasks.register("refresh_instances", refresh_instances_task, "Refresh cloud instances from Vultr")
system_tasks.register("refresh_costs", refresh_costs_task, "Refresh plan costs from Vultr")
