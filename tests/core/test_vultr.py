"""Vultr instances against a fake Vultr API on 127.0.0.1: refresh over cursor pages into
CloudLab's cache shape and the lab's inventory/vultr.yml, server objects in step (a second
run changes nothing, a vanished instance goes stale), errors that leave everything as it was
(401, 429 with Retry-After, 5xx, timeouts), power actions and destroy (the server object goes with
the host, also after the server type's own destroy action), costs, the CLI."""

from __future__ import annotations

import json
import shutil
import socket
from collections.abc import Iterator
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select

from labtui.core.actor import Actor
from labtui.core.config import Config, LabConfig, VultrConfig
from labtui.core.db.engine import get_metadata
from labtui.core.db.inventory import InventoryObject
from labtui.core.db.models import AuditRecord
from labtui.core.errors import NotFound, PermissionDenied, ValidationError
from labtui.core.instances import RefreshFailed
from labtui.core.integrations.vultr import VultrAuthError, VultrClient, VultrRateLimited
from labtui.core.jobs.worker import JobWorker
from labtui.core.runtime import Core
from labtui.core.system_tasks import system_tasks
from labtui.testing.fakes.vultr import DEFAULT_KEY, FakeVultr
from tests.conftest import ADMIN_PASSWORD, MakeCore, add_user
from tests.waiting import until


@pytest.fixture
def fake() -> Iterator[FakeVultr]:
    with FakeVultr(max_per_page=100) as f:  # 250 instances come in 3 pages
        f.add_instances(250)
        yield f


def vultr_config(fake: FakeVultr, key: str = DEFAULT_KEY, timeout: float = 5.0) -> Config:
    return Config(vultr=VultrConfig(base_url=fake.base_url, api_key=key, timeout_seconds=timeout))


@pytest.fixture
async def vcore(make_core: MakeCore, fake: FakeVultr) -> Core:
    core = await make_core(vultr_config(fake))
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    return core


@pytest.fixture
async def admin(vcore: Core) -> Actor:
    return (await vcore.auth.login("admin", ADMIN_PASSWORD)).actor


async def servers(core: Core) -> dict[str, tuple[dict[str, Any], bool]]:
    """Server objects by hostname: (data, stale)."""

    def q(s: Any) -> dict[str, tuple[dict[str, Any], bool]]:
        out = {}
        for o in s.scalars(select(InventoryObject).where(InventoryObject.source == "vultr_inventory")):
            data = json.loads(o.data)
            out[data["hostname"]] = (data, o.stale)
        return out

    return await core.db.run(q)


async def object_rows(core: Core) -> list[tuple[int, str, bool, str]]:
    return await core.db.run(
        lambda s: [
            (o.id, o.data, o.stale, o.updated_at.isoformat())
            for o in s.scalars(select(InventoryObject).order_by(InventoryObject.id))
        ]
    )


async def audits(core: Core, prefix: str) -> list[tuple[str, str, dict[str, Any]]]:
    return await core.db.run(
        lambda s: [
            (r.username, r.action, json.loads(r.detail))
            for r in s.scalars(
                select(AuditRecord).where(AuditRecord.action.startswith(prefix)).order_by(AuditRecord.id)
            )
        ]
    )


async def audit_targets(core: Core, action: str) -> list[tuple[str, str, dict[str, Any]]]:
    return await core.db.run(
        lambda s: [
            (r.username, r.target, json.loads(r.detail))
            for r in s.scalars(select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id))
        ]
    )


async def cached(core: Core) -> tuple[Any, Any]:
    return await core.db.run(lambda s: (get_metadata(s, "instances_cache"), get_metadata(s, "instances_cache_time")))


async def test_refresh_caches_every_page_and_server_objects_follow(vcore: Core, admin: Actor, fake: FakeVultr) -> None:
    result = await vcore.instances.refresh(admin)
    assert result.count == 250 and len(result.added) == 250 and result.changed
    assert len(fake.calls("GET", "/v2/instances")) == 3
    assert fake.last_headers["authorization"] == f"Bearer {DEFAULT_KEY}"
    cache, when = await cached(vcore)
    host = cache["all"]["hosts"]["host-00007"]
    assert host == {
        "ansible_host": "10.0.0.7",
        "vultr_label": "lab-00007",
        "vultr_region": "syd",
        "vultr_plan": "vhf-2c-4gb",
        "vultr_os": "Ubuntu 22.04 LTS x64",
        "vultr_power_status": "running",
        "vultr_id": "00000000-0000-0000-0000-000000000008",
        "vultr_tags": ["svc-0"],
    }
    assert "host-00007" in cache["all"]["children"]["svc_0"]["hosts"]
    assert when == result.cache_time.isoformat()
    # The lab's playbooks read the same inventory from the file.
    on_disk = yaml.safe_load((vcore.lab_dir / "inventory" / "vultr.yml").read_text())
    assert on_disk == cache
    listed = await vcore.instances.list(admin)
    assert len(listed.instances) == 250 and listed.cache_time == result.cache_time
    first = listed.instances[0]
    assert (first.hostname, first.label, first.ip, first.power_status, first.monthly_cost) == (
        "host-00000",
        "lab-00000",
        "10.0.0.0",
        "running",
        5.0,
    )
    objs = await servers(vcore)
    assert len(objs) == 250
    assert objs["host-00007"] == (
        {
            "hostname": "host-00007",
            "ip_address": "10.0.0.7",
            "region": "syd",
            "plan": "vhf-2c-4gb",
            "os": "Ubuntu 22.04 LTS x64",
            "power_status": "running",
            "vultr_id": "00000000-0000-0000-0000-000000000008",
            "vultr_label": "lab-00007",
            "vultr_tags": ["svc-0"],
        },
        False,
    )
    assert result.synced == [("server", {"added": 250, "updated": 0, "unchanged": 0, "stale": 0, "revived": 0})]
    assert (await audits(vcore, "instances."))[-1] == (
        "admin",
        "instances.refresh",
        {"ok": True, "count": 250, "added": 250, "removed": 0},
    )


async def test_second_refresh_changes_nothing_and_hand_edits_survive(
    vcore: Core, admin: Actor, fake: FakeVultr
) -> None:
    await vcore.instances.refresh(admin)
    file = vcore.lab_dir / "inventory" / "vultr.yml"
    mtime = file.stat().st_mtime_ns
    before = await object_rows(vcore)
    again = await vcore.instances.refresh(admin)
    assert not again.changed and again.added == again.removed == []
    assert again.synced == [("server", {"added": 0, "updated": 0, "unchanged": 250, "stale": 0, "revived": 0})]
    assert await object_rows(vcore) == before
    assert file.stat().st_mtime_ns == mtime
    # The adapter on its own (startup, `labtui inventory sync vultr_inventory`) agrees.
    ran = await vcore.inventory.sync(admin, "vultr_inventory")
    assert ran == [
        ("vultr_inventory", "server", {"added": 0, "updated": 0, "unchanged": 250, "stale": 0, "revived": 0})
    ]
    assert await object_rows(vcore) == before


async def test_instance_removed_upstream_is_marked_stale_and_leaves_the_file(
    vcore: Core, admin: Actor, fake: FakeVultr
) -> None:
    await vcore.instances.refresh(admin)
    gone = next(iter(fake.instances))
    fake.remove(gone)
    result = await vcore.instances.refresh(admin)
    assert result.count == 249 and result.removed == ["host-00000"]
    assert result.synced[0][1]["stale"] == 1
    objs = await servers(vcore)
    assert objs["host-00000"][1] is True and objs["host-00001"][1] is False
    assert "host-00000" not in yaml.safe_load((vcore.lab_dir / "inventory" / "vultr.yml").read_text())["all"]["hosts"]
    # It comes back: revived, not duplicated.
    fake.add_instances(1, start=0)
    await vcore.instances.refresh(admin)
    objs = await servers(vcore)
    assert len(objs) == 250 and objs["host-00000"][1] is False


async def test_rate_limit_leaves_cache_intact_and_says_so(vcore: Core, admin: Actor, fake: FakeVultr) -> None:
    await vcore.instances.refresh(admin)
    cache_before = await cached(vcore)
    rows_before = await object_rows(vcore)
    file_before = (vcore.lab_dir / "inventory" / "vultr.yml").read_text()
    fake.remove(next(iter(fake.instances)))  # a change the failed refresh must not apply
    fake.fail(429, times=10, retry_after="0", path_prefix="/v2/instances")
    fake.requests.clear()
    with pytest.raises(RefreshFailed) as failed:
        await vcore.instances.refresh(admin)
    message = str(failed.value)
    assert "rate limit (HTTP 429)" in message and "cached list of 250 instances" in message and "is kept" in message
    assert len(fake.requests) == 4  # the first try and three bounded retries
    assert await cached(vcore) == cache_before
    assert await object_rows(vcore) == rows_before
    assert (vcore.lab_dir / "inventory" / "vultr.yml").read_text() == file_before
    last = (await audits(vcore, "instances."))[-1]
    assert last[1] == "instances.refresh" and last[2]["ok"] is False and "429" in last[2]["error"]


async def test_retry_after_is_honoured_and_bounded(vcore: Core, admin: Actor, fake: FakeVultr) -> None:
    fake.fail(429, times=1, retry_after="0")
    assert (await vcore.instances.refresh(admin)).count == 250  # waited, retried, done
    fake.requests.clear()
    fake.fail(429, times=1, retry_after="120")
    with pytest.raises(RefreshFailed) as failed:
        await vcore.instances.refresh(admin)
    assert "retry after 120 s" in str(failed.value) and isinstance(failed.value.cause, VultrRateLimited)
    assert len(fake.requests) == 1  # no two-minute wait: refused at once


async def test_bad_key_server_errors_and_timeouts_have_clear_messages(
    make_core: MakeCore, fake: FakeVultr, tmp_path: Path
) -> None:
    core = await make_core(vultr_config(fake, key="WRONG-KEY-123"))
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    admin = (await core.auth.login("admin", ADMIN_PASSWORD)).actor
    with pytest.raises(RefreshFailed) as failed:
        await core.instances.refresh(admin)
    assert isinstance(failed.value.cause, VultrAuthError)
    assert "refused the API key (HTTP 401" in str(failed.value) and "Nothing was cached yet" in str(failed.value)
    assert "WRONG-KEY" not in str(failed.value)
    assert "WRONG-KEY" not in json.dumps(await audits(core, "instances."))

    async with VultrClient(fake.base_url, DEFAULT_KEY) as client:
        fake.fail(500)
        with pytest.raises(
            Exception, match=r"Vultr server error \(HTTP 500: Internal server error.\) on GET /v2/instances"
        ):
            await client.list_instances()
        fake.fail(503, times=1)  # a hiccup: retried
        assert len(await client.list_instances()) == 250
        fake.fail(503, times=1, path_prefix="/v2/instances/")
        with pytest.raises(Exception, match=r"HTTP 503"):  # actions are not retried
            await client.halt(next(iter(fake.instances)))
        with pytest.raises(Exception, match="no such resource"):
            await client.halt("00000000-dead")

    # A server that accepts the connection and never answers.
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(1)
    try:
        async with VultrClient(f"http://127.0.0.1:{silent.getsockname()[1]}", DEFAULT_KEY, timeout=0.3) as client:
            with pytest.raises(Exception, match=r"Vultr did not answer within 0.3 s"):
                await client.list_instances()
    finally:
        silent.close()
    unconfigured = await make_core(Config(lab=LabConfig(checkout=str(tmp_path / "lab2"))))
    with pytest.raises(RefreshFailed, match="Vultr is not configured"):
        await unconfigured.instances.refresh(Actor.system())


async def test_halt_reboot_and_destroy_with_typed_label(vcore: Core, admin: Actor, fake: FakeVultr) -> None:
    await vcore.instances.refresh(admin)
    target = "00000000-0000-0000-0000-000000000004"  # host-00003, lab-00003
    assert await vcore.instances.halt(admin, "host-00003") == []
    assert fake.calls("POST", "/halt") == [f"/v2/instances/{target}/halt"]
    assert fake.instances[target]["power_status"] == "stopped"
    assert (await servers(vcore))["host-00003"][0]["power_status"] == "stopped"
    assert (
        yaml.safe_load((vcore.lab_dir / "inventory" / "vultr.yml").read_text())["all"]["hosts"]["host-00003"][
            "vultr_power_status"
        ]
        == "stopped"
    )
    await vcore.instances.start(admin, "lab-00003")  # by label
    await vcore.instances.reboot(admin, target)  # by id
    assert fake.calls("POST", "/reboot") == [f"/v2/instances/{target}/reboot"]
    assert (await servers(vcore))["host-00003"][0]["power_status"] == "running"

    with pytest.raises(ValidationError, match="Type the instance's label 'lab-00003'"):
        await vcore.instances.destroy(admin, "host-00003", "host-00003")
    assert fake.calls("DELETE") == []
    await vcore.instances.destroy(admin, "host-00003", "lab-00003")
    assert fake.calls("DELETE") == [f"/v2/instances/{target}"] and target not in fake.instances
    cache, _ = await cached(vcore)
    assert "host-00003" not in cache["all"]["hosts"]
    assert all("host-00003" not in g["hosts"] for g in cache["all"]["children"].values())
    # Destroyed, not vanished: the object goes with the host (CloudLab's sync deleted it).
    assert "host-00003" not in await servers(vcore) and len(await servers(vcore)) == 249
    assert "host-00003" not in yaml.safe_load((vcore.lab_dir / "inventory" / "vultr.yml").read_text())["all"]["hosts"]
    [(who, target, detail)] = await audit_targets(vcore, "inventory.object.delete")
    assert (who, target.startswith("inventory/server/")) == ("admin", True)
    assert detail == {"title": "host-00003", "destroyed": "host-00003"}
    with pytest.raises(NotFound):
        await vcore.instances.halt(admin, "host-00003")
    actions = [(a, d["label"], d["ok"]) for _, a, d in await audits(vcore, "instances.") if a != "instances.refresh"]
    assert actions == [
        ("instances.halt", "lab-00003", True),
        ("instances.start", "lab-00003", True),
        ("instances.reboot", "lab-00003", True),
        ("instances.destroy", "lab-00003", True),
    ]


#: A CloudLab lab's destroy action on the server type: its own playbook deletes the instance.
DESTROY_ACTION = """  - name: destroy
    label: Destroy
    type: playbook
    playbook: /init_playbook/stop-single-instance.yaml
    vars_mapping:
      instance_label: "{{ vultr_label }}"
      instance_region: "{{ region }}"
"""
STOP_SINGLE = """- name: Stop single instance
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Refuse one
      ansible.builtin.fail:
        msg: "Vultr refused {{ instance_label }}"
      when: instance_label == "lab-00006"
    - name: Destroy
      ansible.builtin.debug:
        msg: "destroying {{ instance_label }} in {{ instance_region }}"
"""


def destroy_lab(root: Path) -> Path:
    """The demo lab with CloudLab's ``destroy`` action on its server type."""
    lab = root / "lab"
    with resources.as_file(resources.files("labtui") / "demo") as demo:
        shutil.copytree(demo, lab)
    types = lab / "inventory_types" / "server.yaml"
    types.write_text(types.read_text().replace("actions:\n", "actions:\n" + DESTROY_ACTION, 1))
    (lab / "init_playbook" / "stop-single-instance.yaml").write_text(STOP_SINGLE)
    return lab


async def test_destroy_action_of_the_server_type_removes_object_and_cached_host(
    make_core: MakeCore, fake: FakeVultr, tmp_path: Path
) -> None:
    config = vultr_config(fake)
    config = Config(vultr=config.vultr, lab=LabConfig(checkout=str(destroy_lab(tmp_path))))
    core = await make_core(config)
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    admin = (await core.auth.login("admin", ADMIN_PASSWORD)).actor
    await core.instances.refresh(admin)
    [obj] = [
        o
        for o in (await core.inventory.list(admin, type="server", search="host-00005")).items
        if o.data["hostname"] == "host-00005"
    ]
    other = (await core.inventory.list(admin, type="server", search="host-00006")).items[0]
    worker = JobWorker(core.jobs)
    await worker.start()
    try:
        # A destroy that failed changes nothing: the object and its host stay.
        failed = await core.inventory_actions.run(admin, "server", "destroy", object_id=other.id)
        assert (await core.jobs.wait(admin, failed.id, timeout=60)).status == "failed"
        job = await core.inventory_actions.run(admin, "server", "destroy", object_id=obj.id)
        done = await core.jobs.wait(admin, job.id, timeout=60)
        out = "\n".join(line.line for line in await core.jobs.output(admin, job.id, 0, 100000))
        assert done.status == "completed", out
        assert "destroying lab-00005 in" in out
        # The worker runs the after-job hooks once the job's end is stored.
        await until(lambda: core.db.run(lambda s: s.get(InventoryObject, obj.id) is None), timeout=30)
    finally:
        await worker.stop(requeue=False)
    cache, _ = await cached(core)
    assert "host-00005" not in cache["all"]["hosts"] and "host-00006" in cache["all"]["hosts"]
    assert all("host-00005" not in g["hosts"] for g in cache["all"]["children"].values())
    on_disk = yaml.safe_load((core.lab_dir / "inventory" / "vultr.yml").read_text())
    assert on_disk == cache
    objs = await servers(core)
    assert "host-00005" not in objs and len(objs) == 249 and objs["host-00006"][1] is False
    assert (await core.inventory.get(admin, other.id)).data["hostname"] == "host-00006"
    [(who, target, detail)] = await audit_targets(core, "inventory.object.delete")
    assert (who, target) == ("admin", f"inventory/server/{obj.id}")
    assert detail == {"title": "host-00005", "job_id": job.id, "action": "destroy", "hosts": ["host-00005"]}
    # Vultr was not asked: the lab's playbook did the destroying, labtui only followed.
    assert fake.calls("DELETE") == []


async def test_viewer_sees_but_cannot_act_refused_in_core_and_audited(
    vcore: Core, admin: Actor, fake: FakeVultr
) -> None:
    await vcore.instances.refresh(admin)
    viewer = await add_user(vcore, admin, "vera", "viewer")
    assert len((await vcore.instances.list(viewer)).instances) == 250
    fake.requests.clear()
    for attempt in (
        lambda: vcore.instances.halt(viewer, "host-00001"),
        lambda: vcore.instances.destroy(viewer, "host-00001", "lab-00001"),
        lambda: vcore.instances.refresh(viewer),
    ):
        with pytest.raises(PermissionDenied):
            await attempt()
    assert fake.requests == []
    denied = await vcore.db.run(
        lambda s: [
            (r.username, json.loads(r.detail)["permission"], r.target)
            for r in s.scalars(select(AuditRecord).where(AuditRecord.action == "permission.denied"))
        ]
    )
    assert denied == [
        ("vera", "instances.stop", "instances/host-00001"),
        ("vera", "instances.stop", "instances/host-00001"),
        ("vera", "instances.refresh", "instances"),
    ]
    await vcore.users.create(admin, "nora", "password-123", roles=[])
    nobody = (await vcore.auth.login("nora", "password-123")).actor
    with pytest.raises(PermissionDenied):
        await vcore.instances.list(nobody)


async def test_costs_by_tag_and_region_unknown_plan_costs_nothing(make_core: MakeCore) -> None:
    with FakeVultr() as fake:
        fake.add_instances(1, start=0, region="ams", plan="vc2-1c-1gb", tags=["web", "prod"])
        fake.add_instances(1, start=1, region="ams", plan="vc2-2c-4gb", tags=["db"])
        fake.add_instances(1, start=2, region="mel", plan="mystery-plan", tags=[])
        core = await make_core(vultr_config(fake))
        admin = Actor.system("tester")
        await core.instances.refresh(admin)  # no plans cached yet: fetched with the instances
        report = await core.instances.costs(admin)
        assert report.total == 25.0 and report.plans == 4
        assert [(g.name, g.monthly_cost, g.count) for g in report.by_tag] == [
            ("db", 20.0, 1),
            ("prod", 5.0, 1),
            ("web", 5.0, 1),
            ("(untagged)", 0.0, 1),
        ]
        assert [(g.name, g.monthly_cost, g.count) for g in report.by_region] == [("ams", 25.0, 2), ("mel", 0.0, 1)]
        assert [i.monthly_cost for i in report.instances] == [20.0, 5.0, None]
        fake.plans["mystery-plan"] = 7.5
        fake.requests.clear()
        await core.instances.refresh(admin)
        assert fake.calls("GET", "/v2/plans") == []  # plans are cached: only a costs refresh asks again
        assert await core.instances.refresh_costs(admin) == 5
        assert (await core.instances.costs(admin)).total == 32.5


async def test_system_tasks_are_registered_and_report_progress(vcore: Core, admin: Actor) -> None:
    lines: list[str] = []

    async def say(line: str) -> None:
        lines.append(line)

    task = system_tasks.get("refresh_instances")
    assert task is not None and system_tasks.get("refresh_costs") is not None
    await task.fn(vcore, admin, say)
    assert lines[-1].startswith("250 instances cached (250 new, 0 gone); server: 250 added")
    lines.clear()
    await system_tasks.get("refresh_costs").fn(vcore, admin, say)  # type: ignore[union-attr]
    assert lines[-1].startswith("4 plans cached; 250 instances cost $")


def test_cli_refresh_and_list(
    tmp_path: Path, fake: FakeVultr, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from labtui import cli

    monkeypatch.setattr(cli, "COMMAND_MODULES", ("users", "instances", "inventory"))
    monkeypatch.setenv("VULTR_TEST_KEY", DEFAULT_KEY)
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text(f"vultr:\n  base_url: {fake.base_url}\n  api_key: ${{VULTR_TEST_KEY}}\n")

    def run(*args: str) -> int:
        return cli.main(["--home", str(home), *args])

    monkeypatch.setattr("sys.stdin", __import__("io").StringIO(ADMIN_PASSWORD + "\n"))
    assert run("users", "create-admin", "admin", "--password-stdin") == 0
    capsys.readouterr()
    assert run("instances", "refresh", "--as", "admin") == 0
    out = capsys.readouterr().out
    assert "250 instances cached (250 new, 0 gone); server: 250 added" in out
    assert run("instances", "list", "--json") == 0
    listed = json.loads(capsys.readouterr().out)
    assert len(listed["instances"]) == 250 and listed["instances"][0]["hostname"] == "host-00000"
    assert run("instances", "list") == 0
    table = capsys.readouterr().out
    assert "HOSTNAME" in table and "host-00249" in table and "cached" in table
    assert run("inventory", "list", "--type", "server", "--count", "--as", "admin") == 0
    assert capsys.readouterr().out.strip() == "250"
    assert run("instances", "costs", "--json") == 0
    report = json.loads(capsys.readouterr().out)
    assert report["plans"] == 4 and report["total"] == sum(i["monthly_cost"] for i in report["instances"])
    assert {g["name"] for g in report["by_region"]} == {"ewr", "ams", "mel", "syd"}
    fake.fail(429, times=10, retry_after="0")
    assert run("instances", "refresh", "--as", "admin") == 1
    err = capsys.readouterr().err
    assert "rate limit (HTTP 429)" in err and "cached list of 250 instances" in err
    assert DEFAULT_KEY not in (home / "labtui.log").read_text()


def test_inventory_file_reads_back_exactly_and_hostnames_stay_unique() -> None:
    from labtui.core.instances import build_cache, inventory_yaml
    from labtui.testing.fakes.vultr import instance

    odd = [
        "a:b",
        'x"y',
        "ünï",
        "yes",
        "No",
        "null",
        "~",
        "1.5",
        "0x1F",
        "#x",
        "",
        "a: b",
        "-a",
        ".inf",
        "2024-01-01",
        "on",
        "Y",
        "true",
        "- x",
        "a #b",
        "x/y",
        "12:30",
        "[x]",
        "{y}",
        "*z",
        "&a",
        "!t",
        "%p",
        "@q",
    ]
    raw = [instance(i, tags=odd) for i in range(3)]
    raw[1]["hostname"] = raw[2]["hostname"] = "twin"  # two instances, one hostname
    raw.append({"id": "0badc0de-1", "hostname": "", "label": "only-label", "tags": None})
    cache = build_cache(raw)
    assert list(cache["all"]["hosts"]) == ["host-00000", "twin", "twin-00000000", "only-label"]
    assert yaml.safe_load(inventory_yaml(cache)) == cache


async def test_a_cloudlab_cache_syncs_and_adopts_hand_made_servers(vcore: Core, admin: Actor) -> None:
    from labtui.core.db.engine import set_metadata

    made = await vcore.inventory.create(admin, "server", {"hostname": "web1", "ip_address": "192.0.2.9"})
    cloudlab = {
        "all": {
            "hosts": {
                "web1": {
                    "ansible_host": "192.0.2.10",
                    "vultr_region": "mel",
                    "vultr_plan": "vc2-1c-1gb",
                    "vultr_os": "Debian 12",
                    "vultr_power": "running",
                    "vultr_id": "abc-1",
                    "vultr_label": "web1",
                    "vultr_tags": ["web"],
                    "ansible_ssh_private_key_file": "/services/web/outputs/id",
                },
                "db1": {"ansible_host": "192.0.2.11", "vultr_id": "abc-2"},
            },
            "children": {},
        }
    }
    await vcore.db.run(lambda s: set_metadata(s, "instances_cache", cloudlab))
    ran = await vcore.inventory.sync(admin, "vultr_inventory")
    assert ran == [("vultr_inventory", "server", {"added": 1, "updated": 1, "unchanged": 0, "stale": 0, "revived": 0})]
    objs = await servers(vcore)
    assert objs["web1"][0]["ip_address"] == "192.0.2.10" and objs["web1"][0]["power_status"] == "running"
    assert objs["db1"][0] == {
        "hostname": "db1",
        "ip_address": "192.0.2.11",
        "power_status": "unknown",
        "vultr_id": "abc-2",
        "vultr_label": "db1",
        "vultr_tags": [],
    }
    adopted = await vcore.inventory.get(admin, made.id)
    assert adopted.source == "vultr_inventory" and adopted.data["region"] == "mel"
    listed = await vcore.instances.list(admin)
    assert [(i.hostname, i.label, i.power_status) for i in listed.instances] == [
        ("db1", "", "unknown"),
        ("web1", "web1", "running"),
    ]
    assert listed.cache_time is None
