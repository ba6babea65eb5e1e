"""The jobs CLI and ``labtui serve`` as separate processes on one data dir."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from labtui.cli import COMMAND_MODULES
from labtui.core.actor import Actor
from labtui.core.config import Config, JobsConfig
from labtui.core.jobs.worker import JobWorker
from labtui.core.runtime import Core
from tests.conftest import ADMIN_PASSWORD, MakeCore

MINE = ("serve", "services", "jobs", "vault")


def _cli_prefix() -> list[str]:
    """``python -m labtui``; while sibling subcommands are still being written, a parser with
    this area's subcommands only (the same ``main`` and handlers)."""
    if all(importlib.util.find_spec(f"labtui.cli.{m}") for m in COMMAND_MODULES):
        return [sys.executable, "-m", "labtui"]
    code = f"import sys, labtui.cli as c; c.COMMAND_MODULES = {MINE!r}; raise SystemExit(c.main(sys.argv[1:]))"
    return [sys.executable, "-c", code]


@pytest.fixture
async def home(make_core: MakeCore, tmp_path: Path) -> Path:
    core = await make_core()
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    return tmp_path / "home"


def cli(home: Path, *args: str, stdin: str | None = None, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LABTUI_HOME"}
    return subprocess.run(
        [*_cli_prefix(), "--home", str(home), *args],
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=env,
    )


def start_serve(home: Path) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if k != "LABTUI_HOME"}
    return subprocess.Popen(
        [*_cli_prefix(), "--home", str(home), "serve", "--no-scheduler"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for(predicate, timeout: float = 30.0, step: float = 0.1):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    raise AssertionError("condition not met in time")


async def test_run_hello_follow_then_list_json(home: Path) -> None:
    run = cli(home, "jobs", "run", "hello", "--as", "admin", "--follow")
    assert run.returncode == 0, run.stderr
    assert "PLAY [Deploy hello] " in run.stdout and "DEPLOYMENT_ID=hello-" in run.stdout
    assert run.stdout.splitlines()[0].startswith("$ ansible-playbook ")
    assert " completed" in run.stderr
    listed = cli(home, "jobs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    jobs = json.loads(listed.stdout)
    assert jobs[0]["service"] == "hello" and jobs[0]["status"] == "completed"
    assert jobs[0]["deployment_id"].startswith("hello-")
    shown = cli(home, "jobs", "show", jobs[0]["id"], "--json")
    assert json.loads(shown.stdout)["output"][0].startswith("$ ansible-playbook")
    table = cli(home, "jobs", "list")
    assert jobs[0]["id"] in table.stdout and "completed" in table.stdout


async def test_run_broken_exits_non_zero(home: Path) -> None:
    run = cli(home, "jobs", "run", "broken", "--as", "admin", "--follow")
    assert run.returncode == 1
    assert "[EXIT CODE: 2]" in run.stdout and "failed" in run.stderr
    quiet = cli(home, "jobs", "run", "broken", "--as", "admin")
    assert quiet.returncode == 1 and len(quiet.stdout.strip()) == 8  # the job id
    show = json.loads(cli(home, "jobs", "show", quiet.stdout.strip(), "--json").stdout)
    assert show["status"] == "failed" and show["output"][-1] == "[EXIT CODE: 2]"
    follow = cli(home, "jobs", "follow", quiet.stdout.strip())
    assert follow.returncode == 1 and "[EXIT CODE: 2]" in follow.stdout


async def test_inputs_on_the_command_line(home: Path) -> None:
    run = cli(
        home,
        "jobs",
        "run",
        "greet",
        "greet",
        "--input",
        "name=Ada",
        "--input",
        "tags=a",
        "--input",
        "tags=b",
        "--as",
        "admin",
        "--follow",
    )
    assert run.returncode == 0, run.stderr
    assert "Hello, Ada!" in run.stdout and "Tags: a,b" in run.stdout
    missing = cli(home, "jobs", "run", "greet", "greet", "--input", "mood=happy", "--as", "admin")
    assert missing.returncode == 2 and "Missing required input: name" in missing.stderr
    assert json.loads(cli(home, "jobs", "list", "--json").stdout)[0]["inputs"]["tags"] == ["a", "b"]
    unknown = cli(home, "jobs", "run", "greet", "nope", "--as", "admin")
    assert unknown.returncode == 2 and "Script 'nope' not found for service 'greet'" in unknown.stderr
    nobody = cli(home, "jobs", "run", "hello", "--as", "ghost")
    assert nobody.returncode == 1 and "No active user named 'ghost'" in nobody.stderr


async def test_services_list_and_vault_set(home: Path) -> None:
    listed = cli(home, "services", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    services = {s["name"]: s for s in json.loads(listed.stdout)}
    assert {"broken", "greet", "hello", "noisy", "slow"} <= set(services)
    assert [s["name"] for s in services["greet"]["scripts"]] == ["deploy", "greet"]
    vault = cli(home, "vault", "set", "--password-stdin", stdin="Open-Sesame-42\n")
    assert vault.returncode == 0, vault.stderr
    assert "Open-Sesame-42" not in vault.stdout + vault.stderr
    path = home / "vault_pass.txt"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600 and path.read_text() == "Open-Sesame-42\n"
    assert "set" in cli(home, "vault", "status").stdout
    log = (home / "labtui.log").read_text() if (home / "labtui.log").exists() else ""
    assert "Open-Sesame-42" not in log


async def test_cancel_from_the_cli(make_core: MakeCore, home: Path) -> None:
    core = await make_core()
    admin = (await core.auth.login("admin", ADMIN_PASSWORD)).actor
    job = await core.jobs.run_script(admin, "slow")
    out = cli(home, "jobs", "cancel", job.id, "--as", "admin")
    assert out.returncode == 0 and f"job {job.id} cancelled" in out.stdout
    again = cli(home, "jobs", "cancel", job.id, "--as", "admin")
    assert again.returncode == 1 and "already cancelled" in again.stderr


def _sleeps_under(pids: list[psutil.Process]) -> list[psutil.Process]:
    return [p for p in pids if p.is_running() and p.status() != psutil.STATUS_ZOMBIE and p.name() == "sleep"]


async def test_serve_requeues_on_sigterm_and_a_killed_worker_leaves_the_job_lost(
    make_core: MakeCore, tmp_path: Path
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "config.yaml").write_text("jobs:\n  lease_seconds: 1\n")
    core: Core = await make_core(Config(jobs=JobsConfig(lease_seconds=1)))
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    admin = (await core.auth.login("admin", ADMIN_PASSWORD)).actor
    reader = Actor.system("test")
    job = await core.jobs.run_script(admin, "slow")

    serve = start_serve(home)
    try:
        running = wait_for(lambda: _sleeps_under(psutil.Process(serve.pid).children(recursive=True)), timeout=60)
        assert running
        serve.send_signal(signal.SIGTERM)
        assert serve.wait(timeout=20) == 0, serve.stderr.read() if serve.stderr else ""
    finally:
        if serve.poll() is None:
            serve.kill()
    back = await core.jobs.get(reader, job.id)
    assert back.status == "queued" and back.worker is None
    assert not _sleeps_under(running)

    serve = start_serve(home)
    try:
        tree = wait_for(
            lambda: (
                _sleeps_under(psutil.Process(serve.pid).children(recursive=True))
                and psutil.Process(serve.pid).children(recursive=True)
            ),
            timeout=60,
        )
        assert (await core.jobs.get(reader, job.id)).status == "running"
        serve.kill()  # the worker dies without a word
        serve.wait(timeout=10)
    finally:
        if serve.poll() is None:
            serve.kill()
        for p in tree:
            try:
                p.kill()
            except psutil.Error:
                pass
    sweeper = JobWorker(core.jobs)
    await sweeper.start()
    done = await core.jobs.wait(reader, job.id, timeout=15)
    assert done.status == "lost"
    assert (await core.jobs.output(reader, job.id, done.output_lines - 1))[-1].line.startswith("[LOST: worker ")
