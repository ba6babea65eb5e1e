"""labtui served over SSH: real SSH connections on 127.0.0.1, one TUI process per session."""

from __future__ import annotations

import asyncio
import re
import shutil
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import asyncssh
import pytest

from labtui.core.actor import Actor
from labtui.core.runtime import Core
from labtui.ssh.server import SshHub
from tests.conftest import ADMIN_PASSWORD, add_user

ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\x1b\][^\x07]*\x07")


async def serve_ssh(home: Path, *, env: dict[str, str] | None = None) -> tuple[asyncio.subprocess.Process, int]:
    """A real ``labtui serve --ssh`` on an ephemeral port of 127.0.0.1 (no scheduler): the
    process, once it says it listens, and the port."""
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "labtui",
        "--home",
        str(home),
        "serve",
        "--no-scheduler",
        "--ssh",
        "127.0.0.1:0",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert server.stderr is not None
    while True:
        line = (await asyncio.wait_for(server.stderr.readline(), 60)).decode()
        assert line, "labtui serve ended before listening"
        if found := re.search(r"SSH on 127\.0\.0\.1:(\d+)", line):
            return server, int(found.group(1))


def openssh(*args: str) -> list[str]:
    """The OpenSSH client with no user config, agent keys or host-key prompts, then ``args``
    (skips the test where there is no client)."""
    ssh = shutil.which("ssh")
    if ssh is None:
        pytest.skip("no OpenSSH client")
    quiet = (
        "BatchMode=yes",
        "IdentitiesOnly=yes",
        "StrictHostKeyChecking=no",
        "UserKnownHostsFile=/dev/null",
        "LogLevel=ERROR",
    )
    return [ssh, "-F", "/dev/null", *(part for option in quiet for part in ("-o", option)), *args]


@pytest.fixture
async def hub(core: Core, admin: Actor) -> AsyncIterator[SshHub]:
    hub = SshHub(core, [sys.executable, "-m", "labtui", "--home", str(core.paths.home)])
    await hub.start("127.0.0.1", 0)
    yield hub
    await hub.stop()


async def screen_until(proc: asyncssh.SSHClientProcess[bytes], text: str, timeout: float = 30.0) -> str:
    """Read the session's output until ``text`` shows (escape sequences removed)."""
    seen = b""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while text.encode() not in ANSI.sub(b"", seen).replace(b"\r", b""):
        remaining = end - loop.time()
        assert remaining > 0, f"{text!r} never appeared; last output: {ANSI.sub(b'', seen)[-400:]!r}"
        try:
            seen += await asyncio.wait_for(proc.stdout.read(65536), remaining)
        except TimeoutError:
            continue
    return ANSI.sub(b"", seen).decode(errors="replace")


def connect(hub: SshHub, username: str, **auth: object) -> asyncssh.connect:  # type: ignore[valid-type]
    return asyncssh.connect("127.0.0.1", hub.port, username=username, known_hosts=None, **auth)  # type: ignore[arg-type]


async def test_two_users_at_once_by_password_and_by_key(core: Core, admin: Actor, hub: SshHub) -> None:
    viewer = await add_user(core, admin, "watcher", "viewer")
    key = asyncssh.generate_private_key("ssh-ed25519")
    await core.users.set_ssh_key(viewer, key.export_public_key().decode())
    async with (
        connect(hub, "admin", password=ADMIN_PASSWORD) as one,
        connect(hub, "watcher", client_keys=[key], password=None) as two,
    ):
        p1 = await one.create_process(term_type="xterm-256color", term_size=(100, 30), encoding=None)
        p2 = await two.create_process(term_type="xterm-256color", term_size=(100, 30), encoding=None)
        first, second = await asyncio.gather(screen_until(p1, "admin · roles"), screen_until(p2, "watcher · roles"))
        assert "from 127.0.0.1" in first and "super-admin" in first
        assert "watcher · roles: viewer" in second
        p1.stdin.write(b"q")
        p1.stdin.write(b"y")
    records = await core.audit.page(admin)
    logins = {(r.username, r.origin, r.detail.get("method", "password")) for r in records if r.action == "login"}
    assert ("admin", "127.0.0.1", "password") in logins and ("watcher", "127.0.0.1", "publickey") in logins


async def test_wrong_passwords_over_ssh_lock_the_account(core: Core, admin: Actor, hub: SshHub) -> None:
    for _ in range(5):
        with pytest.raises(asyncssh.PermissionDenied):
            async with connect(hub, "admin", password="not-it-at-all"):
                pass
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(hub, "admin", password=ADMIN_PASSWORD):
            pass
    actions = [(r.action, r.origin) for r in await core.audit.page(admin)]
    assert ("login.lockout", "127.0.0.1") in actions and ("login.locked", "127.0.0.1") in actions


async def test_an_unregistered_key_is_refused(core: Core, admin: Actor, hub: SshHub) -> None:
    stranger = asyncssh.generate_private_key("ssh-ed25519")
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(hub, "admin", client_keys=[stranger], password=None):
            pass


async def test_without_a_pty_the_session_says_how_to_connect(core: Core, admin: Actor, hub: SshHub) -> None:
    async with connect(hub, "admin", password=ADMIN_PASSWORD) as conn:
        result = await conn.run(encoding=None, timeout=20)
    assert b"connect with a terminal" in (result.stdout or b"") and result.exit_status == 1


async def test_resize_reaches_the_session(core: Core, admin: Actor, hub: SshHub) -> None:
    async with connect(hub, "admin", password=ADMIN_PASSWORD) as conn:
        proc = await conn.create_process(term_type="xterm-256color", term_size=(100, 30), encoding=None)
        await screen_until(proc, "admin · roles")
        proc.change_terminal_size(60, 20)
        # The TUI redraws for the new size: the footer's palette hint is re-placed.
        await screen_until(proc, "palette")


def test_host_key_is_private(core: Core, hub: SshHub) -> None:
    key_file = Path(core.paths.home) / "ssh_host_ed25519_key"
    assert key_file.stat().st_mode & 0o777 == 0o600


async def test_login_keys_added_by_an_admin_log_in_and_removed_ones_do_not(
    core: Core, admin: Actor, hub: SshHub
) -> None:
    await add_user(core, admin, "keyuser", "operator")
    key = asyncssh.generate_private_key("ssh-ed25519", comment="laptop")
    added = await core.login_keys.add(admin, "keyuser", key.export_public_key().decode())
    assert [k.fingerprint for k in await core.login_keys.list(admin, "keyuser")] == [added.fingerprint]
    async with connect(hub, "keyuser", client_keys=[key], password=None) as conn:
        proc = await conn.create_process(term_type="xterm-256color", term_size=(100, 30), encoding=None)
        await screen_until(proc, "keyuser · roles")
    await core.login_keys.remove(admin, "keyuser", added.fingerprint)
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(hub, "keyuser", client_keys=[key], password=None):
            pass
