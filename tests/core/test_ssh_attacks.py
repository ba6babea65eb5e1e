"""Attacks on ``labtui serve --ssh``, each against a real server on 127.0.0.1: borrowed public
keys, session slots filled without a password, floods of connections that never log in."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import asyncssh
import pytest
from asyncssh.public_key import SSHKeyPair
from sqlalchemy import func, select

from labtui.core.actor import Actor
from labtui.core.config import load_config
from labtui.core.db.models import AuthSession
from labtui.core.errors import ConfigError
from labtui.core.runtime import Core
from labtui.ssh.server import SshHub, SshLimits
from tests.conftest import ADMIN_PASSWORD
from tests.core.test_ssh_server import openssh, screen_until
from tests.waiting import until

MakeHub = Callable[..., Any]


@pytest.fixture
async def make_hub(core: Core, admin: Actor) -> AsyncIterator[MakeHub]:
    hubs: list[SshHub] = []

    async def make(limits: SshLimits | None = None) -> SshHub:
        hub = SshHub(core, [sys.executable, "-m", "labtui", "--home", str(core.paths.home)], limits or SshLimits())
        await hub.start("127.0.0.1", 0)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        await hub.stop()


def connect(hub: SshHub, username: str, *, source: str = "127.0.0.1", **auth: Any) -> Any:
    return asyncssh.connect(
        "127.0.0.1", hub.port, username=username, known_hosts=None, local_addr=(source, 0), agent_path=None, **auth
    )


async def _sessions_of(core: Core, user_id: int) -> int:
    return await core.db.run(
        lambda s: int(s.scalar(select(func.count(AuthSession.id)).where(AuthSession.user_id == user_id)) or 0)
    )


async def _logins(core: Core, admin: Actor) -> list[tuple[str, str]]:
    return [
        (r.username, r.detail.get("method", "password")) for r in await core.audit.page(admin) if r.action == "login"
    ]


# -- 1. a public key alone logs no one in ------------------------------------------------------


class PublicKeyOnly(SSHKeyPair):
    """What ``ssh -i victim_key.pub`` holds: the public half, offered (probed) but never
    signed with."""

    def __init__(self, public: asyncssh.SSHKey) -> None:
        super().__init__(
            public.algorithm, public.algorithm, public.sig_algorithms, public.sig_algorithms, public.public_data, None
        )

    async def sign_async(self, data: bytes) -> bytes:
        raise ValueError("only the public key is known")


async def test_a_probe_with_the_victims_key_then_a_signature_with_another_is_refused(
    core: Core, admin: Actor, make_hub: MakeHub
) -> None:
    hub: SshHub = await make_hub()
    victim = asyncssh.generate_private_key("ssh-ed25519")
    await core.users.set_ssh_key(admin, victim.export_public_key().decode())
    attacker = asyncssh.generate_private_key("ssh-ed25519")
    public = asyncssh.import_public_key(victim.export_public_key())
    assert admin.user_id is not None
    sessions_before, logins_before = await _sessions_of(core, admin.user_id), await _logins(core, admin)

    # The server answers the probe of the victim's key (it is registered: PK_OK), the
    # client cannot sign with it and goes on to its own key, probed and signed.
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(hub, "admin", client_keys=[PublicKeyOnly(public), attacker], password=None) as conn:
            await conn.run("jobs list", timeout=20)

    async def refusal_recorded() -> bool:
        return any(
            r.action == "login.failed" and r.detail == {"method": "publickey"} for r in await core.audit.page(admin)
        )

    await until(refusal_recorded, timeout=20)  # written when the connection ends
    assert await _sessions_of(core, admin.user_id) == sessions_before
    assert await _logins(core, admin) == logins_before

    # The victim's own key, signed, still logs in (once: one session, one login row).
    async with connect(hub, "admin", client_keys=[victim], password=None) as conn:
        listing = await conn.run("services list", timeout=30)
    assert listing.exit_status == 0, listing.stderr
    logins = await _logins(core, admin)
    assert len(logins) == len(logins_before) + 1 and logins.count(("admin", "publickey")) == 1


async def test_openssh_offering_the_victims_public_key_file_and_its_own_key_is_refused(
    core: Core, admin: Actor, make_hub: MakeHub, tmp_path: Path
) -> None:
    openssh()  # skips the test where there is no OpenSSH client
    hub: SshHub = await make_hub()
    victim = asyncssh.generate_private_key("ssh-ed25519")
    await core.users.set_ssh_key(admin, victim.export_public_key().decode())
    public_file = tmp_path / "admin_key.pub"
    public_file.write_bytes(victim.export_public_key())
    public_file.chmod(0o600)  # else OpenSSH warns about it (it is tried as an identity file)
    attacker_file = tmp_path / "attacker_key"
    fd = os.open(attacker_file, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(asyncssh.generate_private_key("ssh-ed25519").export_private_key())
    assert admin.user_id is not None
    sessions_before = await _sessions_of(core, admin.user_id)

    argv = openssh(
        "-o",
        "PreferredAuthentications=publickey",
        "-i",
        str(tmp_path / "admin_key.pub"),
        "-i",
        str(attacker_file),
        "-p",
        str(hub.port),
        "admin@127.0.0.1",
        "jobs",
        "list",
    )
    env = {k: v for k, v in os.environ.items() if k != "SSH_AUTH_SOCK"}
    proc: asyncio.subprocess.Process = await asyncio.create_subprocess_exec(
        *argv, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
    assert proc.returncode == 255, (stdout, stderr)
    assert b"Permission denied" in stderr
    assert await _sessions_of(core, admin.user_id) == sessions_before


async def test_a_key_login_waits_out_the_lockout(core: Core, admin: Actor, make_hub: MakeHub) -> None:
    hub: SshHub = await make_hub()
    key = asyncssh.generate_private_key("ssh-ed25519")
    await core.users.set_ssh_key(admin, key.export_public_key().decode())
    for _ in range(core.config.auth.lockout_attempts):
        with pytest.raises(asyncssh.PermissionDenied):
            async with connect(hub, "admin", password="not-it-at-all", client_keys=None):
                pass
    with pytest.raises(asyncssh.PermissionDenied):
        async with connect(hub, "admin", client_keys=[key], password=None):
            pass


# -- 4. join sessions have their own small pool ----------------------------------------------


class Told(asyncssh.SSHClient):
    exc: Exception | None = None

    def connection_lost(self, exc: Exception | None) -> None:
        self.exc = exc


async def test_thirty_join_sessions_do_not_lock_out_a_password_user(
    core: Core, admin: Actor, make_hub: MakeHub
) -> None:
    hub: SshHub = await make_hub(SshLimits(max_sessions=2, max_join_sessions=3))
    async with contextlib.AsyncExitStack() as stack:
        admitted: list[asyncssh.SSHClientProcess[bytes]] = []
        refused = 0
        for i in range(30):  # 5 from each of 6 addresses
            try:
                conn = await stack.enter_async_context(
                    connect(hub, "join", source=f"127.0.0.{2 + i // 5}", password=None)
                )
                admitted.append(
                    await conn.create_process(term_type="xterm-256color", term_size=(100, 30), encoding=None)
                )
            except (asyncssh.DisconnectError, asyncssh.ChannelOpenError, ConnectionError):
                refused += 1
        assert len(admitted) == 3 and refused == 27
        # A refused join is told why (OpenSSH prints the disconnect's reason).
        told = Told()
        conn, _ = await asyncssh.create_connection(
            lambda: told, "127.0.0.1", hub.port, username="join", known_hosts=None, password=None
        )
        await asyncio.wait_for(conn.wait_closed(), 10)
        assert "the server has its maximum of 3 join sessions" in str(told.exc)
        await asyncio.gather(*(screen_until(p, "labtui · join") for p in admitted))
        assert len(hub.joined) == 3

        # The joins fill no signed-in user's place: admin gets both of the server's sessions.
        async with (
            connect(hub, "admin", password=ADMIN_PASSWORD) as one,
            connect(hub, "admin", password=ADMIN_PASSWORD) as two,
        ):
            p1 = await one.create_process(term_type="xterm-256color", term_size=(100, 30), encoding=None)
            p2 = await two.create_process(term_type="xterm-256color", term_size=(100, 30), encoding=None)
            await asyncio.gather(screen_until(p1, "admin · roles"), screen_until(p2, "admin · roles"))


async def test_a_join_session_ends_at_its_deadline(core: Core, admin: Actor, make_hub: MakeHub) -> None:
    hub: SshHub = await make_hub(SshLimits(join_timeout_seconds=3))
    async with connect(hub, "join", password=None) as conn:
        proc = await conn.create_process(term_type="xterm-256color", term_size=(100, 30), encoding=None)
        await screen_until(proc, "join sessions last 3 seconds: this one is closed", timeout=40)
        await asyncio.wait_for(conn.wait_closed(), 10)
    await until(lambda: not hub.joined and not hub.sessions, timeout=20)


# -- 8. connections that never log in -------------------------------------------------------


async def _banner_only(port: int, source: str) -> tuple[bool, asyncio.StreamWriter]:
    """Connect from ``source`` and send only a version banner; True if the server kept the
    connection (it answered with its own banner), False if it dropped it at once."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port, local_addr=(source, 0))
    writer.write(b"SSH-2.0-flood\r\n")
    try:
        line = await asyncio.wait_for(reader.readline(), 20)
    except ConnectionResetError:  # aborted: the banner it sent was never read
        return False, writer
    return line.startswith(b"SSH-2.0-"), writer


async def _flood(port: int, count: int, sources: list[str]) -> tuple[list[asyncio.StreamWriter], int]:
    """``count`` banner-only connections, 100 at a time; the held ones are returned open."""
    held: list[asyncio.StreamWriter] = []
    dropped = 0
    for start in range(0, count, 100):
        results = await asyncio.gather(
            *(_banner_only(port, sources[i % len(sources)]) for i in range(start, min(count, start + 100)))
        )
        for kept, writer in results:
            if kept:
                held.append(writer)
            else:
                dropped += 1
                writer.close()
                with contextlib.suppress(ConnectionError):
                    await writer.wait_closed()
    return held, dropped


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def test_a_thousand_banner_only_connections_are_capped(core: Core, admin: Actor, make_hub: MakeHub) -> None:
    # A grace time longer than the test: the held connections stay held throughout.
    hub: SshHub = await make_hub(SshLimits(max_startups=12, max_startups_per_source=5, login_grace_seconds=300))
    fds_before = _open_fds()
    held, dropped = await _flood(hub.port, 1000, ["127.0.0.1"])
    try:
        # One address holds at most its share; the rest were dropped at once (no banner).
        assert len(held) == 5 and dropped == 995 and len(hub.startups) == 5
        assert _open_fds() - fds_before <= 2 * 5 + 10  # both ends of the held ones, and a few
        # Meanwhile someone from elsewhere logs in.
        async with connect(hub, "admin", source="127.0.0.2", password=ADMIN_PASSWORD) as conn:
            assert (await conn.run("services list", timeout=30)).exit_status == 0

        # From many addresses the server holds max_startups, and drops the next one at once...
        more, dropped = await _flood(hub.port, 1000, [f"127.0.0.{i}" for i in range(3, 9)])
        held += more
        assert len(hub.startups) == 12 and len(held) == 12 and dropped == 993
        with pytest.raises((asyncssh.DisconnectError, ConnectionError)):
            async with connect(hub, "admin", source="127.0.0.2", password=ADMIN_PASSWORD, connect_timeout=20):
                pass
    finally:
        for writer in held:
            writer.close()
    # ...and once the flood is gone, a real user logs in again.
    await until(lambda: not hub.startups, timeout=20)
    async with connect(hub, "admin", source="127.0.0.2", password=ADMIN_PASSWORD) as conn:
        assert (await conn.run("services list", timeout=30)).exit_status == 0
    assert hub.dropped == 995 + 993 + 1


async def test_a_connection_that_does_not_log_in_is_closed_after_the_grace_time(
    core: Core, admin: Actor, make_hub: MakeHub
) -> None:
    hub: SshHub = await make_hub(SshLimits(login_grace_seconds=1))
    reader, writer = await asyncio.open_connection("127.0.0.1", hub.port)
    writer.write(b"SSH-2.0-slow\r\n")
    try:
        assert (await asyncio.wait_for(reader.readline(), 10)).startswith(b"SSH-2.0-")
        # Nothing more is sent: the server closes it (EOF) well before asyncssh's 120 s.
        await asyncio.wait_for(reader.read(), 20)
        assert reader.at_eof()
        await until(lambda: not hub.startups, timeout=20)
    finally:
        writer.close()


def test_the_startup_and_join_limits_come_from_config_and_cannot_be_turned_off(tmp_path: Path) -> None:
    path = tmp_path / "config.yaml"
    path.write_text(
        "ssh:\n  max_startups: 7\n  max_startups_per_source: 3\n  login_grace_seconds: 9\n"
        "  max_join_sessions: 2\n  join_timeout_seconds: 60\n"
    )
    limits = SshLimits.from_config(load_config(path).ssh)
    assert (limits.max_startups, limits.max_startups_per_source, limits.login_grace_seconds) == (7, 3, 9.0)
    assert (limits.max_join_sessions, limits.join_timeout_seconds) == (2, 60.0)
    for key in (
        "max_startups",
        "max_startups_per_source",
        "login_grace_seconds",
        "max_join_sessions",
        "join_timeout_seconds",
    ):
        path.write_text(f"ssh:\n  {key}: 0\n")
        with pytest.raises(ConfigError, match=rf"config.yaml:2: ssh.{key}: must be between 1 and \d+, got 0"):
            load_config(path)
