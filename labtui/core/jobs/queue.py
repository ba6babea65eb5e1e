"""The job queue API: queue scripts, stops and system tasks, cancel, list, read and follow
output, and launch schedules' jobs (one at a time, or a burst in a few transactions).

Every call takes the acting user. Queueing checks the permission, validates the inputs by
type and writes the audit record in the same transaction as the job row, so a refused job
leaves no trace but the refusal. Workers (:mod:`labtui.core.jobs.worker`) in any process
sharing the database pick the rows up. Other services queue their own kinds of job through
:meth:`Jobs.insert` and plan them through :attr:`Jobs.planners` (inventory actions,
:mod:`labtui.core.inventory.actions`); system tasks run in the worker's process.
"""

from __future__ import annotations

import asyncio
import builtins
import datetime as dt
import functools
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from labtui.core import audit, leases
from labtui.core.actor import Actor
from labtui.core.config import JobsConfig
from labtui.core.db.base import rowcount, utcnow
from labtui.core.db.engine import Database
from labtui.core.db.jobs import (
    ACTIVE_STATUSES,
    CANCELLED,
    FINAL_STATUSES,
    INVENTORY_ACTION,
    QUEUED,
    STATUSES,
    Job,
)
from labtui.core.errors import (
    Conflict,
    LabtuiError,
    NotFound,
    PermissionDenied,
    StorageError,
    ValidationError,
)
from labtui.core.jobs.output import OutputLine, append_line, read_lines, storage_failure
from labtui.core.jobs.runner import Step
from labtui.core.rbac import Rbac
from labtui.core.services import (
    ServiceInfo,
    Services,
    input_env,
    script_path,
    validate_inputs,
)
from labtui.core.system_tasks import system_tasks
from labtui.core.vault import Vault

if TYPE_CHECKING:
    from labtui.core.jobs.log_reader import JobLogReader
    from labtui.core.runtime import Core
    from labtui.core.schedules import ScheduleInfo

log = logging.getLogger("labtui.jobs")

#: Lease-name prefix of live job workers (one lease per worker).
WORKER_LEASE_PREFIX = "worker:"
STOP_PLAYBOOK = "stop.yml"
GENERATE_INVENTORY = Path("init_playbook") / "generate-inventory.yaml"
STOP_INSTANCES = Path("init_playbook") / "stop-instances.yaml"
#: ``Job.action`` of a system task (``script`` = its name).
SYSTEM_TASK = "system_task"
#: ``Job.service`` of system tasks (CloudLab used "inventory" and "costs").
SYSTEM_SERVICE = "system"
#: Schedules fired in one transaction by :meth:`Jobs.launch_many`.
LAUNCH_BATCH = 250


@dataclass(frozen=True)
class JobInfo:
    id: str
    service: str
    action: str
    script: str | None
    status: str
    user_id: int | None
    username: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    deployment_id: str | None
    schedule_id: int | None
    inputs: dict[str, Any]
    worker: str | None
    heartbeat_at: dt.datetime | None
    cancel_requested: bool
    exit_code: int | None
    output_lines: int
    #: Inventory actions: the type and the object (None for a type-scope action).
    type_slug: str | None = None
    object_id: int | None = None

    @property
    def what(self) -> str:
        """The job's action as a list shows it: ``deploy``, ``script greet``, ``inventory describe``."""
        return (
            f"{self.action} {self.script}"
            if self.script and self.action != "deploy" and self.action != "stop"
            else self.action
        )

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_STATUSES

    @property
    def duration(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.finished_at or utcnow()
        return (end - self.started_at).total_seconds()

    def as_json(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for key in ("created_at", "started_at", "finished_at", "heartbeat_at"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


def job_info(row: Job) -> JobInfo:
    stored = json.loads(row.inputs) if row.inputs else {}
    type_slug = object_id = None
    if row.action == INVENTORY_ACTION and isinstance(stored, dict):
        # An inventory action keeps its type and object beside the inputs (the object also
        # in ``Job.object_id``: the indexed copy an object's job list filters by).
        type_slug, object_id = stored.get("type"), stored.get("object_id")
        stored = stored.get("inputs") or {}
    return JobInfo(
        row.id,
        row.service,
        row.action,
        row.script,
        row.status,
        row.user_id,
        row.username,
        row.created_at,
        row.started_at,
        row.finished_at,
        row.deployment_id,
        row.schedule_id,
        stored,
        row.worker,
        row.heartbeat_at,
        bool(row.cancel_requested),
        row.exit_code,
        row.output_lines or 0,
        type_slug,
        object_id,
    )


@dataclass(frozen=True)
class Plan:
    """What a worker runs for a job: its steps, environment and extra vars — or, for a
    system task, the task's name (it runs in the worker's process, no steps)."""

    steps: list[Step]
    env: dict[str, str]
    extravars: dict[str, Any]
    task: str | None = None
    #: Who the system task runs as (the job's user).
    actor: Actor | None = None


@dataclass(frozen=True)
class LaunchOutcome:
    """One schedule of :meth:`Jobs.launch_many`: the job queued, or why none was."""

    job_id: str | None = None
    error: str | None = None
    #: The refusal came from a permission check (already audited).
    denied: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


#: Builds the plan of a claimed job of one ``Job.action`` (registered by other services).
Planner = Callable[[Session, Job], Plan]


def new_job_id() -> str:
    return uuid.uuid4().hex[:8]


class Jobs:
    """The queue. Workers of this process register a wake-up so new jobs start at once."""

    def __init__(
        self, db: Database, rbac: Rbac, services: Services, vault: Vault, home: Path, config: JobsConfig
    ) -> None:
        self.db, self.rbac, self.services, self.vault = db, rbac, services, vault
        self.home = home
        self.config = config
        #: Called when this process queued a job or asked for a cancel (local workers wake up).
        self.on_change: list[Callable[[], None]] = []
        #: Workers started in this process, stopped by :meth:`aclose`.
        self.local_workers: list[Any] = []
        #: Awaited by the worker (in its process) after a job ended, with the final job:
        #: e.g. the credential-output sync of a completed deploy. Failures are logged only.
        self.on_finished: list[Callable[[JobInfo], Awaitable[None]]] = []
        #: ``Job.action`` -> planner, for jobs another service queues (inventory actions).
        self.planners: dict[str, Planner] = {}
        #: The Core this queue serves (:meth:`bind`): system tasks run with it, and the
        #: launcher reaches the inventory actions through it.
        self.core: Core | None = None

    def bind(self, core: Core) -> None:
        """Attach the process's :class:`Core` (done once when the Core is built)."""
        self.core = core

    @property
    def jobs_dir(self) -> Path:
        return self.home / "jobs"

    def _changed(self) -> None:
        for callback in list(self.on_change):
            callback()

    def wake_workers(self) -> None:
        """Tell this process's workers a job was queued (another service queued it)."""
        self._changed()

    # -- queueing --------------------------------------------------------------------------

    def insert(self, s: Session, actor: Actor, **fields: Any) -> Job:
        """Add a queued job row in the caller's transaction (the caller audits it)."""
        return self._insert(s, actor, **fields)

    def _insert(self, s: Session, actor: Actor, *, job_id: str | None = None, flush: bool = True, **fields: Any) -> Job:
        """``job_id``: one the caller has already checked is free (a batch checks all at once)."""
        if job_id is None:
            for _ in range(5):
                candidate = new_job_id()
                if s.get(Job, candidate) is None:  # 8 hex digits (CloudLab's ids) do clash, rarely
                    job_id = candidate
                    break
            else:  # pragma: no cover - 5 uuid clashes
                raise LabtuiError("Could not allocate a job id")
        job = Job(id=job_id, status=QUEUED, user_id=actor.user_id, username=actor.username, **fields)
        s.add(job)
        if flush:
            s.flush()
        return job

    @staticmethod
    def _free_ids(s: Session, count: int) -> list[str]:
        """``count`` new job ids not in the table (one query per round)."""
        ids: list[str] = []
        while len(ids) < count:
            fresh = list(dict.fromkeys(new_job_id() for _ in range(count - len(ids))))
            taken = set(s.scalars(select(Job.id).where(Job.id.in_(fresh))))
            ids += [i for i in fresh if i not in taken and i not in ids]
        return ids

    async def run_script(
        self,
        actor: Actor,
        service: str,
        script: str = "deploy",
        inputs: dict[str, Any] | None = None,
        *,
        schedule_id: int | None = None,
    ) -> JobInfo:
        """Queue ``script`` of ``service`` (``deploy`` by default) after validating ``inputs``."""
        info = self.services.load(service)

        def q(s: Session) -> JobInfo:
            self.rbac.require(s, actor, "services.deploy", f"services/{service}")
            return job_info(
                self._queue_script(s, actor, info, script, inputs, schedule_id, self.services.active_deployments())
            )

        job = await self.db.run(q)
        self._changed()
        return job

    def _queue_script(
        self,
        s: Session,
        actor: Actor,
        info: ServiceInfo,
        script: str,
        inputs: dict[str, Any] | None,
        schedule_id: int | None,
        deployments: list[str],
        *,
        job_id: str | None = None,
        flush: bool = True,
        checked: set[tuple[str, str]] | None = None,
    ) -> Job:
        """Validate, then insert one script job (the permission is checked by the caller).
        Every check comes before the first write, so a refusal leaves nothing behind."""
        service = info.name
        given = dict(inputs or {})
        spec = info.script(script)
        if checked is None or (service, script) not in checked:
            script_path(info.path, spec, service)
            if checked is not None:
                checked.add((service, script))  # a batch resolves each file once
        if service == "add-user" and script == "add-user" and not given.get("username"):
            given["username"] = actor.username  # CloudLab's special case
        values = validate_inputs(service, spec, given, deployments=deployments)
        input_env(s, spec, values)  # refuses unknown users / missing keys now, not at run time
        action = "deploy" if script == "deploy" else "script"
        job = self._insert(
            s,
            actor,
            job_id=job_id,
            flush=flush,
            service=service,
            action=action,
            script=script,
            inputs=json.dumps(values) if values else None,
            schedule_id=schedule_id,
        )
        audit.record(
            s,
            actor,
            f"service.{action}",
            f"services/{service}",
            {"job_id": job.id, "script": script, "inputs": sorted(values), "schedule_id": schedule_id},
        )
        return job

    async def run_system_task(self, actor: Actor, name: str, *, schedule_id: int | None = None) -> JobInfo:
        """Queue system task ``name`` (:mod:`labtui.core.system_tasks`) as a job.

        A worker runs it in its own process; the lines the task says are the job's output.
        The task checks the actor's permission itself, through the core services it calls.
        """
        task = system_tasks.get(name)
        if task is None:
            known = ", ".join(system_tasks.names()) or "none registered"
            raise ValidationError(f"Unknown system task '{name}' (known: {known})", "system_task")

        def q(s: Session) -> JobInfo:
            job = self._insert(
                s, actor, service=SYSTEM_SERVICE, action=SYSTEM_TASK, script=name, schedule_id=schedule_id
            )
            audit.record(
                s, actor, "system_task.run", f"system_tasks/{name}", {"job_id": job.id, "schedule_id": schedule_id}
            )
            return job_info(job)

        job = await self.db.run(q)
        self._changed()
        return job

    async def stop(self, actor: Actor, service: str) -> JobInfo:
        """Queue a stop: the service's ``stop.yml``, else CloudLab's two-step stop flow."""
        info = self.services.load(service)
        self.stop_steps(info, None)  # refuses a service there is nothing to stop with
        script = STOP_PLAYBOOK if info.has_stop_playbook else None

        def q(s: Session) -> JobInfo:
            self.rbac.require(s, actor, "services.stop", f"services/{service}")
            job = self._insert(s, actor, service=service, action="stop", script=script)
            audit.record(s, actor, "service.stop", f"services/{service}", {"job_id": job.id})
            return job_info(job)

        job = await self.db.run(q)
        self._changed()
        return job

    async def cancel(self, actor: Actor, job_id: str) -> JobInfo:
        """Cancel a job: a queued one at once, a running one through its worker (≤ 5 s)."""

        def q(s: Session) -> JobInfo:
            row = s.get(Job, job_id)
            if row is None:
                raise NotFound(f"Job '{job_id}' not found")
            own = actor.user_id is not None and row.user_id == actor.user_id
            if not own:
                self.rbac.require(s, actor, "jobs.cancel", f"jobs/{job_id}")
            if row.status in FINAL_STATUSES:
                raise Conflict(f"Job {job_id} is already {row.status}")
            now = utcnow()
            dequeued = rowcount(
                s.execute(
                    update(Job)
                    .where(Job.id == job_id, Job.status == QUEUED)
                    .values(status=CANCELLED, cancel_requested=True, finished_at=now)
                )
            )
            if dequeued:
                append_line(s, job_id, f"[CANCELLED by {actor.username} before it started]")
            else:
                s.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))
            audit.record(s, actor, "job.cancel", f"jobs/{job_id}", {"service": row.service, "was": row.status})
            s.flush()
            s.refresh(row)
            return job_info(row)

        try:
            job = await self.db.run(q)
        except OperationalError as exc:
            reason = storage_failure(exc)
            if reason is None:
                raise
            # The whole transaction rolled back: not cancelled, not audited, nothing half done.
            raise StorageError(f"Cannot cancel job {job_id}: the database could not store it ({reason})") from None
        self._changed()
        return job

    # -- for the scheduler (its JobLauncher protocol) -------------------------------------

    async def launch(self, schedule: ScheduleInfo, actor: Actor) -> str:
        """Queue the schedule's job as ``actor`` (the scheduler's ``scheduler:NAME``)."""
        if schedule.job_type == "service_script":
            if not schedule.service:
                raise ValidationError(f"Schedule '{schedule.name}' names no service", "service")
            job = await self.run_script(
                actor, schedule.service, schedule.script or "deploy", schedule.inputs, schedule_id=schedule.id
            )
        elif schedule.job_type == "system_task":
            job = await self.run_system_task(actor, schedule.system_task or "", schedule_id=schedule.id)
        elif schedule.job_type == "inventory_action":
            if self.core is None or not schedule.type_slug or not schedule.action:
                raise LabtuiError(f"Schedule '{schedule.name}': inventory actions are not available here")
            job = await self.core.inventory_actions.run(
                actor,
                schedule.type_slug,
                schedule.action,
                object_id=schedule.object_id,
                inputs=schedule.inputs,
                schedule_id=schedule.id,
            )
        else:
            raise ValidationError(f"Unknown job type '{schedule.job_type}'", "job_type")
        return job.id

    async def launch_many(self, items: list[tuple[ScheduleInfo, Actor]]) -> list[LaunchOutcome]:
        """Queue many schedules' jobs at once (a burst of schedules due in the same second).

        Service scripts are queued :data:`LAUNCH_BATCH` to a transaction; one bad schedule (a
        refused permission, an input no longer valid) is refused before it writes anything and
        leaves the others queued. Other job types go through :meth:`launch` one by one.
        Outcomes are in the order of ``items``.
        """
        outcomes: list[LaunchOutcome | None] = [None] * len(items)
        batched = [i for i, (row, _) in enumerate(items) if row.job_type == "service_script" and row.service]
        for start in range(0, len(batched), LAUNCH_BATCH):
            chunk = batched[start : start + LAUNCH_BATCH]
            batch = [items[i] for i in chunk]
            done = await self.db.run(functools.partial(self._queue_batch, items=batch))
            for i, outcome in zip(chunk, done, strict=True):
                outcomes[i] = outcome
        if batched:
            self._changed()
        for i, (row, actor) in enumerate(items):
            if outcomes[i] is not None:
                continue
            try:
                outcomes[i] = LaunchOutcome(job_id=await self.launch(row, actor))
            except LabtuiError as exc:
                outcomes[i] = LaunchOutcome(error=str(exc), denied=isinstance(exc, PermissionDenied))
        return [o or LaunchOutcome(error="not launched") for o in outcomes]

    def _queue_batch(self, s: Session, items: list[tuple[ScheduleInfo, Actor]]) -> list[LaunchOutcome]:
        # Begin with a write, so the whole batch reads and writes under one lock: a deferred
        # SQLite transaction that read first fails at once with "database is locked" when it
        # writes after another process committed.
        s.execute(update(Job).where(Job.id.is_(None)).values(status=Job.status))
        services: dict[str, ServiceInfo | LabtuiError] = {}
        deployments = self.services.active_deployments()
        ids = iter(self._free_ids(s, len(items)))
        checked: set[tuple[str, str]] = set()
        out: list[LaunchOutcome] = []
        for row, actor in items:
            service = row.service or ""
            target = f"services/{service}"
            # Refusals are audited in this transaction: a second write transaction would wait
            # for this one's lock (rbac.require writes its refusal in a session of its own).
            if not self.rbac.allowed(s, actor, "services.deploy"):
                audit.record(
                    s, actor, "permission.denied", target, {"permission": "services.deploy", "schedule_id": row.id}
                )
                out.append(LaunchOutcome(error=str(PermissionDenied("services.deploy")), denied=True))
                continue
            if service not in services:
                try:
                    services[service] = self.services.load(service)
                except LabtuiError as exc:
                    services[service] = exc
            info = services[service]
            if isinstance(info, LabtuiError):
                out.append(LaunchOutcome(error=str(info)))
                continue
            try:
                # Checks first, then the row: a refused schedule writes nothing. The rows are
                # flushed together at the end (one multi-row INSERT per table).
                job = self._queue_script(
                    s,
                    actor,
                    info,
                    row.script or "deploy",
                    row.inputs,
                    row.id,
                    deployments,
                    job_id=next(ids),
                    flush=False,
                    checked=checked,
                )
            except LabtuiError as exc:
                out.append(LaunchOutcome(error=str(exc)))
                continue
            out.append(LaunchOutcome(job_id=job.id))
        s.flush()
        return out

    async def active(self, job_id: str) -> bool:
        status = await self.db.run(lambda s: s.scalar(select(Job.status).where(Job.id == job_id)))
        return status in ACTIVE_STATUSES

    async def active_many(self, job_ids: list[str]) -> set[str]:
        """The ids among ``job_ids`` that are queued or running (one query)."""
        return await self.db.run(
            lambda s: set(s.scalars(select(Job.id).where(Job.id.in_(job_ids), Job.status.in_(ACTIVE_STATUSES))))
        )

    # -- reading ---------------------------------------------------------------------------

    def _visible_owner(self, s: Session, actor: Actor) -> int | None | bool:
        """None: every job; an int: only that user's jobs. Refuses (and audits) neither."""
        if self.rbac.allowed(s, actor, "jobs.view_all"):
            return None
        self.rbac.require(s, actor, "jobs.view_own")
        return actor.user_id

    def _visible(self, s: Session, actor: Actor, job_id: str) -> Job:
        owner = self._visible_owner(s, actor)
        row = s.get(Job, job_id)
        if row is None or (owner is not None and row.user_id != owner):
            raise NotFound(f"Job '{job_id}' not found")
        return row

    async def list(
        self,
        actor: Actor,
        *,
        status: str | None = None,
        service: str | None = None,
        object_id: int | None = None,
        limit: int = 100,
        before: dt.datetime | None = None,
    ) -> list[JobInfo]:
        """Newest first; ``jobs.view_all`` sees every job, ``jobs.view_own`` only the actor's."""
        if status is not None and status not in STATUSES:
            raise ValidationError(f"Status must be one of {', '.join(STATUSES)}", "status")

        def q(s: Session) -> list[JobInfo]:
            stmt = _newest(self._visible_owner(s, actor), limit)
            if status:
                stmt = stmt.where(Job.status == status)
            if service:
                stmt = stmt.where(Job.service == service)
            if object_id is not None:
                stmt = stmt.where(Job.object_id == object_id)
            if before is not None:
                stmt = stmt.where(Job.created_at < before)
            return [job_info(r) for r in s.scalars(stmt)]

        return await self.db.run(q)

    async def latest_by_service(self, actor: Actor, services: Iterable[str]) -> dict[str, JobInfo]:
        """The newest job of each of ``services`` the actor may see (as :meth:`list` with
        ``limit=1`` per service, in one transaction: one indexed lookup each)."""
        names = list(services)

        def q(s: Session) -> dict[str, JobInfo]:
            owner = self._visible_owner(s, actor)
            found = {}
            for name in names:
                row = s.scalars(_newest(owner, 1).where(Job.service == name)).first()
                if row is not None:
                    found[name] = job_info(row)
            return found

        return await self.db.run(q)

    async def get(self, actor: Actor, job_id: str) -> JobInfo:
        return await self.db.run(lambda s: job_info(self._visible(s, actor, job_id)))

    async def for_schedule(self, actor: Actor, schedule_id: int, *, limit: int = 200) -> builtins.list[JobInfo]:
        """A schedule's runs, newest first (CloudLab's ``/schedules/{id}/history``).

        Needs ``schedules.view``; the jobs shown follow the usual visibility
        (``jobs.view_all``, else only the actor's own, i.e. schedules they created).
        """

        def q(s: Session) -> list[JobInfo]:
            self.rbac.require(s, actor, "schedules.view", f"schedules/{schedule_id}")
            owner = self._visible_owner(s, actor)
            when = func.coalesce(Job.started_at, Job.created_at)
            stmt = select(Job).where(Job.schedule_id == schedule_id).order_by(when.desc(), Job.id.desc()).limit(limit)
            if owner is not None:
                stmt = stmt.where(Job.user_id == owner)
            return [job_info(r) for r in s.scalars(stmt)]

        return await self.db.run(q)

    async def rerun(self, actor: Actor, job_id: str) -> JobInfo:
        """Queue a job again with the same target and inputs, as ``actor`` (checked anew)."""
        job = await self.get(actor, job_id)
        if job.action == "stop":
            return await self.stop(actor, job.service)
        if job.action == SYSTEM_TASK:
            return await self.run_system_task(actor, job.script or "")
        if job.action == INVENTORY_ACTION:
            if self.core is None or not job.type_slug:
                raise LabtuiError(f"Job {job_id} cannot be run again here")
            return await self.core.inventory_actions.run(
                actor, job.type_slug, job.script or "", object_id=job.object_id, inputs=job.inputs
            )
        if job.action not in ("deploy", "script"):
            raise ValidationError(f"A '{job.action}' job cannot be run again", "action")
        return await self.run_script(actor, job.service, job.script or "deploy", job.inputs)

    async def output(
        self, actor: Actor, job_id: str, after_seq: int = 0, limit: int = 1000
    ) -> builtins.list[OutputLine]:
        """Lines with ``seq > after_seq``, oldest first (tail by passing the last seq seen)."""

        def q(s: Session) -> list[OutputLine]:
            self._visible(s, actor, job_id)
            return read_lines(s, job_id, after_seq, limit)

        return await self.db.run(q)

    async def follow(
        self, actor: Actor, job_id: str, after_seq: int = 0, *, poll: float = 0.05, batch: int = 5000
    ) -> AsyncIterator[builtins.list[OutputLine]]:
        """Yield new lines as they are stored until the job has ended and all are read."""
        await self.get(actor, job_id)
        seq = after_seq

        def q(s: Session) -> tuple[str | None, list[OutputLine]]:
            # One read transaction: a final status implies every line is in the same snapshot,
            # because workers store all output before they set the final status.
            status = s.scalar(select(Job.status).where(Job.id == job_id))
            return status, read_lines(s, job_id, seq, batch)

        while True:
            status, lines = await self.db.run(q)
            if lines:
                seq = lines[-1].seq
                yield lines
                if len(lines) == batch:
                    continue
            if status is None or status in FINAL_STATUSES:
                if not lines:
                    return
                continue
            await asyncio.sleep(poll)

    async def wait(self, actor: Actor, job_id: str, *, poll: float = 0.1, timeout: float | None = None) -> JobInfo:
        """Wait until the job has ended; returns it."""
        loop = asyncio.get_running_loop()
        end = None if timeout is None else loop.time() + timeout
        while True:
            job = await self.get(actor, job_id)
            if job.is_final:
                return job
            if end is not None and loop.time() > end:
                raise TimeoutError(f"job {job_id} still {job.status} after {timeout} s")
            await asyncio.sleep(poll)

    async def log_reader(self, actor: Actor, job_id: str) -> JobLogReader:
        """Random access to a job's whole log for the log pane, after the visibility check."""
        from labtui.core.jobs.log_reader import JobLogReader

        await self.get(actor, job_id)
        return JobLogReader(self.db, job_id)

    async def workers_alive(self) -> builtins.list[str]:
        """Names of the job workers (in any process) whose lease is current."""
        rows = await self.db.run(lambda s: leases.live(s, WORKER_LEASE_PREFIX))
        return [name[len(WORKER_LEASE_PREFIX) :] for name, _ in rows]

    # -- for workers -----------------------------------------------------------------------

    def base_plan(self, job: Job) -> tuple[dict[str, str], dict[str, Any], Path | None]:
        """The environment, extra vars and inventory every job of the lab starts from."""
        lab = self.services.lab_dir
        inventory = lab / "inventory" if (lab / "inventory").is_dir() else None
        job_dir = self.jobs_dir / job.id
        env: dict[str, str] = {
            "LABTUI_JOB_ID": job.id,
            "LABTUI_JOB_DIR": str(job_dir),
            "LABTUI_LAB_DIR": str(lab),
            "LABTUI_SERVICE": job.service,
        }
        extravars: dict[str, Any] = {
            "labtui_job_id": job.id,
            "labtui_job_dir": str(job_dir),
            "labtui_lab_dir": str(lab),
        }
        vault_file = self.vault.password_file()
        if vault_file is not None:
            # The ansible-playbook calls inside a lab's deploy.sh find the vault this way.
            env["ANSIBLE_VAULT_PASSWORD_FILE"] = str(vault_file)
        return env, extravars, inventory

    def stop_steps(self, info: ServiceInfo, inventory: Path | None) -> builtins.list[Step]:
        """The service's ``stop.yml``, else CloudLab's two-step stop flow."""
        lab = self.services.lab_dir
        if (info.path / STOP_PLAYBOOK).is_file():
            return [Step("playbook", info.path / STOP_PLAYBOOK, info.path, inventory=inventory)]
        if not ((lab / GENERATE_INVENTORY).is_file() and (lab / STOP_INSTANCES).is_file()):
            raise ValidationError(
                f"Service '{info.name}' has no {STOP_PLAYBOOK} and the lab has no "
                f"{STOP_INSTANCES}: there is nothing to stop it with",
                "service",
            )
        vultr = lab / "inventory" / "vultr.yml"
        return [
            Step("playbook", lab / GENERATE_INVENTORY, lab, header="--- Generating inventory ---", check=False),
            Step(
                "playbook",
                lab / STOP_INSTANCES,
                lab,
                header=f"--- Stopping instances of {info.name} ---",
                inventory=vultr if vultr.is_file() else inventory,
                extravars={"service_filter": info.name},
            ),
        ]

    def script_steps(
        self, s: Session, info: ServiceInfo, script: str, values: dict[str, Any], inventory: Path | None
    ) -> tuple[builtins.list[Step], dict[str, str], dict[str, Any]]:
        """A service script's step, its ``INPUT_*`` variables and its inputs as extra vars."""
        spec = info.script(script)
        path = script_path(info.path, spec, info.name)
        inputs_env = input_env(s, spec, values)
        extravars: dict[str, Any] = {}
        for item in spec.inputs:
            if item.name not in values:
                continue
            value = values[item.name]
            if item.type == "ssh_key_select":
                value = inputs_env[item.env_name].split(",")  # the resolved public keys
            extravars[item.name] = value
        if spec.is_playbook:
            return [Step("playbook", path, info.path, inventory=inventory)], inputs_env, extravars
        # CloudLab's header before a script's output: people search their logs for it.
        header = f"--- Running {spec.file} for {info.name} ---"
        return [Step("bash", path, info.path, header=header, inventory=inventory)], inputs_env, extravars

    def plan(self, s: Session, job: Job) -> Plan:
        """The steps of a claimed job, read from the lab as it is now."""
        if job.action == SYSTEM_TASK:
            return Plan([], {}, {}, task=job.script or "", actor=Actor(job.user_id, job.username))
        planner = self.planners.get(job.action)
        if planner is not None:
            return planner(s, job)
        env, extravars, inventory = self.base_plan(job)
        info = self.services.load(job.service)
        if job.action == "stop":
            return Plan(self.stop_steps(info, inventory), env, extravars)
        values = json.loads(job.inputs) if job.inputs else {}
        steps, inputs_env, input_vars = self.script_steps(s, info, job.script or "deploy", values, inventory)
        env.update(inputs_env)
        for key, value in input_vars.items():
            extravars.setdefault(key, value)
        return Plan(steps, env, extravars)

    async def notify_finished(self, job_id: str) -> None:
        """Run the :attr:`on_finished` hooks for a job that has just ended."""
        if not self.on_finished:
            return

        def q(s: Session) -> JobInfo:
            row = s.get(Job, job_id)
            assert row is not None, f"job {job_id} vanished as it ended"
            return job_info(row)

        job = await self.db.run(q)
        for hook in list(self.on_finished):
            try:
                await hook(job)
            except Exception:  # a hook never changes the job's outcome
                log.exception("job %s: on_finished hook %r failed", job_id, hook)

    async def aclose(self) -> None:
        """Stop the workers this process started (their running jobs go back to the queue)."""
        for worker in list(self.local_workers):
            await worker.stop()


def _newest(owner: int | None | bool, limit: int) -> Select[Job]:
    """Jobs newest first; only ``owner``'s unless None (see ``Jobs._visible_owner``)."""
    stmt = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
    return stmt if owner is None else stmt.where(Job.user_id == owner)
