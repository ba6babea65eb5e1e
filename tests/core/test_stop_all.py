"""Stop all (CloudLab's ``system.stop_all``) as a job: the demo lab's real stop playbooks run
through ansible-runner with no ``service_filter``; refused without ``system.stop_all`` or
the typed phrase, before a job exists; audited. And ``labtui services stop-all`` as a real
subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from labtui.core.actor import Actor
from labtui.core.db.jobs import Job
from labtui.core.db.models import AuditRecord
from labtui.core.errors import PermissionDenied, ValidationError
from labtui.core.instances import STOP_ALL_PHRASE
from labtui.core.jobs.worker import JobWorker
from labtui.core.runtime import Core
from tests.conftest import MakeCore, add_user, job_lines

#: Shows whether the playbook got a service_filter at all (the demo's own line shows its value).
PROBE = """- name: Stop instances
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Stop
      ansible.builtin.debug:
        msg: "service_filter defined={{ service_filter is defined }}"
"""


async def job_count(core: Core) -> int:
    return await core.db.run(lambda s: s.scalar(select(func.count()).select_from(Job)))


async def audit_of(core: Core, action: str) -> list[tuple[str, str, dict[str, object]]]:
    return await core.db.run(
        lambda s: [
            (r.username, r.target, json.loads(r.detail))
            for r in s.scalars(select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id))
        ]
    )


async def test_stop_all_runs_the_stop_playbooks_without_service_filter(
    core: Core, admin: Actor, worker: JobWorker
) -> None:
    job = await core.instances.stop_all(admin, "Stop  All")  # case and spacing do not matter
    assert (job.service, job.action, job.script, job.username) == ("all", "stop_all", None, "admin")
    done = await core.jobs.wait(admin, job.id, timeout=60)
    out = await job_lines(core, admin, job.id)
    assert done.status == "completed", out
    assert out[0] == "--- Generating inventory ---"
    assert "--- Stopping all instances ---" in out
    assert any(line.startswith("$ ansible-playbook") and "stop-instances.yaml" in line for line in out)
    assert any("Demo lab: stopping instances of every service" in line for line in out), out
    # The plan itself: no step carries a service_filter.
    plan = await core.db.run(lambda s: core.jobs.plan(s, s.get(Job, job.id)))
    assert [step.path.name for step in plan.steps] == ["generate-inventory.yaml", "stop-instances.yaml"]
    assert all("service_filter" not in step.extravars for step in plan.steps)
    assert "service_filter" not in plan.extravars
    assert await audit_of(core, "system.stop_all") == [("admin", "system/stop_all", {"job_id": job.id})]

    # A playbook that asks Ansible itself: the variable is not defined at all.
    (core.lab_dir / "init_playbook" / "stop-instances.yaml").write_text(PROBE)
    probe = await core.instances.stop_all(admin, STOP_ALL_PHRASE)
    assert (await core.jobs.wait(admin, probe.id, timeout=60)).status == "completed"
    assert any("service_filter defined=False" in line for line in await job_lines(core, admin, probe.id))
    # The per-service stop through the same playbook does pass one (what stop-all leaves out).
    one = await core.jobs.stop(admin, "greet")
    assert (await core.jobs.wait(admin, one.id, timeout=60)).status == "completed"
    assert any("service_filter defined=True" in line for line in await job_lines(core, admin, one.id))


async def test_stop_all_is_refused_without_the_permission_or_the_phrase(core: Core, admin: Actor) -> None:
    operator = await add_user(core, admin, "olga", "operator")  # may stop services, not all at once
    with pytest.raises(PermissionDenied):
        await core.instances.stop_all(operator, STOP_ALL_PHRASE)
    denied = await core.db.run(
        lambda s: [
            (r.username, r.target, json.loads(r.detail)["permission"])
            for r in s.scalars(select(AuditRecord).where(AuditRecord.action == "permission.denied"))
        ]
    )
    assert denied == [("olga", "system/stop_all", "system.stop_all")]
    for typed in ("", "stop", "yes", "stop all now"):
        with pytest.raises(ValidationError, match="Type 'stop all' to stop every instance"):
            await core.instances.stop_all(admin, typed)
    (core.lab_dir / "init_playbook" / "stop-instances.yaml").unlink()
    with pytest.raises(ValidationError, match="nothing to stop every instance with"):
        await core.instances.stop_all(admin, STOP_ALL_PHRASE)
    assert await job_count(core) == 0
    assert await audit_of(core, "system.stop_all") == []


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LABTUI_HOME"}
    return subprocess.run(
        [sys.executable, "-m", "labtui", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


async def test_cli_stop_all_needs_confirm_and_the_permission(make_core: MakeCore, tmp_path: Path) -> None:
    core = await make_core()
    await core.auth.create_admin("admin", "admin-password-1")
    admin = (await core.auth.login("admin", "admin-password-1")).actor
    await add_user(core, admin, "olga", "operator")
    home = tmp_path / "home"

    refused = cli(home, "services", "stop-all", "--as", "admin")
    assert (refused.returncode, refused.stderr.strip()) == (
        2,
        "labtui: stop-all stops every instance of the lab: add --confirm to go ahead",
    )
    denied = cli(home, "services", "stop-all", "--as", "olga", "--confirm")
    assert (
        denied.returncode == 1 and "system.stop_all" in denied.stderr and len(denied.stderr.strip().splitlines()) == 1
    )
    assert await job_count(core) == 0

    done = cli(home, "services", "stop-all", "--as", "admin", "--confirm", "--follow")
    assert done.returncode == 0, done.stderr
    assert "Demo lab: stopping instances of every service" in done.stdout
    assert "service_filter" not in done.stdout
    [(who, target, detail)] = await audit_of(core, "system.stop_all")
    assert (who, target) == ("admin", "system/stop_all")
    job = await core.jobs.get(admin, str(detail["job_id"]))
    assert (job.service, job.action, job.status) == ("all", "stop_all", "completed")
    assert f"job {job.id} completed" in done.stderr
