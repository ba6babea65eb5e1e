"""The health poller: one process in the lab runs the checks, under the ``health-poller`` lease.

Every ``tick_seconds`` the lease holder runs the checks that are due (each check's own
``interval``) with at most ``max_concurrency`` in flight and a small random stagger, applies
the thresholds (:mod:`.state`), and stores the results in batches (one transaction per
~250 ms, not one per check: 10,000 checks a tick would otherwise spend the tick committing).
Transitions are audited in the same transaction as their result, and mailed after it commits.

The thresholds' counters live in memory while this process holds the lease and in
``health_check_state`` for the next holder, which loads them when it takes over. Other
processes keep trying the lease every third of its period, so one takes over within about a
lease period when the holder dies (at once when it stops cleanly and releases it).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
import random
import time
from collections import deque
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.db.base import rowcount, utcnow
from labtui.core.db.health import HealthCheckResult, HealthCheckState, HealthSilence
from labtui.core.health.checks import CheckResult
from labtui.core.health.definitions import CheckDef
from labtui.core.health.notify import send_transition
from labtui.core.health.state import CheckState, Transition, apply, transition
from labtui.core.health.targets import HostMap

if TYPE_CHECKING:
    from labtui.core.health.service import Health

log = logging.getLogger("labtui.health")

LEASE_NAME = "health-poller"
ACTOR = Actor.system("health")
RETENTION_EVERY = 3600.0
RETENTION_BATCH = 500
FLUSH_EVERY = 0.25
FLUSH_MAX = 1000


class LeaseLike(Protocol):
    async def hold(self) -> bool:
        """Acquire or renew; True while this process holds the lease."""
        ...

    async def release(self) -> None: ...


@dataclass
class TickReport:
    """What one tick did (for logs, tests and the benchmark)."""

    held: bool
    ran: int = 0
    #: Checks that resolve through the instance cache whose service has no instance.
    not_deployed: int = 0
    transitions: list[Transition] = field(default_factory=list)
    emails: int = 0
    deleted: int = 0
    silences_ended: int = 0
    seconds: float = 0.0


@dataclass(frozen=True)
class _Pending:
    check: CheckDef
    previous: str
    state: CheckState
    result: CheckResult
    transition: Transition | None


class HealthPoller:
    def __init__(
        self,
        health: Health,
        lease: LeaseLike,
        *,
        tick_seconds: float | None = None,
        max_concurrency: int | None = None,
        retention_days: float | None = None,
        lease_seconds: float | None = None,
        jitter: float | None = None,
        retention_every: float = RETENTION_EVERY,
        flush_every: float = FLUSH_EVERY,
        rng: random.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        """``clock`` decides when checks are due; ``wall_clock`` stamps results and ends
        silences (tests pass clocks they move)."""
        cfg = health.config
        self.health = health
        self.lease = lease
        self.tick_seconds = float(tick_seconds if tick_seconds is not None else cfg.tick_seconds)
        self.max_concurrency = max(1, int(max_concurrency if max_concurrency is not None else cfg.max_concurrency))
        self.retention_days = float(retention_days if retention_days is not None else cfg.retention_days)
        self.lease_seconds = float(lease_seconds if lease_seconds is not None else cfg.lease_seconds)
        self.jitter = float(jitter if jitter is not None else min(1.0, self.tick_seconds / 10))
        self.retention_every = retention_every
        self.flush_every = flush_every
        self.rng = rng or random.Random()
        self.clock = clock
        self.wall_clock = wall_clock
        #: True while this process holds the lease.
        self.leader = False
        self._states: dict[str, CheckState] | None = None
        self._next_due: dict[str, float] = {}
        self._last_retention: float | None = None
        self._emails: set[asyncio.Task[int]] = set()

    # -- lease -------------------------------------------------------------------------------

    async def _hold(self) -> bool:
        try:
            held = await self.lease.hold()
        except Exception:
            log.exception("health poller: could not renew the lease")
            held = False
        if held and not self.leader:
            log.info("health poller: this process now runs the health checks")
            self.leader = True
            self._states = None  # load the previous holder's counters
            self._next_due.clear()  # everything is due on the first tick
        elif not held and self.leader:
            log.warning("health poller: lease lost, another process runs the checks now")
            self.leader = False
            self._states = None
        return held

    # -- one tick ----------------------------------------------------------------------------

    async def tick(self) -> TickReport:
        """Renew the lease and, while holding it, run the due checks once."""
        if not await self._hold():
            return TickReport(held=False)
        return await self._tick_held()

    async def _tick_held(self) -> TickReport:
        start = self.clock()
        report = TickReport(held=True)
        health = self.health
        changed = await health.refresh_if_changed()
        defs = health.definitions
        if changed:
            for key in set(self._next_due) - set(defs.checks):
                self._next_due.pop(key, None)
        if self._states is None:
            self._states = await health.db.run(_load_states)
        wall = self.wall_clock()
        silenced, report.silences_ended = await health.db.run(lambda s: _silences(s, wall))
        hosts = await health.targets.current()
        now = self.clock()
        due: list[CheckDef] = []
        for key, check in defs.checks.items():
            if self._next_due.get(key, float("-inf")) > now:
                continue
            if not check.explicit and hosts.get(check.service) is None:
                report.not_deployed += 1  # CloudLab: skipped, nothing stored
                continue
            self._next_due[key] = now + check.interval
            due.append(check)
        report.ran = len(due)
        if due:
            report.transitions = await self._run(due, hosts, silenced)
        if self._emails:
            report.emails = sum(await asyncio.gather(*self._emails))
            self._emails.clear()
        if self._last_retention is None or self.clock() - self._last_retention >= self.retention_every:
            self._last_retention = self.clock()
            report.deleted = await self.retention()
        report.seconds = self.clock() - start
        if report.ran:
            log.debug(
                "health tick: %d check(s) in %.2f s, %d transition(s)",
                report.ran,
                report.seconds,
                len(report.transitions),
            )
        return report

    async def _run(self, due: list[CheckDef], hosts: HostMap, silenced: set[str]) -> list[Transition]:
        queue = deque(due)
        pending: list[_Pending] = []
        transitions: list[Transition] = []
        assert self._states is not None
        states = self._states
        prober = self.health.prober

        async def worker() -> None:
            if self.jitter > 0:
                await asyncio.sleep(self.rng.uniform(0, self.jitter))
            while queue:
                check = queue.popleft()
                result = await prober.run(check, hosts)
                before = states.get(check.key) or CheckState()
                after = apply(before, check, result, self.wall_clock())
                states[check.key] = after
                t = transition(check, before, after, silenced=check.key in silenced)
                if t is not None:
                    transitions.append(t)
                pending.append(_Pending(check, before.status, after, result, t))

        drained = asyncio.Event()

        async def flusher() -> None:
            # Never cancelled mid-batch: a half-cancelled flush could commit without mailing.
            while True:
                with suppress(asyncio.TimeoutError, TimeoutError):
                    await asyncio.wait_for(drained.wait(), self.flush_every)
                while pending:
                    batch = pending[:FLUSH_MAX]
                    del pending[: len(batch)]
                    await self._flush(batch)
                if drained.is_set():
                    return

        async def keeper() -> None:
            period = max(0.2, self.lease_seconds / 3)
            while True:
                await asyncio.sleep(period)
                if not await self._hold():
                    return

        workers = [asyncio.create_task(worker()) for _ in range(min(self.max_concurrency, len(due)))]
        flush_task = asyncio.create_task(flusher())
        keep_task = asyncio.create_task(keeper())
        lost = False
        try:
            done_workers = asyncio.gather(*workers)
            either: list[asyncio.Future[Any]] = [done_workers, keep_task]
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
            if keep_task.done() and not done_workers.done():
                # The lease is gone: another process may be checking already; stop here.
                lost = True
                for w in workers:
                    w.cancel()
                with suppress(asyncio.CancelledError):
                    await done_workers
            else:
                await done_workers
        finally:
            keep_task.cancel()
            for w in workers:
                w.cancel()
            if lost:
                pending.clear()
            drained.set()
            await asyncio.gather(keep_task, *workers, return_exceptions=True)
            await flush_task
        if lost:
            return []
        return transitions

    async def _flush(self, batch: list[_Pending]) -> None:
        results = [
            {
                "service_name": p.check.service,
                "check_name": p.check.name,
                "status": p.state.status,
                "outcome": p.result.status,
                "previous_status": p.previous,
                "response_time_ms": p.result.latency_ms,
                "status_code": p.result.status_code,
                "error_message": p.result.error,
                "check_type": p.check.type,
                "target": p.result.target[:500],
                "checked_at": p.state.last_checked_at,
            }
            for p in batch
        ]
        latest: dict[str, _Pending] = {p.check.key: p for p in batch}
        states = [_state_values(p.check, p.state) for p in latest.values()]
        events = [p.transition for p in batch if p.transition is not None]

        def q(s: Session) -> None:
            s.execute(insert(HealthCheckResult), results)
            _upsert_states(s, states)
            for t in events:
                audit.record(s, ACTOR, "health.transition", f"health/{t.key}", t.as_json())

        await self.health.db.run(q)
        for t in events:
            log.info("health: %s %s -> %s%s", t.key, t.old, t.new, " (silenced)" if t.silenced else "")
            self._notify(t)
        for listener in list(self.health.listeners):
            try:
                listener({key: p.state for key, p in latest.items()}, events)
            except Exception:
                log.exception("health listener failed")

    def _notify(self, t: Transition) -> None:
        svc = self.health.definitions.services.get(t.service)
        if t.silenced or svc is None or not svc.notify or not svc.recipients:
            return
        mail = send_transition(self.health.mailer, svc.recipients, t, self.health.mail_prefix)
        self._emails.add(asyncio.create_task(mail))

    # -- retention ---------------------------------------------------------------------------

    async def retention(self, now: dt.datetime | None = None, batch: int = RETENTION_BATCH) -> int:
        """Delete results older than ``retention_days``, ``batch`` rows per transaction so the
        poller's own writes (and other processes) never wait long on the database."""
        cutoff = (now or utcnow()) - dt.timedelta(days=self.retention_days)
        total = 0
        while True:
            n = await self.health.db.run(lambda s: _delete_batch(s, cutoff, batch))
            total += n
            if n < batch:
                break
        if total:
            log.info("health retention: deleted %d result(s) older than %s", total, cutoff.isoformat())
        return total

    # -- the loop ----------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        """Until ``stop``: keep (or try to take) the lease every third of its period, and
        while holding it tick every ``tick_seconds``. Releases the lease at the end."""
        renew = max(0.2, self.lease_seconds / 3)
        next_tick = self.clock()
        try:
            while not stop.is_set():
                held = await self._hold()
                if held:
                    if self.clock() >= next_tick:
                        next_tick = self.clock() + self.tick_seconds
                        try:
                            await self._tick_held()
                        except Exception:
                            log.exception("health tick failed")
                    pause = min(renew, max(0.0, next_tick - self.clock()))
                else:
                    next_tick = self.clock()  # tick at once when the lease comes
                    pause = renew
                with suppress(asyncio.TimeoutError, TimeoutError):
                    await asyncio.wait_for(stop.wait(), pause)
        finally:
            for task in self._emails:
                task.cancel()
            if self.leader:
                with suppress(Exception):
                    await self.lease.release()
                self.leader = False


def _state_values(check: CheckDef, st: CheckState) -> dict[str, Any]:
    return {
        "service_name": check.service,
        "check_name": check.name,
        "status": st.status,
        "since": st.since,
        "consecutive_failures": st.failures,
        "consecutive_successes": st.successes,
        "last_checked_at": st.last_checked_at,
        "last_outcome": st.last_outcome,
        "last_latency_ms": st.last_latency_ms,
        "last_status_code": st.last_status_code,
        "last_error": st.last_error,
        "target": st.target[:500],
    }


def _upsert_states(s: Session, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    dialect = s.get_bind().dialect.name
    # The two dialects' INSERT share on_conflict_do_update and .excluded, not a type.
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as pg_insert

        stmt: Any = pg_insert(HealthCheckState)
    else:
        from sqlalchemy.dialects.sqlite import insert as sqlite_insert

        stmt = sqlite_insert(HealthCheckState)
    keys = ("service_name", "check_name")
    stmt = stmt.on_conflict_do_update(
        index_elements=list(keys),
        set_={c: getattr(stmt.excluded, c) for c in rows[0] if c not in keys},
    )
    s.execute(stmt, rows)


def _load_states(s: Session) -> dict[str, CheckState]:
    return {
        f"{r.service_name}/{r.check_name}": CheckState(
            status=r.status,
            since=r.since,
            failures=r.consecutive_failures,
            successes=r.consecutive_successes,
            last_checked_at=r.last_checked_at,
            last_outcome=r.last_outcome,
            last_latency_ms=r.last_latency_ms,
            last_status_code=r.last_status_code,
            last_error=r.last_error,
            target=r.target,
        )
        for r in s.scalars(select(HealthCheckState))
    }


def _silences(s: Session, now: dt.datetime) -> tuple[set[str], int]:
    """End the silences whose time is up (audited), and return the active ones' keys."""
    active: set[str] = set()
    ended = 0
    for row in s.scalars(select(HealthSilence).where(HealthSilence.ended_at.is_(None))):
        key = f"{row.service_name}/{row.check_name}"
        if row.until <= now:
            row.ended_at, row.ended_by = now, "expired"
            audit.record(
                s, ACTOR, "health.silence_end", f"health/{key}", {"until": row.until.isoformat(), "reason": "expired"}
            )
            ended += 1
        else:
            active.add(key)
    return active, ended


def _delete_batch(s: Session, cutoff: dt.datetime, batch: int) -> int:
    ids = select(HealthCheckResult.id).where(HealthCheckResult.checked_at < cutoff).limit(batch).scalar_subquery()
    return rowcount(s.execute(delete(HealthCheckResult).where(HealthCheckResult.id.in_(ids))))
