"""Leases over the ``leases`` table: which process runs a singleton task, and who is alive.

A lease is a row (name, holder, expires_at). A process holds it while it keeps renewing it
before it expires; when the holder dies, another process takes it over within one lease
period (docs/architecture.md, leases). Job workers also hold one lease each (``worker:<name>``) so a CLI can
tell whether any worker is alive to run what it queues.

Acquiring is one conditional UPDATE (ours, or expired) and else an INSERT that does nothing
on conflict, so two processes never both win, on SQLite as on PostgreSQL.
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import socket
from collections.abc import Callable

from sqlalchemy import Executable, delete, or_, select, update
from sqlalchemy.orm import Session

from labtui.core.db.base import rowcount, utcnow
from labtui.core.db.engine import Database
from labtui.core.db.models import Lease as LeaseRow

NAME_MAX = 50


def holder_id() -> str:
    """A name for this process that is unique in the lab: host, pid and a random part."""
    return f"{socket.gethostname()[:16]}-{os.getpid()}-{secrets.token_hex(3)}"


def _insert_if_absent(session: Session, name: str, holder: str, expires: dt.datetime) -> bool:
    bind = session.get_bind()
    values = {"name": name, "holder": holder, "expires_at": expires}
    stmt: Executable
    if bind.dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt = pg_insert(LeaseRow).values(**values).on_conflict_do_nothing(index_elements=["name"])
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(LeaseRow).values(**values).on_conflict_do_nothing(index_elements=["name"])
    return bool(rowcount(session.execute(stmt)))


def try_hold(session: Session, name: str, holder: str, seconds: float, now: dt.datetime | None = None) -> bool:
    """Acquire or renew ``name`` for ``holder``; False when another live holder has it."""
    if len(name) > NAME_MAX:
        raise ValueError(f"lease name longer than {NAME_MAX}: {name!r}")
    now = now or utcnow()
    expires = now + dt.timedelta(seconds=seconds)
    renewed = rowcount(
        session.execute(
            update(LeaseRow)
            .where(LeaseRow.name == name, or_(LeaseRow.holder == holder, LeaseRow.expires_at < now))
            .values(holder=holder, expires_at=expires)
        )
    )
    if renewed:
        return True
    return _insert_if_absent(session, name, holder, expires)


def release(session: Session, name: str, holder: str) -> None:
    session.execute(delete(LeaseRow).where(LeaseRow.name == name, LeaseRow.holder == holder))


def live(session: Session, prefix: str, now: dt.datetime | None = None) -> list[tuple[str, str]]:
    """(name, holder) of the unexpired leases whose name starts with ``prefix``."""
    now = now or utcnow()
    rows = session.execute(
        select(LeaseRow.name, LeaseRow.holder).where(
            LeaseRow.name.startswith(prefix, autoescape=True), LeaseRow.expires_at >= now
        )
    )
    return [(r.name, r.holder) for r in rows]


def prune(session: Session, prefix: str, older_than: dt.timedelta, now: dt.datetime | None = None) -> int:
    """Delete leases under ``prefix`` expired for longer than ``older_than`` (dead processes)."""
    now = now or utcnow()
    return rowcount(
        session.execute(
            delete(LeaseRow).where(
                LeaseRow.name.startswith(prefix, autoescape=True), LeaseRow.expires_at < now - older_than
            )
        )
    )


class Lease:
    """One named lease held by this process (the scheduler's and poller's ``LeaseLike``)."""

    def __init__(
        self,
        db: Database,
        name: str,
        *,
        seconds: float = 15.0,
        holder: str | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        """``clock`` is the wall clock expiry is measured by (tests pass one they advance)."""
        if len(name) > NAME_MAX:
            raise ValueError(f"lease name longer than {NAME_MAX}: {name!r}")
        self.db = db
        self.name = name
        self.seconds = seconds
        self.holder = holder or holder_id()
        self.clock = clock
        #: The outcome of the last :meth:`hold`.
        self.held = False

    async def hold(self) -> bool:
        """Acquire or renew; True while this process holds the lease."""
        now = self.clock()
        self.held = await self.db.run(lambda s: try_hold(s, self.name, self.holder, self.seconds, now))
        return self.held

    async def release(self) -> None:
        """Give the lease up at once (so a successor need not wait for it to expire)."""
        await self.db.run(lambda s: release(s, self.name, self.holder))
        self.held = False

    async def current_holder(self) -> str | None:
        def q(s: Session) -> str | None:
            row = s.get(LeaseRow, self.name)
            return row.holder if row is not None and row.expires_at >= self.clock() else None

        return await self.db.run(q)
