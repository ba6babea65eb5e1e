"""Runs schedules on time: one process in the lab (under a lease) sleeps until the next due
time and fires it, so a job starts within a second of its minute (CloudLab polled every 30 s).

Policy, beyond CloudLab:
- a run missed while no scheduler ran fires once if it is still within the schedule's
  misfire grace, and is recorded as ``missed`` otherwise (never a burst of catch-up runs);
- ``skip_if_running`` skips a run while the previous job is queued or running;
- a dispatch that fails (e.g. an input no longer valid) is recorded and audited, and the
  schedule moves on to its next time instead of retrying every tick.
Firing is a compare-and-set on ``next_run_at``, so even two schedulers never double-fire.
Schedules due together (a burst: every ``* * * * *`` of the lab at the minute) are claimed,
queued and recorded in batches, a few transactions per batch instead of three per schedule.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from dataclasses import dataclass
from typing import Protocol

from sqlalchemy import bindparam, select, update
from sqlalchemy.orm import Session

from labtui.core import audit, cron
from labtui.core.actor import Actor
from labtui.core.db.base import table_of, utcnow
from labtui.core.db.engine import Database
from labtui.core.db.schedules import ScheduledJob
from labtui.core.errors import LabtuiError
from labtui.core.schedules import ScheduleInfo, info

log = logging.getLogger("labtui.scheduler")

#: How often the plan is re-read when nothing is due sooner (changes made by other processes).
REPLAN_SECONDS = 2.0
#: Schedules fired together (claimed, queued and recorded in one transaction each).
BATCH = 250
#: Ids per ``IN (...)`` of a claim.
CLAIM_CHUNK = 500


class JobLauncher(Protocol):
    """What the scheduler needs from the jobs layer.

    A launcher may also offer ``launch_many(items) -> outcomes`` (one transaction for many
    jobs; outcomes with ``job_id`` and ``error``) and ``active_many(ids) -> set`` (one query);
    the scheduler uses them when present.
    """

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
        """Fire every schedule due at ``now``; returns what happened to each.

        Due schedules are fired :data:`BATCH` at a time, each batch in three transactions
        whatever its size: claim (compare-and-set of ``next_run_at``), queue the jobs
        (:meth:`JobLauncher.launch_many` when the launcher has it), record the outcomes. A
        thousand schedules due in the same second used to cost two or three transactions each.
        """
        now = now or utcnow()
        due = await self.db.run(
            lambda s: [
                info(r)
                for r in s.scalars(
                    select(ScheduledJob)
                    .where(ScheduledJob.is_enabled.is_(True), ScheduledJob.next_run_at <= now)
                    .order_by(ScheduledJob.next_run_at, ScheduledJob.id)
                )
            ]
        )
        firings: list[Firing] = []
        for start in range(0, len(due), BATCH):
            firings += await self._fire_batch(due[start : start + BATCH], now)
        return firings

    async def run_now(self, row: ScheduleInfo) -> str:
        """ "Run now": queue the job at once, without touching the schedule's next run."""
        job_id = await self.launcher.launch(row, schedule_actor(row))
        await self.db.run(lambda s: self._record(s, row.id, now=utcnow(), job_id=job_id, status="queued"))
        return job_id

    async def _fire_batch(self, rows: list[ScheduleInfo], now: dt.datetime) -> list[Firing]:
        # 1. Claim. ``following`` depends on (cron, zone) only, so it is computed once per
        #    expression, and rows sharing (cron, zone, next_run_at) are claimed by one UPDATE.
        nexts: dict[tuple[str, str], dt.datetime] = {}
        groups: dict[tuple[str, str, dt.datetime], list[ScheduleInfo]] = {}
        for row in rows:
            assert row.next_run_at is not None
            key = (row.cron, row.tz)
            if key not in nexts:
                nexts[key] = cron.next_fire(row.cron, now, row.tz)
            groups.setdefault((row.cron, row.tz, row.next_run_at), []).append(row)
        claimed = await self.db.run(lambda s: self._claim(s, groups, nexts))
        won = [r for r in rows if r.id in claimed]  # another scheduler, or an edit, took the rest
        if not won:
            return []

        # 2. Decide: a run later than its grace is missed; skip_if_running skips.
        firings: dict[int, Firing] = {}
        missed: list[tuple[ScheduleInfo, str]] = []
        to_launch: list[ScheduleInfo] = []
        watched = [r.last_job_id for r in won if r.skip_if_running and r.last_job_id]
        active = await self._active(watched) if watched else set()
        for row in won:
            assert row.next_run_at is not None
            late = (now - row.next_run_at).total_seconds()
            if late > row.misfire_grace_seconds:
                detail = f"{int(late)} s late, grace {row.misfire_grace_seconds} s"
                missed.append((row, detail))
                firings[row.id] = Firing(row.name, "missed", detail=f"{int(late)} s late")
            elif row.skip_if_running and row.last_job_id in active:
                log.info("schedule %s skipped: job %s still active", row.name, row.last_job_id)
                firings[row.id] = Firing(row.name, "skipped", row.last_job_id)
            else:
                to_launch.append(row)

        # 3. Queue the jobs, then record every outcome in one transaction.
        results = await self._launch(to_launch)
        errors: list[tuple[ScheduleInfo, str]] = list(missed)
        queued: list[tuple[ScheduleInfo, str]] = []
        for row, (job_id, error) in zip(to_launch, results, strict=True):
            if job_id is None:
                errors.append((row, error or "not launched"))
                firings[row.id] = Firing(row.name, "error", detail=error or "")
            else:
                queued.append((row, job_id))
                firings[row.id] = Firing(row.name, "queued", job_id)
                assert row.next_run_at is not None
                log.info(
                    "schedule %s fired job %s (%.3f s after its time)",
                    row.name,
                    job_id,
                    (now - row.next_run_at).total_seconds(),
                )
        if queued or errors:
            await self.db.run(lambda s: self._record_all(s, now, queued, errors, {r.id for r, _ in missed}))
        return [firings[r.id] for r in won]

    @staticmethod
    def _claim(
        s: Session,
        groups: dict[tuple[str, str, dt.datetime], list[ScheduleInfo]],
        nexts: dict[tuple[str, str], dt.datetime],
    ) -> set[int]:
        """Compare-and-set: a row is ours only if its ``next_run_at`` is still the one read."""
        claimed: set[int] = set()
        for (expr, tz, previous), members in groups.items():
            ids = [m.id for m in members]
            for start in range(0, len(ids), CLAIM_CHUNK):
                chunk = ids[start : start + CLAIM_CHUNK]
                claimed.update(
                    s.scalars(
                        update(ScheduledJob)
                        .where(ScheduledJob.id.in_(chunk), ScheduledJob.next_run_at == previous)
                        .values(next_run_at=nexts[(expr, tz)])
                        .returning(ScheduledJob.id)
                    )
                )
        return claimed

    async def _active(self, job_ids: list[str]) -> set[str]:
        many = getattr(self.launcher, "active_many", None)
        if many is not None:
            return set(await many(job_ids))
        return {j for j in job_ids if await self.launcher.active(j)}

    async def _launch(self, rows: list[ScheduleInfo]) -> list[tuple[str | None, str | None]]:
        """(job id, error) per row, in order."""
        if not rows:
            return []
        many = getattr(self.launcher, "launch_many", None)
        if many is not None:
            outcomes = await many([(row, schedule_actor(row)) for row in rows])
            return [(o.job_id, o.error) for o in outcomes]
        results: list[tuple[str | None, str | None]] = []
        for row in rows:
            try:
                results.append((await self.launcher.launch(row, schedule_actor(row)), None))
            except LabtuiError as exc:
                results.append((None, str(exc)))
        return results

    @classmethod
    def _record_all(
        cls,
        s: Session,
        now: dt.datetime,
        queued: list[tuple[ScheduleInfo, str]],
        problems: list[tuple[ScheduleInfo, str]],
        missed_ids: set[int],
    ) -> None:
        # One executemany UPDATE (a schedule deleted meanwhile is simply not matched).
        values: list[dict[str, object]] = [
            {"sid": row.id, "at": now, "status": "queued", "job": job_id} for row, job_id in queued
        ]
        for row, detail in problems:
            status = "missed" if row.id in missed_ids else "error"
            log.warning("schedule %s: %s (%s)", row.name, status, detail)
            values.append({"sid": row.id, "at": now, "status": status, "job": row.last_job_id})
            audit.record(
                s,
                Actor.system("scheduler"),
                f"schedule.{status}",
                f"schedules/{row.id}",
                {"name": row.name, "reason": detail},
            )
        table = table_of(ScheduledJob)
        s.execute(
            update(table)
            .where(table.c.id == bindparam("sid"))
            .values(last_run_at=bindparam("at"), last_status=bindparam("status"), last_job_id=bindparam("job")),
            values,
        )

    @staticmethod
    def _record(s: Session, schedule_id: int, *, now: dt.datetime, job_id: str | None, status: str) -> None:
        row = s.get(ScheduledJob, schedule_id)
        if row is not None:
            row.last_run_at = now
            row.last_status = status
            if job_id:
                row.last_job_id = job_id

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
