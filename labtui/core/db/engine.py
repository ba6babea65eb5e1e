"""Engine and sessions. SQLite in WAL mode with a busy timeout is the default.

Core is async but the engine is synchronous: a sync engine on worker threads is as fast as
aiosqlite and simpler (docs/ansible-runner.md). :meth:`Database.run` runs a function with a session
in a thread and commits it.

A SQLite database file and its -wal/-shm/-journal side files are 0600 whatever the umask
(they hold password hashes); the lab's :class:`SecretBox` rides on every session
(``session.info["secrets"]``) for the columns that store sealed values (docs/secrets.md).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect, make_url, select
from sqlalchemy.orm import Session, sessionmaker

from labtui.core.db.base import Base
from labtui.core.db.models import AppMetadata
from labtui.core.secretbox import SecretBox, private_file, tighten

T = TypeVar("T")

SCHEMA_VERSION = 1


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


#: SQLite's side files of a database (each made with the main file's mode).
SIDE_FILES = ("-wal", "-shm", "-journal")


def _private_sqlite_file(url: str) -> Path | None:
    """Make the database file 0600 before SQLite opens it: SQLite creates a new file under
    the umask, and its side files with the mode of the main file. Side files an older
    version left readable are tightened."""
    name = make_url(url).database
    if not name or name == ":memory:" or name.startswith("file:"):
        return None
    path = Path(name)
    if not path.parent.is_dir():
        return path  # SQLite's own error names the path
    private_file(path)
    for suffix in SIDE_FILES:
        tighten(path.with_name(path.name + suffix))
    return path


class Database:
    """One engine per process; sessions are short and per call."""

    def __init__(self, url: str, *, secrets: SecretBox | None = None) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        #: Seals the secret columns; None for a database opened without the lab's key
        #: (tools and tests that never touch a secret value).
        self.secrets = secrets
        #: The SQLite database file (None for another database).
        self.file: Path | None = None
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
            self.file = _private_sqlite_file(url)
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False, info={"secrets": secrets})

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session that commits on success and rolls back on error."""
        with self._sessions() as session:
            try:
                yield session
                session.commit()
            except BaseException:
                session.rollback()
                raise

    def open_session(self) -> Session:
        """A session the caller commits or rolls back itself (carrying the secrets box)."""
        return self._sessions()

    async def run(self, fn: Callable[[Session], T]) -> T:
        """Run ``fn(session)`` in a worker thread inside one transaction."""

        def call() -> T:
            with self.session() as session:
                return fn(session)

        return await asyncio.to_thread(call)

    def create_schema(self) -> str:
        """Create missing tables and add missing columns; returns what was done (for the
        startup log)."""
        import labtui.core.db.all_tables  # noqa: F401  (registers every table module)
        from labtui.core.db.upgrade import add_missing_columns, fill_added_columns

        existing = set(inspect(self.engine).get_table_names())
        with self.engine.begin() as conn:
            added = add_missing_columns(conn, Base.metadata)
            fill_added_columns(conn, added)
        Base.metadata.create_all(self.engine)
        created = sorted(set(Base.metadata.tables) - existing)
        indexed: list[str] = []
        if self.is_sqlite:
            from labtui.core.db.fts import ensure_audit_index, ensure_inventory_index

            with self.engine.begin() as conn:
                indexed = [done for done in (ensure_audit_index(conn), ensure_inventory_index(conn)) if done]
        with self.session() as session:
            set_metadata(session, "schema_version", SCHEMA_VERSION)
        sealed = self._seal_plain_values()
        done = [f"created tables: {', '.join(created)}"] if created else []
        done += [f"added columns: {', '.join(added)}"] if added else []
        done += indexed
        done += [f"sealed {sealed} plain secret value(s)"] if sealed else []
        return "; ".join(done) or "schema up to date"

    def _seal_plain_values(self) -> int:
        """Seal what older versions stored plain (docs/secrets.md). With SQLite, the plain
        bytes are zeroed where the rows were (secure_delete) and the WAL is emptied, so they
        are gone from the files, not only from the rows."""
        from labtui.core.db.upgrade import check_secrets_key, seal_plain_values

        if self.secrets is None:
            return 0
        with self.engine.connect() as conn:
            if self.is_sqlite:
                conn.exec_driver_sql("PRAGMA secure_delete=ON")
            try:
                check_secrets_key(conn, self.secrets)
                sealed = seal_plain_values(conn, self.secrets)
                conn.commit()
            finally:
                conn.rollback()
                if self.is_sqlite:
                    conn.exec_driver_sql("PRAGMA secure_delete=OFF")
            if sealed and self.is_sqlite:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        return sealed

    def dispose(self) -> None:
        self.engine.dispose()


def get_metadata(session: Session, key: str, default: Any = None) -> Any:
    row = session.get(AppMetadata, key)
    if row is None:
        return default
    try:
        return json.loads(row.value)
    except ValueError:
        return row.value


def set_metadata(session: Session, key: str, value: Any) -> None:
    row = session.get(AppMetadata, key)
    text = json.dumps(value)
    if row is None:
        session.add(AppMetadata(key=key, value=text))
    else:
        row.value = text


__all__ = ["Database", "get_metadata", "set_metadata", "select"]
