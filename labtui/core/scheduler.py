"""Runs schedules on time: one process in the lab (under a lease) sleeps until the next due
time and fires it, so a job starts within a second of its minute (CloudLab polled every 30 s).

Policy, beyond CloudLab:
- a run missed while no scheduler ran fires once if it is still within the schedule's
  misfire grace, and is recorded as ``missed`` otherwise (never a burst of catch-up runs);
- ``skip_if_running`` skips a run while the previous job is queued or running;
- a dispatch that fails (e.g. an input no longer valid) is recorded and audited, and the
  schedule moves on to its next time instead of retrying every tick.
Firing is a compare-and-set on ``next_run_at``, so even two schedulers never double-fire.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from labtui.core import audit, cron
from labtui.core.actor import Actor
from labtui.core.db.base import utcnow
from labtui.core.db.engine import Database
from labtui.core.db.schedules import ScheduledJob
from labtui.core.errors import LabtuiError
from labtui.core.schedules import ScheduleInfo, info

log = logging.getLogger("labtui.scheduler")

#: How often the plan is re-read when nothing is due sooner (changes made by other processes).
REPLAN_SECONDS = 2.0


class JobLauncher(Protocol):
    """What the scheduler needs from the jobs layer."""

    async def launch(self, schedule: ScheduleInfo, actor: Actor) -> str:
        """Queue the schedule's job as ``actor``; returns the job id."""
        ...

    async def active(self, job_id: str) -> bool:
        """True while the job is queued or running."""
        ...


class LeaseLike(Protocol):
    async def hold(self) -> bool:
        """Acquire or renew; True while this process holds the lease."""
        ...

    async def release(self) -> None: ...


@dataclass(frozen=True)
class Firing:
    schedule: str
    outcome: str  # queued | skipped | missed | error
    job_id: str | None = None
    detail: str = ""


def schedule_actor(row: ScheduleInfo) -> Actor:
    """Jobs run with the creator's permissions, shown as ``scheduler:NAME`` (CloudLab: 30 chars)."""
    return Actor(row.created_by, f"scheduler:{row.name}"[:30], "local")


class Scheduler:
    def __init__(self, db: Database, launcher: JobLauncher) -> None:
        self.db = db
        self.launcher = launcher
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Re-plan now (a schedule changed in this process)."""
        self._wake.set()

    async def next_due(self) -> dt.datetime | None:
        return await self.db.run(
            lambda s: s.scalar(
                select(ScheduledJob.next_run_at)
                .where(ScheduledJob.is_enabled.is_(True), ScheduledJob.next_run_at.is_not(None))
                .order_by(ScheduledJob.next_run_at)
                .limit(1)
            )
        )

    async def fire_due(self, now: dt.datetime | None = None) -> list[Firing]:
        """Fire every schedule due at ``now``; returns what happened to each."""
        now = now or utcnow()
        due = await self.db.run(
            lambda s: [
                info(r)
                for r in s.scalars(
                    select(ScheduledJob).where(
                        ScheduledJob.is_enabled.is_(True), ScheduledJob.next_run_at <= now
                    ).order_by(ScheduledJob.next_run_at)
                )
            ]
        )
        return [f for f in [await self._fire(row, now) for row in due] if f is not None]

    async def run_now(self, row: ScheduleInfo) -> str:
        """"Run now": queue the job at once, without touching the schedule's next run."""
        job_id = await self.launcher.launch(row, schedule_actor(row))
        await self.db.run(lambda s: self._record(s, row.id, now=utcnow(), job_id=job_id, status="queued"))
        return job_id

    async def _fire(self, row: ScheduleInfo, now: dt.datetime) -> Firing | None:
        assert row.next_run_at is not None
        following = cron.next_fire(row.cron, now, row.tz)
        claimed = await self.db.run(
            lambda s: s.execute(
                update(ScheduledJob)
                .where(ScheduledJob.id == row.id, ScheduledJob.next_run_at == row.next_run_at)
                .values(next_run_at=following)
            ).rowcount
        )
        if not claimed:
            return None  # another scheduler fired it, or it was edited meanwhile
        late = (now - row.next_run_at).total_seconds()
        if late > row.misfire_grace_seconds:
            await self._note(row, "missed", f"{int(late)} s late, grace {row.misfire_grace_seconds} s")
            return Firing(row.name, "missed", detail=f"{int(late)} s late")
        if row.skip_if_running and row.last_job_id and await self.launcher.active(row.last_job_id):
            log.info("schedule %s skipped: job %s still active", row.name, row.last_job_id)
            return Firing(row.name, "skipped", row.last_job_id)
        try:
            job_id = await self.launcher.launch(row, schedule_actor(row))
        except LabtuiError as exc:
            await self._note(row, "error", str(exc))
            return Firing(row.name, "error", detail=str(exc))
        await self.db.run(lambda s: self._record(s, row.id, now=now, job_id=job_id, status="queued"))
        log.info("schedule %s fired job %s (%.3f s after its time)", row.name, job_id, late)
        return Firing(row.name, "queued", job_id)

    @staticmethod
    def _record(s: Session, schedule_id: int, *, now: dt.datetime, job_id: str | None, status: str) -> None:
        row = s.get(ScheduledJob, schedule_id)
        if row is not None:
            row.last_run_at = now
            row.last_status = status
            if job_id:
                row.last_job_id = job_id

    async def _note(self, row: ScheduleInfo, status: str, detail: str) -> None:
        log.warning("schedule %s: %s (%s)", row.name, status, detail)

        def q(s: Session) -> None:
            self._record(s, row.id, now=utcnow(), job_id=None, status=status)
            audit.record(s, Actor.system("scheduler"), f"schedule.{status}", f"schedules/{row.id}", {"name": row.name, "reason": detail})

        await self.db.run(q)

    async def run(self, lease: LeaseLike, stop: asyncio.Event, *, lease_renew: float = 5.0) -> None:
        """Loop until ``stop``: while holding the lease, sleep until the next due time and fire."""
        try:
            while not stop.is_set():
                if not await lease.hold():
                    await _sleep_or(stop, self._wake, lease_renew)
                    continue
                await self.fire_due()
                nxt = await self.next_due()
                pause = min(lease_renew, REPLAN_SECONDS)
                if nxt is not None:
                    pause = min(pause, max(0.0, (nxt - utcnow()).total_seconds()))
                await _sleep_or(stop, self._wake, pause)
        finally:
            await lease.release()


async def _sleep_or(stop: asyncio.Event, wake: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds`` or until ``stop`` or ``wake`` is set (clearing ``wake``)."""
    waiters = [asyncio.ensure_future(stop.wait()), asyncio.ensure_future(wake.wait())]
    try:
        await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for w in waiters:
            w.cancel()
        wake.clear()
