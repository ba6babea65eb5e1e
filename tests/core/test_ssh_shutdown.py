"""SIGTERM to a real ``labtui serve --ssh`` process: every session is told, its TUI quits
(logged out), the server exits 0, and no child outlives it (the sessions are forked from
the server's fork server, as in production)."""

from __future__ import annotations

import asyncio
import signal

import asyncssh
import psutil

from labtui.core.actor import Actor
from labtui.core.runtime import Core
from labtui.devtools.ssh_screen import TerminalScreen, read_until
from labtui.ssh.server import SHUTDOWN_MESSAGE
from tests.conftest import ADMIN_PASSWORD, add_user
from tests.core.test_ssh_server import serve_ssh

SIZE = (100, 30)


async def test_sigterm_tells_every_session_and_leaves_no_child(core: Core, admin: Actor) -> None:
    await add_user(core, admin, "watcher", "viewer")
    server, port = await serve_ssh(core.paths.home)
    try:
        async with (
            asyncssh.connect("127.0.0.1", port, username="admin", password=ADMIN_PASSWORD, known_hosts=None) as one,
            asyncssh.connect("127.0.0.1", port, username="watcher", password="password-123", known_hosts=None) as two,
        ):
            procs = [
                await c.create_process(term_type="xterm-256color", term_size=SIZE, encoding=None) for c in (one, two)
            ]
            screens = [TerminalScreen(*SIZE) for _ in procs]
            await asyncio.gather(
                *(
                    read_until(p, s, f"{n} · roles")
                    for p, s, n in zip(procs, screens, ("admin", "watcher"), strict=True)
                )
            )
            children = psutil.Process(server.pid).children(recursive=True)
            # The fork server, and one TUI per session forked from it.
            (forks,) = psutil.Process(server.pid).children()
            assert "labtui.ssh.forkserver" in forks.cmdline() and len(forks.children()) == 2 and len(children) == 3

            server.send_signal(signal.SIGTERM)
            # Each session shows the message on its normal screen (the TUI quit and
            # restored the terminal) and then ends.
            await asyncio.gather(*(read_until(p, s, SHUTDOWN_MESSAGE) for p, s in zip(procs, screens, strict=True)))
            await asyncio.gather(*(asyncio.wait_for(p.wait_closed(), 10) for p in procs))
        assert await asyncio.wait_for(server.wait(), 20) == 0
    finally:
        if server.returncode is None:
            server.kill()
            await server.wait()
    _gone, alive = psutil.wait_procs(children, timeout=1)
    assert not alive, f"children outlived the server: {alive}"

    records = await core.audit.page(admin)
    closed = {r.username for r in records if r.action == "ssh.session_closed" and r.detail == {"reason": "shutdown"}}
    assert closed == {"admin", "watcher"}
    # The TUIs quit as `q` does: both sessions were logged out from the SSH peer.
    assert {r.username for r in records if r.action == "logout" and r.origin == "127.0.0.1"} == {"admin", "watcher"}
