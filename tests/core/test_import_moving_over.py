"""Moving a CloudLab lab and its people over: a re-import after labtui ran changes nothing
(synced objects and labtui's own edits keep labtui's data), CloudLab's latest config versions
end up in the checkout, and the invite and reset tokens people already have in their mail
still redeem (docs/cloudlab.md, "Importing CloudLab's data")."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from labtui.core.actor import Actor
from labtui.core.audit import AuditFilter
from labtui.core.config import Config, LabConfig
from labtui.core.db.base import utcnow
from labtui.core.db.engine import get_metadata, set_metadata
from labtui.core.db.health import HealthCheckResult
from labtui.core.db.inventory import InventoryObject
from labtui.core.db.models import InventoryType, Role, User, UserToken
from labtui.core.errors import AuthError
from labtui.core.health import LEASE_NAME
from labtui.core.importer import ImportReport, ImportRequest, import_cloudlab
from labtui.core.leases import Lease
from labtui.core.runtime import Core
from labtui.core.sync import run_sync_adapters
from tests.cloudlab_fixtures import (
    CONFIG_VERSIONS,
    EXPIRED_INVITE,
    PENDING_INVITE,
    PENDING_RESET,
    USED_RESET,
    build_sqlite,
)
from tests.conftest import MakeCore, demo_lab_copy

CLI = Actor.system("cli")


async def run(core: Core, db: Path, **kwargs: Any) -> ImportReport:
    return await import_cloudlab(core, CLI, ImportRequest(db_path=db, **kwargs))


def changes(report: ImportReport) -> dict[str, dict[str, int]]:
    """The tables the report says were created or updated in."""
    return {t: c for t, c in report.as_json()["tables"].items() if c["created"] or c["updated"]}


async def lab_core(make_core: MakeCore, tmp_path: Path, config_yaml: str = CONFIG_VERSIONS[0]) -> Core:
    """A core on a copy of the demo lab with CloudLab's service ``web`` as the lab's git has
    it: its config.yaml is CloudLab's version 1."""
    lab = tmp_path / "lab"
    demo_lab_copy(lab, "web", {"deploy.sh": "#!/bin/bash\necho deployed\n", "config.yaml": config_yaml})
    return await make_core(Config(lab=LabConfig(checkout=str(lab))))


async def objects_of(core: Core, slug: str) -> dict[str, dict[str, Any]]:
    def q(s: Any) -> dict[str, dict[str, Any]]:
        type_id = s.scalar(select(InventoryType.id).where(InventoryType.slug == slug))
        rows = s.scalars(select(InventoryObject).where(InventoryObject.type_id == type_id))
        return {str(o.source_key or o.id): {"data": json.loads(o.data), "source": o.source} for o in rows}

    return await core.db.run(q)


# -- re-importing --------------------------------------------------------------------------------


async def test_a_second_import_after_labtui_ran_changes_nothing(make_core: MakeCore, tmp_path: Path) -> None:
    core = await lab_core(make_core, tmp_path)
    db = tmp_path / "cloudlab.db"
    build_sqlite(db, synced=True)
    first = await run(core, db)
    # labtui's startup sync made the lab's services already: CloudLab's hello and greet match them.
    assert first.as_json()["tables"]["inventory_objects"] == {"created": 10, "updated": 0, "skipped": 2}

    # labtui runs: its sync adapters adopt CloudLab's synced objects and write labtui's data.
    await run_sync_adapters(core)
    services, users = await objects_of(core, "service"), await objects_of(core, "user")
    assert services["hello"] == {
        "data": {"name": "hello", "service_dir": "services/hello", "status": "available"},
        "source": "service_discovery",
    }, "labtui's synced object, not CloudLab's copy (service_dir /services/hello)"
    assert users["carol"]["data"]["email"] == "carol@example.com" and users["carol"]["source"] == "user_sync"
    deployments = await objects_of(core, "deployment")
    assert deployments["c0000000"]["data"]["hostname"] == "web1", (
        "the adapter's host (tagged web), not CloudLab's 'gone'"
    )

    # ... and people use it: an imported server is edited, an imported account deactivated.
    admin = Actor(await core.db.run(lambda s: s.scalar(select(User.id).where(User.username == "admin"))), "admin")
    server = await core.db.run(
        lambda s: next(o.id for o in s.scalars(select(InventoryObject)) if json.loads(o.data).get("hostname") == "web2")
    )
    await core.inventory.update(admin, server, {"region": "per"})
    erin = await core.db.run(lambda s: s.scalar(select(User.id).where(User.username == "erin")))
    await core.users.set_active(admin, erin, False)
    ops = await core.db.run(lambda s: s.scalar(select(Role.id).where(Role.name == "ops")))
    await core.rbac.update_role(admin, ops, permissions={"jobs.view_all", "services.view"})
    await core.schedules.set_enabled(admin, "nightly web deploy", False)
    refreshed = {"all": {"hosts": {"web9": {"ansible_host": "192.0.2.99"}}}}
    await core.db.run(lambda s: set_metadata(s, "instances_cache", refreshed))  # labtui's own refresh
    await core.inventory.tags.delete(admin, "staging")
    grant = next(g for g in await core.inventory.acl.grants(admin) if g.tag == "prod")
    await core.inventory.acl.revoke(admin, grant.id)
    lease = Lease(core.db, LEASE_NAME, seconds=30, holder="p1", clock=utcnow)
    assert await core.health.poller(lease, retention_days=1).retention() == 8, "CloudLab's results are old"
    before = {slug: await objects_of(core, slug) for slug in ("service", "user", "deployment", "server")}
    with sqlite3.connect(db) as conn:  # CloudLab still ran a while: a login and a firing are no edits
        conn.execute("UPDATE users SET last_login_at = '2024-06-01 08:00:00.000000' WHERE username = 'erin'")
        conn.execute(
            "UPDATE scheduled_jobs SET last_run_at = '2024-06-01 03:00:00.000000', last_status = 'failed' WHERE id = 1"
        )

    again = await run(core, db)
    assert changes(again) == {}, again.rows()
    after = {slug: await objects_of(core, slug) for slug in ("service", "user", "deployment", "server")}
    assert after == before, "synced objects keep labtui's data, labtui's edit stands"
    assert not await core.db.run(lambda s: s.get(User, erin).is_active), "the deactivation stands"
    assert "per" in json.dumps(after["server"])
    assert await core.db.run(lambda s: sorted(p.codename for p in s.get(Role, ops).permissions)) == [
        "jobs.view_all",
        "services.view",
    ]
    assert not (await core.schedules.get(admin, "nightly web deploy")).enabled
    assert await core.db.run(lambda s: get_metadata(s, "instances_cache")) == refreshed
    assert "staging" not in [t.name for t in await core.inventory.tags.list(admin)]
    assert [g.tag for g in await core.inventory.acl.grants(admin)] == [], "the revoked grant stays revoked"
    assert await core.db.run(lambda s: s.scalar(select(func.count(HealthCheckResult.id)))) == 0, (
        "retention's deletes stand"
    )


async def test_what_cloudlab_changed_since_the_last_import_still_comes_over(
    make_core: MakeCore, tmp_path: Path
) -> None:
    core = await lab_core(make_core, tmp_path)
    db = tmp_path / "cloudlab.db"
    build_sqlite(db, synced=True)
    await run(core, db)
    await run_sync_adapters(core)
    with sqlite3.connect(db) as conn:  # CloudLab kept running after the first import
        conn.execute("UPDATE users SET display_name = 'Erin E.' WHERE username = 'erin'")
        conn.execute("UPDATE inventory_objects SET data = json_set(data, '$.region', 'bne') WHERE id = 3")
        conn.execute("UPDATE inventory_objects SET data = json_set(data, '$.service_dir', '/elsewhere') WHERE id = 8")
    again = await run(core, db)
    assert changes(again) == {
        "users": {"created": 0, "updated": 1, "skipped": 5},
        "inventory_objects": {"created": 0, "updated": 1, "skipped": 11},
    }
    assert (await objects_of(core, "service"))["hello"]["data"]["service_dir"] == "services/hello", (
        "a synced object is labtui's adapter's, whatever CloudLab's copy says"
    )
    assert changes(await run(core, db)) == {}


# -- config versions -----------------------------------------------------------------------------


async def test_the_checkout_gets_cloudlabs_latest_config_version(make_core: MakeCore, tmp_path: Path) -> None:
    core = await lab_core(make_core, tmp_path)
    db = tmp_path / "cloudlab.db"
    build_sqlite(db)
    path = core.lab_dir / "services" / "web" / "config.yaml"
    admin = CLI

    dry = await run(core, db, dry_run=True)
    assert dry.as_json()["tables"]["config_files"]["updated"] == 1
    assert path.read_text() == CONFIG_VERSIONS[0], "a dry run writes nothing"

    report = await run(core, db)
    assert report.as_json()["tables"]["config_files"] == {"created": 0, "updated": 1, "skipped": 0}
    assert path.read_text() == CONFIG_VERSIONS[-1]
    assert path.with_name("config.yaml.backup").read_text() == CONFIG_VERSIONS[0]
    shown = await core.configs.read(admin, "web", "config.yaml")
    assert shown.version == 3, "labtui sees the file as its latest version, not as changed on disk"
    assert [v.number for v in await core.configs.versions(admin, "web", "config.yaml")] == [3, 2, 1]
    audit = await core.audit.page(CLI, AuditFilter(action="service.config.import"))
    assert [(a.target, a.detail["version"]) for a in audit] == [("services/web/config.yaml", 3)]

    again = await run(core, db)
    assert changes(again) == {} and again.as_json()["tables"]["config_files"]["skipped"] == 1


async def test_a_config_changed_in_the_checkout_is_kept_and_flagged(make_core: MakeCore, tmp_path: Path) -> None:
    core = await lab_core(make_core, tmp_path, config_yaml="replicas: 9\n")
    db = tmp_path / "cloudlab.db"
    build_sqlite(db)
    path = core.lab_dir / "services" / "web" / "config.yaml"

    report = await run(core, db)
    assert path.read_text() == "replicas: 9\n", "a file that is none of CloudLab's versions is not overwritten"
    assert report.as_json()["tables"]["config_files"] == {"created": 0, "updated": 0, "skipped": 1}
    assert any(
        "services/web/config.yaml in the checkout differs from every CloudLab version" in w
        and "labtui configs restore web config.yaml 3" in w
        for w in report.warnings
    ), report.warnings
    assert (await core.configs.read(CLI, "web", "config.yaml")).version is None, "shown as changed outside labtui"


# -- invite and reset tokens ---------------------------------------------------------------------


async def test_a_pending_cloudlab_invite_redeems_in_labtui_and_an_expired_one_does_not(
    make_core: MakeCore, tmp_path: Path
) -> None:
    core = await lab_core(make_core, tmp_path)
    db = tmp_path / "cloudlab.db"
    build_sqlite(db)
    await run(core, db)

    stored = await core.db.run(lambda s: [(t.kind, t.token_hash) for t in s.scalars(select(UserToken))])
    assert sorted(k for k, _ in stored) == ["invite", "reset"]
    assert all(h not in (PENDING_INVITE, PENDING_RESET) for _, h in stored), "stored hashed, never as CloudLab did"

    with pytest.raises(AuthError):
        await core.auth.redeem_invite(EXPIRED_INVITE, "frank-pass-1234")
    result = await core.auth.redeem_invite(PENDING_INVITE, "frank-pass-1234", origin="192.0.2.7")
    assert result.actor.username == "frank"
    assert await core.rbac.has(result.actor, "services.deploy"), "with CloudLab's role"
    assert (await core.auth.login("frank", "frank-pass-1234")).actor.username == "frank"
    with pytest.raises(AuthError):
        await core.auth.redeem_invite(PENDING_INVITE, "other-pass-1234")  # single-use

    with pytest.raises(AuthError):
        await core.auth.redeem_reset(USED_RESET, "carol-new-pass-1")
    await core.auth.redeem_reset(PENDING_RESET, "dave-new-pass-1")
    assert (await core.auth.login("dave", "dave-new-pass-1")).actor.username == "dave"

    # Importing again neither brings the redeemed tokens back nor undoes frank's acceptance.
    again = await run(core, db)
    assert changes(again) == {}, again.rows()
    assert (await core.auth.login("frank", "frank-pass-1234")).actor.username == "frank"
    with pytest.raises(AuthError):
        await core.auth.redeem_invite(PENDING_INVITE, "other-pass-1234")


async def test_an_invite_for_an_account_in_use_is_not_imported(make_core: MakeCore, tmp_path: Path) -> None:
    core = await lab_core(make_core, tmp_path)
    db = tmp_path / "cloudlab.db"
    build_sqlite(db)
    with sqlite3.connect(db) as conn:  # frank accepted in CloudLab, yet an unused invite row remained
        conn.execute(
            "UPDATE users SET password_hash = 'x', invite_accepted_at = created_at, is_active = 1 WHERE username = 'frank'"
        )
    report = await run(core, db)
    assert report.as_json()["tables"]["tokens"] == {"created": 1, "updated": 0, "skipped": 3}
    assert any("pending invite token not imported ('frank' has accepted already)" in w for w in report.warnings)
    with pytest.raises(AuthError):
        await core.auth.redeem_invite(PENDING_INVITE, "frank-pass-1234")
