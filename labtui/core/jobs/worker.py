"""A job worker: claims queued jobs, runs them, streams their output, heartbeats, cancels.

Any number of workers in any number of processes share one queue (the ``jobs`` table):

- a job is claimed with ``UPDATE … WHERE id = ? AND status = 'queued'``, so exactly one
  worker gets it; at most ``max_parallel`` run at once per worker;
- running jobs are heartbeated every ``lease_seconds / 3``; every worker sweeps the table
  and marks ``lost`` a running job whose heartbeat is older than two leases (its worker
  died: CloudLab left such jobs ``running`` for ever);
- the queue and ``cancel_requested`` are polled every ``poll`` seconds (0.1 s; a job queued
  in this process wakes the worker at once); a cancel ends the job's whole process tree
  (:mod:`labtui.core.jobs.cancel`) well within 5 s;
- stopping the worker (SIGTERM on ``labtui serve``) ends running jobs and puts them back to
  ``queued`` with a note in their output, so another worker runs them: never lost silently;
- no job process outlives the worker, even one killed by SIGKILL (its guard process,
  :mod:`labtui.core.jobs.guard`; docs/jobs.md);
- a job whose output could not all be stored (a full disk) never ends ``completed``: it
  fails, with a closing line saying how many lines were lost, and the worker logs storage
  failures once a minute, not once per write (docs/job-output.md).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import logging
import shutil
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from sqlalchemy import and_, or_, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from labtui.core import audit, leases
from labtui.core.actor import Actor
from labtui.core.db.base import rowcount, utcnow
from labtui.core.db.jobs import (
    ACTIVE_STATUSES,
    CANCELLED,
    COMPLETED,
    FAILED,
    LOST,
    QUEUED,
    RUNNING,
    Job,
)
from labtui.core.errors import LabtuiError, NotFound
from labtui.core.jobs.cancel import ProcessTracker
from labtui.core.jobs.guard import NodeGuard, sweep_dead_nodes, token_needle
from labtui.core.jobs.output import DEPLOYMENT_RE, MB, FailureLog, OutputWriter, append_line, storage_failure
from labtui.core.jobs.queue import WORKER_LEASE_PREFIX, Jobs, Plan
from labtui.core.jobs.runner import RunContext, base_env, run_steps
from labtui.core.system_tasks import system_tasks

log = logging.getLogger("labtui.jobs")

T = TypeVar("T")
PRUNE_EVERY = 6 * 3600.0
#: Poll interval for a few seconds after a job was claimed or ended.
HOT_POLL = 0.02
HOT_SECONDS = 2.0


async def run_in_thread(fn: Callable[[], T], name: str) -> T:
    """Run blocking ``fn`` on its own thread: long jobs must not occupy the default executor
    that every database call uses."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        try:
            result = fn()
        except BaseException as exc:  # handed to the awaiting task
            loop.call_soon_threadsafe(settle, None, exc)
        else:
            loop.call_soon_threadsafe(settle, result, None)

    threading.Thread(target=target, name=name, daemon=True).start()
    return await future


def sweep_lost(session: Session, lease_seconds: float, now: dt.datetime | None = None) -> list[str]:
    """Mark ``lost`` every running job whose heartbeat is older than two leases."""
    now = now or utcnow()
    cutoff = now - dt.timedelta(seconds=2 * lease_seconds)
    stale = or_(Job.heartbeat_at < cutoff, and_(Job.heartbeat_at.is_(None), Job.started_at < cutoff))
    rows = list(session.execute(select(Job.id, Job.worker, Job.service).where(Job.status == RUNNING, stale)))
    lost: list[str] = []
    for job_id, worker, service in rows:
        changed = rowcount(
            session.execute(
                update(Job).where(Job.id == job_id, Job.status == RUNNING, stale).values(status=LOST, finished_at=now)
            )
        )
        if not changed:
            continue
        append_line(session, job_id, f"[LOST: worker {worker} stopped heartbeating; the job's end is unknown]")
        audit.record(
            session, Actor.system("jobs"), "job.lost", f"jobs/{job_id}", {"service": service, "worker": worker}
        )
        lost.append(job_id)
    return lost


def prune_job_dirs(jobs_dir: Path, retention_days: float, keep: set[str], now: float | None = None) -> list[str]:
    """Delete per-job data dirs not touched for ``retention_days`` (never an active job's)."""
    now = now or time.time()
    cutoff = now - retention_days * 86400
    removed: list[str] = []
    try:
        entries = list(jobs_dir.iterdir())
    except OSError:
        return removed
    for entry in entries:
        if entry.name in keep or not entry.is_dir():
            continue
        try:
            if entry.stat().st_mtime < cutoff:
                shutil.rmtree(entry)
                removed.append(entry.name)
        except OSError as exc:
            log.warning("jobs: cannot prune %s: %s", entry, exc)
    return removed


class _Sink:
    """A job's output line handler: to the writer, capturing the first DEPLOYMENT_ID."""

    def __init__(self, job_id: str, writer: OutputWriter) -> None:
        self.job_id = job_id
        self.writer = writer
        self.deployment_id: str | None = None

    def emit(self, line: str) -> None:
        if self.deployment_id is None:
            match = DEPLOYMENT_RE.search(line)
            if match:
                self.deployment_id = match.group(1)
                self.writer.set_deployment_id(self.job_id, self.deployment_id)
        self.writer.append(self.job_id, line)

    def emit_many(self, lines: list[str]) -> None:
        if self.deployment_id is None and any(DEPLOYMENT_RE.search(line) for line in lines):
            for line in lines:  # the first match is captured, the lines stay in order
                self.emit(line)
        else:
            self.writer.append_many(self.job_id, lines)


@dataclass(frozen=True)
class _End:
    """How a job ended, as it is to be recorded."""

    status: str
    rc: int | None
    #: The closing line stored with the status (lines were lost).
    closing: str | None = None


def _job_row(s: Session, job_id: str) -> Job:
    row = s.get(Job, job_id)
    if row is None:
        raise NotFound(f"Job {job_id} is gone")
    return row


@dataclass
class _Running:
    tracker: ProcessTracker = field(default_factory=ProcessTracker)
    task: asyncio.Task[None] | None = None
    #: Set when the worker stops: the job goes back to the queue instead of ``cancelled``.
    requeue: bool = False


class JobWorker:
    def __init__(
        self,
        jobs: Jobs,
        *,
        max_parallel: int | None = None,
        lease_seconds: float | None = None,
        retention_days: float | None = None,
        name: str | None = None,
        only: Iterable[str] | None = None,
        poll: float = 0.1,
    ) -> None:
        self.jobs = jobs
        self.db = jobs.db
        self.name = name or leases.holder_id()
        self.max_parallel = max(1, max_parallel or jobs.config.max_parallel)
        self.lease_seconds = max(0.5, float(lease_seconds or jobs.config.lease_seconds))
        self.retention_days = retention_days if retention_days is not None else jobs.config.retention_days
        #: Claim only these job ids (``labtui jobs run`` without a worker elsewhere).
        self.only = set(only) if only is not None else None
        self.poll = poll
        #: Recurring failures (a full disk fails every write) reach the log once a minute.
        self.failures = FailureLog(log)
        self.writer = OutputWriter(
            self.db, max_output_bytes=max(1, jobs.config.max_output_mb) * MB, failures=self.failures
        )
        self._running: dict[str, _Running] = {}
        #: Jobs that ended while their end could not be stored (a full disk): retried.
        self._ending: dict[str, _End] = {}
        self._wake = asyncio.Event()
        self._stop = asyncio.Event()
        self._requeue_on_stop = True
        self._last_activity = float("-inf")
        self._task: asyncio.Task[None] | None = None
        self._lease_name = f"{WORKER_LEASE_PREFIX}{self.name}"[: leases.NAME_MAX]
        #: Kills what this worker's jobs leave running once the worker is gone.
        self.guard = NodeGuard(jobs.home / "job-nodes")

    # -- lifecycle -------------------------------------------------------------------------

    @property
    def advertised(self) -> bool:
        """A general worker holds a ``worker:`` lease so others know jobs will be run; one
        that runs only given jobs does not (it would not run anybody else's)."""
        return self.only is None

    @property
    def running_jobs(self) -> list[str]:
        return list(self._running)

    async def start(self) -> None:
        if self._task is not None:
            return
        self._stop.clear()
        killed = await asyncio.to_thread(sweep_dead_nodes, self.guard.nodes_dir)
        if killed:
            log.warning("jobs: killed %d process(es) left by dead workers of this host", len(killed))
        self.writer.start()
        if self.advertised:
            await self.db.run(lambda s: leases.try_hold(s, self._lease_name, self.name, self.lease_seconds))
        self.jobs.on_change.append(self.wake)
        self.jobs.local_workers.append(self)
        self._task = asyncio.create_task(self._run(), name=f"job-worker-{self.name}")
        log.info("job worker %s started (max_parallel %d)", self.name, self.max_parallel)

    def wake(self) -> None:
        self._wake.set()

    async def stop(self, *, requeue: bool = True, timeout: float = 15.0) -> None:
        """End the loop. Running jobs are ended; ``requeue`` puts them back to ``queued``
        (another worker runs them), otherwise they end ``cancelled``."""
        if self._task is None:
            return
        self._requeue_on_stop = requeue
        self._stop.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), timeout)
        except TimeoutError:
            log.error("job worker %s: did not stop within %s s", self.name, timeout)
        self._task = None
        if self.wake in self.jobs.on_change:
            self.jobs.on_change.remove(self.wake)
        if self in self.jobs.local_workers:
            self.jobs.local_workers.remove(self)

    async def wait_idle(self) -> None:
        """Until no job runs here (tests and ``labtui jobs run``)."""
        while self._running:
            tasks = [r.task for r in self._running.values() if r.task is not None]
            if tasks:
                await asyncio.wait(tasks)
            else:  # claimed a moment ago, its task not made yet
                await asyncio.sleep(0.01)

    # -- the loop --------------------------------------------------------------------------

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        heartbeat_every = max(0.2, self.lease_seconds / 3)
        next_heartbeat = loop.time() + heartbeat_every
        next_sweep = loop.time()
        next_prune = loop.time()
        try:
            while not self._stop.is_set():
                now = loop.time()
                try:
                    # The next time is set before the call: a write failing on a full disk
                    # is tried again at its pace, not at every poll.
                    if now >= next_heartbeat:
                        next_heartbeat = now + heartbeat_every
                        if self._ending:
                            await self._record_ends()
                        await self._heartbeat()
                    if now >= next_sweep:
                        next_sweep = now + self.lease_seconds
                        lost = await self.db.run(lambda s: sweep_lost(s, self.lease_seconds))
                        if lost:
                            log.warning("jobs marked lost: %s", ", ".join(lost))
                    if now >= next_prune and self.only is None:
                        await self._prune()
                        next_prune = now + PRUNE_EVERY
                    if self._running:
                        await self._check_cancels()
                    free = self.max_parallel - len(self._running)
                    if free > 0:
                        for job_id in await self.db.run(functools.partial(self._claim, limit=free)):
                            self._launch(job_id)
                            self._last_activity = loop.time()
                except Exception as exc:  # a database hiccup must not end the worker
                    self._log_failure("loop", f"job worker {self.name}: loop error", exc)
                # Right after activity, look again soon: sequential work (a script queueing job
                # after job, a benchmark) would otherwise wait a whole poll period each time.
                hot = loop.time() - self._last_activity < HOT_SECONDS
                await self._sleep(HOT_POLL if hot else self.poll)
        finally:
            await self._shutdown()

    async def _sleep(self, seconds: float) -> None:
        waiters = [asyncio.ensure_future(self._stop.wait()), asyncio.ensure_future(self._wake.wait())]
        try:
            await asyncio.wait(waiters, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for w in waiters:
                w.cancel()
            self._wake.clear()

    async def _shutdown(self) -> None:
        running = list(self._running.values())
        for r in running:
            r.requeue = self._requeue_on_stop
        # The kills are waited for as well as the jobs: a job's task ends as soon as its main
        # process does, and a process exiting meanwhile (``labtui serve`` on SIGTERM) would
        # cut short the thread still killing the rest of the tree, leaving orphans.
        kills = [asyncio.ensure_future(asyncio.to_thread(r.tracker.cancel)) for r in running]
        tasks = [r.task for r in running if r.task is not None]
        if kills or tasks:
            await asyncio.wait([*kills, *tasks], timeout=10)
        await asyncio.to_thread(self.guard.stop)  # and whatever the jobs left detached
        await asyncio.to_thread(self.writer.close)
        if self._ending:
            await self._record_ends()  # a last try; what still fails the sweep marks lost
        if self.advertised:
            try:
                await self.db.run(lambda s: leases.release(s, self._lease_name, self.name))
            except Exception:
                log.exception("job worker %s: could not release its lease", self.name)
        log.info("job worker %s stopped", self.name)

    async def _heartbeat(self) -> None:
        def q(s: Session) -> None:
            now = utcnow()
            if self._running or self._ending:
                s.execute(update(Job).where(Job.worker == self.name, Job.status == RUNNING).values(heartbeat_at=now))
            if self.advertised:
                leases.try_hold(s, self._lease_name, self.name, self.lease_seconds, now)
                leases.prune(s, WORKER_LEASE_PREFIX, dt.timedelta(days=1), now)

        await self.db.run(q)

    async def _prune(self) -> None:
        keep = set(await self.db.run(lambda s: list(s.scalars(select(Job.id).where(Job.status.in_(ACTIVE_STATUSES))))))
        removed = await asyncio.to_thread(prune_job_dirs, self.jobs.jobs_dir, self.retention_days, keep)
        if removed:
            log.info("jobs: pruned %d data dir(s) older than %s days", len(removed), self.retention_days)

    def _claim(self, s: Session, limit: int) -> list[str]:
        stmt = select(Job.id).where(Job.status == QUEUED).order_by(Job.created_at, Job.id).limit(limit * 2)
        if self.only is not None:
            if not self.only:
                return []
            stmt = stmt.where(Job.id.in_(self.only))
        now = utcnow()
        claimed: list[str] = []
        for job_id in list(s.scalars(stmt)):
            if len(claimed) >= limit:
                break
            won = rowcount(
                s.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == QUEUED)
                    .values(status=RUNNING, worker=self.name, started_at=now, heartbeat_at=now, exit_code=None)
                )
            )
            if won:
                claimed.append(job_id)
        return claimed

    async def _check_cancels(self) -> None:
        ids = list(self._running)
        wanted = await self.db.run(
            lambda s: list(
                s.scalars(
                    select(Job.id).where(Job.id.in_(ids), Job.worker == self.name, Job.cancel_requested.is_(True))
                )
            )
        )
        for job_id in wanted:
            r = self._running.get(job_id)
            if r is not None and not r.tracker.cancelled.is_set():
                log.info("job %s: cancel requested", job_id)
                threading.Thread(target=r.tracker.cancel, name=f"cancel-{job_id}", daemon=True).start()

    # -- one job ---------------------------------------------------------------------------

    def _launch(self, job_id: str) -> None:
        r = _Running()
        self._running[job_id] = r
        r.task = asyncio.create_task(self._execute(job_id, r), name=f"job-{job_id}")

    async def _execute(self, job_id: str, r: _Running) -> None:
        sink = _Sink(job_id, self.writer)
        rc: int | None = None
        error: str | None = None
        try:
            plan: Plan | None = None
            try:
                plan = await self.db.run(lambda s: self.jobs.plan(s, _job_row(s, job_id)))
            except LabtuiError as exc:
                error = str(exc)
                sink.emit(f"[ERROR: {exc}]")
            if plan is not None and plan.task is not None:
                rc, error = await self._run_task(job_id, plan, sink, r)
            elif plan is not None:
                job_dir = self.jobs.jobs_dir / job_id
                job_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
                self.guard.ensure_started()  # before the job's first process
                env = base_env({**plan.env, **self.guard.env})
                # The job's own processes, detached ones included: a cancel kills them all.
                r.tracker.marks = (token_needle(self.guard.token), f"LABTUI_JOB_ID={job_id}")
                ctx = RunContext(
                    job_id=job_id,
                    job_dir=job_dir,
                    env=env,
                    emit=sink.emit,
                    emit_many=sink.emit_many,
                    nice=self.jobs.config.nice,
                    tracker=r.tracker,
                    vault_file=self.jobs.vault.password_file(),
                    extravars=plan.extravars,
                )
                rc = await run_in_thread(lambda: run_steps(plan.steps, ctx), name=f"job-{job_id}")
        except Exception as exc:  # the job fails with the reason, the worker goes on
            log.exception("job %s crashed", job_id)
            error = str(exc) or exc.__class__.__name__
            sink.emit(f"[ERROR: {error}]")
        try:
            await self._finish(job_id, r, sink, rc, error)
        except Exception as exc:  # it stays running until the sweep marks it lost: never completed
            self._log_failure("finish", f"job {job_id}: could not record its end", exc)
        finally:
            self._running.pop(job_id, None)
            self.writer.forget(job_id)
            self._last_activity = asyncio.get_running_loop().time()
            self.wake()

    async def _run_task(self, job_id: str, plan: Plan, sink: _Sink, r: _Running) -> tuple[int | None, str | None]:
        """Run a system task here, in the worker's loop: what it says is the job's output, an
        exception fails the job with its message as the last line; a cancel cancels it."""
        name = plan.task or ""
        task = system_tasks.get(name)
        core = self.jobs.core
        if task is None or core is None:
            error = f"Unknown system task '{name}'" if task is None else "System tasks need the process's Core"
            sink.emit(f"[ERROR: {error}]")
            return None, error
        sink.emit(f"--- System task {name}: {task.description} ---")

        async def say(line: str) -> None:
            for part in str(line).splitlines() or [""]:
                sink.emit(part)

        actor = plan.actor or Actor.system("jobs")
        running: asyncio.Future[None] = asyncio.ensure_future(task.fn(core, actor, say))
        while not running.done():
            if r.tracker.cancelled.is_set():
                running.cancel()
            await asyncio.wait({running}, timeout=0.1)
        if running.cancelled():
            return None, None  # _finish sees the tracker's cancel (or requeue)
        exc = running.exception()
        if exc is None:
            return 0, None
        if not isinstance(exc, LabtuiError):
            log.error("job %s: system task %s failed", job_id, name, exc_info=exc)
        error = str(exc) or exc.__class__.__name__
        sink.emit(f"[ERROR: {error}]")
        return None, error

    def _log_failure(self, kind: str, what: str, exc: BaseException) -> None:
        """A storage failure in one line once a minute; anything else with its traceback
        (once a minute too: the loop meets the same error every poll)."""
        reason = storage_failure(exc)
        if reason is not None:
            self.failures(f"{kind}-storage", logging.ERROR, "%s: the database cannot store anything: %s", what, reason)
        else:  # one traceback a minute per kind of error, not one per poll
            self.failures(f"{kind}-{exc.__class__.__name__}", logging.ERROR, "%s", what, exc_info=True)

    async def _finish(self, job_id: str, r: _Running, sink: _Sink, rc: int | None, error: str | None) -> None:
        if r.tracker.cancelled.is_set() and r.requeue:
            status = QUEUED
            sink.emit(f"[REQUEUED: worker {self.name} stopped; the job goes back to the queue]")
        elif r.tracker.cancelled.is_set():
            status = CANCELLED
            sink.emit("[CANCELLED]")
        elif error is None and rc == 0:
            status = COMPLETED
        else:
            status = FAILED
        output = await asyncio.to_thread(self.writer.finish, job_id)
        closing: str | None = None
        if output.lost:
            # Its output is incomplete: whatever the script said, nobody can tell it worked.
            status = FAILED if status == COMPLETED else status
            closing = (
                f"[OUTPUT LOST: {output.lost:,} line(s) of this job could not be stored ({output.reason}); "
                f"the job is marked {status}]"
            )
        end = _End(status, rc, closing)
        try:
            await self._record_end(job_id, end)
        except OperationalError as exc:
            if storage_failure(exc) is None:
                raise
            # A full disk: the end is recorded once there is room again (the loop retries,
            # the job is heartbeated meanwhile); until then it stays running, never completed.
            self._ending[job_id] = end
            self._log_failure("finish", f"job {job_id}: could not record its end ({status}) yet", exc)

    async def _record_end(self, job_id: str, end: _End) -> None:
        """Write the job's final status (and closing line, in the same transaction)."""

        def q(s: Session) -> bool:
            mine = (Job.id == job_id, Job.worker == self.name, Job.status == RUNNING)
            values: dict[str, object]
            if end.status == QUEUED:
                values = {"status": QUEUED, "worker": None, "started_at": None, "heartbeat_at": None, "exit_code": None}
            else:
                rc = end.rc if end.rc is not None and end.rc >= 0 else None
                values = {"status": end.status, "finished_at": utcnow(), "exit_code": rc}
            if rowcount(s.execute(update(Job).where(*mine).values(**values))):
                if end.closing is not None:
                    append_line(s, job_id, end.closing)  # with the status: a follower reads both or neither
                return True
            log.warning(
                "job %s: no longer ours when it ended (now %s)",
                job_id,
                s.scalar(select(Job.status).where(Job.id == job_id)),
            )
            return False

        ours = await self.db.run(q)
        self._ending.pop(job_id, None)
        log.info("job %s %s (exit code %s)", job_id, end.status, end.rc)
        if ours and end.status != QUEUED:
            await self.jobs.notify_finished(job_id)

    async def _record_ends(self) -> None:
        """Retry the ends a full disk held back (oldest first; stop at the first failure)."""
        for job_id, end in list(self._ending.items()):
            try:
                await self._record_end(job_id, end)
            except OperationalError as exc:
                self._log_failure("finish", f"job {job_id}: could not record its end ({end.status}) yet", exc)
                return
