"""A service's config files and their versions (docs/cloudlab.md "Config files and config versions", CloudLab's "Config edit rules" and
"Config versioning").

``instance.yaml``, ``config.yaml``, ``scripts.yaml`` and ``outputs.yaml`` may be viewed
(``services.config.view``) and edited (``services.config.edit``). A save must be valid YAML
and at most 100 KB, or it is refused with the reason and nothing is written. Every save is
a version (content, sha256, size, author, note, origin); at most 50 are kept per file, the
oldest pruned first. Version 1 is seeded at startup for files that have none, and a restore
makes a new version with the old content.

As in CloudLab the version is stored before the file is written, in the same transaction:
if the write fails, the version is rolled back with it. Unlike CloudLab, a file changed on
disk behind labtui's back (a ``git pull`` of the lab) is recorded as a version of its own
before the next save, so the history never skips a content that was live.
"""

from __future__ import annotations

import builtins
import datetime as dt
import difflib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import Select, delete, func, select
from sqlalchemy.orm import Session

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.db.base import utcnow
from labtui.core.db.configs import ConfigVersion
from labtui.core.db.engine import Database
from labtui.core.errors import Conflict, NotFound, ValidationError
from labtui.core.files import PathGuard, atomic_write, check_size, sha256
from labtui.core.rbac import Rbac
from labtui.core.services import Services

log = logging.getLogger("labtui.configs")

#: CloudLab's ``ALLOWED_CONFIG_FILES``.
CONFIG_FILES = ("instance.yaml", "config.yaml", "scripts.yaml", "outputs.yaml")
MAX_VERSIONS = 50
NOTE_MAX = 500
SEED_NOTE = "Initial version (seeded)"
DISK_NOTE = "Changed on disk outside labtui"


@dataclass(frozen=True)
class ConfigFileInfo:
    filename: str
    exists: bool
    size: int
    latest_version: int | None
    versions: int

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class ConfigText:
    filename: str
    text: str
    sha256: str
    #: The version whose content is on disk now (None: changed outside labtui, or no version).
    version: int | None


@dataclass(frozen=True)
class VersionInfo:
    id: int
    number: int
    sha256: str
    size: int
    note: str
    author: str
    origin: str
    restored_from: int | None
    created_at: dt.datetime

    def as_json(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        out["created_at"] = self.created_at.isoformat()
        return out


@dataclass(frozen=True)
class Diff:
    text: str
    from_version: int | None
    to_version: int


def _info(row: ConfigVersion) -> VersionInfo:
    return VersionInfo(
        row.id,
        row.version_number,
        row.content_hash,
        row.size_bytes,
        row.change_note,
        row.created_by_username,
        row.origin,
        row.restored_from,
        row.created_at,
    )


def check_yaml(text: str, filename: str = "the file") -> None:
    """Refuse text that ``yaml.safe_load`` rejects, naming the line and the problem."""
    try:
        yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        raise ValidationError(f"{filename} is not valid YAML{where}: {problem}", "content") from None


def unified_diff(old: str, new: str, from_label: str, to_label: str) -> str:
    """CloudLab's diff: ``difflib.unified_diff`` over lines with their endings kept."""
    lines = difflib.unified_diff(
        old.splitlines(keepends=True), new.splitlines(keepends=True), fromfile=from_label, tofile=to_label
    )
    return "".join(line if line.endswith("\n") else line + "\n\\ No newline at end of file\n" for line in lines)


def _versions(s: Session, service: str, filename: str) -> Select[ConfigVersion]:
    return select(ConfigVersion).where(ConfigVersion.service_name == service, ConfigVersion.filename == filename)


def _latest(s: Session, service: str, filename: str) -> ConfigVersion | None:
    return s.scalar(_versions(s, service, filename).order_by(ConfigVersion.version_number.desc()).limit(1))


def add_version(
    s: Session,
    service: str,
    filename: str,
    content: str,
    *,
    author_id: int | None,
    author: str,
    origin: str,
    note: str = "",
    restored_from: int | None = None,
) -> ConfigVersion:
    """Store a new version (number max + 1) and prune the file's history to the newest 50."""
    top = (
        s.scalar(
            select(func.max(ConfigVersion.version_number)).where(
                ConfigVersion.service_name == service, ConfigVersion.filename == filename
            )
        )
        or 0
    )
    data = content.encode("utf-8")
    row = ConfigVersion(
        service_name=service,
        filename=filename,
        content=content,
        content_hash=sha256(data),
        size_bytes=len(data),
        version_number=top + 1,
        change_note=(note or "")[:NOTE_MAX],
        created_by_id=author_id,
        created_by_username=author,
        origin=origin,
        restored_from=restored_from,
        created_at=utcnow(),
    )
    s.add(row)
    s.flush()
    cutoff = row.version_number - MAX_VERSIONS
    if cutoff > 0:
        s.execute(
            delete(ConfigVersion).where(
                ConfigVersion.service_name == service,
                ConfigVersion.filename == filename,
                ConfigVersion.version_number <= cutoff,
            )
        )
    return row


def seed_versions(s: Session, services_root: Path) -> list[str]:
    """Version 1 for every allowed config file that exists in any folder under ``services/``
    and has no version yet (CloudLab's startup seeding); returns ``service/file`` seeded."""
    try:
        names = sorted(os.listdir(services_root))
    except OSError:
        return []
    seeded: list[str] = []
    have = {(svc, fn) for svc, fn in s.execute(select(ConfigVersion.service_name, ConfigVersion.filename).distinct())}
    for name in names:
        folder = services_root / name
        if not folder.is_dir():
            continue
        base = Path(os.path.realpath(folder))
        for filename in CONFIG_FILES:
            if (name, filename) in have:
                continue
            real = Path(os.path.realpath(folder / filename))
            if not real.is_file() or not real.is_relative_to(base):
                continue
            try:
                content = real.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as exc:
                log.warning("config versions: cannot seed %s/%s: %s", name, filename, exc)
                continue
            add_version(s, name, filename, content, author_id=None, author="system", origin="startup", note=SEED_NOTE)
            seeded.append(f"{name}/{filename}")
    return seeded


class Configs:
    """Config files of services and their version history."""

    def __init__(self, db: Database, rbac: Rbac, services: Services) -> None:
        self.db, self.rbac, self.services = db, rbac, services
        self.guard = PathGuard(db, services)

    async def seed(self) -> list[str]:
        """Startup: seed version 1 where a config file has none."""
        return await self.db.run(lambda s: seed_versions(s, self.services.root))

    def _path(self, actor: Actor, service: str, filename: str) -> Path:
        return self.guard.config_file(actor, service, filename, CONFIG_FILES)

    async def list(self, actor: Actor, service: str) -> list[ConfigFileInfo]:
        """The four config files of a service, whether they exist, and their history size."""

        def q(s: Session) -> list[ConfigFileInfo]:
            self.rbac.require(s, actor, "services.config.view", f"services/{service}")
            folder = self.guard.service_dir(actor, service)
            base = Path(os.path.realpath(folder))
            stats = {
                fn: (n, top)
                for fn, n, top in s.execute(
                    select(ConfigVersion.filename, func.count(), func.max(ConfigVersion.version_number))
                    .where(ConfigVersion.service_name == service)
                    .group_by(ConfigVersion.filename)
                )
            }
            out = []
            for fn in CONFIG_FILES:
                real = Path(os.path.realpath(folder / fn))
                exists = real.is_file() and real.is_relative_to(base)
                count, top = stats.get(fn, (0, None))
                out.append(ConfigFileInfo(fn, exists, real.stat().st_size if exists else 0, top, count))
            return out

        return await self.db.run(q)

    async def read(self, actor: Actor, service: str, filename: str) -> ConfigText:
        def q(s: Session) -> ConfigText:
            self.rbac.require(s, actor, "services.config.view", f"services/{service}/{filename}")
            real = self._path(actor, service, filename)
            if not real.is_file():
                raise NotFound(f"Service '{service}' has no {filename}")
            check_size(real.stat().st_size, filename)
            text = real.read_text(encoding="utf-8", errors="replace")
            digest = sha256(text.encode("utf-8"))
            latest = _latest(s, service, filename)
            version = latest.version_number if latest is not None and latest.content_hash == digest else None
            return ConfigText(filename, text, digest, version)

        return await self.db.run(q)

    def _write(
        self,
        s: Session,
        actor: Actor,
        service: str,
        filename: str,
        real: Path,
        content: str,
        *,
        note: str,
        action: str,
        restored_from: int | None = None,
        base_hash: str | None = None,
    ) -> VersionInfo:
        """Record the version, audit, then write the file (all or nothing)."""
        current: str | None = None
        if real.is_file():
            current = real.read_text(encoding="utf-8", errors="replace")
        if base_hash is not None and current is not None and sha256(current.encode("utf-8")) != base_hash:
            raise Conflict(f"{filename} changed since it was opened (another save, or on disk): reload it first")
        latest = _latest(s, service, filename)
        if current is not None and (latest is None or latest.content_hash != sha256(current.encode("utf-8"))):
            add_version(s, service, filename, current, author_id=None, author="system", origin="disk", note=DISK_NOTE)
        row = add_version(
            s,
            service,
            filename,
            content,
            author_id=actor.user_id,
            author=actor.username,
            origin=actor.origin,
            note=note,
            restored_from=restored_from,
        )
        detail: dict[str, Any] = {
            "file": filename,
            "version": row.version_number,
            "size": row.size_bytes,
            "sha256": row.content_hash,
        }
        if note:
            detail["note"] = note[:NOTE_MAX]
        if restored_from is not None:
            detail["restored_from"] = restored_from
        audit.record(s, actor, action, f"services/{service}/{filename}", detail)
        s.flush()
        atomic_write(real, content.encode("utf-8"))
        return _info(row)

    async def save(
        self, actor: Actor, service: str, filename: str, content: str, note: str = "", *, base_hash: str | None = None
    ) -> VersionInfo:
        """Save ``content`` as a new version and write it (the old file kept as ``.backup``).

        Refused, with nothing written, if the content is not valid YAML or over 100 KB, or if
        ``base_hash`` (what the editor loaded) no longer matches the file.
        """
        check_size(len(content.encode("utf-8")), filename)
        check_yaml(content, filename)

        def q(s: Session) -> VersionInfo:
            self.rbac.require(s, actor, "services.config.edit", f"services/{service}/{filename}")
            real = self._path(actor, service, filename)
            return self._write(
                s, actor, service, filename, real, content, note=note, action="service.config.edit", base_hash=base_hash
            )

        return await self.db.run(q)

    async def versions(self, actor: Actor, service: str, filename: str) -> builtins.list[VersionInfo]:
        """The file's versions, newest first."""

        def q(s: Session) -> list[VersionInfo]:
            self.rbac.require(s, actor, "services.config.view", f"services/{service}/{filename}")
            self._path(actor, service, filename)
            rows = s.scalars(_versions(s, service, filename).order_by(ConfigVersion.version_number.desc()))
            return [_info(r) for r in rows]

        return await self.db.run(q)

    async def content(self, actor: Actor, service: str, filename: str, number: int) -> str:
        def q(s: Session) -> str:
            self.rbac.require(s, actor, "services.config.view", f"services/{service}/{filename}")
            self._path(actor, service, filename)
            return _get(s, service, filename, number).content

        return await self.db.run(q)

    async def diff(self, actor: Actor, service: str, filename: str, to: int, base: int | None = None) -> Diff:
        """Unified diff from version ``base`` (default: the one before ``to``) to ``to``.

        Headers are CloudLab's: ``v<N>``, or ``(empty)`` when ``to`` has no predecessor.
        """

        def q(s: Session) -> Diff:
            self.rbac.require(s, actor, "services.config.view", f"services/{service}/{filename}")
            self._path(actor, service, filename)
            new = _get(s, service, filename, to)
            if base is None:
                old = s.scalar(
                    _versions(s, service, filename)
                    .where(ConfigVersion.version_number < to)
                    .order_by(ConfigVersion.version_number.desc())
                    .limit(1)
                )
            else:
                old = _get(s, service, filename, base)
            text = unified_diff(
                old.content if old else "", new.content, f"v{old.version_number}" if old else "(empty)", f"v{to}"
            )
            return Diff(text, old.version_number if old else None, to)

        return await self.db.run(q)

    async def restore(self, actor: Actor, service: str, filename: str, number: int, note: str = "") -> VersionInfo:
        """Make version ``number``'s content current again, as a new version."""

        def q(s: Session) -> VersionInfo:
            self.rbac.require(s, actor, "services.config.edit", f"services/{service}/{filename}")
            real = self._path(actor, service, filename)
            old = _get(s, service, filename, number)
            return self._write(
                s,
                actor,
                service,
                filename,
                real,
                old.content,
                note=note or f"Restored from version {number}",
                action="service.config.restore",
                restored_from=number,
            )

        return await self.db.run(q)


def _get(s: Session, service: str, filename: str, number: int) -> ConfigVersion:
    row = s.scalar(_versions(s, service, filename).where(ConfigVersion.version_number == number))
    if row is None:
        raise NotFound(f"{service}/{filename} has no version {number} (at most {MAX_VERSIONS} are kept)")
    return row
