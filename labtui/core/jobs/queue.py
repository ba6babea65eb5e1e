"""The job queue API: queue scripts and stops, cancel, list, read and follow output.

Every call takes the acting user. Queueing checks the permission, validates the inputs by
type and writes the audit record in the same transaction as the job row, so a refused job
leaves no trace but the refusal. Workers (:mod:`labtui.core.jobs.worker`) in any process
sharing the database pick the rows up.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import logging
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from labtui.core import audit
from labtui.core import leases
from labtui.core.actor import Actor
from labtui.core.config import JobsConfig
from labtui.core.db.base import utcnow
from labtui.core.db.engine import Database
from labtui.core.db.jobs import (
    ACTIVE_STATUSES,
    CANCELLED,
    FINAL_STATUSES,
    QUEUED,
    STATUSES,
    Job,
)
from labtui.core.errors import Conflict, LabtuiError, NotFound, ValidationError
from labtui.core.jobs.output import OutputLine, append_line, read_lines
from labtui.core.jobs.runner import Step
from labtui.core.rbac import Rbac
from labtui.core.services import Services, input_env, script_path, validate_inputs
from labtui.core.vault import Vault

if TYPE_CHECKING:
    from labtui.core.jobs.log_reader import JobLogReader
    from labtui.core.schedules import ScheduleInfo

log = logging.getLogger("labtui.jobs")

#: Lease-name prefix of live job workers (one lease per worker).
WORKER_LEASE_PREFIX = "worker:"
STOP_PLAYBOOK = "stop.yml"
GENERATE_INVENTORY = Path("init_playbook") / "generate-inventory.yaml"
STOP_INSTANCES = Path("init_playbook") / "stop-instances.yaml"


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
    return JobInfo(
        row.id, row.service, row.action, row.script, row.status, row.user_id, row.username,
        row.created_at, row.started_at, row.finished_at, row.deployment_id, row.schedule_id,
        json.loads(row.inputs) if row.inputs else {}, row.worker, row.heartbeat_at,
        bool(row.cancel_requested), row.exit_code, row.output_lines or 0,
    )


@dataclass(frozen=True)
class Plan:
    """What a worker runs for a job: its steps, environment and extra vars."""

    steps: list[Step]
    env: dict[str, str]
    extravars: dict[str, Any]


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

    @property
    def jobs_dir(self) -> Path:
        return self.home / "jobs"

    def _changed(self) -> None:
        for callback in list(self.on_change):
            callback()

    # -- queueing --------------------------------------------------------------------------

    def _insert(self, s: Session, actor: Actor, **fields: Any) -> Job:
        for _ in range(5):
            job_id = new_job_id()
            if s.get(Job, job_id) is not None:
                continue  # 8 hex digits (CloudLab's ids) do clash, rarely
            job = Job(id=job_id, status=QUEUED, user_id=actor.user_id, username=actor.username, **fields)
            s.add(job)
            s.flush()
            return job
        raise LabtuiError("Could not allocate a job id")  # pragma: no cover - 5 uuid clashes

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
        given = dict(inputs or {})

        def q(s: Session) -> JobInfo:
            self.rbac.require(s, actor, "services.deploy", f"services/{service}")
            spec = info.script(script)
            script_path(info.path, spec, service)
            if service == "add-user" and script == "add-user" and not given.get("username"):
                given["username"] = actor.username  # CloudLab's special case
            values = validate_inputs(service, spec, given, deployments=self.services.active_deployments())
            input_env(s, spec, values)  # refuses unknown users / missing keys now, not at run time
            action = "deploy" if script == "deploy" else "script"
            job = self._insert(
                s, actor, service=service, action=action, script=script,
                inputs=json.dumps(values) if values else None, schedule_id=schedule_id,
            )
            audit.record(
                s, actor, f"service.{action}", f"services/{service}",
                {"job_id": job.id, "script": script, "inputs": sorted(values)},
            )
            return job_info(job)

        job = await self.db.run(q)
        self._changed()
        return job

    async def stop(self, actor: Actor, service: str) -> JobInfo:
        """Queue a stop: the service's ``stop.yml``, else CloudLab's two-step stop flow."""
        info = self.services.load(service)
        lab = self.services.lab_dir
        if (info.path / STOP_PLAYBOOK).is_file():
            script: str | None = STOP_PLAYBOOK
        elif (lab / GENERATE_INVENTORY).is_file() and (lab / STOP_INSTANCES).is_file():
            script = None
        else:
            raise ValidationError(
                f"Service '{service}' has no {STOP_PLAYBOOK} and the lab has no "
                f"{STOP_INSTANCES}: there is nothing to stop it with",
                "service",
            )

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
            dequeued = s.execute(
                update(Job)
                .where(Job.id == job_id, Job.status == QUEUED)
                .values(status=CANCELLED, cancel_requested=True, finished_at=now)
            ).rowcount
            if dequeued:
                append_line(s, job_id, f"[CANCELLED by {actor.username} before it started]")
            else:
                s.execute(update(Job).where(Job.id == job_id).values(cancel_requested=True))
            audit.record(s, actor, "job.cancel", f"jobs/{job_id}", {"service": row.service, "was": row.status})
            s.flush()
            s.refresh(row)
            return job_info(row)

        job = await self.db.run(q)
        self._changed()
        return job

    # -- for the scheduler (its JobLauncher protocol) -------------------------------------

    async def launch(self, schedule: ScheduleInfo, actor: Actor) -> str:
        if schedule.job_type != "service_script" or not schedule.service:
            raise LabtuiError(f"Schedules of type {schedule.job_type} are not supported by the job queue yet")
        job = await self.run_script(
            actor, schedule.service, schedule.script or "deploy", schedule.inputs, schedule_id=schedule.id
        )
        return job.id

    async def active(self, job_id: str) -> bool:
        status = await self.db.run(lambda s: s.scalar(select(Job.status).where(Job.id == job_id)))
        return status in ACTIVE_STATUSES

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
        limit: int = 100,
        before: dt.datetime | None = None,
    ) -> list[JobInfo]:
        """Newest first; ``jobs.view_all`` sees every job, ``jobs.view_own`` only the actor's."""
        if status is not None and status not in STATUSES:
            raise ValidationError(f"Status must be one of {', '.join(STATUSES)}", "status")

        def q(s: Session) -> list[JobInfo]:
            owner = self._visible_owner(s, actor)
            stmt = select(Job).order_by(Job.created_at.desc(), Job.id.desc()).limit(limit)
            if owner is not None:
                stmt = stmt.where(Job.user_id == owner)
            if status:
                stmt = stmt.where(Job.status == status)
            if service:
                stmt = stmt.where(Job.service == service)
            if before is not None:
                stmt = stmt.where(Job.created_at < before)
            return [job_info(r) for r in s.scalars(stmt)]

        return await self.db.run(q)

    async def get(self, actor: Actor, job_id: str) -> JobInfo:
        return await self.db.run(lambda s: job_info(self._visible(s, actor, job_id)))

    async def output(self, actor: Actor, job_id: str, after_seq: int = 0, limit: int = 1000) -> list[OutputLine]:
        """Lines with ``seq > after_seq``, oldest first (tail by passing the last seq seen)."""

        def q(s: Session) -> list[OutputLine]:
            self._visible(s, actor, job_id)
            return read_lines(s, job_id, after_seq, limit)

        return await self.db.run(q)

    async def follow(
        self, actor: Actor, job_id: str, after_seq: int = 0, *, poll: float = 0.05, batch: int = 5000
    ) -> AsyncIterator[list[OutputLine]]:
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

    async def workers_alive(self) -> list[str]:
        """Names of the job workers (in any process) whose lease is current."""
        rows = await self.db.run(lambda s: leases.live(s, WORKER_LEASE_PREFIX))
        return [name[len(WORKER_LEASE_PREFIX):] for name, _ in rows]

    # -- for workers -----------------------------------------------------------------------

    def plan(self, s: Session, job: Job) -> Plan:
        """The steps of a claimed job, read from the lab as it is now."""
        lab = self.services.lab_dir
        inventory = lab / "inventory" if (lab / "inventory").is_dir() else None
        job_dir = self.jobs_dir / job.id
        env: dict[str, str] = {
            "LABTUI_JOB_ID": job.id,
            "LABTUI_JOB_DIR": str(job_dir),
            "LABTUI_LAB_DIR": str(lab),
            "LABTUI_SERVICE": job.service,
        }
        extravars: dict[str, Any] = {"labtui_job_id": job.id, "labtui_job_dir": str(job_dir), "labtui_lab_dir": str(lab)}
        vault_file = self.vault.password_file()
        if vault_file is not None:
            # The ansible-playbook calls inside a lab's deploy.sh find the vault this way.
            env["ANSIBLE_VAULT_PASSWORD_FILE"] = str(vault_file)
        info = self.services.load(job.service)
        if job.action == "stop":
            if job.script == STOP_PLAYBOOK:
                steps = [Step("playbook", info.path / STOP_PLAYBOOK, info.path, inventory=inventory)]
            else:
                vultr = lab / "inventory" / "vultr.yml"
                steps = [
                    Step("playbook", lab / GENERATE_INVENTORY, lab, header="--- Generating inventory ---", check=False),
                    Step(
                        "playbook", lab / STOP_INSTANCES, lab,
                        header=f"--- Stopping instances of {job.service} ---",
                        inventory=vultr if vultr.is_file() else inventory,
                        extravars={"service_filter": job.service},
                    ),
                ]
            return Plan(steps, env, extravars)
        spec = info.script(job.script or "deploy")
        path = script_path(info.path, spec, job.service)
        values = json.loads(job.inputs) if job.inputs else {}
        inputs_env = input_env(s, spec, values)
        env.update(inputs_env)
        for item in spec.inputs:
            if item.name not in values:
                continue
            value = values[item.name]
            if item.type == "ssh_key_select":
                value = inputs_env[item.env_name].split(",")  # the resolved public keys
            extravars.setdefault(item.name, value)
        kind = "playbook" if spec.is_playbook else "bash"
        return Plan([Step(kind, path, info.path, inventory=inventory)], env, extravars)

    async def notify_finished(self, job_id: str) -> None:
        """Run the :attr:`on_finished` hooks for a job that has just ended."""
        if not self.on_finished:
            return
        job = await self.db.run(lambda s: job_info(s.get(Job, job_id)))
        for hook in list(self.on_finished):
            try:
                await hook(job)
            except Exception:  # noqa: BLE001 - a hook never changes the job's outcome
                log.exception("job %s: on_finished hook %r failed", job_id, hook)

    async def aclose(self) -> None:
        """Stop the workers this process started (their running jobs go back to the queue)."""
        for worker in list(self.local_workers):
            await worker.stop()
