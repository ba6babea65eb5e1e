"""Background work of one labtui process: the job worker and, optionally, the scheduler and
the health poller.

``labtui`` (the TUI) and ``labtui serve`` both call :func:`start_workers`; any number of
processes may do so on one database. Job workers all run side by side (each claims jobs
atomically); the scheduler and the poller each run in one process at a time, under their leases.
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from labtui.core.jobs.worker import JobWorker
from labtui.core.leases import Lease, holder_id

if TYPE_CHECKING:
    from labtui.core.runtime import Core

log = logging.getLogger("labtui.workers")

SCHEDULER_LEASE = "scheduler"


class ProcessWorkers:
    """Starts and stops this process's background tasks."""

    def __init__(self, core: Core, *, jobs: bool = True, scheduler: bool = False) -> None:
        self.core = core
        self.holder = holder_id()
        self.job_worker: JobWorker | None = JobWorker(core.jobs, name=self.holder) if jobs else None
        self._scheduler_wanted = scheduler
        self._stop = asyncio.Event()
        self._scheduler_task: asyncio.Task[None] | None = None
        self._health_task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        if self.job_worker is not None:
            await self.job_worker.start()
        if self._scheduler_wanted:
            self._scheduler_task = asyncio.create_task(self._run_scheduler(), name="scheduler")
            self._health_task = self.core.health.start_poller(self._stop, holder=self.holder)

    async def _run_scheduler(self) -> None:
        from labtui.core.scheduler import Scheduler

        scheduler = Scheduler(self.core.db, self.core.jobs)
        self.core.schedules.on_change.append(scheduler.wake)
        lease = Lease(
            self.core.db, SCHEDULER_LEASE, seconds=float(self.core.config.jobs.lease_seconds), holder=self.holder
        )
        try:
            await scheduler.run(lease, self._stop, lease_renew=max(1.0, lease.seconds / 3))
        except Exception:  # the job workers go on without it
            log.exception("scheduler stopped with an error")
        finally:
            if scheduler.wake in self.core.schedules.on_change:
                self.core.schedules.on_change.remove(scheduler.wake)

    async def stop(self, *, requeue: bool = True) -> None:
        """Stop everything; running jobs go back to the queue (``requeue``) or end cancelled."""
        self._stop.set()
        background = [t for t in (self._scheduler_task, self._health_task) if t is not None]
        if background:
            await asyncio.wait(background, timeout=10)
        self._scheduler_task = self._health_task = None
        if self.job_worker is not None:
            await self.job_worker.stop(requeue=requeue)


async def start_workers(core: Core, *, scheduler: bool = False) -> ProcessWorkers:
    workers = ProcessWorkers(core, scheduler=scheduler)
    await workers.start()
    return workers
