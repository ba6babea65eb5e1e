"""Values users supply reach Ansible as data, never as templates: real ansible-playbook runs
of a CLI script input, a stored inventory field and extra vars of every shape, each holding a
Jinja payload that would run a command on the controller if Ansible templated it."""

from __future__ import annotations

import json
import re
import shlex
import sys
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from sqlalchemy import update
from sqlalchemy.orm import Session

from labtui.core.actor import Actor
from labtui.core.db.jobs import Job
from labtui.core.errors import ValidationError
from labtui.core.jobs.cancel import ProcessTracker
from labtui.core.jobs.runner import RunContext, Step, base_env, run_steps
from labtui.core.jobs.worker import JobWorker
from labtui.core.runtime import Core
from labtui.ssh.server import SshHub
from tests.conftest import ADMIN_PASSWORD, MakeCore, job_lines
from tests.core.test_inventory_actions import service_object
from tests.core.test_jobs_cli import cli

ECHO_SCRIPTS = """\
scripts:
  - name: deploy
    label: Deploy
    file: echo.yml
  - name: echo
    label: Echo
    file: echo.yml
    inputs:
      - name: name
        label: Name
        type: string
        required: true
      - name: tags
        label: Tags
        type: list
"""

ECHO_PLAYBOOK = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "NAME=[{{ name }}] TAGS=[{{ tags | join(',') }}]"
"""


ANSI = re.compile(r"\x1b\[[0-9;]*m")


def payload(marker: Path) -> str:
    """What Ansible would run as ``touch marker`` were the value templated."""
    return "{{ lookup('pipe', 'touch " + str(marker) + "') }}"


async def output(core: Core, actor: Actor, job_id: str) -> str:
    return "\n".join(await job_lines(core, actor, job_id))


async def test_a_cli_script_input_is_printed_as_typed(make_core: MakeCore, tmp_path: Path) -> None:
    core = await make_core()
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    service = core.lab_dir / "services" / "echoer"
    service.mkdir(parents=True)
    (service / "scripts.yaml").write_text(ECHO_SCRIPTS)
    (service / "echo.yml").write_text(ECHO_PLAYBOOK)
    (service / "deploy.yml").write_text(ECHO_PLAYBOOK)  # what makes a folder a service
    touched, listed = tmp_path / "pwned-name", tmp_path / "pwned-tag"
    name = payload(touched)

    run = cli(
        tmp_path / "home",
        "jobs",
        "run",
        "echoer",
        "echo",
        "--input",
        f"name={name}",
        "--input",
        f"tags={payload(listed)}",
        "--input",
        "tags={{ 6 * 7 }}",
        "--as",
        "admin",
        "--follow",
    )

    assert run.returncode == 0, run.stdout + run.stderr
    assert f"NAME=[{name}] TAGS=[{payload(listed)},{{{{ 6 * 7 }}}}]" in run.stdout, run.stdout
    assert "TAGS=[42" not in run.stdout and not touched.exists() and not listed.exists()


async def test_a_script_input_over_ssh_is_printed_as_typed(make_core: MakeCore, tmp_path: Path) -> None:
    """The same payload as an ``ssh ... jobs run`` command's input, through the real SSH
    server: the session's CLI queues it, a worker runs it, the output shows it as text."""
    core = await make_core()
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    service = core.lab_dir / "services" / "echoer"
    service.mkdir(parents=True)
    (service / "scripts.yaml").write_text(ECHO_SCRIPTS)
    (service / "echo.yml").write_text(ECHO_PLAYBOOK)
    (service / "deploy.yml").write_text(ECHO_PLAYBOOK)
    touched = tmp_path / "pwned-over-ssh"
    name = payload(touched)
    hub = SshHub(core, [sys.executable, "-m", "labtui", "--home", str(core.paths.home)])
    await hub.start("127.0.0.1", 0)
    w = JobWorker(core.jobs)
    await w.start()
    try:
        async with asyncssh.connect(
            "127.0.0.1", hub.port, username="admin", password=ADMIN_PASSWORD, known_hosts=None
        ) as conn:
            command = f"jobs run echoer echo --input {shlex.quote('name=' + name)} --input tags=a --follow"
            run = await conn.run(command, timeout=120)
        assert run.exit_status == 0, f"{run.stdout}{run.stderr}"
        assert f"NAME=[{name}]" in str(run.stdout) and not touched.exists(), run.stdout
    finally:
        await w.stop(requeue=False)
        await hub.stop()


async def test_a_stored_inventory_field_is_printed_as_stored(
    core: Core, admin: Actor, worker: JobWorker, tmp_path: Path
) -> None:
    touched = tmp_path / "pwned-field"
    name = payload(touched)
    net = await core.inventory.create(admin, "network", {"name": name, "cidr": "{{ '10.0.0.0' }}/24"})

    job = await core.inventory_actions.run(admin, "network", "describe", object_id=net.id)
    done = await core.jobs.wait(admin, job.id, timeout=60)

    text = await output(core, admin, job.id)
    assert done.status == "completed", text
    assert f"Network {name} is {{{{ '10.0.0.0' }}}}/24" in text, text
    assert not touched.exists()


TYPES_PLAYBOOK = """\
- hosts: localhost
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "VARS={{ {'text': text, 'words': words, 'nested': nested, 'count': count, 'flag': flag} | to_json }}"
    - ansible.builtin.assert:
        that:
          - count is number and count + 1 == 8
          - flag is boolean and flag
          - words[0] == 'yes' and words[1] == '' and words[2] == 'null' and words[3] == '007'
          - nested.none is none
"""


def test_extra_vars_keep_their_types_and_stay_text(tmp_path: Path) -> None:
    """Through the runner itself: text that YAML would read as another type stays text, the
    other types are kept, and a payload at any depth is never templated."""
    touched = tmp_path / "pwned-deep"
    playbook = tmp_path / "types.yml"
    playbook.write_text(TYPES_PLAYBOOK)
    lines: list[str] = []
    extravars: dict[str, Any] = {
        "text": "multi\nline 'quoted' \"double\" é",
        "words": ["yes", "", "null", "007", payload(touched)],
        "nested": {"deep": [{"key": payload(touched)}], "none": None, "{{ 1 + 1 }}": "k"},
        "count": 7,
        "flag": True,
    }
    ctx = RunContext(
        job_id="t",
        job_dir=tmp_path / "job",
        env=base_env(),
        emit=lines.append,
        emit_many=lines.extend,
        tracker=ProcessTracker(),
        extravars=extravars,
    )
    ctx.job_dir.mkdir()

    rc = run_steps([Step("playbook", playbook, tmp_path)], ctx)

    text = "\n".join(lines)
    assert rc == 0, text
    assert not touched.exists()
    [shown] = [ANSI.sub("", line).strip() for line in lines if '"msg": "VARS=' in line]
    assert json.loads(json.loads("{" + shown + "}")["msg"].removeprefix("VARS=")) == extravars


INVENTORY_PLAYBOOK = """\
- hosts: all
  connection: local
  gather_facts: false
  tasks:
    - ansible.builtin.debug:
        msg: "LABEL=[{{ vultr_label }}] TAGS=[{{ vultr_tags | join(',') }}]"
"""


def test_a_vultr_label_in_the_inventory_file_is_printed_as_set(tmp_path: Path) -> None:
    """A label or tag set at Vultr reaches playbooks through ``inventory/vultr.yml``, whose
    host vars Ansible templates like extra vars; the health checks still read the file."""
    from labtui.core.health.targets import TargetSource
    from labtui.core.instances import build_cache, write_inventory_file
    from labtui.testing.fakes.vultr import instance

    touched = tmp_path / "pwned-label"
    raw = instance(0, tags=["web", payload(touched), "{% raw %}x"])
    raw["label"] = payload(touched)
    lab = tmp_path / "lab"
    inventory = write_inventory_file(lab, build_cache([raw]))
    playbook = tmp_path / "hosts.yml"
    playbook.write_text(INVENTORY_PLAYBOOK)
    lines: list[str] = []
    ctx = RunContext(
        job_id="t",
        job_dir=tmp_path / "job",
        env=base_env(),
        emit=lines.append,
        emit_many=lines.extend,
        tracker=ProcessTracker(),
    )
    ctx.job_dir.mkdir()

    rc = run_steps([Step("playbook", playbook, tmp_path, inventory=inventory)], ctx)

    text = "\n".join(ANSI.sub("", line) for line in lines)
    assert rc == 0, text
    assert f"LABEL=[{payload(touched)}] TAGS=[web,{payload(touched)},{{% raw %}}x]" in text, text
    assert not touched.exists()
    host = TargetSource(lab).current_sync().get("web")
    assert host is not None and host.hostname == "host-00000" and host.ip == "10.0.0.0"


PROXY = "-o ProxyCommand='touch {}'"
STEERING = ("ansible_ssh_common_args", "ANSIBLE_connection", "ansible_python_interpreter", "hostvars", "labtui_job_dir")


async def test_free_inputs_may_not_name_ansible_variables(core: Core, admin: Actor, tmp_path: Path) -> None:
    """An action's free inputs become extra vars, which outrank every other variable: an
    ``ansible_ssh_common_args`` input ran a ProxyCommand on this machine."""
    net = await core.inventory.create(admin, "network", {"name": "lan", "cidr": "10.0.0.0/24"})
    hello = await service_object(core, admin, "hello")
    for name in STEERING:
        for slug, action, object_id in (("network", "describe", net.id), ("service", "deploy", hello)):
            with pytest.raises(ValidationError, match="is Ansible's or labtui's own"):
                await core.inventory_actions.run(
                    admin, slug, action, object_id=object_id, inputs={name: PROXY.format(tmp_path / "x")}
                )
    fine = await core.inventory_actions.run(admin, "network", "describe", object_id=net.id, inputs={"ansible": "x"})
    assert fine.inputs == {"ansible": "x"}


async def test_a_queued_job_with_a_steering_input_fails_without_running(
    core: Core, admin: Actor, tmp_path: Path
) -> None:
    """A job queued before the names were refused (its stored inputs) is refused by the worker."""
    touched = tmp_path / "pwned-proxy"
    hello = await service_object(core, admin, "hello")
    job = await core.inventory_actions.run(admin, "service", "deploy", object_id=hello)

    def steer(s: Session) -> None:
        row = s.get(Job, job.id)
        target = json.loads(row.inputs)
        target["inputs"] = {"ansible_connection": "ssh", "ansible_ssh_common_args": PROXY.format(touched)}
        s.execute(update(Job).where(Job.id == job.id).values(inputs=json.dumps(target)))

    await core.db.run(steer)
    worker = JobWorker(core.jobs)
    await worker.start()
    try:
        done = await core.jobs.wait(admin, job.id, timeout=60)
    finally:
        await worker.stop(requeue=False)
    text = await output(core, admin, job.id)
    assert done.status == "failed" and "is Ansible's or labtui's own" in text, text
    assert not touched.exists()
