"""config.ssh over real SSH connections: idle sessions are closed, session counts bounded."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator, Awaitable, Callable

import pytest

from labtui.core.actor import Actor
from labtui.core.runtime import Core
from labtui.ssh.server import SshHub, SshLimits
from tests.conftest import ADMIN_PASSWORD, add_user
from tests.core.test_ssh_server import connect, screen_until
from tests.waiting import until


async def _has(rows: Awaitable[list[tuple[str, str]]], n: int) -> bool:
    return len(await rows) >= n


@pytest.fixture
async def make_hub(core: Core, admin: Actor) -> AsyncIterator[Callable[..., object]]:
    hubs: list[SshHub] = []

    async def make(limits: SshLimits) -> SshHub:
        hub = SshHub(core, [sys.executable, "-m", "labtui", "--home", str(core.paths.home)], limits)
        await hub.start("127.0.0.1", 0)
        hubs.append(hub)
        return hub

    yield make
    for hub in hubs:
        await hub.stop()


def test_limits_come_from_config(core: Core) -> None:
    core.config.ssh.idle_timeout, core.config.ssh.max_sessions, core.config.ssh.max_sessions_per_user = 30, 7, 2
    limits = SshLimits.from_config(core.config.ssh)
    assert (limits.idle_seconds, limits.max_sessions, limits.max_sessions_per_user) == (1800.0, 7, 2)


async def test_an_idle_session_is_told_and_closed(core: Core, admin: Actor, make_hub: Callable[..., object]) -> None:
    hub: SshHub = await make_hub(SshLimits(idle_seconds=4.0))  # type: ignore[misc]
    async with connect(hub, "admin", password=ADMIN_PASSWORD) as conn:
        proc = await conn.create_process(term_type="xterm-256color", term_size=(100, 30), encoding=None)
        screen = await screen_until(proc, "no input for 4 seconds: the session is closed", timeout=40)
        await asyncio.wait_for(proc.wait_closed(), 10)
    assert "admin · roles" in screen  # the TUI was there until then
    records = await core.audit.page(admin)
    idle = [r for r in records if r.action == "ssh.idle_timeout"]
    assert idle and idle[0].username == "admin" and idle[0].origin == "127.0.0.1"
    # The child quit as `q` would: the session was logged out.
    assert any(r.action == "logout" and r.origin == "127.0.0.1" for r in records)


async def test_sessions_over_the_limits_are_refused_before_a_child_starts(
    core: Core, admin: Actor, make_hub: Callable[..., object]
) -> None:
    hub: SshHub = await make_hub(SshLimits(max_sessions=2, max_sessions_per_user=1))  # type: ignore[misc]
    await add_user(core, admin, "watcher", "viewer")
    async with (
        connect(hub, "admin", password=ADMIN_PASSWORD) as first,
        connect(hub, "admin", password=ADMIN_PASSWORD) as again,
        connect(hub, "watcher", password="password-123") as other,
        connect(hub, "watcher", password="password-123") as third,
    ):
        p1 = await first.create_process(term_type="xterm-256color", term_size=(100, 30), encoding=None)
        await screen_until(p1, "admin · roles")
        # A second session of the same user: over max_sessions_per_user.
        refused = await again.run(term_type="xterm-256color", encoding=None, timeout=20)
        assert refused.exit_status == 1
        assert b"admin has 1 sessions open, the most allowed" in (refused.stdout or b"")
        # Another user still gets in...
        p2 = await other.create_process(term_type="xterm-256color", term_size=(100, 30), encoding=None)
        await screen_until(p2, "watcher · roles")
        # ...and then the server is full.
        full = await third.run(term_type="xterm-256color", encoding=None, timeout=20)
        assert full.exit_status == 1 and b"maximum of 2 sessions open" in (full.stdout or b"")
        assert len(hub.sessions) == 2

    async def refusals() -> list[tuple[str, str]]:  # audited without holding up the protocol
        return sorted((r.username, r.origin) for r in await core.audit.page(admin) if r.action == "ssh.session_refused")

    await until(lambda: _has(refusals(), 2), what="both refusals in the audit log")
    assert await refusals() == [("admin", "127.0.0.1"), ("watcher", "127.0.0.1")]


async def test_a_session_that_types_is_not_idle(core: Core, admin: Actor, make_hub: Callable[..., object]) -> None:
    hub: SshHub = await make_hub(SshLimits(idle_seconds=2.0))  # type: ignore[misc]
    async with connect(hub, "admin", password=ADMIN_PASSWORD) as conn:
        proc = await conn.create_process(term_type="xterm-256color", term_size=(100, 30), encoding=None)

        async def type_on() -> None:  # a key no screen binds (F12), every 0.1 s, from the start:
            while True:  # however long the TUI takes to come up, input never stops
                proc.stdin.write(b"\x1b[24~")
                await asyncio.sleep(0.1)

        typist = asyncio.create_task(type_on())
        try:
            await screen_until(proc, "admin · roles")
            # Longer than the idle limit with keys coming: the session stays.
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(asyncio.shield(proc.wait_closed()), 3.0)
        finally:
            typist.cancel()
        assert len(hub.sessions) == 1 and not proc.stdout.at_eof()
