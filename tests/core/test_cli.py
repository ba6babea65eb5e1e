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
    return subprocess.run([*cmd, *args], input=stdin, capture_output=True, text=True, env=env, timeout=120, check=False)


def labtui_env(home: Path, extra: dict[str, str], *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """:func:`labtui` with extra environment variables."""
    env = {k: v for k, v in os.environ.items() if k != "LABTUI_HOME"} | extra
    return subprocess.run(
        [sys.executable, "-m", "labtui", "--home", str(home), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
def home(tmp_path: Path) -> Path:
    return tmp_path / "home"


@pytest.fixture(scope="module")
def seeded_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir where ``labtui users create-admin admin`` has run (once per module: it clones
    the demo lab and hashes with the real argon2 parameters)."""
    home = tmp_path_factory.mktemp("seeded") / "home"
    made = labtui(home, "users", "create-admin", "admin", "--password-stdin", stdin=f"{PASSWORD}\n")
    assert made.returncode == 0, made.stderr
    return home


@pytest.fixture
def admin_home(seeded_home: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`seeded_home` for one test."""
    home = tmp_path / "home"
    shutil.copytree(seeded_home, home, symlinks=True)
    return home


def test_create_admin_list_and_audit(home: Path) -> None:
    made = labtui(home, "users", "create-admin", "admin", "--password-stdin", stdin=f"{PASSWORD}\n")
    assert made.returncode == 0, made.stderr
    users = json.loads(labtui(home, "users", "list", "--json").stdout)
    assert [(u["username"], u["status"], u["roles"]) for u in users] == [("admin", "active", ["super-admin"])]
    listed = labtui(home, "audit", "list", "--json").stdout
    made_admin = [r for r in json.loads(listed) if r["action"] == "user.create_admin"]
    assert [(r["username"], r["target"], r["origin"]) for r in made_admin] == [("cli", "users/admin", "local")]
    assert PASSWORD not in made.stdout + made.stderr + listed + Paths(home).log.read_text()


async def test_failures_lockout_and_login_are_listed_with_origins(admin_home: Path) -> None:
    home = admin_home
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


def test_reset_password_from_stdin_and_rules(admin_home: Path) -> None:
    home = admin_home
    short = labtui(home, "users", "reset-password", "admin", "--password-stdin", stdin="short\n")
    assert short.returncode == 2 and "at least 8 characters" in short.stderr
    assert (
        labtui(home, "users", "reset-password", "admin", "--password-stdin", stdin="a-new-password\n").returncode == 0
    )
    bad_name = labtui(home, "users", "create", "x y", "--role", "viewer", "--password-stdin", stdin="long-enough-1\n")
    assert bad_name.returncode == 2 and "Usernames are 3 to 30" in bad_name.stderr
    assert "Traceback" not in short.stderr + bad_name.stderr


async def test_reset_password_replaces_the_old_one(admin_home: Path) -> None:
    home = admin_home
    labtui(home, "users", "reset-password", "admin", "--password-stdin", stdin="a-new-password\n")
    core = Core(Config(), Paths(home))
    await core.start()
    try:
        with pytest.raises(AuthError):
            await core.auth.login("admin", PASSWORD)
        assert (await core.auth.login("admin", "a-new-password")).actor.username == "admin"
    finally:
        await core.aclose()


def test_invite_prints_the_token_once_and_keeps_it_out_of_the_audit(admin_home: Path) -> None:
    home = admin_home
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
    assert result.stderr.strip().splitlines() == [
        f"labtui: bad config: {config}:3: auth.lockout_minuts: unknown key (known here: invite_hours, lockout_attempts, lockout_minutes, reset_minutes, session_hours)"
    ]


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


# --- Bad configs, through the real command ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "line", "says"),
    [
        ("lab:\n  repo: [unclosed\n", 3, "invalid YAML"),
        ("auth:\n  lockout_attempts: many\n", 2, "auth.lockout_attempts: expected a whole number"),
        ("lab:\n  pull: sometimes\n", 2, "lab.pull: expected true or false"),
        (
            "email:\n  sendamatic:\n    api_key: ${LABTUI_TEST_UNSET}\n",
            3,
            "email.sendamatic.api_key: environment variable LABTUI_TEST_UNSET is not set",
        ),
        (
            "email:\n  smtp:\n    password: ${file:/nonexistent/labtui-secret}\n",
            3,
            "email.smtp.password: cannot read secret file /nonexistent/labtui-secret",
        ),
    ],
)
def test_bad_config_is_one_line_with_file_line_and_key(
    home: Path, tmp_path: Path, text: str, line: int, says: str
) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text(text)
    result = labtui(home, "users", "list", config=config)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr
    assert lines[0].startswith(f"labtui: bad config: {config}:{line}: ") and says in lines[0]
    assert result.stdout == ""


def test_bad_config_in_the_data_dir_is_found_without_config_option(home: Path) -> None:
    home.mkdir(parents=True)
    (home / "config.yaml").write_text("database:\n  url: ''\n  pool: 3\n")
    result = labtui(home, "users", "list")
    assert result.returncode == 2
    assert (
        result.stderr.strip()
        == f"labtui: bad config: {home / 'config.yaml'}:3: database.pool: unknown key (known here: url)"
    )


def test_init_config_loads_and_secrets_come_from_env_and_files(admin_home: Path, tmp_path: Path) -> None:
    """``labtui init`` writes a config labtui itself accepts; then an API key from the
    environment and one from a file reach a real (fake) Sendamatic, and neither is printed."""
    home = admin_home
    from labtui.testing.fakes.sendamatic import FakeSendamatic

    assert labtui(home, "init").returncode == 0
    key_file = tmp_path / "sendamatic.key"
    key_file.write_text("key-from-a-file\n")
    with FakeSendamatic(api_key="key-from-the-env") as from_env, FakeSendamatic(api_key="key-from-a-file") as from_file:
        for fake, ref, name in (
            (from_env, "${LABTUI_TEST_API_KEY}", "bob"),
            (from_file, f"${{file:{key_file}}}", "carl"),
        ):
            (home / "config.yaml").write_text(
                "email:\n  provider: sendamatic\n  from: Lab <lab@example.org>\n"
                f"  sendamatic:\n    base_url: {fake.base_url}\n    api_key: {ref}\n"
            )
            out = labtui_env(
                home,
                {"LABTUI_TEST_API_KEY": "key-from-the-env"},
                "users",
                "invite",
                name,
                "--email",
                f"{name}@example.org",
                "--as",
                "admin",
            )
            assert out.returncode == 0, out.stderr
            assert "invitation token" not in out.stdout and f"{name}@example.org" in out.stdout
            assert [m.to for m in fake.messages] == [[f"{name}@example.org"]]
            assert fake.refused == []
            assert "key-from" not in out.stdout + out.stderr


# --- Accounts and the audit log -----------------------------------------------------------------


def test_create_with_roles_and_email_then_filter_the_audit(admin_home: Path) -> None:
    home = admin_home
    made = labtui(
        home,
        "users",
        "create",
        "alice",
        "--role",
        "operator",
        "--role",
        "viewer",
        "--email",
        "Alice@Example.ORG",
        "--password-stdin",
        stdin="alice-pass-123\n",
    )
    assert made.returncode == 0, made.stderr
    users = {u["username"]: u for u in json.loads(labtui(home, "users", "list", "--json").stdout)}
    assert sorted(users["alice"]["roles"]) == ["operator", "viewer"]
    assert (users["alice"]["email"], users["alice"]["status"]) == ("alice@example.org", "active")

    unknown = labtui(home, "users", "create", "bert", "--role", "wizard", "--password-stdin", stdin="bert-pass-123\n")
    assert unknown.returncode == 2 and "Unknown role(s): wizard" in unknown.stderr
    taken = labtui(home, "users", "create", "alice", "--role", "viewer", "--password-stdin", stdin="alice-pass-123\n")
    assert taken.returncode == 2 and "taken" in taken.stderr

    created = json.loads(labtui(home, "audit", "list", "--action", "user.create", "--json").stdout)
    assert [(r["username"], r["target"], r["origin"]) for r in created] == [("cli", "users/alice", "local")]
    assert all(set(r) >= {"id", "created_at", "username", "action", "target", "detail", "origin"} for r in created)
    by_cli = json.loads(labtui(home, "audit", "list", "--user", "cli", "--json").stdout)
    assert {r["action"] for r in by_cli} == {"user.create_admin", "user.create"}
    assert len(json.loads(labtui(home, "audit", "list", "--limit", "1", "--json").stdout)) == 1

    table = labtui(home, "audit", "list", "--action", "user.create")
    header, *rows = table.stdout.splitlines()
    assert header.split()[:5] == ["ID", "TIME", "(UTC)", "USER", "ACTION"]
    assert len(rows) == 1 and "cli" in rows[0] and "users/alice" in rows[0] and "local" in rows[0]
    for out in (made, unknown, taken, table):
        assert "alice-pass-123" not in out.stdout + out.stderr
    assert "alice-pass-123" not in Paths(home).log.read_text()


def test_invite_as_someone_without_the_permission_is_refused(admin_home: Path) -> None:
    home = admin_home
    labtui(home, "users", "create", "olga", "--role", "operator", "--password-stdin", stdin="olga-pass-123\n")
    refused = labtui(home, "users", "invite", "bob", "--email", "bob@example.org", "--as", "olga")
    assert refused.returncode == 1 and "invitation token" not in refused.stdout
    assert "Traceback" not in refused.stderr and refused.stderr.startswith("labtui: ")
    nobody = labtui(home, "users", "invite", "bob", "--email", "bob@example.org", "--as", "ghost")
    assert nobody.returncode == 1 and "No active user named 'ghost'" in nobody.stderr
    users = [u["username"] for u in json.loads(labtui(home, "users", "list", "--json").stdout)]
    assert "bob" not in users


def test_reset_password_without_a_terminal_asks_for_password_stdin(admin_home: Path) -> None:
    home = admin_home
    result = labtui(home, "users", "reset-password", "admin")
    assert result.returncode == 2 and "use --password-stdin" in result.stderr
    empty = labtui(home, "users", "reset-password", "admin", "--password-stdin", stdin="")
    assert empty.returncode == 2 and "nothing on standard input" in empty.stderr


# Run in the new session before exec'ing labtui: make the pty (stdin) the controlling
# terminal, so getpass reads /dev/tty as it does for a person.
TAKE_TERMINAL = (
    "import fcntl, os, sys, termios; fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "os.execv(sys.executable, [sys.executable, *sys.argv[1:]])"
)


def on_terminal(home: Path, args: list[str], answers: list[str | bytes], timeout: float = 60) -> tuple[int, str]:
    """Run the CLI with a pseudo-terminal as its controlling terminal; answer each password
    prompt in turn. Returns the exit status and everything the terminal showed."""
    import pty
    import select
    import time

    master, slave = pty.openpty()
    env = {k: v for k, v in os.environ.items() if k != "LABTUI_HOME"}
    proc = subprocess.Popen(
        [sys.executable, "-c", TAKE_TERMINAL, "-m", "labtui", "--home", str(home), *args],
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env=env,
        start_new_session=True,
    )
    os.close(slave)
    # getpass flushes typed-ahead input before each prompt, so answer a prompt only once it
    # is on the screen, and only a new one (output since the last answer ends with ':').
    shown, pending, deadline, answered_at = b"", list(answers), time.monotonic() + timeout, 0
    try:
        while time.monotonic() < deadline:
            ready, _, _ = select.select([master], [], [], 0.2)
            if ready:
                try:
                    chunk = os.read(master, 4096)
                except OSError:
                    chunk = b""
                if not chunk:
                    break
                shown += chunk
                if pending and shown[answered_at:].rstrip().endswith(b":"):
                    answer = pending.pop(0)
                    os.write(master, (answer if isinstance(answer, bytes) else answer.encode()) + b"\n")
                    answered_at = len(shown)
            elif proc.poll() is not None:
                break
        return proc.wait(timeout=10), shown.decode(errors="replace")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        os.close(master)


async def test_reset_password_prompts_twice_on_a_terminal(admin_home: Path) -> None:
    home = admin_home

    status, shown = on_terminal(home, ["users", "reset-password", "admin"], ["typed-once-1", "typed-twice-2"])
    assert status == 2 and "The two passwords differ" in shown

    status, shown = on_terminal(home, ["users", "reset-password", "admin"], ["prompted-pass-1", "prompted-pass-1"])
    assert status == 0, shown
    assert "New password:" in shown and "Again:" in shown and "password of 'admin' changed" in shown
    assert "prompted-pass-1" not in shown and "typed-once-1" not in shown  # not echoed
    core = Core(Config(), Paths(home))
    await core.start()
    try:
        with pytest.raises(AuthError):
            await core.auth.login("admin", PASSWORD)
        assert (await core.auth.login("admin", "prompted-pass-1")).actor.username == "admin"
    finally:
        await core.aclose()
    log = Paths(home).log.read_text()
    audit = labtui(home, "audit", "list", "--limit", "100", "--json").stdout
    for secret in (PASSWORD, "prompted-pass-1", "typed-once-1", "typed-twice-2"):
        assert secret not in log and secret not in audit
    resets = [r for r in json.loads(audit) if r["action"] == "user.password_reset"]
    assert [(r["username"], r["target"], r["detail"], r["origin"]) for r in resets] == [
        ("cli", "users/admin", {"via": "cli"}, "local")
    ]
