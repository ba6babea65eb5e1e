"""A service's ``inputs/`` and ``outputs/`` folders (CloudLab's file manager), and the path
guard every file access of a service goes through (configs use it too).

The guard resolves each path with ``realpath`` and refuses it when it is absolute, climbs
out with ``..``, leads out of the service folder through a symlink, or is not on the list
of what may be touched. Every refusal is audited (``service.path_refused`` with the path
that was tried) in its own transaction, so it survives the caller's rollback: a probe for
``../../etc/passwd`` leaves a trace even though nothing happened.

Writes are atomic (a temp file in the same folder, then ``rename``), keep the old content
as ``<file>.backup`` (as CloudLab), and are limited to 100 KB like reads.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from sqlalchemy.orm import Session

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.db.engine import Database
from labtui.core.errors import NotFound, ValidationError
from labtui.core.rbac import Rbac
from labtui.core.services import Services

#: CloudLab's ``ALLOWED_FILE_SUBDIRS``.
FILE_FOLDERS = ("inputs", "outputs")
#: CloudLab's limit for config files and files alike.
MAX_BYTES = 100 * 1024
BACKUP_SUFFIX = ".backup"
#: A listing stops here (a folder of thousands of files is not browsed in a TUI).
MAX_LISTED = 2000


class PathRefused(ValidationError):
    """A path that leaves the service folder or is not on the allowed list (audited)."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message, "path")
        self.path = path


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def human_size(size: int) -> str:
    if size < 1024:
        return f"{size} B"
    return f"{size / 1024:.1f} KB"


def check_size(size: int, what: str) -> None:
    if size > MAX_BYTES:
        raise ValidationError(f"{what} is {human_size(size)}: the limit is {MAX_BYTES // 1024} KB", "content")


# -- the guard ------------------------------------------------------------------------------


class PathGuard:
    """Resolves paths inside one lab's service folders; audits and raises on refusal."""

    def __init__(self, db: Database, services: Services) -> None:
        self.db = db
        self.services = services

    def refuse(self, actor: Actor, service: str, attempted: str, reason: str) -> PathRefused:
        """Audit the refusal (own transaction) and return the error to raise."""
        with self.db.session() as own:
            audit.record(
                own,
                actor,
                "service.path_refused",
                f"services/{service}",
                {"path": attempted, "reason": reason},
            )
        return PathRefused(f"Refused '{attempted}': {reason}", attempted)

    def service_dir(self, actor: Actor, service: str, *, any_folder: bool = False) -> Path:
        """The service's folder; a name that is itself a path is refused and audited."""
        if not service or service in (".", "..") or "/" in service or "\\" in service or "\0" in service:
            raise self.refuse(actor, service, service, "not a service name")
        if any_folder:
            path = self.services.root / service
            if not path.is_dir():
                raise NotFound(f"Service '{service}' not found")
            return path
        return self.services.path(service)

    def _relative(self, actor: Actor, service: str, rel: str) -> PurePosixPath:
        if not rel or "\0" in rel:
            raise self.refuse(actor, service, rel, "empty or invalid path")
        if os.path.isabs(rel) or rel.startswith("~"):
            raise self.refuse(actor, service, rel, "absolute paths are not allowed")
        parts = PurePosixPath(rel).parts
        if ".." in parts:
            raise self.refuse(actor, service, rel, "'..' would leave the service folder")
        return PurePosixPath(*[p for p in parts if p != "."]) if parts else PurePosixPath()

    def _inside(self, actor: Actor, service: str, rel: str, real: Path, root: Path) -> None:
        if real != root and not real.is_relative_to(root):
            raise self.refuse(actor, service, rel, "it leads out of the service folder (symlink)")

    def config_file(
        self, actor: Actor, service: str, rel: str, allowed: tuple[str, ...], *, any_folder: bool = False
    ) -> Path:
        """The real path of config file ``rel`` (one of ``allowed``, directly in the folder)."""
        folder = self.service_dir(actor, service, any_folder=any_folder)
        clean = self._relative(actor, service, rel)
        if len(clean.parts) != 1 or clean.name not in allowed:
            raise self.refuse(actor, service, rel, f"not an editable config file ({', '.join(allowed)})")
        base = Path(os.path.realpath(folder))
        real = Path(os.path.realpath(folder / clean))
        self._inside(actor, service, rel, real, base)
        if real == base:
            raise self.refuse(actor, service, rel, "not a file")
        return real

    def data_file(self, actor: Actor, service: str, rel: str, *, folder_ok: bool = False) -> tuple[Path, Path]:
        """``(entry, real)`` for a path under ``inputs/`` or ``outputs/``.

        ``entry`` is the path as named (a symlink stays a symlink), ``real`` where it leads;
        both are checked to stay in the allowed folder, and that folder in the service folder.
        """
        folder = self.service_dir(actor, service)
        clean = self._relative(actor, service, rel)
        if not clean.parts or clean.parts[0] not in FILE_FOLDERS:
            raise self.refuse(actor, service, rel, f"only {' and '.join(f + '/' for f in FILE_FOLDERS)} may be used")
        if len(clean.parts) == 1 and not folder_ok:
            raise self.refuse(actor, service, rel, "a folder, not a file")
        base = Path(os.path.realpath(folder))
        root = Path(os.path.realpath(folder / clean.parts[0]))
        self._inside(actor, service, rel, root, base)
        real = Path(os.path.realpath(folder / clean))
        self._inside(actor, service, rel, real, root)
        return folder / clean, real


# -- atomic writes --------------------------------------------------------------------------


def atomic_write(path: Path, data: bytes, *, backup: bool = True) -> None:
    """Replace ``path`` with ``data`` in one rename; the old content goes to ``.backup``.

    The mode of an existing file is kept (``outputs/service_outputs.yaml`` is often 0600).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    mode: int | None = None
    if path.exists():
        mode = stat.S_IMODE(path.stat().st_mode)
        if backup:
            shutil.copy2(path, path.with_name(path.name + BACKUP_SUFFIX))
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode if mode is not None else 0o644)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# -- the file browser -----------------------------------------------------------------------


@dataclass(frozen=True)
class FileEntry:
    path: str
    """Relative to the service folder, e.g. ``outputs/service_outputs.yaml``."""
    size: int
    modified: dt.datetime

    @property
    def folder(self) -> str:
        return self.path.split("/", 1)[0]

    def as_json(self) -> dict[str, object]:
        return {"path": self.path, "size": self.size, "modified": self.modified.isoformat()}


@dataclass(frozen=True)
class FileContent:
    path: str
    text: str
    size: int
    sha256: str
    #: False for a file that is not UTF-8 text (shown with replacement characters, not editable).
    editable: bool


class ServiceFiles:
    """List, view, edit, upload and delete files in a service's ``inputs/`` and ``outputs/``."""

    def __init__(self, db: Database, rbac: Rbac, services: Services, home: Path) -> None:
        self.db, self.rbac, self.services = db, rbac, services
        self.guard = PathGuard(db, services)
        #: labtui's data dir: never a source for uploads (database, vault password).
        self.home = home

    async def list(self, actor: Actor, service: str) -> list[FileEntry]:
        """Every regular file under ``inputs/`` and ``outputs/``, sorted by path.

        Entries that lead out of their folder (symlinks) are left out: they cannot be opened.
        """

        def q(s: Session) -> list[FileEntry]:
            self.rbac.require(s, actor, "services.files.view", f"services/{service}")
            folder = self.guard.service_dir(actor, service)
            base = Path(os.path.realpath(folder))
            out: list[FileEntry] = []
            for name in FILE_FOLDERS:
                top = folder / name
                root = Path(os.path.realpath(top))
                if not top.is_dir() or not root.is_relative_to(base):
                    continue
                for dirpath, dirnames, filenames in os.walk(top):
                    dirnames.sort()
                    for fname in sorted(filenames):
                        entry = Path(dirpath) / fname
                        real = Path(os.path.realpath(entry))
                        if not real.is_relative_to(root) or not real.is_file():
                            continue
                        st = real.stat()
                        rel = entry.relative_to(folder).as_posix()
                        out.append(FileEntry(rel, st.st_size, dt.datetime.fromtimestamp(st.st_mtime, dt.UTC)))
                        if len(out) >= MAX_LISTED:
                            return out
            return sorted(out, key=lambda e: e.path)

        return await self.db.run(q)

    async def read(self, actor: Actor, service: str, path: str) -> FileContent:
        def q(s: Session) -> FileContent:
            self.rbac.require(s, actor, "services.files.view", f"services/{service}")
            _, real = self.guard.data_file(actor, service, path)
            if not real.is_file():
                raise NotFound(f"No file '{path}' in service '{service}'")
            size = real.stat().st_size
            check_size(size, f"'{path}'")
            data = real.read_bytes()
            try:
                text, editable = data.decode("utf-8"), b"\0" not in data
            except UnicodeDecodeError:
                text, editable = data.decode("utf-8", errors="replace"), False
            return FileContent(path, text, len(data), sha256(data), editable)

        return await self.db.run(q)

    async def write(
        self, actor: Actor, service: str, path: str, text: str, *, base_hash: str | None = None
    ) -> FileContent:
        """Create or replace a file (the old content kept as ``.backup``).

        ``base_hash`` is the sha256 the editor loaded: if the file changed since, the save is
        refused instead of silently overwriting someone else's change.
        """
        data = text.encode("utf-8")
        check_size(len(data), f"'{path}'")

        def q(s: Session) -> FileContent:
            self.rbac.require(s, actor, "services.files.edit", f"services/{service}")
            _, real = self.guard.data_file(actor, service, path)
            if real.is_dir():
                raise ValidationError(f"'{path}' is a folder", "path")
            existed = real.is_file()
            if base_hash is not None and existed and sha256(real.read_bytes()) != base_hash:
                raise ValidationError(f"'{path}' changed on disk since it was opened: reload it first", "content")
            audit.record(
                s,
                actor,
                "service.file.write",
                f"services/{service}",
                {"path": path, "size": len(data), "sha256": sha256(data), "created": not existed},
            )
            s.flush()
            atomic_write(real, data)
            return FileContent(path, text, len(data), sha256(data), True)

        return await self.db.run(q)

    async def upload(self, actor: Actor, service: str, source: str, dest: str = "inputs") -> FileEntry:
        """Copy the local file ``source`` into folder ``dest`` (``inputs``, ``outputs`` or below).

        The source is read by the labtui process, so in a session over SSH it would be a file
        on the server: only local sessions may upload, and never from labtui's data dir.
        """

        def q(s: Session) -> FileEntry:
            self.rbac.require(s, actor, "services.files.edit", f"services/{service}")
            src = Path(source).expanduser()
            if actor.origin != "local":
                raise self.guard.refuse(actor, service, source, "upload from a path works only in a local session")
            real_src = Path(os.path.realpath(src))
            if real_src.is_relative_to(Path(os.path.realpath(self.home))):
                raise self.guard.refuse(actor, service, source, "files of labtui's data dir cannot be uploaded")
            if not real_src.is_file():
                raise NotFound(f"No file '{source}' to upload")
            check_size(real_src.stat().st_size, f"'{source}'")
            rel = f"{dest.rstrip('/')}/{src.name}"
            _, real = self.guard.data_file(actor, service, rel)
            if real.is_dir():
                raise ValidationError(f"'{rel}' is a folder", "path")
            data = real_src.read_bytes()
            check_size(len(data), f"'{source}'")
            audit.record(
                s,
                actor,
                "service.file.upload",
                f"services/{service}",
                {"path": rel, "source": str(src), "size": len(data), "sha256": sha256(data)},
            )
            s.flush()
            atomic_write(real, data)
            st = real.stat()
            return FileEntry(rel, st.st_size, dt.datetime.fromtimestamp(st.st_mtime, dt.UTC))

        return await self.db.run(q)

    async def delete(self, actor: Actor, service: str, path: str) -> str:
        """Delete a file, first copied to ``<file>.backup``; returns the backup's path."""

        def q(s: Session) -> str:
            self.rbac.require(s, actor, "services.files.edit", f"services/{service}")
            entry, real = self.guard.data_file(actor, service, path)
            if not real.is_file():
                raise NotFound(f"No file '{path}' in service '{service}'")
            backup = entry.with_name(entry.name + BACKUP_SUFFIX)
            audit.record(
                s,
                actor,
                "service.file.delete",
                f"services/{service}",
                {"path": path, "backup": f"{path}{BACKUP_SUFFIX}"},
            )
            s.flush()
            shutil.copy2(real, backup)
            entry.unlink()
            return f"{path}{BACKUP_SUFFIX}"

        return await self.db.run(q)
