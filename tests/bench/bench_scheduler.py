"""Scheduler benchmark: 1,000 enabled schedules, fire-time error p99 (target ≤ 1 s).

Drives :class:`labtui.core.scheduler.Scheduler` — its real loop, lease and database — with a
counting launcher that records, for each firing, how long after the schedule's time the
launch happened. Two shapes are measured on a real minute boundary:

- ``spread``: 1,000 schedules over the 60 minutes of the hour (``M * * * *``), ~17 due at
  each minute, as a real lab's schedules are spread;
- ``burst``: all 1,000 on ``* * * * *`` — every schedule due at the same instant, the
  worst case (each firing is a compare-and-set and a record, one after the other).

Not part of the pytest run. Usage: ``python tests/bench/bench_scheduler.py [--shape spread|burst|both]``
(waits for up to two minute boundaries).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import statistics
import sys
import tempfile
import time
from pathlib import Path

from labtui.core.actor import Actor
from labtui.core.db.base import utcnow
from labtui.core.db.engine import Database
from labtui.core.db.schedules import ScheduledJob
from labtui.core.leases import Lease
from labtui.core.schedules import ScheduleInfo
from labtui.core.scheduler import Scheduler
from labtui.core import cron

COUNT = 1000
TARGET_P99 = 1.0


class CountingLauncher:
    """A :class:`JobLauncher` that only notes when each schedule was launched."""

    def __init__(self) -> None:
        self.errors: list[float] = []

    async def launch(self, schedule: ScheduleInfo, actor: Actor) -> str:
        assert schedule.next_run_at is not None
        self.errors.append((utcnow() - schedule.next_run_at).total_seconds())
        return f"j{len(self.errors):07d}"

    async def active(self, job_id: str) -> bool:
        return False


def make_schedules(db: Database, shape: str, now: dt.datetime) -> dt.datetime:
    """Insert the schedules; returns the minute boundary at which the measured ones fire."""
    boundary = (now + dt.timedelta(minutes=1)).replace(second=0, microsecond=0)
    rows = []
    for i in range(COUNT):
        expr = "* * * * *" if shape == "burst" else f"{(boundary.minute + i) % 60} * * * *"
        rows.append(
            ScheduledJob(
                name=f"s{i:04d}", job_type="service_script", service_name="hello", script_name="deploy",
                cron_expression=expr, timezone="UTC", is_enabled=True, misfire_grace_seconds=300,
                next_run_at=cron.next_fire(expr, now, "UTC"),
            )
        )
    with db.session() as s:
        s.add_all(rows)
    return boundary


async def measure(shape: str) -> list[float]:
    with tempfile.TemporaryDirectory(prefix="labtui-bench-sched-") as tmp:
        db = Database(f"sqlite:///{Path(tmp) / 'labtui.db'}")
        db.create_schema()
        now = utcnow()
        if (60 - now.second) < 5:  # too close to a boundary to set up fairly
            await asyncio.sleep(60 - now.second + 0.5)
            now = utcnow()
        boundary = make_schedules(db, shape, now)
        due = COUNT if shape == "burst" else sum(1 for i in range(COUNT) if i % 60 == 0)
        launcher = CountingLauncher()
        scheduler = Scheduler(db, launcher)
        stop = asyncio.Event()
        lease = Lease(db, "scheduler", seconds=15)
        task = asyncio.create_task(scheduler.run(lease, stop, lease_renew=5))
        wait = (boundary - utcnow()).total_seconds()
        print(f"[{shape}] {COUNT} schedules, {due} due at {boundary:%H:%M:%S} UTC (in {wait:.0f} s)", flush=True)
        deadline = time.monotonic() + wait + 30
        while len(launcher.errors) < due and time.monotonic() < deadline:
            await asyncio.sleep(0.2)
        stop.set()
        await task
        db.dispose()
        if len(launcher.errors) < due:
            print(f"[{shape}] only {len(launcher.errors)} of {due} fired", file=sys.stderr)
        return launcher.errors


def report(shape: str, errors: list[float]) -> bool:
    if not errors:
        print(f"[{shape}] nothing fired")
        return False
    ordered = sorted(errors)
    p50 = statistics.median(ordered)
    p99 = ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]
    ok = p99 <= TARGET_P99
    print(
        f"[{shape}] fire-time error over {len(ordered)} firings: p50 {p50 * 1000:.1f} ms, "
        f"p99 {p99 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms "
        f"(target p99 ≤ {TARGET_P99 * 1000:.0f} ms: {'met' if ok else 'MISSED'})",
        flush=True,
    )
    return ok


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", choices=("spread", "burst", "both"), default="both")
    args = parser.parse_args()
    shapes = ("spread", "burst") if args.shape == "both" else (args.shape,)
    results = [report(shape, asyncio.run(measure(shape))) for shape in shapes]
    return 0 if all(results) else 1


if __name__ == "__main__":
    raise SystemExit(main())
