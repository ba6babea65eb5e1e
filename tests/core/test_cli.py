"""The ``labtui`` command in real processes: accounts, the audit log, exit codes, and no
secret in any output or log."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from labtui.core.config import DEMO_LAB, AuthConfig, Config
from labtui.core.errors import AccountLocked, AuthError
from labtui.core.runtime import Core, Paths

PASSWORD = "pw-Admin-123"


def labtui(home: Path, *args: str, stdin: str = "", config: Path | None = None) -> subprocess.CompletedProcess[str]:
    cmd = [sys.executable, "-m", "labtui", "--home", str(home)]
    if config is not None:
        cmd += ["--config", str(config)]
    env = {k: v for k, v in os.environ.items() if k != "LABTUI_HOME"}
    return subprocess.run([*cmd, *args], input=stdin, capture_output=True, text=True, env=env, timeout=120)


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


def test_create_admin_list_and_audit(home: Path) -> None:
    made = labtui(home, "users", "create-admin", "admin", "--password-stdin", stdin=f"{PASSWORD}\n")
    assert made.returncode == 0, made.stderr
    users = json.loads(labtui(home, "users", "list", "--json").stdout)
    assert [(u["username"], u["status"], u["roles"]) for u in users] == [("admin", "active", ["super-admin"])]
    records = json.loads(labtui(home, "audit", "list", "--json").stdout)
    assert (records[0]["action"], records[0]["target"], records[0]["origin"]) == ("user.create_admin", "users/admin", "local")
    assert PASSWORD not in made.stdout + made.stderr


async def test_failures_lockout_and_login_are_listed_with_origins(home: Path) -> None:
    assert labtui(home, "users", "create-admin", "admin", "--password-stdin", stdin=f"{PASSWORD}\n").returncode == 0
    core = Core(Config(auth=AuthConfig(lockout_minutes=5)), Paths(home))
    await core.start()
    try:
        for _ in range(4):
            with pytest.raises(AuthError):
                await core.auth.login("admin", "wrong-password", origin="203.0.113.5")
        with pytest.raises(AccountLocked):
            await core.auth.login("admin", "wrong-password", origin="203.0.113.5")
        from sqlalchemy import delete

        from labtui.core.db.models import Lockout

        await core.db.run(lambda s: s.execute(delete(Lockout)))  # the lock has expired
        await core.auth.login("admin", PASSWORD, origin="198.51.100.7")
    finally:
        await core.aclose()
    records = json.loads(labtui(home, "audit", "list", "--limit", "20", "--json").stdout)
    seen = [(r["action"], r["origin"]) for r in records]
    assert seen.count(("login.failed", "203.0.113.5")) == 5
    assert ("login.lockout", "203.0.113.5") in seen and ("login", "198.51.100.7") in seen
    dump = json.dumps(records) + Paths(home).log.read_text()
    assert PASSWORD not in dump and "wrong-password" not in dump


def test_reset_password_from_stdin_and_rules(home: Path) -> None:
    labtui(home, "users", "create-admin", "admin", "--password-stdin", stdin=f"{PASSWORD}\n")
    short = labtui(home, "users", "reset-password", "admin", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    assert labtui(home, "users", "reset-password", "admin", "--password-stdin", stdin="a-new-password\n").returncode == 0
    bad_name = labtui(home, "users", "create", "x y", "--role", "viewer", "--password-stdin", stdin="long-enough-1\n")
    assert bad_name.returncode == 2 and "Usernames are 3 to 30" in bad_name.stderr
    assert "Traceback" not in short.stderr + bad_name.stderr


async def test_reset_password_replaces_the_old_one(home: Path) -> None:
    labtui(home, "users", "create-admin", "admin", "--password-stdin", stdin=f"{PASSWORD}\n")
    labtui(home, "users", "reset-password", "admin", "--password-stdin", stdin="a-new-password\n")
    core = Core(Config(), Paths(home))
    await core.start()
    try:
        with pytest.raises(AuthError):
            await core.auth.login("admin", PASSWORD)
        assert (await core.auth.login("admin", "a-new-password")).actor.username == "admin"
    finally:
        await core.aclose()


def test_invite_prints_the_token_once_and_keeps_it_out_of_the_audit(home: Path) -> None:
    labtui(home, "users", "create-admin", "admin", "--password-stdin", stdin=f"{PASSWORD}\n")
    out = labtui(home, "users", "invite", "bob", "--email", "bob@example.org", "--role", "viewer", "--as", "admin")
    assert out.returncode == 0, out.stderr
    token = out.stdout.split("invitation token: ", 1)[1].strip()
    audit = labtui(home, "audit", "list", "--json").stdout
    assert token not in audit and token not in Paths(home).log.read_text()
    assert '"action": "user.invite"' in audit


def test_bad_config_exits_2_with_file_line_and_key(home: Path, tmp_path: Path) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("auth:\n  lockout_attempts: 5\n  lockout_minuts: 5\n")
    result = labtui(home, "users", "list", config=config)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [f"labtui: bad config: {config}:3: auth.lockout_minuts: unknown key (known here: invite_hours, lockout_attempts, lockout_minutes, reset_minutes, session_hours)"]


def test_malformed_type_file_is_reported_with_file_and_line(home: Path, tmp_path: Path) -> None:
    lab = tmp_path / "lab-src"
    shutil.copytree(DEMO_LAB, lab)
    (lab / "inventory_types" / "gadget.yaml").write_text(
        "slug: gadget\nlabel: Gadget\nfields:\n  - name: size\n    type: float\n"
    )
    config = tmp_path / "config.yaml"
    config.write_text(f"lab:\n  repo: {lab}\n")
    result = labtui(home, "users", "list", config=config)
    assert result.returncode == 0 and "Traceback" not in result.stderr
    assert "inventory_types/gadget.yaml:5" in result.stderr and "'size'" in result.stderr


def test_init_writes_the_commented_config_once(home: Path) -> None:
    assert labtui(home, "init").returncode == 0
    text = (home / "config.yaml").read_text()
    assert "lockout_attempts: 5" in text and "# Failed logins" in text
    again = labtui(home, "init")
    assert again.returncode == 1 and "--force" in again.stderr
