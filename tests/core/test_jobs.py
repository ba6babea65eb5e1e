"""Jobs end to end: real bash, real ansible-runner + ansible-core, real SQLite files.

The demo lab (``labtui/demo``) is cloned into each test's data dir by startup; a few tests add
a small service of their own to that checkout.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import os
import stat
import sys
import time
from pathlib import Path

import psutil
import pytest
from sqlalchemy import func, select

from labtui.core.actor import Actor
from labtui.core.config import Config, JobsConfig
from labtui.core.db.base import utcnow
from labtui.core.db.jobs import Job
from labtui.core.db.models import AuditRecord
from labtui.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from labtui.core.jobs import JobInfo
from labtui.core.jobs.worker import JobWorker, prune_job_dirs
from labtui.core.leases import Lease
from labtui.core.runtime import Core
from labtui.testing.clock import ManualClock
from tests.conftest import MakeCore, add_user, job_lines
from tests.waiting import until

FAST = Config(jobs=JobsConfig(lease_seconds=1))


def add_service(core: Core, name: str, files: dict[str, str]) -> Path:
    path = core.lab_dir / "services" / name
    path.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (path / rel).write_text(text)
    return path


def sleeps_of(pid: int) -> list[psutil.Process]:
    """``sleep`` processes under ``pid`` (a child may end while it is looked at)."""
    found = []
    for p in psutil.Process(pid).children(recursive=True):
        try:
            if p.name() == "sleep":
                found.append(p)
        except psutil.NoSuchProcess:
            continue
    return found


async def test_hello_playbook_completes_with_deployment_id(core: Core, admin: Actor, worker: JobWorker) -> None:
    finished: list[JobInfo] = []
    hooked = asyncio.Event()

    async def hook(job: JobInfo) -> None:
        finished.append(job)
        hooked.set()

    core.jobs.on_finished.append(hook)
    job = await core.jobs.run_script(admin, "hello")
    assert (job.status, job.action, job.script, job.username) == ("queued", "deploy", "deploy", "admin")
    assert len(job.id) == 8
    done = await core.jobs.wait(admin, job.id, timeout=60)
    out = await job_lines(core, admin, job.id)
    assert done.status == "completed", out
    assert done.exit_code == 0 and done.finished_at and done.started_at
    assert done.deployment_id and done.deployment_id.startswith("hello-")
    assert out[0].startswith("$ ansible-playbook ") and out[0].endswith("services/hello/deploy.yml")
    assert "PLAY [Deploy hello] " in "\n".join(out)
    assert f"DEPLOYMENT_ID={done.deployment_id}" in "\n".join(out)
    assert done.output_lines == len(out)
    # The play wrote into the job's private data dir and the service's outputs.
    assert (core.paths.home / "jobs" / job.id / "hello.txt").read_text().startswith("hello, deployed as hello-")
    outputs = (core.lab_dir / "services" / "hello" / "outputs" / "service_outputs.yaml").read_text()
    assert "type: credential" in outputs and "http://hello.lab.localhost" in outputs
    audit = await core.db.run(
        lambda s: s.scalars(select(AuditRecord).where(AuditRecord.action == "service.deploy")).all()
    )
    assert [a.target for a in audit] == ["services/hello"] and job.id in audit[0].detail
    # The worker hands the ended job to the hooks (the inventory's credential sync), after
    # recording its end (which is what ``wait`` saw).
    await asyncio.wait_for(hooked.wait(), 30)
    assert [(j.id, j.status, j.deployment_id) for j in finished] == [(job.id, "completed", done.deployment_id)]
    reader = await core.jobs.log_reader(admin, job.id)
    assert reader.poll() == len(out) and list(reader.get(0, 1)) == [out[0]]


async def test_broken_fails_with_exit_code(core: Core, admin: Actor, worker: JobWorker) -> None:
    job = await core.jobs.run_script(admin, "broken")
    done = await core.jobs.wait(admin, job.id, timeout=60)
    out = await job_lines(core, admin, job.id)
    assert done.status == "failed" and done.exit_code == 2
    assert out[-1] == "[EXIT CODE: 2]"
    assert any("broken is broken on purpose" in line for line in out)


async def test_script_gets_input_variables(core: Core, admin: Actor, worker: JobWorker) -> None:
    job = await core.jobs.run_script(
        admin, "greet", "greet", {"name": "Ada Lovelace", "mood": "happy", "tags": ["x", "y", "z"]}
    )
    assert job.action == "script" and job.inputs == {"name": "Ada Lovelace", "mood": "happy", "tags": ["x", "y", "z"]}
    done = await core.jobs.wait(admin, job.id, timeout=30)
    out = await job_lines(core, admin, job.id)
    assert done.status == "completed", out
    assert out[0] == "--- Running greet.sh for greet ---"  # CloudLab's header
    assert out[1].startswith("$ bash ") and out[1].endswith("services/greet/greet.sh")
    assert out[2:] == ["Hello, Ada Lovelace!", "Mood: happy", "Tags: x,y,z", "Tag count: 3"]


async def test_bad_inputs_are_refused_before_anything_is_queued(core: Core, admin: Actor) -> None:
    with pytest.raises(ValidationError, match="Missing required input: name") as exc:
        await core.jobs.run_script(admin, "greet", "greet", {"mood": "calm"})
    assert exc.value.field == "name"
    with pytest.raises(ValidationError, match="must be one of"):
        await core.jobs.run_script(admin, "greet", "greet", {"name": "x", "mood": "furious"})
    with pytest.raises(ValidationError, match="Script 'nope' not found for service 'greet'"):
        await core.jobs.run_script(admin, "greet", "nope")
    with pytest.raises(NotFound):
        await core.jobs.run_script(admin, "no-such-service")
    count = await core.db.run(lambda s: s.scalar(select(func.count()).select_from(Job)))
    assert count == 0
    audits = await core.db.run(
        lambda s: s.scalar(
            select(func.count()).select_from(AuditRecord).where(AuditRecord.action.startswith("service."))
        )
    )
    assert audits == 0


async def test_cancel_ends_the_whole_process_tree(core: Core, admin: Actor, worker: JobWorker) -> None:
    job = await core.jobs.run_script(admin, "slow")
    deadline = time.monotonic() + 30
    sleeps: list[psutil.Process] = []
    while not sleeps and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
        sleeps = sleeps_of(os.getpid())
    assert sleeps, "the slow task never started"
    # ansible-core's workers setsid(): the sleep is in another session than ansible-playbook.
    started = time.monotonic()
    requested = await core.jobs.cancel(admin, job.id)
    assert requested.status == "running" and requested.cancel_requested
    done = await core.jobs.wait(admin, job.id, poll=0.05, timeout=10)
    elapsed = time.monotonic() - started
    assert done.status == "cancelled" and elapsed < 5, elapsed
    assert not any(p.is_running() and p.status() != psutil.STATUS_ZOMBIE for p in sleeps)
    assert sleeps_of(os.getpid()) == []
    assert (await job_lines(core, admin, job.id))[-1] == "[CANCELLED]"
    with pytest.raises(Conflict, match="already cancelled"):
        await core.jobs.cancel(admin, job.id)


async def test_cancel_permissions_and_queued_jobs(core: Core, admin: Actor) -> None:
    await core.rbac.create_role(admin, "deployer", "", {"services.view", "services.deploy", "jobs.view_own"})
    ann = await add_user(core, admin, "ann", "deployer")
    ben = await add_user(core, admin, "ben", "deployer")
    anns = await core.jobs.run_script(ann, "greet", "greet", {"name": "a"})
    bens = await core.jobs.run_script(ben, "greet", "greet", {"name": "b"})
    with pytest.raises(PermissionDenied):
        await core.jobs.cancel(ann, bens.id)
    # No worker runs: a queued job is cancelled at once, by its owner without jobs.cancel.
    done = await core.jobs.cancel(ann, anns.id)
    assert done.status == "cancelled" and done.finished_at is not None
    assert await job_lines(core, admin, anns.id) == ["[CANCELLED by ann before it started]"]
    assert (await core.jobs.cancel(admin, bens.id)).status == "cancelled"


async def test_view_own_sees_only_own_jobs(core: Core, admin: Actor) -> None:
    await core.rbac.create_role(admin, "deployer", "", {"services.view", "services.deploy", "jobs.view_own"})
    ann = await add_user(core, admin, "ann", "deployer")
    ben = await add_user(core, admin, "ben", "deployer")
    a1 = await core.jobs.run_script(ann, "greet", "greet", {"name": "a"})
    b1 = await core.jobs.run_script(ben, "greet", "greet", {"name": "b"})
    a2 = await core.jobs.run_script(ann, "hello")
    assert [j.id for j in await core.jobs.list(ann)] == [a2.id, a1.id]
    assert [j.id for j in await core.jobs.list(ben)] == [b1.id]
    assert {j.id for j in await core.jobs.list(admin)} == {a1.id, a2.id, b1.id}
    assert [j.id for j in await core.jobs.list(admin, status="queued", service="hello")] == [a2.id]
    b2 = await core.jobs.run_script(ben, "greet", "greet", {"name": "b2"})
    latest = {
        name: job.id for name, job in (await core.jobs.latest_by_service(admin, ["greet", "hello", "slow"])).items()
    }
    assert latest == {"greet": b2.id, "hello": a2.id}  # the services screen's "Last job"
    assert {n: j.id for n, j in (await core.jobs.latest_by_service(ann, ["greet", "hello"])).items()} == {
        "greet": a1.id,
        "hello": a2.id,
    }
    with pytest.raises(NotFound):
        await core.jobs.get(ann, b1.id)
    with pytest.raises(NotFound):
        await core.jobs.output(ann, b1.id)
    assert (await core.jobs.get(ann, a1.id)).username == "ann"
    await core.rbac.create_role(admin, "blind", "", {"services.view"})
    blind = await add_user(core, admin, "blind", "blind")
    for call in (core.jobs.list(blind), core.jobs.latest_by_service(blind, ["greet"])):
        with pytest.raises(PermissionDenied):
            await call


async def test_a_second_process_sees_output_as_it_arrives(make_core: MakeCore) -> None:
    first = await make_core()
    await first.auth.create_admin("admin", "pw-Admin-123")
    admin = (await first.auth.login("admin", "pw-Admin-123")).actor
    add_service(first, "ticker", {"deploy.sh": "for i in 1 2 3 4 5 6; do echo tick $i; sleep 0.3; done\n"})
    second = await make_core()  # same data dir: like another labtui process
    worker = JobWorker(first.jobs)
    await worker.start()
    job = await first.jobs.run_script(admin, "ticker")
    seen: list[tuple[float, str, str]] = []
    async for batch in second.jobs.follow(Actor.system("other"), job.id, poll=0.02):
        status = (await second.jobs.get(Actor.system("other"), job.id)).status
        seen.extend((time.monotonic(), line.line, status) for line in batch)
    assert [line for _, line, _ in seen][2:] == [f"tick {i}" for i in range(1, 7)]  # after the header and "$ bash"
    # Lines arrived one by one while the job was still running, not all at the end.
    ticks = [(t, status) for t, line, status in seen if line.startswith("tick")]
    assert ticks[0][1] == "running" and ticks[2][1] == "running"
    assert ticks[-1][0] - ticks[0][0] > 1.0
    assert (await second.jobs.get(Actor.system("other"), job.id)).status == "completed"


async def test_noisy_streams_every_line_in_order(core: Core, admin: Actor, worker: JobWorker) -> None:
    job = await core.jobs.run_script(admin, "noisy")
    done = await core.jobs.wait(admin, job.id, timeout=120)
    assert done.status == "completed" and done.output_lines == 100003  # header, "$ bash", 100,000, "done"
    seqs_and_lines = await core.jobs.output(admin, job.id, 0, 200000)
    assert [x.seq for x in seqs_and_lines] == list(range(1, 100004))
    assert seqs_and_lines[2].line == "noisy line 000001 of 100000"
    assert seqs_and_lines[100001].line == "noisy line 100000 of 100000"
    assert seqs_and_lines[-1].line == "noisy done"


async def test_output_read_by_the_pipeful_keeps_every_line_as_written(
    core: Core, admin: Actor, worker: JobWorker
) -> None:
    """Lines cut across 64 KB reads, CRLF, bytes that are not UTF-8, a DEPLOYMENT_ID in the
    middle of a flood, and a last line without its newline."""
    add_service(
        core,
        "flood",
        {
            "deploy.sh": (
                "for ((i = 1; i <= 5000; i++)); do printf 'flood %05d %s\\n' \"$i\" \"$(printf 'x%.0s' {1..20})\"; done\n"
                "printf 'crlf line\\r\\n'\n"
                "printf 'bad \\xff byte\\n'\n"
                "for ((i = 1; i <= 3000; i++)); do echo \"more $i\"; [ $i -eq 1500 ] && echo 'DEPLOYMENT_ID=flood-42'; done\n"
                "echo 'DEPLOYMENT_ID=flood-second'\n"
                "printf 'no newline at the end'\n"
            )
        },
    )
    job = await core.jobs.run_script(admin, "flood")
    done = await core.jobs.wait(admin, job.id, timeout=120)
    out = await job_lines(core, admin, job.id)
    assert done.status == "completed", out[-5:]
    body = out[2:]  # after the header and the "$ bash ..." line
    assert body[:5000] == [f"flood {i:05d} {'x' * 20}" for i in range(1, 5001)]
    assert body[5000:5002] == ["crlf line", "bad \ufffd byte"]
    assert body[5002 + 1500] == "DEPLOYMENT_ID=flood-42" and body[5002 + 1501] == "more 1501"
    assert body[-2:] == ["DEPLOYMENT_ID=flood-second", "no newline at the end"]
    assert len(body) == 5000 + 2 + 3001 + 2 and done.output_lines == len(out)
    assert done.deployment_id == "flood-42"  # the first match wins


async def test_output_writer_holds_a_flood_back_at_its_source(core: Core, admin: Actor) -> None:
    """A reading thread that appends faster than lines are stored waits: at most
    ``max_pending`` lines (and the chunk in hand) are queued, and every line is stored in order."""
    from labtui.core.jobs.output import OutputWriter

    job = await core.jobs.run_script(admin, "hello")  # a job row to hang lines on; no worker runs it
    writer = OutputWriter(core.db, max_pending=20, max_batch=10, max_delay=0.01)
    writer.start()
    seen: list[int] = []

    def flood() -> None:
        for chunk in range(100):
            writer.append_many(job.id, [f"line {chunk * 5 + i}" for i in range(5)])
            seen.append(writer._pending)
        writer.flush()

    try:
        await asyncio.to_thread(flood)
    finally:
        writer.close()
    assert max(seen) <= 20 + 5 and writer._pending == 0
    assert await job_lines(core, admin, job.id) == [f"line {i}" for i in range(500)]


async def test_jobs_run_niced_by_the_config(core: Core, admin: Actor, worker: JobWorker) -> None:
    """``jobs.nice`` (5 by default): the job's processes yield the CPU to the screens."""
    add_service(core, "niced", {"deploy.sh": 'echo "niceness $(nice)"\n'})
    job = await core.jobs.run_script(admin, "niced")
    done = await core.jobs.wait(admin, job.id, timeout=60)
    out = await job_lines(core, admin, job.id)
    assert done.status == "completed", out
    assert out == [
        "--- Running deploy.sh for niced ---",
        "$ bash " + str(core.lab_dir / "services" / "niced" / "deploy.sh"),
        f"niceness {min(19, os.nice(0) + 5)}",
    ]


async def test_running_job_without_heartbeat_becomes_lost(make_core: MakeCore) -> None:
    core = await make_core(FAST)
    await core.auth.create_admin("admin", "pw-Admin-123")
    admin = (await core.auth.login("admin", "pw-Admin-123")).actor
    job = await core.jobs.run_script(admin, "hello")
    # A worker in another process claimed it, then died (no more heartbeats).
    old = utcnow() - dt.timedelta(seconds=30)

    def claim_and_die(s):  # type: ignore[no-untyped-def]
        row = s.get(Job, job.id)
        row.status, row.worker, row.started_at, row.heartbeat_at = "running", "gone-1-abc", old, old

    await core.db.run(claim_and_die)
    worker = JobWorker(core.jobs)
    await worker.start()
    done = await core.jobs.wait(admin, job.id, timeout=10)
    assert done.status == "lost" and done.finished_at is not None
    assert (await job_lines(core, admin, job.id))[-1].startswith("[LOST: worker gone-1-abc stopped heartbeating")
    lost = await core.db.run(lambda s: s.scalar(select(AuditRecord.target).where(AuditRecord.action == "job.lost")))
    assert lost == f"jobs/{job.id}"


async def test_stopping_a_worker_requeues_its_running_jobs(make_core: MakeCore) -> None:
    core = await make_core(FAST)
    await core.auth.create_admin("admin", "pw-Admin-123")
    admin = (await core.auth.login("admin", "pw-Admin-123")).actor
    worker = JobWorker(core.jobs)
    await worker.start()
    job = await core.jobs.run_script(admin, "slow")
    await until(lambda: sleeps_of(os.getpid()), timeout=30, what="the job's sleep")
    await worker.stop()  # like SIGTERM on labtui serve
    back = await core.jobs.get(admin, job.id)
    assert back.status == "queued" and back.worker is None
    assert (await job_lines(core, admin, job.id))[-1].startswith("[REQUEUED: worker ")
    assert sleeps_of(os.getpid()) == []
    # Another worker picks it up again.
    other = JobWorker(core.jobs)
    await other.start()

    async def running() -> bool:
        return (await core.jobs.get(admin, job.id)).status == "running"

    await until(running, what="the other worker to run the job")
    assert (await core.jobs.get(admin, job.id)).worker == other.name
    await core.jobs.cancel(admin, job.id)
    assert (await core.jobs.wait(admin, job.id, timeout=10)).status == "cancelled"


async def test_stop_uses_stop_yml_or_the_lab_stop_flow(core: Core, admin: Actor, worker: JobWorker) -> None:
    own = await core.jobs.stop(admin, "hello")
    assert own.action == "stop" and own.script == "stop.yml"
    flow = await core.jobs.stop(admin, "greet")
    assert flow.script is None
    assert (await core.jobs.wait(admin, own.id, timeout=60)).status == "completed"
    assert "PLAY [Stop hello] " in "\n".join(await job_lines(core, admin, own.id))
    assert (await core.jobs.wait(admin, flow.id, timeout=60)).status == "completed"
    out = await job_lines(core, admin, flow.id)
    assert out[0] == "--- Generating inventory ---"
    assert "--- Stopping instances of greet ---" in out
    assert any("Demo lab: stopping instances of greet" in line for line in out)
    (core.lab_dir / "init_playbook" / "stop-instances.yaml").unlink()
    with pytest.raises(ValidationError, match="nothing to stop it with"):
        await core.jobs.stop(admin, "greet")


async def test_jobs_run_with_a_scrubbed_environment(
    core: Core, admin: Actor, worker: JobWorker, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LABTUI_TEST_SECRET", "hunter2-secret")
    add_service(core, "envdump", {"deploy.sh": "env | sort\n"})
    add_service(
        core,
        "envplay",
        {
            "deploy.yml": "- hosts: localhost\n  gather_facts: false\n  tasks:\n"
            "    - ansible.builtin.debug:\n        msg: \"secret={{ lookup('env', 'LABTUI_TEST_SECRET') }}\"\n"
        },
    )
    bash_job = await core.jobs.run_script(admin, "envdump")
    play_job = await core.jobs.run_script(admin, "envplay")
    assert (await core.jobs.wait(admin, bash_job.id, timeout=30)).status == "completed"
    assert (await core.jobs.wait(admin, play_job.id, timeout=60)).status == "completed"
    env = dict(line.split("=", 1) for line in (await job_lines(core, admin, bash_job.id))[1:] if "=" in line)
    assert "LABTUI_TEST_SECRET" not in env
    assert env["PATH"].split(os.pathsep)[0] == str(Path(sys.executable).parent)
    assert env["LABTUI_JOB_ID"] == bash_job.id and env["HOME"]
    play_out = "\n".join(await job_lines(core, admin, play_job.id))
    assert '"msg": "secret="' in play_out and "hunter2" not in play_out
    # ansible-runner's artifacts record the environment: it must be the scrubbed one.
    artifacts = list((core.paths.home / "jobs" / play_job.id).rglob("command"))
    assert artifacts and all("hunter2" not in p.read_text() for p in artifacts)
    assert not list((core.paths.home / "jobs" / play_job.id).rglob("extravars"))


async def test_vault_password_file_reaches_playbooks(core: Core, admin: Actor, worker: JobWorker) -> None:
    password = "vault-pass-Sw0rdfish"
    await core.vault.set(admin, password)
    mode = stat.S_IMODE(core.vault.path.stat().st_mode)
    assert mode == 0o600 and core.vault.path.read_text() == password + "\n"
    svc = add_service(
        core,
        "vaulted",
        {
            "secret.yml": "secret_word: abracadabra\n",
            "deploy.yml": "- hosts: localhost\n  gather_facts: false\n  vars_files: [secret.yml]\n  tasks:\n"
            '    - ansible.builtin.debug:\n        msg: "secret has {{ secret_word | length }} letters"\n',
        },
    )
    encrypt = await asyncio.create_subprocess_exec(
        str(Path(sys.executable).parent / "ansible-vault"),
        "encrypt",
        "--vault-password-file",
        str(core.vault.path),
        "secret.yml",
        cwd=svc,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    assert await encrypt.wait() == 0
    assert "$ANSIBLE_VAULT" in (svc / "secret.yml").read_text()
    job = await core.jobs.run_script(admin, "vaulted")
    done = await core.jobs.wait(admin, job.id, timeout=60)
    out = await job_lines(core, admin, job.id)
    assert done.status == "completed", out
    assert f"--vault-password-file {core.vault.path}" in out[0]
    assert any("secret has 11 letters" in line for line in out)
    assert not any(password in line for line in out)
    details = await core.db.run(
        lambda s: [a.detail for a in s.scalars(select(AuditRecord).where(AuditRecord.action == "vault.set"))]
    )
    assert len(details) == 1 and password not in details[0]
    with pytest.raises(ValidationError):
        await core.vault.set(admin, " padded ")


def test_prune_job_dirs_keeps_recent_and_active(tmp_path: Path) -> None:
    for name in ("old", "active", "recent"):
        (tmp_path / name).mkdir()
    old = time.time() - 40 * 86400
    os.utime(tmp_path / "old", (old, old))
    os.utime(tmp_path / "active", (old, old))
    assert prune_job_dirs(tmp_path, 30, keep={"active"}) == ["old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["active", "recent"]


async def test_leases_one_holder_and_takeover(core: Core) -> None:
    clock = ManualClock()
    a = Lease(core.db, "scheduler", seconds=0.5, holder="a", clock=clock)
    b = Lease(core.db, "scheduler", seconds=0.5, holder="b", clock=clock)
    assert await a.hold() and not await b.hold()
    clock.advance(0.4)
    assert await a.hold() and not await b.hold()  # renewed: 0.5 s from now again
    clock.advance(0.4)
    assert not await b.hold()
    clock.advance(0.2)  # a renewed nothing for 0.6 s: expired
    assert await b.hold() and not await a.hold()
    assert await a.current_holder() == "b"
    await b.release()
    assert await a.hold()


async def test_job_info_serialises(core: Core, admin: Actor) -> None:
    job = await core.jobs.run_script(admin, "greet", "greet", {"name": "n"})
    data = json.loads(json.dumps(job.as_json()))
    assert data["id"] == job.id and data["status"] == "queued" and data["inputs"]["name"] == "n"


async def test_process_workers_run_due_schedules_as_jobs(core: Core, admin: Actor) -> None:
    from labtui.core.db.schedules import ScheduledJob
    from labtui.core.schedules import ScheduleSpec
    from labtui.core.workers import ProcessWorkers

    schedule = await core.schedules.create(
        admin, ScheduleSpec(name="greeter", cron="* * * * *", service="greet", script="greet", inputs={"name": "cron"})
    )

    def due_now(s):  # type: ignore[no-untyped-def]
        s.get(ScheduledJob, schedule.id).next_run_at = utcnow() - dt.timedelta(seconds=1)

    await core.db.run(due_now)
    workers = ProcessWorkers(core, scheduler=True)
    await workers.start()
    try:
        deadline = time.monotonic() + 15
        jobs = []
        while time.monotonic() < deadline:
            jobs = [j for j in await core.jobs.list(admin) if j.status == "completed"]
            if jobs:
                break
            await asyncio.sleep(0.1)
    finally:
        await workers.stop()
    assert jobs, "the due schedule produced no completed job"
    job = jobs[0]
    assert (job.service, job.script, job.schedule_id, job.username) == (
        "greet",
        "greet",
        schedule.id,
        "scheduler:greeter",
    )
    assert "Hello, cron!" in await job_lines(core, admin, job.id)
