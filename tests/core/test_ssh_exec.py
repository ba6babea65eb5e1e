"""Commands over SSH (``ssh host jobs list``) and the restricted ``join`` login."""

from __future__ import annotations

import json
import sys
from collections.abc import AsyncIterator

import asyncssh
import pytest

from labtui.core.actor import Actor
from labtui.core.runtime import Core
from labtui.devtools.ssh_screen import TerminalScreen, read_until, settle
from labtui.ssh.server import SshHub, SshLimits
from tests.conftest import ADMIN_PASSWORD, add_user
from tests.core.test_ssh_server import connect


@pytest.fixture
async def hub(core: Core, admin: Actor) -> AsyncIterator[SshHub]:
    hub = SshHub(core, [sys.executable, "-m", "labtui", "--home", str(core.paths.home)], SshLimits(join_per_window=2))
    await hub.start("127.0.0.1", 0)
    yield hub
    await hub.stop()


async def test_a_command_runs_as_the_ssh_user_with_its_exit_status(core: Core, admin: Actor, hub: SshHub) -> None:
    await add_user(core, admin, "watcher", "viewer")
    async with connect(hub, "admin", password=ADMIN_PASSWORD) as conn:
        listing = await conn.run("labtui services list --json", timeout=30)
    assert listing.exit_status == 0, listing.stderr
    assert "greet" in {s["name"] for s in json.loads(str(listing.stdout))}

    async with connect(hub, "watcher", password="password-123") as conn:
        # A viewer may not deploy; an --as of the client's own is overridden by the server's.
        refused = await conn.run("jobs run greet --as admin", timeout=30)
    assert refused.exit_status == 1
    assert "Permission denied" in str(refused.stderr)
    records = await core.audit.page(admin)
    denied = [r for r in records if r.action == "permission.denied"]
    assert denied and (denied[0].username, denied[0].origin) == ("watcher", "127.0.0.1")
    assert ("watcher", "jobs run") in {(r.username, r.detail["command"]) for r in records if r.action == "ssh.exec"}


async def test_only_allowed_commands_run(core: Core, admin: Actor, hub: SshHub) -> None:
    async with connect(hub, "admin", password=ADMIN_PASSWORD) as conn:
        users = await conn.run("users create-admin eve", timeout=10)
        shell = await conn.run("jobs list; rm -rf /", timeout=30)
        file_read = await conn.run("configs save hello config.yaml /etc/passwd", timeout=30)
    assert users.exit_status == 2 and "runs only these commands" in str(users.stderr)
    # No shell: `list;` is just an argument, which argparse refuses.
    assert shell.exit_status == 2 and "invalid choice: 'list;'" in str(shell.stderr)
    assert file_read.exit_status == 2 and "standard input" in str(file_read.stderr)


async def test_stdin_reaches_the_command(core: Core, admin: Actor, hub: SshHub) -> None:
    async with connect(hub, "admin", password=ADMIN_PASSWORD) as conn:
        saved = await conn.run("configs save hello config.yaml - -m from-ssh", input="greeting: over ssh\n", timeout=30)
        shown = await conn.run("configs show hello config.yaml", timeout=30)
    assert saved.exit_status == 0, saved.stderr
    assert shown.stdout == "greeting: over ssh\n"


async def _join(hub: SshHub) -> tuple[asyncssh.SSHClientConnection, asyncssh.SSHClientProcess[bytes], TerminalScreen]:
    conn = await connect(hub, "join", password=None)
    proc = await conn.create_process(term_type="xterm-256color", term_size=(100, 30), encoding=None)
    return conn, proc, TerminalScreen(100, 30)


async def _redeem(
    proc: asyncssh.SSHClientProcess[bytes], screen: TerminalScreen, token: str, password: str, expect: str
) -> str:
    await read_until(proc, screen, "labtui · join")
    proc.stdin.write(b"\r")  # "I have an invitation"
    await read_until(proc, screen, "Invitation token")
    for typed in (token, password, password):  # Enter moves to the next field, then submits
        proc.stdin.write(typed.encode() + b"\r")
        await settle(proc, screen, 0.2)
    text = await read_until(proc, screen, expect)
    return " ".join(text.replace("│", " ").split())  # the words, whatever the box wrapped


async def test_join_redeems_an_invitation_once(core: Core, admin: Actor, hub: SshHub) -> None:
    delivery = await core.users.invite(admin, "newbie", "newbie@example.org", roles=["viewer"])
    assert delivery.token
    conn, proc, screen = await _join(hub)
    async with conn:
        text = await _redeem(proc, screen, delivery.token, "newbie-password-1", "Connect as yourself")
    assert f"Connect as yourself now: ssh -t -p {hub.port} newbie@127.0.0.1" in text
    # The account works now, with the password chosen.
    async with connect(hub, "newbie", password="newbie-password-1") as conn:
        assert (await conn.run("services list", timeout=30)).exit_status == 0

    conn, proc, screen = await _join(hub)
    async with conn:
        await _redeem(proc, screen, delivery.token, "other-password-2", "That token is not valid")
    actions = [(r.action, r.origin) for r in await core.audit.page(admin)]
    assert ("user.invite_accepted", "127.0.0.1") in actions and ("token.refused", "127.0.0.1") in actions

    # Two join sessions per window from this address (the fixture's limit): the third is refused.
    async with connect(hub, "join", password=None) as conn:
        third = await conn.run(term_type="xterm-256color", encoding=None, timeout=10)
    assert third.exit_status == 1 and b"too many join sessions from 127.0.0.1" in (third.stdout or b"")


async def test_join_offers_no_commands_and_needs_a_terminal(core: Core, admin: Actor, hub: SshHub) -> None:
    async with connect(hub, "join", password=None) as conn:
        command = await conn.run("jobs list", timeout=10)
        plain = await conn.run(timeout=10)
    assert command.exit_status == 1 and "needs a terminal" in str(command.stdout)
    assert plain.exit_status == 1
