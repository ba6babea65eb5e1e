"""Inventory actions as jobs: real ansible-playbook and bash runs from the demo lab's types,
the inventory access order with the action's name as the suffix, refusals audited."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import select

from labtui.core.actor import Actor
from labtui.core.db.jobs import Job
from labtui.core.db.models import AuditRecord
from labtui.core.errors import NotFound, PermissionDenied, ValidationError
from labtui.core.inventory.actions import playbook_path, render_vars
from labtui.core.jobs.worker import JobWorker
from labtui.core.runtime import Core
from tests.conftest import add_user, job_lines

# A value a shell would expand: it must reach the playbook verbatim.
TRICKY = 'lab net "q" $(id) ;x'


async def output(core: Core, actor: Actor, job_id: str) -> str:
    return "\n".join(await job_lines(core, actor, job_id))


async def audit_rows(core: Core, action: str) -> list[AuditRecord]:
    return await core.db.run(lambda s: list(s.scalars(select(AuditRecord).where(AuditRecord.action == action))))


async def service_object(core: Core, admin: Actor, name: str) -> int:
    """The ``service`` object of a demo service (made by the sync at startup, else here)."""
    page = await core.inventory.list(admin, type="service", search=name)
    found = [o for o in page.items if o.data.get("name") == name]
    if found:
        return found[0].id
    return (await core.inventory.create(admin, "service", {"name": name})).id


async def test_playbook_action_runs_with_templated_vars(core: Core, admin: Actor, worker: JobWorker) -> None:
    net = await core.inventory.create(admin, "network", {"name": TRICKY, "cidr": "10.9.0.0/24"})
    offered = await core.inventory_actions.actions_for(admin, "network", net.id)
    assert [(a.name, a.type, a.scope) for a in offered] == [("describe", "playbook", "object")]
    assert await core.inventory_actions.actions_for(admin, "network", None) == []  # no type-scope actions

    job = await core.inventory_actions.run(admin, "network", "describe", object_id=net.id)
    assert (job.action, job.script, job.type_slug, job.object_id, job.service) == (
        "inventory",
        "describe",
        "network",
        net.id,
        TRICKY,
    )
    assert [j.id for j in await core.jobs.list(admin, object_id=net.id)] == [job.id]  # the object's jobs
    done = await core.jobs.wait(admin, job.id, timeout=60)
    text = await output(core, admin, job.id)
    assert done.status == "completed", text
    assert text.splitlines()[0] == f"--- Running Describe on {TRICKY} ---"
    assert "$ ansible-playbook" in text and "describe-network.yaml" in text
    # Passed as data, never through a shell (the debug output is JSON: quotes escaped).
    assert 'Network lab net \\"q\\" $(id) ;x is 10.9.0.0/24' in text, text
    [record] = await audit_rows(core, "inventory.action.describe")
    assert record.target == f"inventory/network/{net.id}" and json.loads(record.detail)["job_id"] == job.id


async def test_script_and_dynamic_script_actions_run_the_service(core: Core, admin: Actor, worker: JobWorker) -> None:
    greet = await service_object(core, admin, "greet")
    names = {a.name for a in await core.inventory_actions.actions_for(admin, "service", greet)}
    assert names == {"deploy", "run_script", "stop"}

    deploy = await core.inventory_actions.run(admin, "service", "deploy", object_id=greet)
    run = await core.inventory_actions.run(
        admin, "service", "run_script", object_id=greet, script="greet", inputs={"name": "Ada", "tags": ["a", "b"]}
    )
    assert run.inputs == {"name": "Ada", "mood": "calm", "tags": ["a", "b"]}  # validated, defaults filled
    for job, expected in ((deploy, "greet deployed on"), (run, "Hello, Ada!")):
        done = await core.jobs.wait(admin, job.id, timeout=30)
        text = await output(core, admin, job.id)
        assert done.status == "completed", text
        assert expected in text
    assert "Tag count: 2" in await output(core, admin, run.id)
    assert (await output(core, admin, deploy.id)).splitlines()[0].endswith("services/greet/deploy.sh")

    # A dynamic script's inputs are checked before a job exists.
    with pytest.raises(ValidationError, match="Missing required input: name"):
        await core.inventory_actions.run(admin, "service", "run_script", object_id=greet, script="greet")


async def test_viewer_without_the_action_permission_is_refused_and_audited(core: Core, admin: Actor) -> None:
    net = await core.inventory.create(admin, "network", {"name": "lan", "cidr": "10.0.0.0/24"})
    viewer = await add_user(core, admin, "watcher", "viewer")
    assert await core.inventory_actions.actions_for(viewer, "network", net.id) == []
    with pytest.raises(PermissionDenied, match="inventory.network.describe"):
        await core.inventory_actions.run(viewer, "network", "describe", object_id=net.id)
    denied = await audit_rows(core, "permission.denied")
    assert any(r.username == "watcher" and r.target == f"inventory/network/{net.id}" for r in denied)
    assert not await core.db.run(lambda s: list(s.scalars(select(Job.id))))  # no job queued

    # An ACL allow on the object lets that role run it there (and only there).
    other = await core.inventory.create(admin, "network", {"name": "wan", "cidr": "10.1.0.0/24"})
    await core.inventory.acl.set_entry(admin, net.id, "viewer", "describe", "allow")
    assert [a.name for a in await core.inventory_actions.actions_for(viewer, "network", net.id)] == ["describe"]
    assert (await core.inventory_actions.run(viewer, "network", "describe", object_id=net.id)).username == "watcher"
    with pytest.raises(PermissionDenied):
        await core.inventory_actions.run(viewer, "network", "describe", object_id=other.id)


async def test_deny_acl_on_the_object_refuses(core: Core, admin: Actor) -> None:
    await core.rbac.create_role(admin, "netops", permissions={"inventory.network.view", "inventory.network.describe"})
    ops = await add_user(core, admin, "nora", "netops")
    lan = await core.inventory.create(admin, "network", {"name": "lan", "cidr": "10.0.0.0/24"})
    wan = await core.inventory.create(admin, "network", {"name": "wan", "cidr": "10.1.0.0/24"})
    await core.inventory.acl.set_entry(admin, lan.id, "netops", "describe", "deny")

    assert await core.inventory_actions.actions_for(ops, "network", lan.id) == []
    with pytest.raises(PermissionDenied):
        await core.inventory_actions.run(ops, "network", "describe", object_id=lan.id)
    assert any(
        r.username == "nora" and r.target == f"inventory/network/{lan.id}"
        for r in await audit_rows(core, "permission.denied")
    )
    job = await core.inventory_actions.run(ops, "network", "describe", object_id=wan.id)  # the role permission
    assert job.username == "nora"


async def test_bad_requests_are_refused_before_a_job_exists(core: Core, admin: Actor) -> None:
    net = await core.inventory.create(admin, "network", {"name": "lan", "cidr": "10.0.0.0/24"})
    with pytest.raises(NotFound, match="no action 'reboot'"):
        await core.inventory_actions.run(admin, "network", "reboot", object_id=net.id)
    with pytest.raises(ValidationError, match="runs on one object"):
        await core.inventory_actions.run(admin, "network", "describe")
    with pytest.raises(ValidationError, match="opens a terminal"):
        await core.inventory_actions.run(admin, "server", "ssh", object_id=net.id)
    greet = await service_object(core, admin, "greet")
    with pytest.raises(NotFound):
        await core.inventory_actions.run(admin, "network", "describe", object_id=greet)  # not a network
    assert not await core.db.run(lambda s: list(s.scalars(select(Job.id))))


def test_render_vars_and_playbook_paths(tmp_path: Path) -> None:
    data = {"name": "web 1", "vlan": 12, "tags": ["a"]}
    assert render_vars(
        {"n": "{{ name }}", "v": "{{vlan}}", "t": "{{ tags }}", "mix": "vm-{{ name }}-{{ vlan }}"}, data, where="x"
    ) == {
        "n": "web 1",
        "v": 12,
        "t": ["a"],
        "mix": "vm-web 1-12",
    }
    with pytest.raises(ValidationError, match="needs the field 'cidr'"):
        render_vars({"c": "{{ cidr }}"}, data, where="x")
    (tmp_path / "init_playbook").mkdir()
    (tmp_path / "init_playbook" / "x.yaml").write_text("[]\n")
    assert playbook_path(tmp_path, "/init_playbook/x.yaml") == (tmp_path / "init_playbook" / "x.yaml").resolve()
    assert playbook_path(tmp_path, "init_playbook/x.yaml").name == "x.yaml"
    for bad in ("/etc/passwd", "../x.yaml", "init_playbook/missing.yaml"):
        with pytest.raises(ValidationError):
            playbook_path(tmp_path, bad)
