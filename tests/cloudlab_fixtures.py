"""CloudLab-shaped source files for the import tests and benchmark.

:func:`build_sqlite` writes a ``cloudlab.db`` with CloudLab's schema (docs/cloudlab.md:
SQLAlchemy's SQLite encoding — naive UTC datetime text, 0/1 booleans, JSON text columns,
``app_metadata`` values JSON-encoded with strings quoted, job times as ISO strings and output
as a JSON array). :func:`build_json` writes a legacy ``database.json``. Password hashes are
real bcrypt (``$2b$``) hashes made with the ``bcrypt`` package, as passlib made them.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import sqlite3
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import bcrypt

from labtui.core.permissions_catalog import STATIC_PERMISSIONS

SCHEMA = """
CREATE TABLE users (
    id INTEGER PRIMARY KEY, username VARCHAR(30) NOT NULL UNIQUE, email VARCHAR(255) UNIQUE,
    display_name VARCHAR(100), password_hash VARCHAR(255), is_active BOOLEAN NOT NULL DEFAULT 0,
    created_at DATETIME, updated_at DATETIME, last_login_at DATETIME,
    invited_by_id INTEGER REFERENCES users(id) ON DELETE SET NULL, invite_accepted_at DATETIME,
    ssh_public_key TEXT
);
CREATE TABLE roles (
    id INTEGER PRIMARY KEY, name VARCHAR(50) NOT NULL UNIQUE, description VARCHAR(255),
    is_system BOOLEAN NOT NULL DEFAULT 0, created_at DATETIME, updated_at DATETIME
);
CREATE TABLE permissions (
    id INTEGER PRIMARY KEY, codename VARCHAR(100) NOT NULL UNIQUE, category VARCHAR(50) NOT NULL,
    label VARCHAR(100) NOT NULL, description VARCHAR(255)
);
CREATE TABLE user_roles (
    user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE, PRIMARY KEY (user_id, role_id)
);
CREATE TABLE role_permissions (
    role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE,
    permission_id INTEGER NOT NULL REFERENCES permissions(id) ON DELETE CASCADE, PRIMARY KEY (role_id, permission_id)
);
CREATE TABLE invite_tokens (
    id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token VARCHAR(64) NOT NULL UNIQUE, expires_at DATETIME NOT NULL, used_at DATETIME
);
CREATE TABLE password_reset_tokens (
    id INTEGER PRIMARY KEY, user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    token VARCHAR(64) NOT NULL UNIQUE, expires_at DATETIME NOT NULL, used_at DATETIME
);
CREATE TABLE app_metadata (key VARCHAR(100) PRIMARY KEY, value TEXT);
CREATE TABLE inventory_types (
    id INTEGER PRIMARY KEY, slug VARCHAR(50) NOT NULL UNIQUE, label VARCHAR(100) NOT NULL,
    description TEXT, icon VARCHAR(50), config_hash VARCHAR(64), created_at DATETIME, updated_at DATETIME
);
CREATE TABLE inventory_objects (
    id INTEGER PRIMARY KEY, type_id INTEGER NOT NULL REFERENCES inventory_types(id) ON DELETE CASCADE,
    data TEXT NOT NULL, search_text TEXT, created_by INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at DATETIME, updated_at DATETIME
);
CREATE TABLE inventory_tags (id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL UNIQUE, color VARCHAR(7), created_at DATETIME);
CREATE TABLE object_tags (
    object_id INTEGER NOT NULL REFERENCES inventory_objects(id) ON DELETE CASCADE,
    tag_id INTEGER NOT NULL REFERENCES inventory_tags(id) ON DELETE CASCADE, PRIMARY KEY (object_id, tag_id)
);
CREATE TABLE object_acl (
    id INTEGER PRIMARY KEY, object_id INTEGER NOT NULL REFERENCES inventory_objects(id) ON DELETE CASCADE,
    role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE, permission VARCHAR(50) NOT NULL,
    effect VARCHAR(10) NOT NULL DEFAULT 'allow'
);
CREATE TABLE tag_permissions (
    id INTEGER PRIMARY KEY, tag_id INTEGER NOT NULL REFERENCES inventory_tags(id) ON DELETE CASCADE,
    role_id INTEGER NOT NULL REFERENCES roles(id) ON DELETE CASCADE, permission VARCHAR(50) NOT NULL
);
CREATE TABLE jobs (
    id VARCHAR(20) PRIMARY KEY, service VARCHAR(100) NOT NULL, action VARCHAR(50) NOT NULL,
    script VARCHAR(100), status VARCHAR(20) NOT NULL, started_at VARCHAR(50), finished_at VARCHAR(50),
    output TEXT, deployment_id VARCHAR(100), user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    username VARCHAR(30), object_id INTEGER, type_slug VARCHAR(50),
    schedule_id INTEGER REFERENCES scheduled_jobs(id) ON DELETE SET NULL
);
CREATE TABLE scheduled_jobs (
    id INTEGER PRIMARY KEY, name VARCHAR(100) NOT NULL, description VARCHAR(500), job_type VARCHAR(30) NOT NULL,
    service_name VARCHAR(100), script_name VARCHAR(100), type_slug VARCHAR(50), action_name VARCHAR(100),
    object_id INTEGER REFERENCES inventory_objects(id) ON DELETE SET NULL, system_task VARCHAR(50),
    cron_expression VARCHAR(100) NOT NULL, is_enabled BOOLEAN DEFAULT 1, inputs TEXT, last_run_at DATETIME,
    last_job_id VARCHAR(20), last_status VARCHAR(20), next_run_at DATETIME, skip_if_running BOOLEAN DEFAULT 1,
    created_by INTEGER REFERENCES users(id) ON DELETE SET NULL, created_at DATETIME, updated_at DATETIME
);
CREATE TABLE audit_log (
    id INTEGER PRIMARY KEY, user_id INTEGER REFERENCES users(id) ON DELETE SET NULL, username VARCHAR(30),
    action VARCHAR(100) NOT NULL, resource VARCHAR(255), details TEXT, ip_address VARCHAR(45), created_at DATETIME
);
CREATE TABLE config_versions (
    id INTEGER PRIMARY KEY, service_name VARCHAR(100) NOT NULL, filename VARCHAR(50) NOT NULL, content TEXT NOT NULL,
    content_hash VARCHAR(64) NOT NULL, size_bytes INTEGER NOT NULL, version_number INTEGER NOT NULL,
    change_note VARCHAR(500), created_by_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_by_username VARCHAR(30), ip_address VARCHAR(45), created_at DATETIME
);
CREATE INDEX ix_config_versions ON config_versions (service_name, filename, version_number);
CREATE TABLE health_check_results (
    id INTEGER PRIMARY KEY, service_name VARCHAR(100) NOT NULL, check_name VARCHAR(100) NOT NULL,
    status VARCHAR(20) NOT NULL, response_time_ms FLOAT, status_code INTEGER, error_message TEXT,
    check_type VARCHAR(20), target VARCHAR(500), checked_at DATETIME, previous_status VARCHAR(20)
);
"""

BASE = dt.datetime(2024, 5, 1, 12, 0, 0)


def bcrypt_hash(password: str) -> str:
    """A ``$2b$`` hash as passlib made it (cost 4 to keep the tests quick)."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()


def naive(t: dt.datetime) -> str:
    """SQLAlchemy's SQLite text for a DateTime(timezone=True): naive UTC, microseconds."""
    return t.strftime("%Y-%m-%d %H:%M:%S.%f")


def job_output(job_index: int, lines: int) -> list[str]:
    return ["$ bash /services/web/deploy.sh"] + [f"job {job_index} line {n}" for n in range(1, lines)]


@dataclass
class Built:
    """What a built source holds, for the tests' expectations."""

    path: Path
    passwords: dict[str, str] = field(default_factory=dict)
    jobs: dict[str, list[str]] = field(default_factory=dict)


# -- legacy JSON -------------------------------------------------------------------------------


def build_json(
    path: Path, *, passwords: dict[str, str] | None = None, jobs: int = 3, extra: dict[str, Any] | None = None
) -> Built:
    """``database.json`` as CloudLab's migration consumed it (4-space indent, like data.py)."""
    passwords = passwords or {"alice": "alice-secret-1", "bob": "bob-secret-22"}
    built = Built(path, dict(passwords))
    data: dict[str, Any] = {
        "HOST_HOSTNAME": "jakesmac",
        "users": {name: {"password_hash": bcrypt_hash(pw)} for name, pw in passwords.items()},
        "jobs": {},
        "secret_key": "ab" * 32,
        "vault_password": "vault-from-json",
        "instances_cache": {
            "all": {"hosts": {"web1": {"ansible_host": "192.0.2.10", "vultr_tags": ["web"]}}, "children": {}}
        },
        "instances_cache_time": "2024-05-01T10:00:00+00:00",
        "dns_id": "zone-123",
    }
    for i in range(jobs):
        job_id = f"{0xA0000000 + i:08x}"
        output = ["$ bash /services/hello/deploy.sh", f"legacy job {i} says hello", "done"]
        if i == 1:
            output.append("[EXIT CODE: 2]")
        data["jobs"][job_id] = {
            "service": "hello",
            "action": "deploy",
            "script": None,
            "status": "failed" if i == 1 else "completed",
            "started_at": (BASE + dt.timedelta(minutes=i)).isoformat(),
            "finished_at": (BASE + dt.timedelta(minutes=i, seconds=30)).isoformat(),
            "output": output,
            "deployment_id": f"dep-{i}",
        }
        built.jobs[job_id] = output
    data.update(extra or {})
    path.write_text(json.dumps(data, ensure_ascii=False, indent=4))
    return built


# -- SQLite ------------------------------------------------------------------------------------

#: The custom roles: name -> (description, permissions).
ROLES: dict[str, tuple[str, list[str]]] = {
    "ops": (
        "Runs the lab",
        ["jobs.view_all", "services.deploy", "services.view", "inventory.server.view", "inventory.server.edit"],
    ),
    "netadmin": ("Networks", ["inventory.network.view", "inventory.legacy.view"]),
    "auditors": ("Read the logs", ["system.audit_log", "jobs.view_all"]),
}
#: Users: name -> (password or None for an invited one, roles, active).
USERS: dict[str, tuple[str | None, list[str], bool]] = {
    "admin": ("admin-pass-123", ["super-admin"], True),
    "carol": ("carol-pass-123", ["ops"], True),
    "dave": ("dave-pass-1234", ["netadmin", "auditors"], True),
    "erin": ("erin-pass-1234", ["auditors"], True),
    "frank": (None, ["ops"], False),
    "gina": ("gina-pass-1234", [], True),
}
#: Inventory objects: (type slug, data); ids are 1.. in this order.
OBJECTS: list[tuple[str, dict[str, Any]]] = [
    (
        "server",
        {
            "hostname": "web1",
            "ip_address": "192.0.2.10",
            "region": "mel",
            "power_status": "running",
            "vultr_tags": ["web"],
        },
    ),
    ("server", {"hostname": "web2", "ip_address": "192.0.2.11", "region": "syd", "power_status": "stopped"}),
    ("server", {"hostname": "db1", "ip_address": "192.0.2.20", "region": "mel", "power_status": "running"}),
    ("network", {"name": "lan", "cidr": "10.0.0.0/24", "vlan": 10, "dhcp": True}),
    ("network", {"name": "dmz", "cidr": "10.0.1.0/24", "vlan": "20"}),
    ("legacy", {"name": "old-thing", "note": "from a type the lab dropped"}),
    ("credential", {"name": "db root", "kind": "password", "username": "root", "secret": "s3cret-db"}),
]
#: Objects of the demo lab's synced types (service_discovery, user_sync, deployment_sync) as
#: CloudLab's own sync left them: labtui's adapters own them once imported.
SYNCED_OBJECTS: list[tuple[str, dict[str, Any]]] = [
    ("service", {"name": "hello", "service_dir": "/services/hello", "status": "deployed"}),
    ("service", {"name": "greet", "service_dir": "/services/greet", "status": "available"}),
    (
        "user",
        {
            "username": "frank",
            "email": "frank@example.com",
            "display_name": "Frank",
            "role": "ops",
            "status": "invited",
        },
    ),
    (
        "user",
        {
            "username": "carol",
            "email": "carol@old.example.com",
            "display_name": "Carol",
            "role": "ops",
            "status": "active",
        },
    ),
    (
        "deployment",
        {
            "service_name": "web",
            "deployment_id": "dep-0",
            "status": "completed",
            "job_id": "c0000000",
            "hostname": "gone",
        },
    ),
]
#: CloudLab's versions of the service's config.yaml, v1 first (v1 is what the lab's git holds).
CONFIG_VERSIONS = ("replicas: 1\n", "replicas: 2\n", "replicas: 3\nimage: web:2\n")
#: CloudLab's invite and reset tokens (plain text, as CloudLab stored them).
PENDING_INVITE, EXPIRED_INVITE = "i" * 64, "e" * 64
PENDING_RESET, USED_RESET = "p" * 64, "r" * 64
TAGS = {"prod": "#E8984A", "staging": "red", "svc:web": "#e8984a"}
OBJECT_TAGS = [(1, "prod"), (2, "prod"), (3, "staging"), (4, "prod"), (6, "svc:web")]
#: (object id, role, suffix, effect)
ACLS = [
    (2, "ops", "view", "deny"),
    (3, "auditors", "view", "allow"),
    (4, "ops", "edit", "allow"),
    (5, "netadmin", "view", "deny"),
]
#: (tag, role, suffix)
TAG_GRANTS = [("prod", "auditors", "view"), ("staging", "netadmin", "edit")]


def _permissions() -> list[tuple[str, str, str, str]]:
    rows = [(p.codename, p.category, p.label, p.description) for p in STATIC_PERMISSIONS]
    for slug, label in (
        ("server", "Server"),
        ("network", "Network"),
        ("legacy", "Legacy"),
        ("credential", "Credential"),
    ):
        for verb in ("view", "create", "edit", "delete"):
            rows.append(
                (f"inventory.{slug}.{verb}", f"inventory.{slug}", f"{verb.title()} {label}s", f"{verb} {label}")
            )
    return rows


def build_sqlite(
    path: Path,
    *,
    jobs: int = 6,
    lines: int = 4,
    audit: int = 25,
    health: int = 8,
    synced: bool = False,
    config_service: str = "web",
) -> Built:
    """A ``cloudlab.db`` with custom roles, users (one invited), tokens, inventory objects with
    tags, ACLs and tag grants, schedules, jobs (one left running), audit rows, config versions
    (of ``config_service``'s config.yaml), health results and metadata; with ``synced``, also
    objects of the synced types (:data:`SYNCED_OBJECTS`, ids after :data:`OBJECTS`)."""
    built = Built(path)
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    t = naive(BASE)
    perms = _permissions()
    conn.executemany("INSERT INTO permissions (codename, category, label, description) VALUES (?, ?, ?, ?)", perms)
    perm_id = {code: i for i, (code, *_rest) in enumerate(perms, 1)}
    conn.execute(
        "INSERT INTO roles (name, description, is_system, created_at) VALUES ('super-admin', 'Full system access', 1, ?)",
        (t,),
    )
    conn.executemany("INSERT INTO role_permissions VALUES (1, ?)", [(i,) for i in perm_id.values()])
    role_id = {"super-admin": 1}
    for name, (description, codes) in ROLES.items():
        cur = conn.execute(
            "INSERT INTO roles (name, description, is_system, created_at) VALUES (?, ?, 0, ?)", (name, description, t)
        )
        role_id[name] = cur.lastrowid  # type: ignore[assignment]
        conn.executemany("INSERT INTO role_permissions VALUES (?, ?)", [(cur.lastrowid, perm_id[c]) for c in codes])
    user_id: dict[str, int] = {}
    for name, (password, roles, active) in USERS.items():
        cur = conn.execute(
            "INSERT INTO users (username, email, display_name, password_hash, is_active, created_at, updated_at, "
            "last_login_at, invited_by_id, invite_accepted_at, ssh_public_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                name,
                f"{name.title()}@Example.com".lower(),
                name.title(),
                bcrypt_hash(password) if password else None,
                int(active),
                t,
                t,
                t if active else None,
                user_id.get("admin") if name != "admin" else None,
                t if password else None,
                f"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAI{name} {name.title()}@cloudlab" if name == "carol" else None,
            ),
        )
        user_id[name] = cur.lastrowid  # type: ignore[assignment]
        if password:
            built.passwords[name] = password
        conn.executemany("INSERT INTO user_roles VALUES (?, ?)", [(cur.lastrowid, role_id[r]) for r in roles])
    now = dt.datetime.now(dt.UTC).replace(tzinfo=None)
    future, soon, past = naive(now + dt.timedelta(hours=70)), naive(now + dt.timedelta(minutes=50)), naive(BASE)
    conn.executemany(
        "INSERT INTO invite_tokens (user_id, token, expires_at) VALUES (?, ?, ?)",
        [
            (user_id["frank"], EXPIRED_INVITE, past),
            (user_id["frank"], PENDING_INVITE, future),
        ],
    )
    conn.executemany(
        "INSERT INTO password_reset_tokens (user_id, token, expires_at, used_at) VALUES (?, ?, ?, ?)",
        [
            (user_id["carol"], USED_RESET, past, past),
            (user_id["dave"], PENDING_RESET, soon, None),
        ],
    )

    type_id = {}
    types = [("server", "Servers"), ("network", "Networks"), ("legacy", "Legacy things"), ("credential", "Credentials")]
    if synced:
        types += [("service", "Services"), ("user", "Users"), ("deployment", "Deployments")]
    for slug, label in types:
        cur = conn.execute(
            "INSERT INTO inventory_types (slug, label, description, icon, config_hash, created_at, updated_at) VALUES (?, ?, '', '', 'x', ?, ?)",
            (slug, label, t, t),
        )
        type_id[slug] = cur.lastrowid
    for slug, data in OBJECTS + (SYNCED_OBJECTS if synced else []):
        conn.execute(
            "INSERT INTO inventory_objects (type_id, data, search_text, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?)",
            (type_id[slug], json.dumps(data), " ".join(str(v) for v in data.values()).lower(), user_id["admin"], t, t),
        )
    tag_id = {}
    for name, color in TAGS.items():
        tag_id[name] = conn.execute(
            "INSERT INTO inventory_tags (name, color, created_at) VALUES (?, ?, ?)", (name, color, t)
        ).lastrowid
    conn.executemany("INSERT INTO object_tags VALUES (?, ?)", [(o, tag_id[n]) for o, n in OBJECT_TAGS])
    conn.executemany(
        "INSERT INTO object_acl (object_id, role_id, permission, effect) VALUES (?, ?, ?, ?)",
        [(o, role_id[r], p, e) for o, r, p, e in ACLS],
    )
    conn.executemany(
        "INSERT INTO tag_permissions (tag_id, role_id, permission) VALUES (?, ?, ?)",
        [(tag_id[g], role_id[r], p) for g, r, p in TAG_GRANTS],
    )

    schedules = [
        (
            "nightly web deploy",
            "service_script",
            "web",
            "deploy",
            None,
            None,
            None,
            None,
            "0 3 * * *",
            1,
            json.dumps({"env": "prod"}),
        ),
        (
            "refresh instances",
            "system_task",
            None,
            None,
            None,
            None,
            None,
            "refresh_instances",
            "*/30 * * * *",
            1,
            None,
        ),
        ("reboot db", "inventory_action", None, None, "server", "reboot", 3, None, "0 4 * * 0", 0, None),
    ]
    for sched in schedules:
        conn.execute(
            "INSERT INTO scheduled_jobs (name, job_type, service_name, script_name, type_slug, action_name, object_id, system_task, "
            "cron_expression, is_enabled, inputs, last_run_at, last_job_id, last_status, next_run_at, skip_if_running, created_by, "
            "created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL, NULL, ?, 1, ?, ?, ?)",
            (*sched, t, t, user_id["carol"], t, t),
        )

    users_cycle = ["carol", "dave", "admin"]
    rows = []
    for i in range(jobs):
        job_id = f"{0xC0000000 + i:08x}"
        status = "running" if i == jobs - 1 and jobs > 1 else ("failed" if i % 5 == 1 else "completed")
        output = job_output(i, lines)
        if status == "failed":
            output.append("[EXIT CODE: 1]")
        who = users_cycle[i % 3]
        start = BASE + dt.timedelta(minutes=i)
        rows.append(
            (
                job_id,
                "web",
                "deploy",
                None,
                status,
                start.isoformat(),
                None if status == "running" else (start + dt.timedelta(seconds=20)).isoformat(),
                json.dumps(output),
                f"dep-{i}" if i % 2 == 0 else None,
                user_id[who],
                who,
                None,
                None,
                1 if i == 0 else None,
            )
        )
        built.jobs[job_id] = output
    conn.executemany("INSERT INTO jobs VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
    if jobs:
        conn.execute(
            "UPDATE scheduled_jobs SET last_job_id = ?, last_status = 'completed', last_run_at = ? WHERE id = 1",
            (rows[0][0], t),
        )

    actions = ["login", "service.deploy", "service.config.edit", "schedule.create", "inventory.action.reboot"]
    conn.executemany(
        "INSERT INTO audit_log (user_id, username, action, resource, details, ip_address, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
        [
            (
                user_id[users_cycle[i % 3]],
                users_cycle[i % 3],
                actions[i % len(actions)],
                f"services/web{i % 7}",
                json.dumps({"n": i, "password": "hunter2"} if i == 0 else {"n": i}),
                "203.0.113.5" if i % 2 else None,
                naive(BASE + dt.timedelta(seconds=i)),
            )
            for i in range(audit)
        ],
    )

    for n, content in enumerate(CONFIG_VERSIONS, 1):
        data = content.encode()
        conn.execute(
            "INSERT INTO config_versions (service_name, filename, content, content_hash, size_bytes, version_number, change_note, "
            "created_by_id, created_by_username, ip_address, created_at) VALUES (?, 'config.yaml', ?, ?, ?, ?, ?, ?, 'carol', ?, ?)",
            (
                config_service,
                content,
                hashlib.sha256(data).hexdigest(),
                len(data),
                n,
                f"change {n}",
                user_id["carol"],
                "203.0.113.5",
                naive(BASE + dt.timedelta(hours=n)),
            ),
        )
    previous = "unknown"
    for i in range(health):
        status = "unhealthy" if i in (3, 4) else "healthy"
        conn.execute(
            "INSERT INTO health_check_results (service_name, check_name, status, response_time_ms, status_code, error_message, "
            "check_type, target, checked_at, previous_status) VALUES ('web', 'web-ui', ?, ?, ?, ?, 'http', 'https://web1.lab/', ?, ?)",
            (
                status,
                12.5 + i,
                200 if status == "healthy" else 503,
                None if status == "healthy" else "Expected status 200, got 503",
                naive(BASE + dt.timedelta(minutes=i)),
                previous,
            ),
        )
        previous = status
    metadata = {
        "secret_key": "cd" * 32,
        "vault_password": "vault-from-sqlite",
        "HOST_HOSTNAME": "cloudlab-host",
        "dns_id": "zone-456",
        "instances_cache": {"all": {"hosts": {"web1": {"ansible_host": "192.0.2.10", "vultr_tags": ["web"]}}}},
        "instances_cache_time": "2024-05-01T11:00:00+00:00",
        "some_future_key": "?",
    }
    conn.executemany("INSERT INTO app_metadata VALUES (?, ?)", [(k, json.dumps(v)) for k, v in metadata.items()])
    conn.commit()
    conn.close()
    return built


def build_bulk_sqlite(path: Path, *, jobs: int, lines: int, audit: int) -> None:
    """A large ``cloudlab.db`` for the benchmark: two users, ``jobs`` jobs of ``lines`` output
    lines each and ``audit`` audit records (the rest of the schema empty)."""
    conn = sqlite3.connect(path)
    conn.executescript(SCHEMA)
    t = naive(BASE)
    conn.execute("INSERT INTO roles (name, description, is_system) VALUES ('super-admin', 'Full system access', 1)")
    for name in ("admin", "carol"):
        conn.execute(
            "INSERT INTO users (username, password_hash, is_active, created_at) VALUES (?, ?, 1, ?)",
            (name, bcrypt_hash(f"{name}-pass-123"), t),
        )
    conn.executemany(
        "INSERT INTO jobs (id, service, action, status, started_at, finished_at, output, user_id, username) VALUES (?, 'web', 'deploy', 'completed', ?, ?, ?, 2, 'carol')",
        (
            (
                f"{i:08x}",
                (BASE + dt.timedelta(seconds=i)).isoformat(),
                (BASE + dt.timedelta(seconds=i + 5)).isoformat(),
                json.dumps(job_output(i, lines)),
            )
            for i in range(jobs)
        ),
    )
    conn.executemany(
        "INSERT INTO audit_log (user_id, username, action, resource, details, ip_address, created_at) VALUES (2, 'carol', ?, ?, ?, '203.0.113.5', ?)",
        (
            (
                "service.deploy" if i % 3 else "login",
                f"services/web{i % 50}",
                json.dumps({"job_id": f"{i:08x}"}),
                naive(BASE + dt.timedelta(milliseconds=i * 10)),
            )
            for i in range(audit)
        ),
    )
    conn.commit()
    conn.close()
