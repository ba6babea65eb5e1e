"""A session's process gets the server's resolved configuration through the hand-over pipe:
a config with ``${ENV}`` secrets works over SSH although the child's environment (built
from scratch) lacks them, and the secret is in no child's environment or command line."""

from __future__ import annotations

import asyncio
import fcntl
import os
import pty
import signal
import struct
import sys
import termios
from pathlib import Path

import asyncssh
import psutil
import pytest

from labtui.core.actor import Actor
from labtui.core.config import load_config
from labtui.core.runtime import Core
from labtui.devtools.ssh_screen import TerminalScreen, read_until
from labtui.ssh.handoff import config_from_data, config_to_data
from labtui.ssh.server import SshHub
from tests.conftest import ADMIN_PASSWORD, MakeCore
from tests.core.test_ssh_server import openssh, serve_ssh

SIZE = (100, 30)
SECRET = "vultr-secret-0123456789"
CONFIG = "vultr:\n  api_key: ${RT_VULTR_KEY}\nlog:\n  level: INFO\n"


def _write_config(home: Path) -> Path:
    path = home / "config.yaml"
    path.write_text(CONFIG)
    return path


def _no_secret_in(proc: psutil.Process) -> None:
    assert "RT_VULTR_KEY" not in proc.environ() and SECRET not in " ".join(proc.cmdline())
    assert all(SECRET not in value for value in proc.environ().values())


def test_the_config_travels_whole_and_resolved(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("RT_VULTR_KEY", SECRET)
    config = load_config(_write_config(tmp_path))
    again = config_from_data(config_to_data(config))
    assert again == config and again.vultr.api_key == SECRET and again.source == config.source


async def test_env_secrets_reach_a_tui_session_and_a_command(
    core: Core, admin: Actor, make_core: MakeCore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """In-process server, sessions spawned (no fork server)."""
    monkeypatch.setenv("RT_VULTR_KEY", SECRET)
    path = _write_config(core.paths.home)
    served = await make_core(load_config(path))
    assert served.config.vultr.api_key == SECRET
    hub = SshHub(served, [sys.executable, "-m", "labtui", "--home", str(core.paths.home), "--config", str(path)])
    await hub.start("127.0.0.1", 0)
    try:
        async with asyncssh.connect(
            "127.0.0.1", hub.port, username="admin", password=ADMIN_PASSWORD, known_hosts=None
        ) as conn:
            listing = await conn.run("services list", timeout=30)
            assert listing.exit_status == 0, listing.stderr
            proc = await conn.create_process(term_type="xterm-256color", term_size=SIZE, encoding=None)
            await read_until(proc, TerminalScreen(*SIZE), "admin · roles")
            (session,) = hub.sessions
            assert session.proc is not None
            _no_secret_in(psutil.Process(session.proc.pid))
    finally:
        await hub.stop()


def _openssh(key_file: Path, port: int, *extra: str) -> list[str]:
    return openssh("-i", str(key_file), "-p", str(port), *extra, "admin@127.0.0.1")


async def _screen_of_ssh_t(argv: list[str], text: str, timeout: float = 60.0) -> asyncio.subprocess.Process:
    """Run ``ssh -tt`` on a pseudo-terminal of its own until ``text`` is on its screen."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", SIZE[1], SIZE[0], 0, 0))
    try:
        proc = await asyncio.create_subprocess_exec(
            *argv,
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env={**os.environ, "TERM": "xterm-256color"},
            start_new_session=True,
        )
    finally:
        os.close(slave)
    os.set_blocking(master, False)
    screen = TerminalScreen(*SIZE)
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    try:
        while text not in screen.text():
            assert loop.time() < end, f"{text!r} never appeared: {screen.text()!r}"
            try:
                screen.feed(os.read(master, 65536))
            except BlockingIOError:
                await asyncio.sleep(0.05)
            except OSError:  # EIO: ssh ended
                break
    finally:
        os.close(master)
    assert text in screen.text(), f"ssh ended before {text!r} appeared: {screen.text()!r}"
    return proc


async def test_env_secrets_over_labtui_serve_with_its_fork_server(core: Core, admin: Actor, tmp_path: Path) -> None:
    """``labtui serve --ssh`` with the secret exported to it, and OpenSSH's client: ``ssh -t``
    (a TUI forked from the fork server) and ``ssh HOST CMD`` (a spawned command)."""
    _write_config(core.paths.home)
    key = asyncssh.generate_private_key("ssh-ed25519")
    await core.users.set_ssh_key(admin, key.export_public_key().decode())
    key_file = tmp_path / "admin_key"
    key_file.write_bytes(key.export_private_key())
    key_file.chmod(0o600)
    server, port = await serve_ssh(core.paths.home, env={**os.environ, "RT_VULTR_KEY": SECRET})
    try:
        ssh_t = await _screen_of_ssh_t(_openssh(key_file, port, "-tt"), "admin · roles")
        try:
            (forks,) = psutil.Process(server.pid).children()
            (tui,) = forks.children()
            assert "labtui.ssh.forkserver" in forks.cmdline()
            for child in (forks, tui):
                _no_secret_in(child)
        finally:
            ssh_t.kill()
            await ssh_t.wait()

        command = await asyncio.create_subprocess_exec(
            *_openssh(key_file, port),
            "jobs",
            "list",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        stdout, stderr = await asyncio.wait_for(command.communicate(), 60)
        assert command.returncode == 0, stderr
        assert b"STATUS" in stdout
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            await asyncio.wait_for(server.wait(), 30)
        except TimeoutError:
            server.kill()
            await server.wait()
