"""Importing CloudLab: the legacy JSON file and the SQLite database, into a real labtui
database — logins with the old bcrypt passwords, idempotence, counts against the source,
access checks against CloudLab's own rules, dry runs, corrupt files, conflicts, the CLI and
the startup import."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, text

from labtui.core.actor import Actor
from labtui.core.audit import AuditFilter
from labtui.core.config import CloudlabConfig, Config
from labtui.core.db.base import Base, utcnow
from labtui.core.db.engine import get_metadata
from labtui.core.db.health import HealthCheckState
from labtui.core.db.importmap import ImportMap
from labtui.core.db.inventory import InventoryObject, open_secrets
from labtui.core.db.jobs import Job
from labtui.core.db.models import User
from labtui.core.db.schedules import ScheduledJob
from labtui.core.errors import AuthError
from labtui.core.importer import ImportFailed, ImportRequest, import_cloudlab
from labtui.core.runtime import Core
from tests.cloudlab_fixtures import ACLS, OBJECTS, build_json, build_sqlite
from tests.conftest import MakeCore

CLI = Actor.system("cli")


def dump(core: Core) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every labtui table (and the audit text index), for "nothing changed"."""
    out: dict[str, list[tuple[Any, ...]]] = {}
    with core.db.engine.connect() as conn:
        for name in sorted(Base.metadata.tables):
            out[name] = sorted(map(tuple, conn.execute(text(f'SELECT * FROM "{name}"'))), key=repr)
        out["audit_fts"] = sorted(map(tuple, conn.execute(text("SELECT rowid, * FROM audit_fts"))), key=repr)
    return out


def source_count(db: Path, table: str, where: str = "") -> int:
    with sqlite3.connect(db) as conn:
        return conn.execute(f"SELECT count(*) FROM {table} {where}").fetchone()[0]


async def run(core: Core, **kwargs: Any) -> Any:
    return await import_cloudlab(core, CLI, ImportRequest(**kwargs))


# -- the legacy JSON file ----------------------------------------------------------------------


async def test_json_users_log_in_with_old_passwords_jobs_and_vault_import(core: Core, tmp_path: Path) -> None:
    built = build_json(tmp_path / "database.json", extra={"theme": "dark"})
    before = built.path.read_bytes()
    report = await run(core, json_path=built.path)

    counts = report.as_json()["tables"]
    assert counts["users"]["created"] == 2 and counts["jobs"]["created"] == 3
    assert counts["job_output"]["created"] == sum(len(v) for v in built.jobs.values())
    assert counts["vault"]["created"] == 1
    assert any("unknown key 'theme'" in w for w in report.warnings)
    assert core.vault.path.read_text() == "vault-from-json\n"
    assert core.vault.path.stat().st_mode & 0o777 == 0o600

    for name, password in built.passwords.items():
        stored = await core.db.run(lambda s, n=name: s.scalar(select(User.password_hash).where(User.username == n)))
        assert stored.startswith("$2b$")
        actor = (await core.auth.login(name, password)).actor
        stored = await core.db.run(lambda s, n=name: s.scalar(select(User.password_hash).where(User.username == n)))
        assert stored.startswith("$argon2id$"), "the first login rehashes with argon2id"
        assert await core.rbac.has(actor, "users.create"), "JSON users are super-admins, as CloudLab migrated them"
        assert (await core.auth.login(name, password)).actor.user_id == actor.user_id
    with pytest.raises(AuthError):
        await core.auth.login("alice", "wrong-password")

    alice = (await core.auth.login("alice", built.passwords["alice"])).actor
    for job_id, lines in built.jobs.items():
        job = await core.jobs.get(alice, job_id)
        assert [o.line for o in await core.jobs.output(alice, job_id)] == lines
        assert job.output_lines == len(lines) and job.service == "hello"
    failed = await core.jobs.get(alice, "a0000001")
    assert (failed.status, failed.exit_code, failed.deployment_id) == ("failed", 2, "dep-1")

    assert built.path.read_bytes() == before and built.path.exists(), "the source is left untouched"
    recorded = await core.db.run(lambda s: get_metadata(s, "import.cloudlab"))
    assert recorded[-1]["sources"][0]["kind"] == "json" and recorded[-1]["tables"]["users"]["created"] == 2
    assert (await core.db.run(lambda s: get_metadata(s, "instances_cache")))["all"]["hosts"]["web1"][
        "ansible_host"
    ] == "192.0.2.10"
    audit = await core.audit.page(CLI, AuditFilter(action="import.cloudlab"))
    tables = {row["table"]: row for row in audit[0].detail["tables"]}
    assert tables["jobs"]["created"] == 3 and tables["vault"]["created"] == 1

    snapshot = dump(core)
    again = await run(core, json_path=built.path)
    assert not again.changed, again.rows()
    after = dump(core)
    for table in ("users", "user_roles", "jobs", "job_output", "roles", "import_map"):
        assert after[table] == snapshot[table], table
    assert core.vault.path.read_text() == "vault-from-json\n"


# -- the SQLite database -----------------------------------------------------------------------


async def test_sqlite_import_counts_match_the_source(core: Core, tmp_path: Path) -> None:
    db = tmp_path / "cloudlab.db"
    build_sqlite(db, jobs=12, lines=5, audit=40)
    report = await run(core, db_path=db)
    c = report.as_json()["tables"]

    for table in (
        "users",
        "inventory_tags",
        "inventory_objects",
        "object_tags",
        "object_acl",
        "tag_permissions",
        "scheduled_jobs",
        "jobs",
        "audit_log",
        "config_versions",
        "health_check_results",
        "user_roles",
    ):
        assert c[table]["created"] == source_count(db, table), table
    assert c["roles"] == {"created": source_count(db, "roles") - 1, "updated": 0, "skipped": 1}, (
        "super-admin is labtui's own"
    )
    assert c["permissions"]["created"] + c["permissions"]["skipped"] == source_count(db, "permissions")
    assert c["role_permissions"]["created"] == source_count(db, "role_permissions", "WHERE role_id != 1")
    assert c["tokens"] == {"created": 2, "updated": 0, "skipped": 2}, "the pending ones; not the used or expired one"
    with sqlite3.connect(db) as conn:
        lines = sum(len(json.loads(o)) for (o,) in conn.execute("SELECT output FROM jobs"))
    assert c["job_output"]["created"] == lines

    def counts(s: Any) -> dict[str, int]:
        out = {
            t: s.scalar(text(f"SELECT count(*) FROM {t}"))
            for t in ("jobs", "job_output", "scheduled_jobs", "object_acl", "tag_permissions")
        }
        out["config_versions"] = s.scalar(text("SELECT count(*) FROM config_versions WHERE service_name = 'web'"))
        return out

    got = await core.db.run(counts)
    assert got == {
        "jobs": 12,
        "job_output": lines,
        "scheduled_jobs": 3,
        "object_acl": len(ACLS),
        "tag_permissions": 2,
        "config_versions": 3,
    }

    # Rows as core writes them.
    users = await core.users.list(CLI)
    by_name = {u.username: u for u in users}
    assert by_name["frank"].status == "invited" and by_name["carol"].status == "active"
    assert by_name["dave"].roles == ("auditors", "netadmin") and by_name["carol"].email == "carol@example.com"
    assert by_name["carol"].has_ssh_key
    assert await core.db.run(lambda s: s.scalar(select(Job.status).where(Job.id == "c000000b"))) == "lost"
    records = await core.audit.page(CLI, AuditFilter(text="web3"))
    assert records and all("web3" in r.target for r in records), "the text index is kept by the triggers"
    first = (await core.audit.page(CLI, AuditFilter(username="carol", action="login")))[-1]
    assert first.detail == {"n": 0, "password": "***"} and first.origin == "cloudlab"

    def objects(s: Any) -> dict[str, tuple[str, str, str]]:
        return {
            json.loads(o.data).get("name") or json.loads(o.data).get("hostname"): (
                o.data,
                json.dumps(open_secrets(s, o.secrets)),
                o.search_text,
            )
            for o in s.scalars(select(InventoryObject))
        }

    objs = await core.db.run(objects)
    assert objs["lan"][2] == "lan 10.0.0.0/24"
    assert json.loads(objs["dmz"][0])["vlan"] == 20, "values are stored as core checks them"
    assert "s3cret" not in objs["db root"][0] and json.loads(objs["db root"][1]) == {"secret": "s3cret-db"}
    assert objs["old-thing"][2] == "old-thing from a type the lab dropped"

    schedule = await core.db.run(
        lambda s: s.scalar(select(ScheduledJob).where(ScheduledJob.name == "nightly web deploy"))
    )
    assert (
        schedule.next_run_at > utcnow() and schedule.last_job_id == "c0000000" and schedule.inputs == '{"env": "prod"}'
    )
    assert await core.db.run(lambda s: s.scalar(select(Job.schedule_id).where(Job.id == "c0000000"))) == schedule.id
    state = await core.db.run(lambda s: s.get(HealthCheckState, ("web", "web-ui")))
    assert state.status == "healthy" and state.consecutive_successes == 3 and state.since.minute == 5
    assert core.vault.path.read_text() == "vault-from-sqlite\n"

    again = await run(core, db_path=db)
    assert not again.changed, again.rows()


def cloudlab_allows(conn: sqlite3.Connection, username: str, object_id: int, suffix: str) -> bool:
    """CloudLab's ``check_inventory_permission`` (docs/cloudlab.md), over its own database."""
    roles = [
        r
        for (r,) in conn.execute(
            "SELECT role_id FROM user_roles JOIN users ON users.id = user_id WHERE username = ?", (username,)
        )
    ]
    perms = (
        {
            p
            for (p,) in conn.execute(
                f"SELECT codename FROM role_permissions JOIN permissions ON permissions.id = permission_id "
                f"WHERE role_id IN ({','.join('?' * len(roles))})",
                roles,
            )
        }
        if roles
        else set()
    )
    if "*" in perms:
        return True
    row = conn.execute(
        "SELECT slug FROM inventory_objects o JOIN inventory_types t ON t.id = o.type_id WHERE o.id = ?", (object_id,)
    ).fetchone()
    if row is None:
        return False
    full = f"inventory.{row[0]}.{suffix}"
    if not roles:
        return full in perms
    marks = ",".join("?" * len(roles))
    effects = {
        e
        for (e,) in conn.execute(
            f"SELECT effect FROM object_acl WHERE object_id = ? AND permission = ? AND role_id IN ({marks})",
            (object_id, suffix, *roles),
        )
    }
    if "deny" in effects:
        return False
    if "allow" in effects:
        return True
    granted = conn.execute(
        f"SELECT 1 FROM tag_permissions g JOIN object_tags ot ON ot.tag_id = g.tag_id "
        f"WHERE ot.object_id = ? AND g.permission = ? AND g.role_id IN ({marks})",
        (object_id, suffix, *roles),
    ).fetchone()
    if granted:
        return True
    return full in perms


async def test_access_checks_answer_as_cloudlab_did(core: Core, tmp_path: Path) -> None:
    db = tmp_path / "cloudlab.db"
    build_sqlite(db)
    await run(core, db_path=db)
    ids = await core.db.run(
        lambda s: {
            int(k): int(v)
            for k, v in s.execute(
                select(ImportMap.source_key, ImportMap.target_id).where(ImportMap.kind == "inventory_object")
            )
        }
    )
    users = await core.db.run(
        lambda s: {u.username: u.id for u in s.scalars(select(User).where(User.is_active.is_(True)))}
    )
    # super-admin is the one role whose rule differs on purpose: CloudLab gave it every
    # permission row that existed, labtui gives it ``*`` (so also actions no row named yet).
    admin = Actor(users.pop("admin"), "admin")
    assert all([await core.inventory.allowed(admin, i, "reboot") for i in ids.values()])
    answers: list[bool] = []
    with sqlite3.connect(db) as conn:
        for name, uid in users.items():
            actor = Actor(uid, name)
            for source_id in range(1, len(OBJECTS) + 1):
                for suffix in ("view", "edit", "delete", "reboot"):
                    before = cloudlab_allows(conn, name, source_id, suffix)
                    after = await core.inventory.allowed(actor, ids[source_id], suffix)
                    assert before == after, (name, OBJECTS[source_id - 1][1], suffix, before)
                    answers.append(after)
    assert any(answers) and not all(answers)
    carol = Actor(users["carol"], "carol")
    assert not await core.inventory.allowed(carol, ids[2], "view"), "the ACL deny holds"
    assert await core.inventory.allowed(carol, ids[1], "view"), "the role permission holds"
    erin = Actor(users["erin"], "erin")
    assert await core.inventory.allowed(erin, ids[1], "view"), "the tag grant holds"


# -- dry run, corrupt files, conflicts -------------------------------------------------------------


async def test_dry_run_writes_nothing_and_counts_what_a_run_does(core: Core, tmp_path: Path) -> None:
    db, js = tmp_path / "cloudlab.db", tmp_path / "database.json"
    build_sqlite(db)
    build_json(js)
    before = dump(core)
    dry = await run(core, db_path=db, json_path=js, dry_run=True)
    assert dry.dry_run and dry.changed
    assert dump(core) == before
    assert not core.vault.path.exists()
    real = await run(core, db_path=db, json_path=js)
    assert real.rows() == dry.rows()


async def test_corrupt_sources_fail_naming_file_and_record_and_change_nothing(core: Core, tmp_path: Path) -> None:
    db = tmp_path / "cloudlab.db"
    build_sqlite(db)
    before = dump(core)
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE jobs SET output = '[\"half a line' WHERE id = 'c0000002'")
    with pytest.raises(ImportFailed) as err:
        await run(core, db_path=db)
    assert "cloudlab.db" in str(err.value) and "jobs record id=c0000002" in str(err.value)

    # Passes reading, fails while applying (a BLOB where CloudLab kept text): everything
    # written before it in the transaction is rolled back.
    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE jobs SET output = '[]' WHERE id = 'c0000002'")
        conn.execute("UPDATE config_versions SET content = CAST(content AS BLOB) WHERE version_number = 2")
    with pytest.raises(ImportFailed) as err:
        await run(core, db_path=db)
    assert "cloudlab.db" in str(err.value) and "config_versions record web/config.yaml/2" in str(err.value)
    assert dump(core) == before
    assert not core.vault.path.exists()

    broken = tmp_path / "database.json"
    broken.write_text('{"users": {"alice": {"password_hash": "$2b$04$x"}},\n "jobs": [}')
    with pytest.raises(ImportFailed, match=r"database.json: not valid JSON at line 2"):
        await run(core, json_path=broken)
    broken.write_text(json.dumps({"jobs": {"j1": {"output": "not a list", "started_at": "yesterday"}}}))
    with pytest.raises(ImportFailed, match=r"database.json: jobs record 'j1'"):
        await run(core, json_path=broken)
    assert dump(core) == before


async def test_a_username_taken_by_another_account_is_skipped_unless_overwrite(
    core: Core, admin: Actor, tmp_path: Path
) -> None:
    await core.users.create(admin, "alice", "labtui-own-pw", roles=["viewer"])
    built = build_json(tmp_path / "database.json")
    report = await run(core, json_path=built.path)
    assert report.as_json()["tables"]["users"] == {"created": 1, "updated": 0, "skipped": 1}
    assert any("'alice' exists in labtui as a different account" in w for w in report.warnings)
    await core.auth.login("alice", "labtui-own-pw")
    with pytest.raises(AuthError):
        await core.auth.login("alice", built.passwords["alice"])

    report = await run(core, json_path=built.path, overwrite=True)
    assert report.as_json()["tables"]["users"]["updated"] == 1
    await core.auth.login("alice", built.passwords["alice"])


async def test_only_a_super_admin_may_import(core: Core, admin: Actor, tmp_path: Path) -> None:
    from labtui.core.errors import PermissionDenied
    from tests.conftest import add_user

    viewer = await add_user(core, admin, "vera", "viewer")
    built = build_json(tmp_path / "database.json")
    with pytest.raises(PermissionDenied):
        await import_cloudlab(core, viewer, ImportRequest(json_path=built.path))
    report = await import_cloudlab(core, admin, ImportRequest(json_path=built.path))
    assert report.as_json()["tables"]["users"]["created"] == 2
    assert (await core.audit.page(CLI, AuditFilter(action="import.cloudlab")))[0].username == "admin"


# -- startup and the CLI -------------------------------------------------------------------------


async def test_startup_imports_the_data_dir_once_into_an_empty_database(make_core: MakeCore, tmp_path: Path) -> None:
    data = tmp_path / "cloudlab-data"
    data.mkdir()
    build_sqlite(data / "cloudlab.db")
    built = build_json(data / "database.json")
    config = Config(cloudlab=CloudlabConfig(data_dir=str(data)))
    core = await make_core(config)
    assert not core.startup_report
    assert len(await core.users.list(CLI)) == 8
    await core.auth.login("carol", "carol-pass-123")
    await core.auth.login("bob", built.passwords["bob"])
    again = await make_core(config)
    imports = await again.audit.page(CLI, AuditFilter(action="import.cloudlab"))
    assert len(imports) == 1 and imports[0].username == "startup"


async def test_startup_reports_a_failed_import_and_goes_on(make_core: MakeCore, tmp_path: Path) -> None:
    data = tmp_path / "cloudlab-data"
    data.mkdir()
    (data / "cloudlab.db").write_bytes(b"this is not a database" * 100)
    core = await make_core(Config(cloudlab=CloudlabConfig(data_dir=str(data))))
    assert any("CloudLab import failed" in p and "cloudlab.db" in p for p in core.startup_report)
    assert await core.auth.setup_needed()


def test_cli_imports_prints_counts_and_fails_cleanly(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from labtui.cli import main

    home = tmp_path / "home"
    db = tmp_path / "cloudlab.db"
    build_sqlite(db)
    built = build_json(tmp_path / "database.json")

    assert main(["--home", str(home), "import-cloudlab", "--db", str(db), "--json", str(built.path), "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "Dry run: nothing was written" in out and "TABLE" in out and "CREATED" in out
    assert "vault-from" not in out and "$2b$" not in out, "no secret is printed"

    assert main(["--home", str(home), "import-cloudlab", "--db", str(db), "--json", str(built.path)]) == 0
    out = capsys.readouterr().out
    users_row = next(line for line in out.splitlines() if line.startswith("users "))
    assert users_row.split() == ["users", "8", "0", "0"]
    assert next(line for line in out.splitlines() if line.startswith("tokens ")).split() == ["tokens", "2", "0", "2"]
    assert "i" * 64 not in out and "p" * 64 not in out, "no token is printed"

    assert main(["--home", str(home), "import-cloudlab", "--db", str(db), "--as", "admin"]) == 0
    out = capsys.readouterr().out
    assert next(line for line in out.splitlines() if line.startswith("jobs ")).split() == ["jobs", "0", "0", "6"]

    with sqlite3.connect(db) as conn:
        conn.execute("UPDATE inventory_objects SET data = '{broken' WHERE id = 4")
    assert main(["--home", str(home), "import-cloudlab", "--db", str(db)]) == 1
    err = capsys.readouterr().err
    assert "cloudlab.db" in err and "inventory_objects record id=4" in err and "Traceback" not in err
    assert main(["--home", str(home), "import-cloudlab"]) == 2


async def test_a_bcrypt_hash_accepts_long_passwords_as_passlib_did(core: Core, tmp_path: Path) -> None:
    long = "x" * 80
    built = build_json(tmp_path / "database.json", passwords={"longpw": long[:72]}, jobs=0)
    await run(core, json_path=built.path)
    await core.auth.login("longpw", long)  # passlib hashed only the first 72 bytes
    with pytest.raises(AuthError):
        await core.auth.login("longpw", "y" * 80)
