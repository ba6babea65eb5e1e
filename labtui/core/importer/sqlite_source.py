"""CloudLab's SQLite database (``cloudlab.db``, docs/cloudlab.md), opened read-only.

Columns CloudLab added later by ``ALTER TABLE`` (``users.ssh_public_key``,
``jobs.schedule_id``, ``health_check_results.previous_status`` ...) and tables a version
did not have yet are tolerated: a missing column reads as NULL, a missing table as empty.
Row ids are resolved to natural keys here, so a dangling reference is a corrupt record.
"""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from labtui.core.importer.records import (
    AclRec,
    AuditRec,
    ConfigVersionRec,
    HealthRec,
    JobRec,
    ObjectRec,
    PermissionRec,
    RoleRec,
    ScheduleRec,
    Snapshot,
    SourceError,
    TagGrantRec,
    TagRec,
    TokenRec,
    TypeRec,
    UserRec,
    parse_time,
)
from labtui.core.importer.report import ImportFailed

TOKEN_TABLES = ("invite_tokens", "password_reset_tokens")


def read_sqlite(path: Path, now: dt.datetime) -> Snapshot:
    """The snapshot of ``path``; :class:`ImportFailed` names the file (and table and record)."""
    if not path.is_file():
        raise ImportFailed(f"{path}: no such file")
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
    except sqlite3.Error as exc:
        raise ImportFailed(f"{path}: cannot open: {exc}") from None
    try:
        conn.row_factory = sqlite3.Row
        reader: _Reader | None = None
        try:
            reader = _Reader(conn, Snapshot(path=path, kind="sqlite"), now)
            reader.read()
        except SourceError as exc:
            raise ImportFailed(f"{path}: {exc}") from None
        except sqlite3.Error as exc:
            where = f" (table {reader.table})" if reader is not None and reader.table else ""
            raise ImportFailed(f"{path}: not a readable CloudLab database{where}: {exc}") from None
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            assert reader is not None
            raise ImportFailed(
                f"{path}: {reader.table} record {reader.record or '?'}: not in CloudLab's shape ({type(exc).__name__}: {exc})"
            ) from None
        return reader.snap
    finally:
        conn.close()


def _bool(value: Any, default: bool = False) -> bool:
    return default if value is None else bool(int(value)) if isinstance(value, (int, str)) else bool(value)


def _text(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


class _Reader:
    def __init__(self, conn: sqlite3.Connection, snap: Snapshot, now: dt.datetime) -> None:
        self.conn, self.snap, self.now = conn, snap, now
        self.table = ""
        self.record = ""
        self.tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}

    def rows(self, table: str) -> Iterator[dict[str, Any]]:
        """Every row of ``table`` as a dict (none if the table is missing), in id order."""
        self.table, self.record = table, ""
        if table not in self.tables:
            return
        columns = [r[1] for r in self.conn.execute(f'PRAGMA table_info("{table}")')]
        order = ' ORDER BY "id"' if "id" in columns else ""
        for row in self.conn.execute(f'SELECT * FROM "{table}"{order}'):
            values = dict(row)
            # The id, or the first column (a key: never a value, which may be a secret).
            key = "id" if "id" in values else columns[0]
            self.record = f"{key}={values[key]}"
            yield values

    def names(self, table: str, column: str) -> dict[int, str]:
        return {r["id"]: r[column] for r in self.rows(table)}

    def read(self) -> None:
        if "users" not in self.tables and "jobs" not in self.tables:
            raise ImportFailed(f"{self.snap.path}: not a CloudLab database (no users or jobs table)")
        usernames = self.names("users", "username")
        roles = self.names("roles", "name")
        perms = self.names("permissions", "codename")
        self._roles(roles, perms)
        self._users(usernames, roles)
        self._tokens(usernames)
        schedules = self.names("scheduled_jobs", "name")
        self._jobs(usernames, schedules)
        self._schedules(usernames)
        types = self.names("inventory_types", "slug")
        tags = self.names("inventory_tags", "name")
        self._inventory(usernames, roles, types, tags)
        self._audit(usernames)
        self._configs(usernames)
        self._health()
        self._metadata()

    def _ref(self, mapping: dict[int, str], key: Any, table: str, record: str, column: str) -> str:
        if key not in mapping:
            raise SourceError(table, record, f"{column} {key} points to no row")
        return mapping[key]

    def _roles(self, roles: dict[int, str], perms: dict[int, str]) -> None:
        for r in self.rows("permissions"):
            self.snap.permissions.append(
                PermissionRec(
                    r["codename"], r.get("category") or "", r.get("label") or r["codename"], r.get("description") or ""
                )
            )
        by_role: dict[str, list[str]] = {}
        for r in self.rows("role_permissions"):
            ref = f"role_id={r['role_id']} permission_id={r['permission_id']}"
            role = self._ref(roles, r["role_id"], "role_permissions", ref, "role_id")
            by_role.setdefault(role, []).append(
                self._ref(perms, r["permission_id"], "role_permissions", ref, "permission_id")
            )
        for r in self.rows("roles"):
            self.snap.roles.append(
                RoleRec(
                    r["name"], r.get("description") or "", _bool(r.get("is_system")), sorted(by_role.get(r["name"], []))
                )
            )

    def _users(self, usernames: dict[int, str], roles: dict[int, str]) -> None:
        assigned: dict[str, list[str]] = {}
        for r in self.rows("user_roles"):
            ref = f"user_id={r['user_id']} role_id={r['role_id']}"
            user = self._ref(usernames, r["user_id"], "user_roles", ref, "user_id")
            assigned.setdefault(user, []).append(self._ref(roles, r["role_id"], "user_roles", ref, "role_id"))
        for r in self.rows("users"):
            ref = f"id={r['id']} ({r['username']})"
            invited_by = r.get("invited_by_id")
            self.snap.users.append(
                UserRec(
                    username=r["username"],
                    password_hash=_text(r.get("password_hash")),
                    is_active=_bool(r.get("is_active")),
                    email=_text(r.get("email")),
                    display_name=_text(r.get("display_name")),
                    created_at=parse_time(r.get("created_at"), "users", ref, "created_at"),
                    last_login_at=parse_time(r.get("last_login_at"), "users", ref, "last_login_at"),
                    invited_by=usernames.get(invited_by) if invited_by is not None else None,
                    invite_accepted_at=parse_time(r.get("invite_accepted_at"), "users", ref, "invite_accepted_at"),
                    ssh_public_key=_text(r.get("ssh_public_key")),
                    roles=sorted(assigned.get(r["username"], [])),
                )
            )

    def _tokens(self, usernames: dict[int, str]) -> None:
        for table in TOKEN_TABLES:
            for r in self.rows(table):
                ref = f"id={r.get('id')}"  # never the token: it is a secret
                expires = parse_time(r.get("expires_at"), table, ref, "expires_at")
                token, user_id = r.get("token"), r.get("user_id")
                user = usernames.get(user_id) if isinstance(user_id, int) else None
                if expires is None or not isinstance(token, str) or not token.strip() or user is None:
                    raise SourceError(table, ref, "a token needs its user, its text and expires_at")
                self.snap.tokens.append(
                    TokenRec(table, ref, user, token, expires, parse_time(r.get("used_at"), table, ref, "used_at"))
                )

    def _jobs(self, usernames: dict[int, str], schedules: dict[int, str]) -> None:
        for r in self.rows("jobs"):
            ref = f"id={r['id']}"
            raw = r.get("output")
            try:
                output = json.loads(raw) if raw else []
            except ValueError:
                raise SourceError("jobs", ref, "output is not a JSON array") from None
            if not isinstance(output, list):
                raise SourceError("jobs", ref, "output is not a JSON array")
            username = _text(r.get("username"))
            if username is None and r.get("user_id") is not None:
                username = usernames.get(r["user_id"])
            schedule_id = r.get("schedule_id")
            self.snap.jobs.append(
                JobRec(
                    id=str(r["id"]),
                    service=r.get("service") or "",
                    action=r.get("action") or "",
                    script=_text(r.get("script")),
                    status=r.get("status") or "unknown",
                    started_at=parse_time(r.get("started_at"), "jobs", ref, "started_at"),
                    finished_at=parse_time(r.get("finished_at"), "jobs", ref, "finished_at"),
                    output=[line if isinstance(line, str) else str(line) for line in output],
                    deployment_id=_text(r.get("deployment_id")),
                    username=username,
                    schedule=schedules.get(schedule_id) if schedule_id is not None else None,
                )
            )

    def _schedules(self, usernames: dict[int, str]) -> None:
        for r in self.rows("scheduled_jobs"):
            ref = f"id={r['id']} ({r['name']})"
            created_by = r.get("created_by")
            self.snap.schedules.append(
                ScheduleRec(
                    name=r["name"],
                    cron=r.get("cron_expression") or "",
                    job_type=r.get("job_type") or "service_script",
                    description=r.get("description") or "",
                    service_name=_text(r.get("service_name")),
                    script_name=_text(r.get("script_name")),
                    type_slug=_text(r.get("type_slug")),
                    action_name=_text(r.get("action_name")),
                    object_id=r.get("object_id"),
                    system_task=_text(r.get("system_task")),
                    is_enabled=_bool(r.get("is_enabled"), True),
                    inputs=_text(r.get("inputs")),
                    last_run_at=parse_time(r.get("last_run_at"), "scheduled_jobs", ref, "last_run_at"),
                    last_job_id=_text(r.get("last_job_id")),
                    last_status=_text(r.get("last_status")),
                    skip_if_running=_bool(r.get("skip_if_running"), True),
                    created_by=usernames.get(created_by) if created_by is not None else None,
                    created_at=parse_time(r.get("created_at"), "scheduled_jobs", ref, "created_at"),
                )
            )

    def _inventory(
        self, usernames: dict[int, str], roles: dict[int, str], types: dict[int, str], tags: dict[int, str]
    ) -> None:
        for r in self.rows("inventory_types"):
            self.snap.types.append(
                TypeRec(r["slug"], r.get("label") or r["slug"], r.get("description") or "", r.get("icon") or "")
            )
        for r in self.rows("inventory_tags"):
            ref = f"id={r['id']} ({r['name']})"
            self.snap.tags.append(
                TagRec(
                    r["name"],
                    _text(r.get("color")),
                    parse_time(r.get("created_at"), "inventory_tags", ref, "created_at"),
                )
            )
        objects: dict[int, ObjectRec] = {}
        for r in self.rows("inventory_objects"):
            ref = f"id={r['id']}"
            try:
                data = json.loads(r.get("data") or "{}")
            except ValueError:
                raise SourceError("inventory_objects", ref, "data is not JSON") from None
            if not isinstance(data, dict):
                raise SourceError("inventory_objects", ref, "data is not a JSON object")
            creator = r.get("created_by")
            obj = ObjectRec(
                source_id=r["id"],
                type_slug=self._ref(types, r["type_id"], "inventory_objects", ref, "type_id"),
                data=data,
                search_text=r.get("search_text") or "",
                created_by=(usernames.get(creator, "") if isinstance(creator, int) else str(creator or "")),
                created_at=parse_time(r.get("created_at"), "inventory_objects", ref, "created_at"),
                updated_at=parse_time(r.get("updated_at"), "inventory_objects", ref, "updated_at"),
            )
            objects[obj.source_id] = obj
            self.snap.objects.append(obj)
        for r in self.rows("object_tags"):
            ref = f"object_id={r['object_id']} tag_id={r['tag_id']}"
            if r["object_id"] not in objects:
                raise SourceError("object_tags", ref, f"object_id {r['object_id']} points to no row")
            objects[r["object_id"]].tags.append(self._ref(tags, r["tag_id"], "object_tags", ref, "tag_id"))
        for r in self.rows("object_acl"):
            ref = f"id={r['id']}"
            if r["object_id"] not in objects:
                raise SourceError("object_acl", ref, f"object_id {r['object_id']} points to no row")
            effect = (r.get("effect") or "allow").lower()
            if effect not in ("allow", "deny"):
                raise SourceError("object_acl", ref, f"effect is {effect!r}, not allow or deny")
            self.snap.acls.append(
                AclRec(
                    r["object_id"],
                    self._ref(roles, r["role_id"], "object_acl", ref, "role_id"),
                    r["permission"],
                    effect,
                )
            )
        for r in self.rows("tag_permissions"):
            ref = f"id={r['id']}"
            self.snap.tag_grants.append(
                TagGrantRec(
                    self._ref(tags, r["tag_id"], "tag_permissions", ref, "tag_id"),
                    self._ref(roles, r["role_id"], "tag_permissions", ref, "role_id"),
                    r["permission"],
                )
            )

    def _audit(self, usernames: dict[int, str]) -> None:
        for r in self.rows("audit_log"):
            ref = f"id={r['id']}"
            at = parse_time(r.get("created_at"), "audit_log", ref, "created_at")
            if at is None:
                raise SourceError("audit_log", ref, "created_at is empty")
            raw = r.get("details")
            try:
                details = json.loads(raw) if raw else {}
            except ValueError:
                details = {"text": raw}
            username = r.get("username") or (usernames.get(r["user_id"], "") if r.get("user_id") is not None else "")
            self.snap.audit.append(
                AuditRec(
                    at,
                    username,
                    r.get("action") or "",
                    r.get("resource") or "",
                    details,
                    _text(r.get("ip_address")),
                    ref,
                )
            )

    def _configs(self, usernames: dict[int, str]) -> None:
        for r in self.rows("config_versions"):
            ref = f"id={r['id']} ({r.get('service_name')}/{r.get('filename')} v{r.get('version_number')})"
            if r.get("content") is None or r.get("version_number") is None:
                raise SourceError("config_versions", ref, "content or version_number is empty")
            author = r.get("created_by_username") or usernames.get(r.get("created_by_id"), "")  # type: ignore[arg-type]
            self.snap.config_versions.append(
                ConfigVersionRec(
                    service_name=r["service_name"],
                    filename=r["filename"],
                    content=r["content"],
                    version_number=int(r["version_number"]),
                    change_note=r.get("change_note") or "",
                    created_by=author,
                    ip_address=_text(r.get("ip_address")),
                    created_at=parse_time(r.get("created_at"), "config_versions", ref, "created_at"),
                )
            )

    def _health(self) -> None:
        for r in self.rows("health_check_results"):
            ref = f"id={r['id']}"
            at = parse_time(r.get("checked_at"), "health_check_results", ref, "checked_at")
            if at is None:
                raise SourceError("health_check_results", ref, "checked_at is empty")
            self.snap.health.append(
                HealthRec(
                    service_name=r["service_name"],
                    check_name=r.get("check_name") or "default",
                    status=r.get("status") or "unknown",
                    previous_status=r.get("previous_status") or "unknown",
                    checked_at=at,
                    response_time_ms=r.get("response_time_ms"),
                    status_code=r.get("status_code"),
                    error_message=r.get("error_message"),
                    check_type=r.get("check_type") or "",
                    target=r.get("target") or "",
                )
            )

    def _metadata(self) -> None:
        for r in self.rows("app_metadata"):
            raw = r.get("value")
            try:
                value = json.loads(raw) if raw is not None else None
            except ValueError:
                value = raw  # CloudLab's reader falls back to the raw text too
            if r["key"] == "vault_password":
                self.snap.vault_password = str(value) if value else None
            else:
                self.snap.metadata[r["key"]] = value
