"""CloudLab's legacy JSON database (``database.json``, docs/cloudlab.md), read as CloudLab's
migration read it: users (only ``password_hash``), jobs, and six metadata keys. Users become
active super-admins, as the migration made them. Keys the migration ignored are reported."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from labtui.core.importer.records import (
    JobRec,
    Snapshot,
    SourceError,
    UserRec,
    parse_time,
)
from labtui.core.importer.report import ImportFailed

#: Top-level keys copied into app_metadata (or the vault file) by CloudLab's migration.
METADATA_KEYS = ("secret_key", "instances_cache", "instances_cache_time", "HOST_HOSTNAME", "dns_id")
KNOWN_KEYS = {"users", "jobs", "vault_password", *METADATA_KEYS}
USER_FIELDS = {"password_hash"}
JOB_FIELDS = {"service", "action", "script", "status", "started_at", "finished_at", "output", "deployment_id"}
SUPER_ADMIN = "super-admin"


def read_json(path: Path, now: dt.datetime) -> Snapshot:
    """The snapshot of ``path``; :class:`ImportFailed` names the file (and line or record)."""
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise ImportFailed(f"{path}: cannot read: {exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ImportFailed(f"{path}: not valid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}") from None
    if not isinstance(data, dict):
        raise ImportFailed(f"{path}: not a CloudLab database (the top level is not a mapping)")
    snap = Snapshot(path=path, kind="json")
    try:
        _read(data, snap, now)
    except SourceError as exc:
        raise ImportFailed(f"{path}: {exc}") from None
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise ImportFailed(f"{path}: not in CloudLab's shape ({type(exc).__name__}: {exc})") from None
    return snap


def _read(data: dict[str, Any], snap: Snapshot, now: dt.datetime) -> None:
    for key in sorted(set(data) - KNOWN_KEYS):
        snap.warnings.append(f"{snap.path.name}: unknown key '{key}' not imported")
    users = data.get("users") or {}
    if not isinstance(users, dict):
        raise SourceError("users", "(all)", "'users' is not a mapping of username to account")
    extra: dict[str, int] = {}
    for name, account in users.items():
        if not isinstance(account, dict):
            raise SourceError("users", repr(name), "the account is not a mapping")
        for key in set(account) - USER_FIELDS:
            extra[key] = extra.get(key, 0) + 1
        hashed = account.get("password_hash")
        if hashed is not None and not isinstance(hashed, str):
            raise SourceError("users", repr(name), "password_hash is not text")
        snap.users.append(
            UserRec(
                username=str(name),
                password_hash=hashed or None,
                is_active=True,
                created_at=now,
                invite_accepted_at=now,
                roles=[SUPER_ADMIN],
            )
        )
    for key, n in sorted(extra.items()):
        snap.warnings.append(f"{snap.path.name}: users: field '{key}' ({n} account(s)) not imported")

    jobs = data.get("jobs") or {}
    if not isinstance(jobs, dict):
        raise SourceError("jobs", "(all)", "'jobs' is not a mapping of job id to job")
    extra = {}
    for job_id, job in jobs.items():
        ref = repr(job_id)
        if not isinstance(job, dict):
            raise SourceError("jobs", ref, "the job is not a mapping")
        for key in set(job) - JOB_FIELDS:
            extra[key] = extra.get(key, 0) + 1
        output = job.get("output") or []
        if isinstance(output, str):  # a JSON array as text, as the SQLite column holds it
            try:
                output = json.loads(output)
            except ValueError:
                raise SourceError("jobs", ref, "output is not a JSON array") from None
        if not isinstance(output, list):
            raise SourceError("jobs", ref, "output is not a list of lines")
        snap.jobs.append(
            JobRec(
                id=str(job_id),
                service=str(job.get("service") or ""),
                action=str(job.get("action") or ""),
                script=_text(job.get("script")),
                status=str(job.get("status") or "unknown"),
                started_at=parse_time(job.get("started_at"), "jobs", ref, "started_at"),
                finished_at=parse_time(job.get("finished_at"), "jobs", ref, "finished_at"),
                output=[line if isinstance(line, str) else str(line) for line in output],
                deployment_id=_text(job.get("deployment_id")),
            )
        )
    for key, n in sorted(extra.items()):
        snap.warnings.append(f"{snap.path.name}: jobs: field '{key}' ({n} job(s)) not imported")

    for key in METADATA_KEYS:
        if key in data:
            snap.metadata[key] = data[key]
    vault = data.get("vault_password")
    if vault is not None:
        if not isinstance(vault, str):
            raise SourceError("vault_password", "(value)", "not text")
        snap.vault_password = vault or None


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)
