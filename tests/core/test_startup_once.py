"""Startup runs once per start of ``labtui serve`` or the TUI, never per CLI command or SSH
session; a CLI command on a data dir no start has prepared yet runs it once itself; a
RETURN's startup config gives the lab (docs/architecture.md, startup).

Everything is real: CLI subprocesses, a ``labtui serve --ssh`` subprocess, a bare git repo
served as a file:// URL, SSH sessions over asyncssh.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import asyncssh
import pytest

from labtui.core.config import Config, LabConfig
from labtui.core.runtime import Core, Paths
from tests.waiting import until

PASSWORD = "pw-Admin-123"
_GIT_ID = {
    "GIT_AUTHOR_NAME": "t",
    "GIT_AUTHOR_EMAIL": "t@localhost",
    "GIT_COMMITTER_NAME": "t",
    "GIT_COMMITTER_EMAIL": "t@localhost",
}


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "LABTUI_HOME"}


def labtui(home: Path, config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "labtui", "--home", str(home), "--config", str(config), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
        check=False,
    )


def git(cwd: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, env={**_env(), **_GIT_ID}, capture_output=True, text=True, check=True
    ).stdout.strip()


def service_commit(work: Path, name: str) -> None:
    """A commit adding service ``name`` (a deploy.sh) to the work tree, pushed to its origin."""
    folder = work / "services" / name
    folder.mkdir(parents=True)
    (folder / "deploy.sh").write_text("#!/bin/sh\necho deployed\n")
    (folder / "deploy.sh").chmod(0o755)
    git(work, "add", "-A")
    git(work, "commit", "-q", "-m", f"service {name}")
    git(work, "push", "-q", "origin", "HEAD")


def bare_lab(tmp_path: Path, service: str) -> tuple[str, Path]:
    """A bare repo (the lab's origin) with one service; its file:// URL and a work tree."""
    bare = tmp_path / "cloudlab.git"
    subprocess.run(["git", "init", "-q", "--bare", "--initial-branch=main", str(bare)], check=True)
    work = tmp_path / "cloudlab-work"
    subprocess.run(["git", "clone", "-q", str(bare), str(work)], check=True, capture_output=True)
    git(work, "checkout", "-q", "-b", "main")
    service_commit(work, service)
    return bare.as_uri(), work


def services(home: Path, config: Path) -> set[str]:
    listed = labtui(home, config, "services", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    return {s["name"] for s in json.loads(listed.stdout)}


def runs_logged(home: Path, command: str) -> int:
    return len(re.findall(rf"startup action \S+: RUN {re.escape(command)}$", (home / "labtui.log").read_text(), re.M))


async def test_a_cloudlab_lab_starts_once_from_the_git_url_its_actions_return(tmp_path: Path) -> None:
    url, _work = bare_lab(tmp_path, "fromgit")
    settings = tmp_path / "cloudlabsettings"
    settings.mkdir()
    (settings / "startup.conf.yaml").write_text(f"core_settings: {settings / 'core.yaml'}\ngit_url: {url}\n")
    (settings / "core.yaml").write_text("dns_basename: lab.example\n")
    (tmp_path / "startup_action.conf.yaml").write_text(
        f"startup_action:\n  - #RUN ls /app\n  - RUN mkdir made-once\n  - RETURN {settings / 'startup.conf.yaml'}\n"
    )
    config = tmp_path / "config.yaml"  # no lab.repo: the returned git_url is the lab
    config.write_text("lab:\n  startup_actions: startup_action.conf.yaml\n")
    home = tmp_path / "home"

    serve_err = tmp_path / "serve.stderr"
    with serve_err.open("w") as err:
        serve = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "labtui",
            "--home",
            str(home),
            "--config",
            str(config),
            "serve",
            "--no-scheduler",
            "--ssh",
            "127.0.0.1:0",
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=_env(),
        )
    try:
        found = await until(
            lambda: re.search(r"SSH on [\d.]+:(\d+)", serve_err.read_text()) or serve.returncode is not None,
            timeout=60,
            what="labtui serve to listen",
        )
        assert isinstance(found, re.Match), serve_err.read_text()
        port = int(found.group(1))

        made = labtui(home, config, "users", "create-admin", "admin", "--password-stdin", stdin=f"{PASSWORD}\n")
        assert made.returncode == 0, made.stderr
        commands = [
            ("users", "list"),
            ("services", "list"),
            ("jobs", "list"),
            ("schedules", "list"),
            ("configs", "list", "fromgit"),
            ("inventory", "types"),
            ("audit", "list"),
            ("vault", "status"),
        ]
        for args in commands:
            ran = labtui(home, config, *args)
            assert ran.returncode == 0, (args, ran.stderr)
        assert services(home, config) == {"fromgit"}  # the tenth; the demo lab's are not there

        for _ in range(2):
            async with asyncssh.connect(
                "127.0.0.1", port, username="admin", password=PASSWORD, known_hosts=None
            ) as conn:
                listing = await conn.run("services list --json", timeout=60)
            assert listing.exit_status == 0, listing.stderr
            assert {s["name"] for s in json.loads(str(listing.stdout))} == {"fromgit"}
    finally:
        serve.terminate()
        await asyncio.wait_for(serve.wait(), 60)

    assert (home / "made-once").is_dir()
    assert runs_logged(home, "mkdir made-once") == 1
    record = json.loads((home / "startup.json").read_text())
    assert record["ok"] is True
    assert record["actions"]["ran"] == ["RUN mkdir made-once"]
    assert record["startup_conf"]["git_url"] == url
    assert record["startup_conf"]["dns_basename"] == "lab.example"
    assert record["lab"] == {"source": url, "action": "cloned", "checkout": str(home / "lab")}
    assert git(home / "lab", "remote", "get-url", "origin") == url


async def test_a_cli_command_on_a_fresh_data_dir_starts_once_then_only_reads(tmp_path: Path) -> None:
    url, work = bare_lab(tmp_path, "first")
    (tmp_path / "actions.yaml").write_text("setup:\n  - RUN mkdir prepared\n")
    config = tmp_path / "config.yaml"
    config.write_text(f"lab:\n  repo: {url}\n  startup_actions: actions.yaml\n")
    home = tmp_path / "home"

    # No serve ever ran: the first command prepares the data dir, and records it.
    assert services(home, config) == {"first"}
    assert (home / "prepared").is_dir()
    assert json.loads((home / "startup.json").read_text())["ok"] is True
    # Later commands read: the RUN is not repeated (mkdir would fail, exit 2) and nothing
    # is pulled (a commit pushed since is not seen).
    service_commit(work, "second")
    for _ in range(3):
        assert services(home, config) == {"first"}
    assert runs_logged(home, "mkdir prepared") == 1

    # A start (what serve and the TUI run) runs the actions again and pulls.
    (home / "prepared").rmdir()
    core = Core(Config(lab=LabConfig(repo=url, startup_actions=str(tmp_path / "actions.yaml"))), Paths(home))
    try:
        await core.start()
    finally:
        await core.aclose()
    assert (home / "prepared").is_dir()  # run again (this process logs elsewhere)
    assert json.loads((home / "startup.json").read_text())["pid"] == os.getpid()
    assert services(home, config) == {"first", "second"}


def test_a_failed_start_is_recorded_and_the_next_command_tries_again(tmp_path: Path) -> None:
    actions = tmp_path / "actions.yaml"
    actions.write_text("setup:\n  - RUN mkdir not-yet/inside\n")
    config = tmp_path / "config.yaml"
    config.write_text("lab:\n  startup_actions: actions.yaml\n")
    home = tmp_path / "home"

    failed = labtui(home, config, "services", "list")
    assert failed.returncode == 2 and "Traceback" not in failed.stderr
    assert "actions.yaml:2: RUN mkdir not-yet/inside failed" in failed.stderr
    record = json.loads((home / "startup.json").read_text())
    assert record["ok"] is False and "mkdir not-yet/inside" in record["error"]

    (home / "not-yet").mkdir()  # fixed: the next command starts, since none completed
    assert labtui(home, config, "services", "list").returncode == 0
    assert json.loads((home / "startup.json").read_text())["ok"] is True
    assert runs_logged(home, "mkdir not-yet/inside") == 2


@pytest.mark.parametrize("missing", ["the record", "the checkout"])
def test_a_command_starts_again_when_the_record_or_the_checkout_is_gone(tmp_path: Path, missing: str) -> None:
    import shutil

    config = tmp_path / "config.yaml"
    config.write_text("lab: {}\n")
    home = tmp_path / "home"
    assert "greet" in services(home, config)
    if missing == "the record":
        (home / "startup.json").unlink()
    else:
        shutil.rmtree(home / "lab")
    assert "greet" in services(home, config)
    assert (home / "startup.json").is_file() and (home / "lab" / "services").is_dir()


@pytest.mark.parametrize("start", [["tui", "--no-workers"], ["serve", "--no-scheduler"]], ids=["tui", "serve"])
async def test_a_tui_or_serve_start_runs_the_startup_again(tmp_path: Path, start: list[str]) -> None:
    import pexpect

    (tmp_path / "actions.yaml").write_text("setup:\n  - RUN mkdir prepared\n")
    config = tmp_path / "config.yaml"
    config.write_text("lab:\n  startup_actions: actions.yaml\n")
    home = tmp_path / "home"
    assert "greet" in services(home, config)  # the first command's start
    (home / "prepared").rmdir()

    proc = pexpect.spawn(
        sys.executable,
        ["-m", "labtui", "--home", str(home), "--config", str(config), *start],
        env=_env(),
        dimensions=(30, 100),
    )
    try:
        record = await until(
            lambda: (read := json.loads((home / "startup.json").read_text()))["pid"] == proc.pid and read,
            timeout=60,
            what=f"the {start[0]} start to be recorded",
        )
    finally:
        proc.terminate(force=True)
    assert record["ok"] is True and record["actions"]["ran"] == ["RUN mkdir prepared"]
    assert (home / "prepared").is_dir()
