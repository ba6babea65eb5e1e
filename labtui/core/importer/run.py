"""Running an import: read the sources, apply them in one transaction, audit and record it.

The sources are read first (a corrupt file fails before anything is touched), then applied
on one session: any failure rolls everything back and names the file and the record. A dry
run applies everything the same way and rolls back, so its counts are exactly what a real
run would do. The vault password and the checkout's config files brought to CloudLab's
latest versions are written only after the commit. The source
files are only read: the import is recorded in ``app_metadata`` (``import.cloudlab``).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import hashlib
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.db.base import utcnow
from labtui.core.db.engine import get_metadata, set_metadata
from labtui.core.db.models import User
from labtui.core.errors import PermissionDenied, ValidationError
from labtui.core.files import atomic_write
from labtui.core.importer.apply_accounts import (
    apply_permissions,
    apply_roles,
    apply_tokens,
    apply_users,
)
from labtui.core.importer.apply_history import (
    apply_audit,
    apply_config_files,
    apply_config_versions,
    apply_health,
    apply_jobs,
    apply_metadata,
    apply_schedules,
)
from labtui.core.importer.apply_inventory import (
    apply_acls,
    apply_objects,
    apply_tag_grants,
    apply_tags,
    apply_types,
)
from labtui.core.importer.context import ConfigWrite, Context
from labtui.core.importer.json_source import read_json
from labtui.core.importer.records import Snapshot
from labtui.core.importer.report import ImportFailed, ImportReport
from labtui.core.importer.sqlite_source import read_sqlite
from labtui.core.vault import _write_private

if TYPE_CHECKING:
    from labtui.core.runtime import Core

log = logging.getLogger("labtui.import")

META_KEY = "import.cloudlab"
ACTION = "import.cloudlab"
#: Importing makes accounts and roles (CloudLab's JSON users become super-admins): only a
#: super-admin (who holds ``*``) may do it.
PERMISSION = "*"
STEPS = (
    apply_permissions,
    apply_roles,
    apply_users,
    apply_tokens,
    apply_types,
    apply_tags,
    apply_objects,
    apply_acls,
    apply_tag_grants,
    apply_schedules,
    apply_jobs,
    apply_audit,
    apply_config_versions,
    apply_config_files,
    apply_health,
    apply_metadata,
)


@dataclass(frozen=True)
class ImportRequest:
    json_path: Path | None = None
    db_path: Path | None = None
    dry_run: bool = False
    overwrite: bool = False


def read_sources(request: ImportRequest, now: dt.datetime) -> list[Snapshot]:
    """The SQLite database first: it is the later generation, so its records win over the
    JSON file's when both hold one (the JSON then only fills in what the database lacks)."""
    snaps = []
    if request.db_path is not None:
        snaps.append(read_sqlite(request.db_path, now))
    if request.json_path is not None:
        snaps.append(read_json(request.json_path, now))
    return snaps


def _digest(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _reason(exc: Exception) -> str:
    # A driver error's own message, never the statement and its parameters (password hashes).
    if isinstance(exc, DBAPIError) and exc.orig is not None:
        return str(exc.orig)
    return str(exc) or type(exc).__name__


async def import_cloudlab(core: Core, actor: Actor, request: ImportRequest) -> ImportReport:
    """Import CloudLab's JSON file and/or SQLite database into ``core``'s database."""
    if request.json_path is None and request.db_path is None:
        raise ValidationError("Name a CloudLab source: --json PATH and/or --db PATH", "source")
    now = utcnow()
    snaps = await asyncio.to_thread(read_sources, request, now)
    report = ImportReport(sources=[str(s.path) for s in snaps], dry_run=request.dry_run)
    for snap in snaps:
        report.warnings.extend(snap.warnings)
    vault, writes = await asyncio.to_thread(_apply, core, actor, snaps, request, report, now)
    if vault is not None:
        try:
            _write_private(core.vault.path, vault + "\n")
        except OSError as exc:
            raise ImportFailed(
                f"{core.vault.path}: the records were imported, but the vault password could not be written: {exc}"
            ) from None
    await asyncio.to_thread(_write_configs, writes)
    core.rbac.invalidate()
    log.info(
        "import from %s%s: %s; %d warning(s)",
        ", ".join(report.sources),
        " (dry run)" if request.dry_run else "",
        ", ".join(f"{t} +{c}/~{u}/={s}" for t, c, u, s in report.rows()) or "nothing",
        len(report.warnings),
    )
    return report


def _apply(
    core: Core, actor: Actor, snaps: list[Snapshot], request: ImportRequest, report: ImportReport, now: dt.datetime
) -> tuple[str | None, list[ConfigWrite]]:
    """Apply every snapshot in one transaction; returns the vault password to write, if any,
    and the config files to write."""
    with core.db.open_session() as s:
        ctx = Context(s, report, request.overwrite, core.inventory_types, now, lab_dir=core.lab_dir)
        try:
            if not actor.is_system:
                core.rbac.require(s, actor, PERMISSION, "import/cloudlab")
            for snap in snaps:
                ctx.snap = snap
                for step in STEPS:
                    step(ctx)
            ctx.flush_map()
            ctx.snap, ctx.where = None, "vault password"
            vault = _vault(ctx, core, actor, snaps)
            if request.dry_run:
                s.rollback()
                return None, []
            ctx.where = "recording the import"
            for w in ctx.config_writes:
                audit.record(
                    s,
                    actor,
                    "service.config.import",
                    f"services/{w.service}/{w.filename}",
                    {"file": w.filename, "version": w.version, "via": ACTION},
                )
            audit.record(s, actor, ACTION, ", ".join(p.name for p in (sn.path for sn in snaps)), report.audit_detail())
            _record(s, actor, snaps, report, now)
            s.commit()
        except (ImportFailed, PermissionDenied):
            s.rollback()
            raise
        except Exception as exc:
            s.rollback()
            log.warning("import failed at %s", ctx.where, exc_info=True)
            where = str(ctx.snap.path) if ctx.snap is not None else "import"
            raise ImportFailed(f"{where}: {ctx.where}: {_reason(exc)}; nothing was imported") from None
    return vault, ctx.config_writes


def _write_configs(writes: list[ConfigWrite]) -> None:
    """The checkout's config files, after the commit: the versions are recorded either way,
    and a file that could not be written is one labtui's configs see as changed on disk."""
    failed = []
    for w in writes:
        try:
            atomic_write(w.path, w.content.encode("utf-8"))
        except OSError as exc:
            failed.append(f"services/{w.service}/{w.filename}: {exc.strerror or exc}")
    if failed:
        raise ImportFailed(f"the records were imported, but config files could not be written: {'; '.join(failed)}")


def _vault(ctx: Context, core: Core, actor: Actor, snaps: list[Snapshot]) -> str | None:
    found = [(s.path.name, s.vault_password) for s in snaps if s.vault_password]
    if not found:
        return None
    name, password = found[0]
    if len({p for _, p in found}) > 1:
        ctx.report.warn(f"vault: the sources hold different vault passwords: {name}'s is used")
    if password.strip() != password or "\n" in password:
        ctx.report.warn("vault: the vault password has surrounding spaces or several lines: not imported")
        ctx.report.skipped("vault")
        return None
    current = core.vault.path.read_text().rstrip("\n") if core.vault.is_set() else None
    if current == password:
        ctx.report.skipped("vault")
        return None
    if current is not None and not ctx.overwrite:
        ctx.report.warn("vault: labtui has another vault password: labtui's kept (--overwrite replaces it)")
        ctx.report.skipped("vault")
        return None
    audit.record(ctx.session, actor, "vault.set", "vault", {"replaced": current is not None, "via": ACTION})
    (ctx.report.created if current is None else ctx.report.updated)("vault")
    return password


def _record(s: Session, actor: Actor, snaps: list[Snapshot], report: ImportReport, now: dt.datetime) -> None:
    history = get_metadata(s, META_KEY, [])
    if not isinstance(history, list):
        history = []
    history.append(
        {
            "at": now.isoformat(),
            "by": actor.username,
            "sources": [
                {
                    "path": str(sn.path.resolve()),
                    "kind": sn.kind,
                    "size": sn.path.stat().st_size,
                    "sha256": _digest(sn.path),
                }
                for sn in snaps
            ],
            "tables": {t: {"created": c, "updated": u, "skipped": k} for t, c, u, k in report.rows()},
            "warnings": len(report.warnings),
        }
    )
    set_metadata(s, META_KEY, history[-20:])


def imports_recorded(s: Session) -> list[dict[str, Any]]:
    history = get_metadata(s, META_KEY, [])
    return history if isinstance(history, list) else []


async def auto_import(core: Core) -> ImportReport | None:
    """Startup: import ``cloudlab.data_dir`` once, while labtui's database has no account
    and no import is recorded (CloudLab's own startup migration ran the same way)."""
    raw = core.config.cloudlab.data_dir
    if not raw:
        return None
    folder = Path(raw).expanduser()
    if not folder.is_absolute() and core.config.source is not None:
        folder = core.config.source.parent / folder

    def empty(s: Session) -> bool:
        return not s.scalar(select(func.count(User.id))) and not imports_recorded(s)

    if not await core.db.run(empty):
        log.info("cloudlab import: labtui's database is in use already: not imported again")
        return None
    json_path, db_path = folder / "database.json", folder / "cloudlab.db"
    request = ImportRequest(
        json_path=json_path if json_path.is_file() else None, db_path=db_path if db_path.is_file() else None
    )
    if request.json_path is None and request.db_path is None:
        raise ImportFailed(f"{folder}: neither database.json nor cloudlab.db is there")
    return await import_cloudlab(core, Actor.system("startup"), request)
