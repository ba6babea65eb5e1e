"""Two people in labtui over SSH at once: the viewer cannot deploy, the admin does, and the
job's output shows in both their job logs. Real SSH sessions, each read through a
terminal emulator; the job runs on this process's worker, as on ``labtui serve``."""

from __future__ import annotations

import asyncio
import sys
from collections.abc import AsyncIterator

import asyncssh
import pytest

from labtui.core.actor import Actor
from labtui.core.runtime import Core
from labtui.core.workers import ProcessWorkers
from labtui.devtools.ssh_screen import TerminalScreen, read_until, settle
from labtui.ssh.server import SshHub
from tests.conftest import ADMIN_PASSWORD
from tests.core.test_ssh_server import connect

SIZE = (110, 32)
DOWN = b"\x1b[B"


class Session:
    """One SSH session's process and what its screen shows."""

    def __init__(self, proc: asyncssh.SSHClientProcess[bytes]) -> None:
        self.proc = proc
        self.screen = TerminalScreen(*SIZE)

    async def shows(self, text: str) -> str:
        return await read_until(self.proc, self.screen, text)

    async def press(self, keys: bytes, then: str) -> str:
        self.proc.stdin.write(keys)
        return await self.shows(then)

    async def go(self, screen: str, header: str, row: str) -> str:
        """Through the command bar to ``screen``: wait for its table ``header``, then ``row``."""
        await self.press(b":", "screen name")
        self.proc.stdin.write(screen.encode())
        await settle(self.proc, self.screen, 0.2)
        await self.press(b"\r", header)
        return await self.shows(row)


@pytest.fixture
async def hub(core: Core, admin: Actor) -> AsyncIterator[SshHub]:
    workers = ProcessWorkers(core)
    await workers.start()
    hub = SshHub(core, [sys.executable, "-m", "labtui", "--home", str(core.paths.home)])
    await hub.start("127.0.0.1", 0)
    yield hub
    await hub.stop()
    await workers.stop()


async def _open(conn: asyncssh.SSHClientConnection, name: str) -> Session:
    session = Session(await conn.create_process(term_type="xterm-256color", term_size=SIZE, encoding=None))
    await session.shows(f"{name} · roles")
    return session


async def test_viewer_cannot_deploy_and_sees_the_admins_job(core: Core, admin: Actor, hub: SshHub) -> None:
    # A viewer that may also see everyone's jobs (a viewer sees only its own).
    await core.rbac.create_role(admin, "job-watcher", "sees every job", {"jobs.view_all"})
    await core.users.create(admin, "watcher", "password-123", roles=["viewer", "job-watcher"])
    viewer = (await core.auth.login("watcher", "password-123")).actor
    key = asyncssh.generate_private_key("ssh-ed25519")
    await core.users.set_ssh_key(viewer, key.export_public_key().decode())
    async with (
        connect(hub, "admin", password=ADMIN_PASSWORD) as admin_conn,
        connect(hub, "watcher", client_keys=[key], password=None) as viewer_conn,
    ):
        boss, watcher = await asyncio.gather(_open(admin_conn, "admin"), _open(viewer_conn, "watcher"))
        await asyncio.gather(boss.go("services", "Last job", "greet"), watcher.go("services", "Last job", "greet"))

        # The viewer's `d` on greet reaches core, which refuses (and audits) it.
        await watcher.press(DOWN, "greet")
        await watcher.press(b"d", "Permission denied")

        # The admin's deploys, and the job log streams its output.
        await boss.press(DOWN, "greet")
        await boss.press(b"d", "greet deployed on")
        await boss.shows("completed")

        # The viewer finds that job among the jobs and reads the same output.
        await watcher.go("jobs", "Deployment", "greet-")  # the row's deployment id
        await watcher.press(b"\r", "greet deployed on")

    records = await core.audit.page(admin)
    denied = [(r.username, r.origin, r.detail.get("permission")) for r in records if r.action == "permission.denied"]
    assert ("watcher", "127.0.0.1", "services.deploy") in denied
    logins = {(r.username, r.origin) for r in records if r.action == "login"}
    assert {("admin", "127.0.0.1"), ("watcher", "127.0.0.1")} <= logins
    jobs = await core.jobs.list(admin, service="greet")
    assert [(j.username, j.status) for j in jobs] == [("admin", "completed")]
