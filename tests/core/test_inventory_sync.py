"""Sync adapters of the local sources: services, users, deployments and service credentials.

Each is idempotent (a second run changes nothing), keeps hand edits of fields it does not
own, marks objects that vanished upstream stale (and unmarks them when they return), and
writes one audit record per run with its counts. The credential and deployment syncs are
shown after a real ``hello`` deploy run by the job workers (real ansible-runner).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from sqlalchemy import select

from labtui.core.actor import Actor
from labtui.core.db.inventory import InventoryObject
from labtui.core.db.models import AuditRecord
from labtui.core.errors import PermissionDenied, ValidationError
from labtui.core.inventory.objects import ObjectInfo
from labtui.core.runtime import Core
from labtui.core.sync import adapters as registry
from labtui.core.workers import start_workers
from tests.conftest import add_user

DEMO_SERVICES = ["broken", "greet", "hello", "noisy", "slow"]


async def objects(core: Core, actor: Actor, type_: str) -> dict[str, ObjectInfo]:
    page = await core.inventory.list(actor, type=type_, limit=1000)
    return {o.title: o for o in page.items}


async def rows(core: Core) -> list[tuple[int, str, str, bool, str]]:
    """Every object row as stored, to prove a run changed nothing."""
    return await core.db.run(
        lambda s: [
            (o.id, o.data, o.secrets, o.stale, o.updated_at.isoformat())
            for o in s.scalars(select(InventoryObject).order_by(InventoryObject.id))
        ]
    )


async def sync_audits(core: Core) -> list[tuple[str, str, dict[str, Any]]]:
    return await core.db.run(
        lambda s: [
            (r.username, r.target, json.loads(r.detail))
            for r in s.scalars(
                select(AuditRecord).where(AuditRecord.action == "inventory.sync").order_by(AuditRecord.id)
            )
        ]
    )


def add_service(core: Core, name: str) -> None:
    path = core.lab_dir / "services" / name
    path.mkdir(parents=True, exist_ok=True)
    (path / "deploy.sh").write_text("echo deployed\n")


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 20) -> None:
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not await check():
        assert loop.time() < end, "timed out"
        await asyncio.sleep(0.1)


async def test_startup_syncs_services_and_a_second_run_changes_nothing(core: Core, admin: Actor) -> None:
    services = await objects(core, admin, "service")
    assert sorted(services) == DEMO_SERVICES
    hello = services["hello"]
    assert hello.data == {"name": "hello", "service_dir": "services/hello", "status": "available"}
    assert (hello.source, hello.created_by, hello.stale) == ("service_discovery", "sync:service_discovery", False)
    before = await rows(core)
    # Startup of another process and an on-demand run: nothing changes.
    await registry.get("service_discovery")(core, core.inventory_types["service"])  # type: ignore[misc]
    result = await core.inventory.sync(admin, "service_discovery")
    assert result == [
        ("service_discovery", "service", {"added": 0, "updated": 0, "unchanged": 5, "stale": 0, "revived": 0})
    ]
    assert await rows(core) == before
    # Startup's first run added the services; automatic runs that changed nothing leave no
    # audit record; the requested one does.
    assert await sync_audits(core) == [
        (
            "sync",
            "inventory/service",
            {"source": "service_discovery", "added": 5, "updated": 0, "unchanged": 0, "stale": 0, "revived": 0},
        ),
        (
            "admin",
            "inventory/service",
            {"source": "service_discovery", "added": 0, "updated": 0, "unchanged": 5, "stale": 0, "revived": 0},
        ),
    ]


async def test_hand_edits_of_fields_the_adapter_does_not_own_survive(core: Core, admin: Actor) -> None:
    hello = (await objects(core, admin, "service"))["hello"]
    await core.inventory.tags.create(admin, "team-a")
    await core.inventory.tags.tag(admin, hello.id, ["team-a"])
    await core.inventory.update(admin, hello.id, {"status": "deployed"})
    result = await core.inventory.sync(admin, "service_discovery")
    assert result[0][2]["unchanged"] == 5
    after = await core.inventory.get(admin, hello.id)
    assert after.data["status"] == "deployed" and [t.name for t in after.tags] == ["team-a"]
    # A field the adapter owns follows the source again (user_sync owns the account's email).
    await core.users.update_profile(admin, display_name="The Admin", email="admin@lab.example")
    await core.inventory.sync(admin, "user_sync")
    user = (await objects(core, admin, "user"))["admin"]
    assert (user.data["display_name"], user.data["email"]) == ("The Admin", "admin@lab.example")


async def test_vanished_objects_are_marked_stale_and_revived(core: Core, admin: Actor) -> None:
    add_service(core, "extra")
    assert (await core.inventory.sync(admin, "service_discovery"))[0][2]["added"] == 1
    extra = (await objects(core, admin, "service"))["extra"]
    await core.inventory.acl.set_entry(admin, extra.id, "viewer", "view", "deny")
    (core.lab_dir / "services" / "extra" / "deploy.sh").unlink()  # no longer a service
    assert (await core.inventory.sync(admin, "service_discovery"))[0][2] == {
        "added": 0,
        "updated": 0,
        "unchanged": 5,
        "stale": 1,
        "revived": 0,
    }
    kept = await core.inventory.get(admin, extra.id)
    assert kept.stale and kept.data["name"] == "extra"
    assert [e.effect for e in await core.inventory.acl.entries(admin, extra.id)] == ["deny"]  # nothing lost
    assert (await core.inventory.sync(admin, "service_discovery"))[0][2]["stale"] == 0  # reported once
    add_service(core, "extra")
    assert (await core.inventory.sync(admin, "service_discovery"))[0][2]["revived"] == 1
    assert not (await core.inventory.get(admin, extra.id)).stale
    details = [d for who, _, d in await sync_audits(core) if who == "admin"]
    assert [d["stale"] for d in details] == [0, 1, 0, 0] and [d["added"] for d in details] == [1, 0, 0, 0]


async def test_a_hand_made_object_is_adopted_not_duplicated(core: Core, admin: Actor) -> None:
    mine = await core.inventory.create(admin, "service", {"name": "newsvc", "status": "stopped"})
    add_service(core, "newsvc")
    assert (await core.inventory.sync(admin, "service_discovery"))[0][2]["updated"] == 1
    adopted = await core.inventory.get(admin, mine.id)
    assert adopted.source == "service_discovery"
    assert adopted.data == {"name": "newsvc", "status": "stopped", "service_dir": "services/newsvc"}
    assert len([o for o in (await objects(core, admin, "service")).values() if o.title == "newsvc"]) == 1


async def test_user_sync_mirrors_accounts(core: Core, admin: Actor) -> None:
    await add_user(core, admin, "vera", "viewer")
    counts = dict((await core.inventory.sync(admin, "user_sync"))[0][2])
    assert counts["added"] == 2  # admin and vera: both made after startup
    vera = (await objects(core, admin, "user"))["vera"]
    assert vera.data["role"] == "viewer" and vera.data["status"] == "active" and vera.data["last_login_at"]
    await core.users.set_active(admin, await _user_id(core, "vera"), False)
    assert (await core.inventory.sync(admin, "user_sync"))[0][2]["updated"] == 1
    assert (await core.inventory.get(admin, vera.id)).data["status"] == "inactive"


async def _user_id(core: Core, name: str) -> int:
    from labtui.core.db.models import User

    return await core.db.run(lambda s: s.scalar(select(User.id).where(User.username == name)))


async def test_on_demand_sync_checks_permission_and_source(core: Core, admin: Actor) -> None:
    viewer = await add_user(core, admin, "vera", "viewer")
    with pytest.raises(PermissionDenied, match="inventory.service.edit"):
        await core.inventory.sync(viewer, "service_discovery")
    # No instance cache yet: the Vultr adapter runs and changes nothing (never marks all stale).
    assert await core.inventory.sync(admin, "vultr_inventory") == [
        ("vultr_inventory", "server", {"added": 0, "updated": 0, "unchanged": 0, "stale": 0, "revived": 0})
    ]
    with pytest.raises(ValidationError, match="Unknown sync source 'nope'"):
        await core.inventory.sync(admin, "nope")
    ran = [(source, slug) for source, slug, _ in await core.inventory.sync(admin)]
    assert ran == [
        ("deployment_sync", "deployment"),
        ("service_discovery", "service"),
        ("user_sync", "user"),
        ("vultr_inventory", "server"),
        ("service_outputs", "credential"),
    ]


async def test_hello_deploy_syncs_its_credential_and_deployment(core: Core, admin: Actor) -> None:
    workers = await start_workers(core)
    try:
        job = await core.jobs.run_script(admin, "hello")
        done = await core.jobs.wait(admin, job.id, timeout=90)
        assert done.status == "completed" and done.deployment_id

        async def synced() -> bool:
            return bool(await objects(core, admin, "credential")) and bool(await objects(core, admin, "deployment"))

        await eventually(synced)
    finally:
        await workers.stop()
    creds = await objects(core, admin, "credential")
    assert list(creds) == ["hello — Admin Password"]
    cred = creds["hello — Admin Password"]
    assert cred.data == {
        "name": "hello — Admin Password",
        "kind": "password",
        "username": "admin",
        "description": "Auto-synced from hello deployment",
    }
    assert cred.secrets == {"secret": True} and [(t.name, t.colour) for t in cred.tags] == [("svc:hello", "#e8984a")]
    outputs = (core.lab_dir / "services" / "hello" / "outputs" / "service_outputs.yaml").read_text()
    value = await core.inventory.reveal(admin, cred.id, "secret")
    assert value and value in outputs
    deployment = (await objects(core, admin, "deployment"))["hello"]
    assert deployment.data["deployment_id"] == done.deployment_id and deployment.data["job_id"] == job.id
    assert deployment.data["status"] == "completed" and deployment.data["deployed_by"] == "admin"
    # The secret is nowhere in the audit log; the sync records name their counts.
    audits = await sync_audits(core)
    assert any(d["source"] == "service_outputs" and d["added"] == 1 and d["scope"] == "hello" for _, _, d in audits)
    everything = await core.db.run(lambda s: " ".join(r.detail for r in s.scalars(select(AuditRecord))))
    assert value not in everything
    # A second run of either changes nothing.
    await core.inventory.sync(admin, "user_sync")  # the admin was made after startup
    before = await rows(core)
    result = {src: c for src, _, c in await core.inventory.sync(admin)}
    assert result["service_outputs"]["unchanged"] == 1 and result["deployment_sync"]["unchanged"] == 1
    assert await rows(core) == before
    # Stopping hello removes its outputs: the credential is kept, flagged stale.
    workers = await start_workers(core)
    try:
        stop = await core.jobs.stop(admin, "hello")
        assert (await core.jobs.wait(admin, stop.id, timeout=90)).status == "completed"

        async def stale() -> bool:
            return (await core.inventory.get(admin, cred.id)).stale

        await eventually(stale)
    finally:
        await workers.stop()
