"""Sync adapters for the lab's local sources, registered in :mod:`labtui.core.sync`.

CloudLab's names and data shapes (docs/cloudlab.md):

- ``service_discovery`` → ``service`` objects keyed by the folder name;
- ``user_sync`` → ``user`` objects keyed by username;
- ``deployment_sync`` → ``deployment`` objects from finished deploy jobs that reported a
  ``DEPLOYMENT_ID``, keyed by job id;
- ``service_outputs`` (labtui's name for CloudLab's ``_sync_service_outputs``) → a
  ``credential`` object per ``type: credential`` entry of a service's
  ``outputs/service_outputs.yaml``, tagged ``svc:<service>`` (colour ``#e8984a``). It runs
  after every completed deploy, script or stop job (:func:`on_job_finished`), and with
  ``service_discovery`` at startup.

Where CloudLab replaced an object's data wholesale, an adapter here writes only the fields
it owns, so hand edits of the others survive a resync; an object that vanished upstream is
marked ``stale`` rather than deleted (and unmarked if it comes back). A run that changes
nothing writes nothing, so a second run is a no-op. Each run writes one audit record
(``inventory.sync``) with its counts — always when a person asked for it; for automatic runs
(startup in every CLI process, job ends) only when something changed, so the audit log is
not flooded with no-op records.

An adapter receives the type that named it (``sync: service_discovery``), so a lab may call
its types what it likes. Values an adapter cannot store in a field (e.g. a status outside an
enum's options) are left out and logged, so stored data always passes the type's checks.
"""

from __future__ import annotations

import contextvars
import json
import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.db.base import utcnow
from labtui.core.db.inventory import InventoryObject, ObjectTag, open_secrets, seal_secrets
from labtui.core.db.jobs import COMPLETED, FAILED, Job
from labtui.core.db.models import InventoryType, User
from labtui.core.errors import LabtuiError, ValidationError
from labtui.core.inventory.tags import ensure_tag
from labtui.core.inventory.types import InventoryTypeDef
from labtui.core.inventory.values import check_value, is_blank, search_text

if TYPE_CHECKING:
    from labtui.core.jobs import JobInfo
    from labtui.core.runtime import Core
    from labtui.core.sync import SyncRegistry

log = logging.getLogger("labtui.inventory.sync")

SERVICES, USERS, DEPLOYMENTS, OUTPUTS = "service_discovery", "user_sync", "deployment_sync", "service_outputs"
CREDENTIAL_TYPE = "credential"
CREDENTIAL_TAG_COLOUR = "#e8984a"
#: Jobs whose end may change a service's outputs file.
OUTPUT_ACTIONS = ("deploy", "script", "stop")
MAX_OUTPUTS_BYTES = 100 * 1024

#: Who the current run acts for: labtui itself, or the user who asked (:func:`labtui.core.sync.run_on_demand`).
SYNC_ACTOR = Actor.system("sync")
sync_actor: contextvars.ContextVar[Actor] = contextvars.ContextVar("labtui_sync_actor", default=SYNC_ACTOR)


@dataclass
class Item:
    """One object as the source reports it."""

    #: The key at the source (stored as ``source_key``).
    key: str
    #: Fields the adapter owns: written on every run.
    owned: dict[str, Any]
    #: Fields written only when the object is created (a hand edit wins afterwards).
    initial: dict[str, Any] = field(default_factory=dict)
    #: Tags (name, colour) the object must carry (others are left alone).
    tags: list[tuple[str, str | None]] = field(default_factory=list)
    #: Adopt a hand-made object whose ``match_field`` holds this value (CloudLab's match).
    match: Any = None


@dataclass
class Counts:
    added: int = 0
    updated: int = 0
    unchanged: int = 0
    stale: int = 0
    revived: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "stale": self.stale,
            "revived": self.revived,
        }

    @property
    def changed(self) -> bool:
        return bool(self.added or self.updated or self.stale or self.revived)


def _storable(
    type_def: InventoryTypeDef, values: Mapping[str, Any], source: str
) -> tuple[dict[str, Any], dict[str, Any], set[str]]:
    """(data, secrets, blank field names) for the declared fields among ``values``."""
    data: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    blank: set[str] = set()
    for name, value in values.items():
        f = type_def.field(name)
        if f is None:
            continue
        if is_blank(value):
            blank.add(name)
            continue
        try:
            stored = check_value(f, value)
        except ValidationError as exc:
            log.warning("sync %s: type '%s': %s; left out", source, type_def.slug, exc)
            continue
        (secrets if f.type == "secret" else data)[name] = stored
    return data, secrets, blank


def _ordered(type_def: InventoryTypeDef, values: dict[str, Any]) -> dict[str, Any]:
    """``values`` in the type's field order (how a new object's data reads everywhere)."""
    return {f.name: values[f.name] for f in type_def.fields if f.name in values}


def apply(
    session: Session,
    type_def: InventoryTypeDef,
    source: str,
    items: Sequence[Item],
    *,
    match_field: str,
    scope_prefix: str | None = None,
    actor: Actor | None = None,
) -> Counts:
    """Upsert ``items`` into the type's objects managed by ``source`` and mark the vanished
    ones stale. ``scope_prefix`` limits "vanished" to keys starting with it (one service's
    credentials). Writes the run's audit record. Idempotent."""
    actor = actor or sync_actor.get()
    if type_def.field(match_field) is None:
        raise LabtuiError(f"type '{type_def.slug}' has no field '{match_field}', which {source} needs")
    type_id = session.scalar(select(InventoryType.id).where(InventoryType.slug == type_def.slug))
    if type_id is None:
        raise LabtuiError(f"type '{type_def.slug}' is not in the database yet")
    managed_stmt = select(InventoryObject).where(InventoryObject.type_id == type_id, InventoryObject.source == source)
    if scope_prefix is not None:
        managed_stmt = managed_stmt.where(InventoryObject.source_key.startswith(scope_prefix, autoescape=True))
    managed = {o.source_key: o for o in session.scalars(managed_stmt)}
    unmatched = [i for i in items if i.key not in managed]
    adoptable: dict[Any, InventoryObject] = {}
    if unmatched:
        for o in session.scalars(
            select(InventoryObject).where(InventoryObject.type_id == type_id, InventoryObject.source.is_(None))
        ):
            value = json.loads(o.data or "{}").get(match_field)
            if value is not None:
                adoptable.setdefault(value, o)
    counts = Counts()
    now = utcnow()
    seen: set[str] = set()
    tag_cache: dict[str, int] = {}

    def tag_ids(item: Item) -> list[int]:
        out = []
        for name, colour in item.tags:
            if name not in tag_cache:
                tag_cache[name] = ensure_tag(session, name, colour).id
            out.append(tag_cache[name])
        return out

    for item in items:
        if item.key in seen:
            continue
        seen.add(item.key)
        owned, owned_secrets, blank = _storable(type_def, item.owned, source)
        obj = managed.get(item.key)
        adopted = False
        if obj is None and item.match is not None and item.match in adoptable:
            obj = adoptable.pop(item.match)
            adopted = True
        if obj is None:
            initial, initial_secrets, _ = _storable(type_def, item.initial, source)
            data = _ordered(type_def, {**initial, **owned})
            secrets = _ordered(type_def, {**initial_secrets, **owned_secrets})
            obj = InventoryObject(
                type_id=type_id,
                data=json.dumps(data),
                secrets=seal_secrets(session, secrets),
                search_text=search_text(type_def, data),
                created_by=f"sync:{source}",
                created_at=now,
                updated_at=now,
                stale=False,
                source=source,
                source_key=item.key,
            )
            session.add(obj)
            tids = tag_ids(item)
            if tids:  # only tagged objects need their id now; the rest flush in one batch
                session.flush()
                for tid in tids:
                    session.add(ObjectTag(object_id=obj.id, tag_id=tid))
            counts.added += 1
            continue
        data, secrets = json.loads(obj.data or "{}"), open_secrets(session, obj.secrets)
        new_data = {k: v for k, v in {**data, **owned}.items() if k not in blank}
        new_secrets = {k: v for k, v in {**secrets, **owned_secrets}.items() if k not in blank}
        have_tags = (
            set(session.scalars(select(ObjectTag.tag_id).where(ObjectTag.object_id == obj.id))) if item.tags else set()
        )
        missing_tags = [tid for tid in tag_ids(item) if tid not in have_tags]
        changed = new_data != data or new_secrets != secrets or bool(missing_tags) or adopted
        was_stale = obj.stale
        if was_stale:
            obj.stale = False
            counts.revived += 1
        if adopted:
            obj.source, obj.source_key = source, item.key
        if changed:
            obj.data = json.dumps(new_data)
            if new_secrets != secrets:  # sealing again would only churn the column
                obj.secrets = seal_secrets(session, new_secrets)
            obj.search_text = search_text(type_def, new_data)
            obj.updated_at = now
            for tid in missing_tags:
                session.add(ObjectTag(object_id=obj.id, tag_id=tid))
            counts.updated += 1
        elif not was_stale:
            counts.unchanged += 1
    for key, obj in managed.items():
        if key not in seen and not obj.stale:
            obj.stale = True
            obj.updated_at = now
            counts.stale += 1
    if counts.changed or not actor.is_system:
        detail: dict[str, Any] = {"source": source, **counts.as_dict()}
        if scope_prefix is not None:
            detail["scope"] = scope_prefix.rstrip("/")
        audit.record(session, actor, "inventory.sync", f"inventory/{type_def.slug}", detail)
    log.info("sync %s -> %s: %s", source, type_def.slug, counts.as_dict())
    return counts


# -- the adapters ------------------------------------------------------------------------------


async def _run(core: Core, fn: Callable[[Session], Counts]) -> Counts:
    """``fn`` in one transaction; retried once if another process inserted the same object
    meanwhile (two processes starting at once), whose rows the retry then matches."""
    try:
        return await core.db.run(fn)
    except IntegrityError:
        log.info("sync: another process synced at the same time; retrying once")
        return await core.db.run(fn)


async def sync_services(core: Core, type_def: InventoryTypeDef) -> dict[str, int]:
    """``service_discovery``: one object per service folder; then the services' credentials
    (so startup picks up outputs written while labtui was not running)."""
    counts = await sync_services_only(core, type_def)
    credential = core.inventory_types.get(CREDENTIAL_TYPE)
    if credential is not None and credential.sync in (None, OUTPUTS):
        await sync_credentials(core, credential)
    return counts


async def sync_services_only(core: Core, type_def: InventoryTypeDef) -> dict[str, int]:
    """``service_discovery`` alone (what an on-demand run of that source does)."""
    items = [
        Item(
            key=name,
            owned={"name": name, "service_dir": f"services/{name}"},
            initial={"status": "available"},
            match=name,
        )
        for name in core.services.names()
    ]
    actor = sync_actor.get()
    return (await _run(core, lambda s: apply(s, type_def, SERVICES, items, match_field="name", actor=actor))).as_dict()


async def sync_users(core: Core, type_def: InventoryTypeDef) -> dict[str, int]:
    """``user_sync``: labtui's accounts, CloudLab's shape (roles comma-joined)."""

    def q(s: Session) -> Counts:
        items = []
        for user in s.scalars(select(User).order_by(User.username)):
            items.append(
                Item(
                    key=user.username,
                    owned={
                        "username": user.username,
                        "display_name": user.display_name or "",
                        "email": user.email or "",
                        "ssh_public_key": user.ssh_public_key or "",
                        "role": ", ".join(sorted(r.name for r in user.roles)),
                        "status": user.status,
                        "last_login_at": user.last_login_at.isoformat() if user.last_login_at else "",
                    },
                    match=user.username,
                )
            )
        return apply(s, type_def, USERS, items, match_field="username", actor=actor)

    actor = sync_actor.get()
    return (await _run(core, q)).as_dict()


def _hosts(s: Session, core: Core) -> tuple[dict[str, dict[str, Any]], dict[str, dict[str, Any]]]:
    """Server objects by Vultr tag (first wins) and by hostname, for a deployment's host."""
    by_tag: dict[str, dict[str, Any]] = {}
    by_name: dict[str, dict[str, Any]] = {}
    if "server" not in core.inventory_types:
        return by_tag, by_name
    type_id = s.scalar(select(InventoryType.id).where(InventoryType.slug == "server"))
    for raw in s.scalars(
        select(InventoryObject.data).where(InventoryObject.type_id == type_id).order_by(InventoryObject.id)
    ):
        data = json.loads(raw or "{}")
        if data.get("hostname"):
            by_name[str(data["hostname"])] = data
        tags = data.get("vultr_tags")
        for tag in tags if isinstance(tags, list) else []:
            by_tag.setdefault(str(tag), data)
    return by_tag, by_name


async def sync_deployments(core: Core, type_def: InventoryTypeDef) -> dict[str, int]:
    """``deployment_sync``: finished deploy jobs with a deployment id (CloudLab's shape)."""

    def q(s: Session) -> Counts:
        by_tag, by_name = _hosts(s, core)
        items = []
        jobs = s.scalars(
            select(Job)
            .where(
                Job.action == "deploy",
                Job.deployment_id.is_not(None),
                Job.deployment_id != "",
                Job.status.in_((COMPLETED, FAILED)),
            )
            .order_by(Job.created_at)
        )
        for job in jobs:
            host = by_tag.get(job.service) or by_name.get(job.service) or {}
            items.append(
                Item(
                    key=job.id,
                    owned={
                        "service_name": job.service,
                        "deployment_id": job.deployment_id,
                        "hostname": host.get("hostname", ""),
                        "ip_address": host.get("ip_address", ""),
                        "status": job.status,
                        "deployed_by": job.username,
                        "job_id": job.id,
                        "started_at": job.started_at.isoformat() if job.started_at else "",
                        "finished_at": job.finished_at.isoformat() if job.finished_at else "",
                    },
                    match=job.id,
                )
            )
        return apply(s, type_def, DEPLOYMENTS, items, match_field="job_id", actor=actor)

    actor = sync_actor.get()
    return (await _run(core, q)).as_dict()


def _first(type_def: InventoryTypeDef, *names: str, kind: str | None = None) -> str | None:
    """The first of ``names`` the type declares, else its first field of type ``kind``."""
    for name in names:
        if type_def.field(name) is not None:
            return name
    if kind is not None:
        return next((f.name for f in type_def.fields if f.type == kind), None)
    return None


def _read_outputs(core: Core, service: str) -> list[Any]:
    """The service's output entries; [] when missing, unreadable, too big or a symlink out."""
    from labtui.core.outputs import OUTPUTS_FILE, parse_outputs

    base = (core.services.root / service).resolve()
    path = (core.services.root / service / OUTPUTS_FILE).resolve()
    if not path.is_relative_to(base) or not path.is_file():
        return []
    try:
        if path.stat().st_size > MAX_OUTPUTS_BYTES:
            log.warning("sync %s: %s of %s is too big; skipped", OUTPUTS, OUTPUTS_FILE, service)
            return []
        return parse_outputs(path.read_text(encoding="utf-8", errors="replace"))
    except OSError as exc:
        log.warning("sync %s: cannot read the outputs of %s: %s", OUTPUTS, service, exc)
        return []


def credential_items(core: Core, type_def: InventoryTypeDef, service: str) -> list[Item]:
    """CloudLab's credential object per ``type: credential`` output, mapped onto the type's
    fields: ``credential_type`` (or ``kind``), ``value`` (or the first secret field),
    ``notes`` (or ``description``)."""
    kind_field = _first(type_def, "credential_type", "kind")
    value_field = _first(type_def, "value", kind="secret")
    notes_field = _first(type_def, "notes", "description")
    items = []
    for out in _read_outputs(core, service):
        if not out.is_credential:
            continue
        name = f"{service} — {out.label or out.name}"
        owned: dict[str, Any] = {"name": name, "username": out.username or ""}
        if kind_field:
            owned[kind_field] = out.credential_type or "password"
        if value_field:
            owned[value_field] = out.value or ""
        initial = {notes_field: f"Auto-synced from {service} deployment"} if notes_field else {}
        items.append(
            Item(
                key=f"{service}/{out.name}",
                owned=owned,
                initial=initial,
                tags=[(f"svc:{service}", CREDENTIAL_TAG_COLOUR)],
                match=name,
            )
        )
    return items


async def sync_credentials(core: Core, type_def: InventoryTypeDef, service: str | None = None) -> dict[str, int]:
    """``service_outputs``: the credentials of one service, or of every service."""
    actor = sync_actor.get()
    if service is not None:
        items = credential_items(core, type_def, service)
        prefix: str | None = f"{service}/"
    else:
        items = [i for name in core.services.names() for i in credential_items(core, type_def, name)]
        prefix = None
    counts = await _run(
        core, lambda s: apply(s, type_def, OUTPUTS, items, match_field="name", scope_prefix=prefix, actor=actor)
    )
    return counts.as_dict()


async def _sync_outputs_adapter(core: Core, type_def: InventoryTypeDef) -> dict[str, int]:
    return await sync_credentials(core, type_def)


LOCAL_ADAPTERS = {
    SERVICES: sync_services,
    USERS: sync_users,
    DEPLOYMENTS: sync_deployments,
    OUTPUTS: _sync_outputs_adapter,
}


def register(registry: SyncRegistry) -> None:
    """Register the local sources (``vultr_inventory`` arrives with the Vultr work)."""
    for source, fn in LOCAL_ADAPTERS.items():
        registry.add(source, fn)


# -- triggers ----------------------------------------------------------------------------------


def _types_for(core: Core, source: str) -> list[InventoryTypeDef]:
    out = [t for t in core.inventory_types.values() if t.sync == source]
    if source == OUTPUTS and not out:
        credential = core.inventory_types.get(CREDENTIAL_TYPE)
        if credential is not None and credential.sync is None:
            out.append(credential)
    return out


async def on_job_finished(core: Core, job: JobInfo) -> None:
    """After a job: its service's credentials (completed deploy/script/stop) and, for a
    deploy with a deployment id, the deployments."""
    if job.status == COMPLETED and job.action in OUTPUT_ACTIONS:
        for type_def in _types_for(core, OUTPUTS):
            try:
                await sync_credentials(core, type_def, job.service)
            except Exception:
                log.exception("sync %s after job %s failed", OUTPUTS, job.id)
    if job.action == "deploy" and job.deployment_id and job.status in (COMPLETED, FAILED):
        for type_def in _types_for(core, DEPLOYMENTS):
            try:
                await sync_deployments(core, type_def)
            except Exception:
                log.exception("sync %s after job %s failed", DEPLOYMENTS, job.id)
