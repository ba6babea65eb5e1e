"""Engine and sessions. SQLite in WAL mode with a busy timeout is the default.

Core is async but the engine is synchronous: a sync engine on worker threads is as fast as
aiosqlite and simpler (NOTES-CORE.md). :meth:`Database.run` runs a function with a session
in a thread and commits it.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, create_engine, event, inspect, select
from sqlalchemy.orm import Session, sessionmaker

from labtui.core.db.base import Base
from labtui.core.db.models import AppMetadata

T = TypeVar("T")

SCHEMA_VERSION = 1


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.close()


class Database:
    """One engine per process; sessions are short and per call."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            kwargs["connect_args"] = {"check_same_thread": False, "timeout": 10}
        self.engine: Engine = create_engine(url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

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
        done = [f"created tables: {', '.join(created)}"] if created else []
        done += [f"added columns: {', '.join(added)}"] if added else []
        done += indexed
        return "; ".join(done) or "schema up to date"

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
