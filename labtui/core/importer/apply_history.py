"""Schedules, jobs and their output, the audit log, config versions, health results and
``app_metadata``: the bulk of an import, written with batched inserts.

Jobs keep CloudLab's ids; a job CloudLab left ``running`` (it never reconciled after a
restart) or ``unknown`` (the legacy migration's default) becomes ``lost``, labtui's word for a
job whose outcome nobody saw. Audit records and health results have no id worth keeping:
they are matched by (time, user, action, resource) and (service, check, time).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from labtui.core.audit import redact
from labtui.core.configs import CONFIG_FILES
from labtui.core.db.base import table_of
from labtui.core.db.configs import ConfigVersion
from labtui.core.db.engine import get_metadata, set_metadata
from labtui.core.db.health import HealthCheckResult, HealthCheckState
from labtui.core.db.jobs import CANCELLED, COMPLETED, FAILED, LOST, Job, JobOutput
from labtui.core.db.models import AuditRecord
from labtui.core.db.schedules import ScheduledJob
from labtui.core.errors import ValidationError
from labtui.core.files import sha256
from labtui.core.importer.context import ConfigWrite, Context
from labtui.core.importer.records import ConfigVersionRec, HealthRec, JobRec, ScheduleRec
from labtui.core.schedules import ScheduleSpec, validate_spec
from labtui.core.schedules import _apply as apply_spec
from labtui.core.services import load_scripts, services_root, undeclared

BATCH = 20_000
CHUNK = 500
FINAL = {"completed": COMPLETED, "failed": FAILED, "cancelled": CANCELLED}
EXIT_RE = re.compile(r"\[EXIT CODE: (-?\d+)\]")
#: app_metadata keys labtui uses as CloudLab did (the health checks read ``instances_cache``).
METADATA_KEYS = (
    "HOST_HOSTNAME",
    "dns_id",
    "instances_cache",
    "instances_cache_time",
    "plans_cache",
    "cost_cache",
    "cost_cache_time",
)
SEED_NOTE = "Initial version (seeded)"
#: A schedule's fields CloudLab's scheduler writes as it fires.
_RUNTIME = {"last_run_at", "last_job_id", "last_status", "created_at"}


def _chunks(items: list[Any]) -> Iterable[list[Any]]:
    for i in range(0, len(items), CHUNK):
        yield items[i : i + CHUNK]


def job_status(status: str) -> str:
    return FINAL.get(status, LOST)


# -- schedules -------------------------------------------------------------------------------


def _spec(ctx: Context, rec: ScheduleRec) -> ScheduleSpec:
    try:
        inputs = json.loads(rec.inputs) if rec.inputs else {}
    except ValueError:
        raise ValidationError("inputs is not JSON", "inputs") from None
    if not isinstance(inputs, dict):
        raise ValidationError("inputs is not a JSON object", "inputs")
    object_id = ctx.objects.get(rec.object_id) if rec.object_id is not None else None
    return validate_spec(
        ScheduleSpec(
            name=rec.name,
            cron=rec.cron,
            job_type=rec.job_type,
            service=rec.service_name,
            script=rec.script_name,
            type_slug=rec.type_slug,
            action=rec.action_name,
            object_id=object_id,
            system_task=rec.system_task,
            inputs=inputs,
            tz="UTC",
            enabled=rec.is_enabled,
            skip_if_running=rec.skip_if_running,
            description=rec.description[:500],
        )
    )


def _definition(row: ScheduledJob) -> tuple[Any, ...]:
    return (
        row.name,
        row.description,
        row.job_type,
        row.service_name,
        row.script_name,
        row.type_slug,
        row.action_name,
        row.object_id,
        row.system_task,
        row.cron_expression,
        row.timezone,
        bool(row.is_enabled),
        bool(row.skip_if_running),
        row.inputs,
    )


def _report_undeclared_inputs(ctx: Context, spec: ScheduleSpec) -> None:
    """A schedule's inputs its script does not declare still reach it (``INPUT_*``, as in
    CloudLab), but someone moving over should know they are there."""
    if spec.job_type != "service_script" or not spec.inputs or ctx.lab_dir is None or not spec.service:
        return
    service_dir = services_root(ctx.lab_dir) / spec.service
    if not service_dir.is_dir():
        return
    scripts, _ = load_scripts(service_dir)
    script = next((s for s in scripts if s.name == (spec.script or "deploy")), None)
    extra = undeclared(script, spec.inputs) if script is not None else []
    if extra:
        names = ", ".join(extra)
        ctx.report.warn(
            f"scheduled_jobs: '{spec.name}' gives {spec.service}/{script.name if script else spec.script} "
            f"inputs its scripts.yaml does not declare: {names} (passed on as INPUT_*, as CloudLab did)"
        )


def apply_schedules(ctx: Context) -> None:
    assert ctx.snap is not None
    s = ctx.session
    existing = {r.name: r for r in s.scalars(select(ScheduledJob))}
    ctx.schedules.update({name: r.id for name, r in existing.items()})
    for rec in ctx.snap.schedules:
        ctx.at("scheduled_jobs", repr(rec.name))
        try:
            spec = _spec(ctx, rec)
        except ValidationError as exc:
            ctx.report.warn(f"scheduled_jobs: '{rec.name}' skipped: {exc}")
            ctx.report.skipped("scheduled_jobs")
            continue
        if not ctx.claim("scheduled_jobs", spec.name):
            ctx.report.skipped("scheduled_jobs")
            continue
        _report_undeclared_inputs(ctx, spec)
        row = existing.get(spec.name)
        # Its definition: a firing in CloudLab (last_run_at ...) is no change of it.
        fresh = ctx.unchanged("schedule", spec.name, {k: v for k, v in vars(rec).items() if k not in _RUNTIME})
        if row is None:
            row = ScheduledJob(
                created_by=ctx.users.get(rec.created_by or ""), created_at=rec.created_at or ctx.now, updated_at=ctx.now
            )
            apply_spec(row, spec, ctx.now)
            row.last_run_at, row.last_job_id = rec.last_run_at, rec.last_job_id
            row.last_status = None if rec.last_status is None else job_status(rec.last_status)
            s.add(row)
            s.flush()
            ctx.report.created("scheduled_jobs")
        else:
            probe = ScheduledJob(created_by=row.created_by)
            apply_spec(probe, spec, ctx.now)
            mine = ctx.mapped("schedule", spec.name) == str(row.id)
            if _definition(probe) == _definition(row) or (mine and fresh):
                # The same, or as the last import read it: labtui's edits since (a schedule
                # disabled, its cron moved) stand.
                ctx.report.skipped("scheduled_jobs")
            elif mine or ctx.overwrite:
                apply_spec(row, spec, ctx.now)
                row.updated_at = ctx.now
                ctx.report.updated("scheduled_jobs")
            else:
                ctx.report.warn(
                    f"scheduled_jobs: '{spec.name}' exists in labtui with another definition: labtui's kept (--overwrite replaces it)"
                )
                ctx.report.skipped("scheduled_jobs")
                continue
        existing[spec.name] = row
        ctx.schedules[spec.name] = row.id
        ctx.remember("schedule", spec.name, row.id)


# -- jobs --------------------------------------------------------------------------------------


def _exit_code(status: str, output: list[str]) -> int | None:
    if status == COMPLETED:
        return 0
    for line in reversed(output[-5:]):
        m = EXIT_RE.search(line)
        if m:
            return int(m.group(1))
    return None


def _job_row(ctx: Context, j: JobRec, status: str) -> dict[str, Any]:
    return {
        "id": j.id,
        "service": j.service,
        "action": j.action,
        "script": j.script,
        "status": status,
        "user_id": ctx.users.get(j.username or ""),
        "username": j.username or "",
        "created_at": j.started_at or j.finished_at or ctx.now,
        "started_at": j.started_at,
        "finished_at": j.finished_at,
        "deployment_id": j.deployment_id,
        "schedule_id": ctx.schedules.get(j.schedule) if j.schedule else None,
        "inputs": None,
        "worker": None,
        "heartbeat_at": None,
        "cancel_requested": False,
        "exit_code": _exit_code(status, j.output),
        "output_lines": len(j.output),
    }


def _lines(j: JobRec) -> list[dict[str, Any]]:
    return [{"job_id": j.id, "seq": seq, "line": line} for seq, line in enumerate(j.output, 1)]


def apply_jobs(ctx: Context) -> None:
    assert ctx.snap is not None
    s = ctx.session
    jobs = ctx.snap.jobs
    existing: dict[str, tuple[str, Any, int]] = {}
    for ids in _chunks([j.id for j in jobs]):
        for row in s.execute(select(Job.id, Job.status, Job.finished_at, Job.output_lines).where(Job.id.in_(ids))):
            existing[row.id] = (row.status, row.finished_at, row.output_lines or 0)
    rows: list[dict[str, Any]] = []
    lines: list[dict[str, Any]] = []
    clashes = 0
    lost: Counter[str] = Counter()

    def flush() -> None:
        if rows:
            ctx.at("jobs", f"id={rows[0]['id']} (a batch of {len(rows)})")
            s.execute(insert(table_of(Job)), rows)
            rows.clear()
        if lines:
            s.execute(insert(table_of(JobOutput)), lines)
            lines.clear()

    for j in jobs:
        ctx.at("jobs", f"id={j.id}")
        if not ctx.claim("jobs", j.id):
            ctx.report.skipped("jobs")
            continue
        status = job_status(j.status)
        if status == LOST:
            lost[j.status] += 1
        if j.id in existing:
            if ctx.mapped("job", j.id) is None:
                clashes += 1
                ctx.report.skipped("jobs")
                continue
            if ctx.legacy or existing[j.id] == (status, j.finished_at, len(j.output)):
                ctx.report.skipped("jobs")
                continue
            values = _job_row(ctx, j, status)
            del values["id"], values["created_at"]
            s.execute(update(Job).where(Job.id == j.id).values(**values))
            s.execute(delete(JobOutput).where(JobOutput.job_id == j.id))
            if j.output:
                s.execute(insert(table_of(JobOutput)), _lines(j))
            ctx.report.updated("jobs")
            ctx.report.updated("job_output", len(j.output))
            continue
        rows.append(_job_row(ctx, j, status))
        lines.extend(_lines(j))
        ctx.remember("job", j.id, j.id)
        ctx.report.created("jobs")
        ctx.report.created("job_output", len(j.output))
        if len(lines) >= BATCH or len(rows) >= BATCH:
            flush()
    flush()
    if clashes:
        ctx.report.warn(f"jobs: {clashes} job id(s) are taken by other labtui jobs: skipped")
    for old, n in sorted(lost.items()):
        ctx.report.warn(f"jobs: {n} job(s) CloudLab left '{old}' imported as 'lost' (their outcome is unknown)")


# -- audit log ---------------------------------------------------------------------------------


def _detail(details: Any) -> str:
    if not isinstance(details, dict):
        details = {} if details in (None, "") else {"value": details}
    return json.dumps(redact(details), default=str, sort_keys=True)


def apply_audit(ctx: Context) -> None:
    assert ctx.snap is not None
    s = ctx.session
    records = ctx.snap.audit
    if not records:
        return
    low = min(a.created_at for a in records)
    high = max(a.created_at for a in records)
    have = Counter(
        tuple(r)
        for r in s.execute(
            select(AuditRecord.created_at, AuditRecord.username, AuditRecord.action, AuditRecord.target).where(
                AuditRecord.created_at >= low, AuditRecord.created_at <= high
            )
        )
    )
    batch: list[dict[str, Any]] = []
    for a in records:
        ctx.at("audit_log", a.ref)
        action, target = a.action[:100], a.resource[:255]
        key = (a.created_at, a.username, action, target)
        if have[key] > 0:
            have[key] -= 1
            ctx.report.skipped("audit_log")
            continue
        batch.append(
            {
                "created_at": a.created_at,
                "user_id": ctx.users.get(a.username),
                "username": a.username,
                "action": action,
                "target": target,
                "detail": _detail(a.details),
                "origin": (a.ip_address or "cloudlab")[:64],
            }
        )
        ctx.report.created("audit_log")
        if len(batch) >= BATCH:
            ctx.at("audit_log", f"{batch[0]['action']} at {batch[0]['created_at']} (a batch of {len(batch)})")
            s.execute(insert(table_of(AuditRecord)), batch)
            batch.clear()
    if batch:
        ctx.at("audit_log", f"{batch[0]['action']} at {batch[0]['created_at']} (a batch of {len(batch)})")
        s.execute(insert(table_of(AuditRecord)), batch)


# -- config versions ---------------------------------------------------------------------------


def apply_config_versions(ctx: Context) -> None:
    assert ctx.snap is not None
    s = ctx.session
    existing = (
        {(r.service_name, r.filename, r.version_number): r for r in s.scalars(select(ConfigVersion))}
        if ctx.snap.config_versions
        else {}
    )
    for v in ctx.snap.config_versions:
        key = f"{v.service_name}/{v.filename}/{v.version_number}"
        ctx.at("config_versions", key)
        data = v.content.encode("utf-8")
        values = {
            "content": v.content,
            "content_hash": sha256(data),
            "size_bytes": len(data),
            "change_note": v.change_note[:500],
            "created_by_id": ctx.users.get(v.created_by),
            "created_by_username": v.created_by[:100],
            "origin": (v.ip_address or "cloudlab")[:100],
            "restored_from": None,
            "created_at": v.created_at or ctx.now,
        }
        row = existing.get((v.service_name, v.filename, v.version_number))
        if row is None:
            row = ConfigVersion(
                service_name=v.service_name, filename=v.filename, version_number=v.version_number, **values
            )
            s.add(row)
            s.flush()
            ctx.report.created("config_versions")
        elif row.content_hash == values["content_hash"]:
            ctx.report.skipped("config_versions")
        else:
            seeded = row.origin == "startup" and row.change_note == SEED_NOTE
            if not (seeded or ctx.mapped("config_version", key) == str(row.id) or ctx.overwrite):
                ctx.report.warn(
                    f"config_versions: {key} exists in labtui with other content: labtui's kept (--overwrite replaces it)"
                )
                ctx.report.skipped("config_versions")
                continue
            for name, value in values.items():
                setattr(row, name, value)
            ctx.report.updated("config_versions")
        ctx.remember("config_version", key, row.id)


def apply_config_files(ctx: Context) -> None:
    """Bring the checkout's config files to CloudLab's latest version of each.

    CloudLab's edits lived only on its own disk (never in the lab's git), so a fresh checkout
    holds an older version. A file whose content is one of its known versions is behind and
    gets the latest one (written after the commit); a file that is none of them was changed
    in the checkout on its own (a commit since): it is kept, and the report says how to apply
    CloudLab's. A file labtui has a newer version of is left to labtui."""
    assert ctx.snap is not None
    s = ctx.session
    latest: dict[tuple[str, str], ConfigVersionRec] = {}
    for v in ctx.snap.config_versions:
        key = (v.service_name, v.filename)
        if key not in latest or v.version_number > latest[key].version_number:
            latest[key] = v
    for (service, filename), v in sorted(latest.items()):
        where = f"services/{service}/{filename}"
        ctx.at("config_files", where)
        if not ctx.claim("config_files", where):
            continue
        want = sha256(v.content.encode("utf-8"))
        known = dict(
            s.execute(
                select(ConfigVersion.content_hash, ConfigVersion.version_number)
                .where(ConfigVersion.service_name == service, ConfigVersion.filename == filename)
                .order_by(ConfigVersion.version_number)
            ).all()
        )
        top = max(known.values(), default=None)
        if filename not in CONFIG_FILES or known.get(want) != top:
            continue  # not a config file labtui edits, or labtui saved a newer version since
        folder = services_root(ctx.lab_dir) / service if ctx.lab_dir is not None else None
        if folder is None or not folder.is_dir():
            ctx.report.warn(
                f"config_files: {where} (CloudLab's v{v.version_number}) not written: the checkout has no service '{service}'"
            )
            ctx.report.skipped("config_files")
            continue
        real = Path(os.path.realpath(folder / filename))
        if not real.is_relative_to(Path(os.path.realpath(folder))) or (real.exists() and not real.is_file()):
            ctx.report.warn(f"config_files: {where} not written: it is not a file inside the service folder")
            ctx.report.skipped("config_files")
            continue
        current = sha256(real.read_bytes()) if real.is_file() else None
        if current == want:
            ctx.report.skipped("config_files")
        elif current is None or current in known:
            ctx.config_writes.append(ConfigWrite(service, filename, real, v.content, v.version_number, current is None))
            (ctx.report.created if current is None else ctx.report.updated)("config_files")
        else:
            ctx.report.warn(
                f"config_files: {where} in the checkout differs from every CloudLab version: the checkout's kept; "
                f"'labtui configs restore {service} {filename} {v.version_number}' applies CloudLab's latest"
            )
            ctx.report.skipped("config_files")


# -- health ------------------------------------------------------------------------------------


def apply_health(ctx: Context) -> None:
    assert ctx.snap is not None
    s = ctx.session
    results = ctx.snap.health
    if not results:
        return
    low = min(r.checked_at for r in results)
    high = max(r.checked_at for r in results)
    have = {
        tuple(r)
        for r in s.execute(
            select(HealthCheckResult.service_name, HealthCheckResult.check_name, HealthCheckResult.checked_at).where(
                HealthCheckResult.checked_at >= low, HealthCheckResult.checked_at <= high
            )
        )
    }
    # Each check's newest result an earlier import read: older ones were imported then, and
    # are missing now only because labtui's retention deleted them.
    imported: dict[str, dt.datetime | None] = {}
    newest: dict[str, dt.datetime] = {}
    batch: list[dict[str, Any]] = []
    for r in results:
        ctx.at("health_check_results", f"{r.service_name}/{r.check_name} at {r.checked_at.isoformat()}")
        check = f"{r.service_name}/{r.check_name}"
        if check not in imported:
            mark = ctx.mapped("health_results", check)
            imported[check] = dt.datetime.fromisoformat(mark) if mark else None
        newest[check] = max(newest.get(check, r.checked_at), r.checked_at)
        key = (r.service_name, r.check_name, r.checked_at)
        seen = imported[check]
        if key in have or (seen is not None and r.checked_at <= seen):
            ctx.report.skipped("health_check_results")
            continue
        have.add(key)
        batch.append(
            {
                "service_name": r.service_name,
                "check_name": r.check_name,
                "status": r.status,
                "outcome": r.status,
                "previous_status": r.previous_status,
                "response_time_ms": r.response_time_ms,
                "status_code": r.status_code,
                "error_message": r.error_message,
                "check_type": r.check_type[:20],
                "target": r.target[:500],
                "checked_at": r.checked_at,
            }
        )
        ctx.report.created("health_check_results")
    if batch:
        s.execute(insert(table_of(HealthCheckResult)), batch)
    for check, at in newest.items():
        seen = imported.get(check)
        ctx.remember("health_results", check, max(at, seen).isoformat() if seen else at.isoformat())
    _health_state(ctx, results)


def _health_state(ctx: Context, results: list[HealthRec]) -> None:
    """Each check's current state from its latest results, unless labtui saw a newer one."""
    s = ctx.session
    by_check: dict[tuple[str, str], list[HealthRec]] = {}
    for r in sorted(results, key=lambda r: r.checked_at):
        by_check.setdefault((r.service_name, r.check_name), []).append(r)
    current = {(st.service_name, st.check_name): st.last_checked_at for st in s.scalars(select(HealthCheckState))}
    for (service, check), rows in by_check.items():
        ctx.at("health_check_state", f"{service}/{check}")
        last = rows[-1]
        known = (service, check) in current
        seen = current.get((service, check))
        if seen is not None and seen >= last.checked_at:
            ctx.report.skipped("health_check_state")
            continue
        run = 0
        for r in reversed(rows):
            if r.status != last.status:
                break
            run += 1
        values = {
            "status": last.status,
            "since": rows[-run].checked_at,
            "consecutive_failures": run if last.status == "unhealthy" else 0,
            "consecutive_successes": run if last.status == "healthy" else 0,
            "last_checked_at": last.checked_at,
            "last_outcome": last.status,
            "last_latency_ms": last.response_time_ms,
            "last_status_code": last.status_code,
            "last_error": last.error_message,
            "target": last.target[:500],
        }
        if s.get_bind().dialect.name == "sqlite":
            lite = sqlite_insert(HealthCheckState).values(service_name=service, check_name=check, **values)
            s.execute(lite.on_conflict_do_update(index_elements=["service_name", "check_name"], set_=values))
        else:  # pragma: no cover - PostgreSQL
            from sqlalchemy.dialects.postgresql import insert as pg_insert

            pg = pg_insert(HealthCheckState).values(service_name=service, check_name=check, **values)
            s.execute(pg.on_conflict_do_update(index_elements=["service_name", "check_name"], set_=values))
        (ctx.report.updated if known else ctx.report.created)("health_check_state")


# -- app_metadata ------------------------------------------------------------------------------

_MISSING = object()


def apply_metadata(ctx: Context) -> None:
    assert ctx.snap is not None
    s = ctx.session
    for key, value in ctx.snap.metadata.items():
        ctx.at("app_metadata", repr(key))
        if key == "secret_key":
            # CloudLab's JWT secret: labtui's sessions are random tokens, so it is not needed.
            ctx.report.skipped("app_metadata")
            continue
        if key not in METADATA_KEYS:
            ctx.report.warn(f"app_metadata: unknown key '{key}' not imported")
            ctx.report.skipped("app_metadata")
            continue
        if not ctx.claim("app_metadata", key):
            ctx.report.skipped("app_metadata")
            continue
        current = get_metadata(s, key, _MISSING)
        # As the last import read it: a value labtui refreshed since (instances_cache) stands.
        fresh = ctx.unchanged("app_metadata", key, value)
        if current == value or (current is not _MISSING and (ctx.legacy or fresh)):
            ctx.report.skipped("app_metadata")
            continue
        set_metadata(s, key, value)
        (ctx.report.created if current is _MISSING else ctx.report.updated)("app_metadata")
