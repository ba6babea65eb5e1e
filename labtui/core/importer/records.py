"""What a CloudLab source holds, read into plain records that reference each other by
natural keys (usernames, role names, tag names, type slugs), never by CloudLab's row ids —
except inventory objects, which have no natural key of their own (their CloudLab id is kept
in ``source_id`` and mapped through ``import_map``).

Both source readers (:mod:`.json_source`, :mod:`.sqlite_source`) produce a :class:`Snapshot`;
the applier writes a snapshot into labtui's tables.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

UTC = dt.UTC


class SourceError(ValueError):
    """A record of a source file that cannot be read; names the table and the record."""

    def __init__(self, table: str, record: str, problem: str) -> None:
        super().__init__(f"{table} record {record}: {problem}")
        self.table, self.record, self.problem = table, record, problem


def parse_time(value: Any, table: str, record: str, column: str) -> dt.datetime | None:
    """CloudLab's times (naive text is UTC, ISO strings, or None) as aware UTC."""
    if value is None or value == "":
        return None
    if isinstance(value, dt.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = dt.datetime.fromisoformat(value.strip())
        except ValueError:
            raise SourceError(table, record, f"{column} is not a date and time: {value!r}") from None
    else:
        raise SourceError(table, record, f"{column} is not a date and time: {value!r}")
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


@dataclass
class UserRec:
    username: str
    password_hash: str | None
    is_active: bool = True
    email: str | None = None
    display_name: str | None = None
    created_at: dt.datetime | None = None
    last_login_at: dt.datetime | None = None
    invited_by: str | None = None
    invite_accepted_at: dt.datetime | None = None
    ssh_public_key: str | None = None
    roles: list[str] = field(default_factory=list)


@dataclass
class PermissionRec:
    codename: str
    category: str
    label: str
    description: str = ""


@dataclass
class RoleRec:
    name: str
    description: str = ""
    is_system: bool = False
    permissions: list[str] = field(default_factory=list)


@dataclass
class JobRec:
    id: str
    service: str
    action: str
    script: str | None
    status: str
    started_at: dt.datetime | None
    finished_at: dt.datetime | None
    output: list[str]
    deployment_id: str | None = None
    username: str | None = None
    schedule: str | None = None


@dataclass
class ScheduleRec:
    name: str
    cron: str
    job_type: str = "service_script"
    description: str = ""
    service_name: str | None = None
    script_name: str | None = None
    type_slug: str | None = None
    action_name: str | None = None
    object_id: int | None = None
    system_task: str | None = None
    is_enabled: bool = True
    inputs: str | None = None
    last_run_at: dt.datetime | None = None
    last_job_id: str | None = None
    last_status: str | None = None
    skip_if_running: bool = True
    created_by: str | None = None
    created_at: dt.datetime | None = None


@dataclass
class TypeRec:
    slug: str
    label: str
    description: str = ""
    icon: str = ""


@dataclass
class ObjectRec:
    source_id: int
    type_slug: str
    data: dict[str, Any]
    search_text: str = ""
    created_by: str = ""
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    tags: list[str] = field(default_factory=list)


@dataclass
class TagRec:
    name: str
    colour: str | None = None
    created_at: dt.datetime | None = None


@dataclass
class AclRec:
    object_id: int
    role: str
    permission: str
    effect: str


@dataclass
class TagGrantRec:
    tag: str
    role: str
    permission: str


@dataclass
class AuditRec:
    created_at: dt.datetime
    username: str
    action: str
    resource: str
    details: Any
    ip_address: str | None = None
    ref: str = ""


@dataclass
class ConfigVersionRec:
    service_name: str
    filename: str
    content: str
    version_number: int
    change_note: str = ""
    created_by: str = ""
    ip_address: str | None = None
    created_at: dt.datetime | None = None


@dataclass
class HealthRec:
    service_name: str
    check_name: str
    status: str
    previous_status: str
    checked_at: dt.datetime
    response_time_ms: float | None = None
    status_code: int | None = None
    error_message: str | None = None
    check_type: str = ""
    target: str = ""


@dataclass
class TokenRec:
    """A pending invite or reset token. CloudLab kept the token itself (plain text); labtui
    keeps only its digest, so the one already in the person's mail still works."""

    table: str  # invite_tokens | password_reset_tokens
    ref: str
    username: str
    token: str = field(repr=False)
    expires_at: dt.datetime
    used_at: dt.datetime | None = None


@dataclass
class Snapshot:
    """Everything one source file holds, with the warnings met while reading it."""

    path: Path
    kind: str  # "json" | "sqlite"
    users: list[UserRec] = field(default_factory=list)
    permissions: list[PermissionRec] = field(default_factory=list)
    roles: list[RoleRec] = field(default_factory=list)
    jobs: list[JobRec] = field(default_factory=list)
    schedules: list[ScheduleRec] = field(default_factory=list)
    types: list[TypeRec] = field(default_factory=list)
    objects: list[ObjectRec] = field(default_factory=list)
    tags: list[TagRec] = field(default_factory=list)
    acls: list[AclRec] = field(default_factory=list)
    tag_grants: list[TagGrantRec] = field(default_factory=list)
    audit: list[AuditRec] = field(default_factory=list)
    config_versions: list[ConfigVersionRec] = field(default_factory=list)
    health: list[HealthRec] = field(default_factory=list)
    #: CloudLab's ``app_metadata`` (values decoded), the vault password taken out.
    metadata: dict[str, Any] = field(default_factory=dict)
    vault_password: str | None = None
    #: CloudLab's invite and reset tokens, used and expired ones included.
    tokens: list[TokenRec] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
