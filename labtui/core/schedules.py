"""Schedule definitions: create, edit, enable, delete, list (docs/cloudlab.md, plus time zones).

Running them is :mod:`labtui.core.scheduler`'s job; this module only keeps the rows and
their ``next_run_at`` right. Names are unique so the CLI can address schedules by name.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labtui.core import audit, cron
from labtui.core.actor import Actor
from labtui.core.db.base import utcnow
from labtui.core.db.engine import Database
from labtui.core.db.jobs import Job
from labtui.core.db.schedules import ScheduledJob
from labtui.core.errors import Conflict, NotFound, ValidationError
from labtui.core.rbac import Rbac

JOB_TYPES = ("service_script", "inventory_action", "system_task")
#: CloudLab's system tasks, always accepted (their features register them); any other task
#: must be registered in :data:`labtui.core.system_tasks.system_tasks` when the schedule is saved.
SYSTEM_TASKS = ("refresh_instances", "refresh_costs")


def known_system_tasks() -> list[str]:
    from labtui.core.system_tasks import system_tasks

    return sorted(set(SYSTEM_TASKS) | set(system_tasks.names()))


@dataclass
class ScheduleSpec:
    """What a person fills in; validated by :func:`validate_spec`."""

    name: str
    cron: str
    job_type: str = "service_script"
    service: str | None = None
    script: str | None = "deploy"
    type_slug: str | None = None
    action: str | None = None
    object_id: int | None = None
    system_task: str | None = None
    inputs: dict[str, Any] = field(default_factory=dict)
    tz: str = "UTC"
    enabled: bool = True
    skip_if_running: bool = True
    misfire_grace_seconds: int = 300
    description: str = ""


@dataclass(frozen=True)
class ScheduleInfo:
    id: int
    name: str
    description: str
    job_type: str
    service: str | None
    script: str | None
    system_task: str | None
    cron: str
    tz: str
    enabled: bool
    skip_if_running: bool
    misfire_grace_seconds: int
    inputs: dict[str, Any]
    next_run_at: dt.datetime | None
    last_run_at: dt.datetime | None
    last_job_id: str | None
    last_status: str | None
    created_by: int | None
    #: ``inventory_action`` schedules: the type, the action and the object (None: the type).
    type_slug: str | None = None
    action: str | None = None
    object_id: int | None = None

    @property
    def target(self) -> str:
        if self.job_type == "service_script":
            return f"{self.service}/{self.script}"
        if self.job_type == "system_task":
            return f"task {self.system_task}"
        if self.job_type == "inventory_action":
            on = f" #{self.object_id}" if self.object_id is not None else ""
            return f"{self.type_slug}.{self.action}{on}"
        return self.job_type

    def as_json(self) -> dict[str, Any]:
        out = {k: getattr(self, k) for k in self.__dataclass_fields__}
        for key in ("next_run_at", "last_run_at"):
            out[key] = out[key].isoformat() if out[key] else None
        return out


#: What a firing records while its job has not ended: the job's own status tells the rest.
_IN_FLIGHT = ("queued", "running")


def info(row: ScheduledJob, job_status: str | None = None) -> ScheduleInfo:
    """``job_status`` is the last job's status now: a firing that queued a job reads as that
    job's outcome (CloudLab's Last column), whichever process ran it."""
    last = job_status if row.last_status in _IN_FLIGHT and job_status else row.last_status
    return ScheduleInfo(
        row.id,
        row.name,
        row.description,
        row.job_type,
        row.service_name,
        row.script_name,
        row.system_task,
        row.cron_expression,
        row.timezone,
        row.is_enabled,
        row.skip_if_running,
        row.misfire_grace_seconds,
        json.loads(row.inputs) if row.inputs else {},
        row.next_run_at,
        row.last_run_at,
        row.last_job_id,
        last,
        row.created_by,
        row.type_slug,
        row.action_name,
        row.object_id,
    )


def _last_job_statuses(s: Session, rows: Sequence[ScheduledJob]) -> dict[str, str]:
    ids = [r.last_job_id for r in rows if r.last_job_id and r.last_status in _IN_FLIGHT]
    if not ids:
        return {}
    return {job_id: status for job_id, status in s.execute(select(Job.id, Job.status).where(Job.id.in_(ids)))}


def validate_spec(spec: ScheduleSpec) -> ScheduleSpec:
    spec.name = spec.name.strip()
    if not 1 <= len(spec.name) <= 100:
        raise ValidationError("A schedule needs a name of 1 to 100 characters", "name")
    spec.cron = cron.validate(spec.cron, spec.tz)
    if spec.job_type not in JOB_TYPES:
        raise ValidationError(f"Job type must be one of {', '.join(JOB_TYPES)}", "job_type")
    if spec.job_type == "service_script" and not (spec.service and spec.script):
        raise ValidationError("A service script schedule needs a service and a script", "service")
    if spec.job_type == "inventory_action" and not (spec.type_slug and spec.action):
        raise ValidationError("An inventory action schedule needs a type and an action", "action")
    if spec.job_type == "system_task" and spec.system_task not in known_system_tasks():
        raise ValidationError(f"System task must be one of {', '.join(known_system_tasks())}", "system_task")
    if not 0 <= spec.misfire_grace_seconds <= 86400:
        raise ValidationError("Misfire grace is 0 to 86400 seconds", "misfire_grace_seconds")
    return spec


def _apply(row: ScheduledJob, spec: ScheduleSpec, now: dt.datetime) -> None:
    row.name, row.description, row.job_type = spec.name, spec.description, spec.job_type
    # Only the chosen job type's fields are kept (a form may hold leftovers of another type).
    script_job, action_job = spec.job_type == "service_script", spec.job_type == "inventory_action"
    row.service_name, row.script_name = (spec.service, spec.script) if script_job else (None, None)
    row.type_slug, row.action_name = (spec.type_slug, spec.action) if action_job else (None, None)
    row.object_id = spec.object_id if action_job else None
    row.system_task = spec.system_task if spec.job_type == "system_task" else None
    row.cron_expression, row.timezone = spec.cron, spec.tz
    row.is_enabled, row.skip_if_running = spec.enabled, spec.skip_if_running
    row.misfire_grace_seconds = spec.misfire_grace_seconds
    row.inputs = json.dumps(spec.inputs) if spec.inputs else None
    row.next_run_at = cron.next_fire(spec.cron, now, spec.tz) if spec.enabled else None


class Schedules:
    def __init__(self, db: Database, rbac: Rbac) -> None:
        self.db, self.rbac = db, rbac
        #: Called after any change so an in-process scheduler re-plans at once.
        self.on_change: list[Any] = []

    def _changed(self) -> None:
        for callback in self.on_change:
            callback()

    async def list(self, actor: Actor) -> list[ScheduleInfo]:
        """Every schedule, the next to fire first (disabled ones last)."""

        def q(s: Session) -> list[ScheduleInfo]:
            self.rbac.require(s, actor, "schedules.view")
            rows = s.scalars(
                select(ScheduledJob).order_by(
                    ScheduledJob.next_run_at.is_(None), ScheduledJob.next_run_at, ScheduledJob.name
                )
            ).all()
            statuses = _last_job_statuses(s, rows)
            return [info(r, statuses.get(r.last_job_id or "")) for r in rows]

        return await self.db.run(q)

    async def get(self, actor: Actor, ref: int | str) -> ScheduleInfo:
        def q(s: Session) -> ScheduleInfo:
            self.rbac.require(s, actor, "schedules.view")
            row = _find(s, ref)
            return info(row, _last_job_statuses(s, [row]).get(row.last_job_id or ""))

        return await self.db.run(q)

    async def create(self, actor: Actor, spec: ScheduleSpec) -> ScheduleInfo:
        spec = validate_spec(spec)

        def q(s: Session) -> ScheduleInfo:
            self.rbac.require(s, actor, "schedules.create")
            if s.scalar(select(ScheduledJob.id).where(ScheduledJob.name == spec.name)):
                raise Conflict(f"A schedule named '{spec.name}' exists already")
            row = ScheduledJob(created_by=actor.user_id)
            _apply(row, spec, utcnow())
            s.add(row)
            s.flush()
            audit.record(s, actor, "schedule.create", f"schedules/{row.id}", _audit_detail(spec))
            return info(row)

        result = await self.db.run(q)
        self._changed()
        return result

    async def update(self, actor: Actor, ref: int | str, spec: ScheduleSpec) -> ScheduleInfo:
        spec = validate_spec(spec)

        def q(s: Session) -> ScheduleInfo:
            self.rbac.require(s, actor, "schedules.edit")
            row = _find(s, ref)
            if s.scalar(select(ScheduledJob.id).where(ScheduledJob.name == spec.name, ScheduledJob.id != row.id)):
                raise Conflict(f"A schedule named '{spec.name}' exists already")
            _apply(row, spec, utcnow())
            audit.record(s, actor, "schedule.update", f"schedules/{row.id}", _audit_detail(spec))
            return info(row)

        result = await self.db.run(q)
        self._changed()
        return result

    async def set_enabled(self, actor: Actor, ref: int | str, enabled: bool) -> ScheduleInfo:
        def q(s: Session) -> ScheduleInfo:
            self.rbac.require(s, actor, "schedules.edit")
            row = _find(s, ref)
            row.is_enabled = enabled
            row.next_run_at = cron.next_fire(row.cron_expression, utcnow(), row.timezone) if enabled else None
            audit.record(
                s,
                actor,
                "schedule.enable" if enabled else "schedule.disable",
                f"schedules/{row.id}",
                {"name": row.name},
            )
            return info(row)

        result = await self.db.run(q)
        self._changed()
        return result

    async def delete(self, actor: Actor, ref: int | str) -> None:
        def q(s: Session) -> None:
            self.rbac.require(s, actor, "schedules.delete")
            row = _find(s, ref)
            audit.record(s, actor, "schedule.delete", f"schedules/{row.id}", {"name": row.name})
            s.delete(row)

        await self.db.run(q)
        self._changed()


def _find(s: Session, ref: int | str) -> ScheduledJob:
    if isinstance(ref, int) or (isinstance(ref, str) and ref.isdigit()):
        row = s.get(ScheduledJob, int(ref))
    else:
        row = s.scalar(select(ScheduledJob).where(ScheduledJob.name == ref))
    if row is None:
        raise NotFound(f"No schedule '{ref}'")
    return row


def _audit_detail(spec: ScheduleSpec) -> dict[str, Any]:
    return {
        "name": spec.name,
        "cron": spec.cron,
        "tz": spec.tz,
        "job_type": spec.job_type,
        "service": spec.service,
        "script": spec.script,
        "enabled": spec.enabled,
        "type_slug": spec.type_slug,
        "action": spec.action,
        "object_id": spec.object_id,
        "system_task": spec.system_task,
        "inputs": sorted(spec.inputs),
    }
