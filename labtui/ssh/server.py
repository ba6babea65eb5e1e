"""labtui over SSH: each session with a PTY gets its own TUI process (NOTES-SSH.md).

The server authenticates (labtui password with the same lockout, or the user's registered
public key), opens a labtui session for the user, and hands the child process a single-use,
short-lived token over an inherited pipe — never argv (world-readable) or environment
(spoofable, inherited). Nothing the client sends can choose the identity. The child runs
on a pseudo-terminal that is its controlling terminal, with the client's TERM and size.
"""

from __future__ import annotations

import asyncio
import fcntl
import logging
import os
import pty
import signal
import struct
import sys
import termios
from pathlib import Path

import asyncssh

from labtui.core.auth import LoginResult
from labtui.core.errors import AuthError
from labtui.core.runtime import Core

log = logging.getLogger("labtui.ssh")

#: Seconds a child gets to exit after the client went away, before SIGKILL.
GRACE_SECONDS = 2.0
NO_PTY_MESSAGE = (
    "labtui is a terminal app: connect with a terminal, e.g. `ssh -t -p PORT user@host`.\r\n"
)


def host_key(home: Path) -> asyncssh.SSHKey:
    """The server's ed25519 host key, made on first start (0600) in the data dir."""
    path = home / "ssh_host_ed25519_key"
    if not path.exists():
        key = asyncssh.generate_private_key("ssh-ed25519")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as out:
            out.write(key.export_private_key())
        return key
    os.chmod(path, 0o600)
    return asyncssh.read_private_key(str(path))


def _child_env(term: str) -> dict[str, str]:
    """Built from scratch: never the server's environment (secrets) nor the client's."""
    env = {
        "TERM": term or "xterm-256color",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": os.environ.get("HOME", "/"),
    }
    if env["TERM"].endswith("256color"):
        env["COLORTERM"] = "truecolor"
    return env


def _make_controlling_tty() -> None:  # pragma: no cover - runs in the child
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", max(rows, 1), max(cols, 1), 0, 0))


class LabSession(asyncssh.SSHServerSession[bytes]):
    def __init__(self, server: LabServer) -> None:
        self.server = server
        self.chan: asyncssh.SSHServerChannel[bytes] | None = None
        self.term = ""
        self.size = (80, 24)
        self.has_pty = False
        self.master: int | None = None
        self.proc: asyncio.subprocess.Process | None = None

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:  # type: ignore[override]
        self.chan = chan

    def pty_requested(self, term_type: str, term_size: tuple[int, int, int, int], term_modes: object) -> bool:
        self.has_pty = True
        self.term = term_type
        self.size = (term_size[0] or 80, term_size[1] or 24)
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        return False  # commands over SSH are not offered (yet): only the TUI

    def session_started(self) -> None:
        assert self.chan is not None
        if not self.has_pty:
            self.chan.write(NO_PTY_MESSAGE.encode())
            self.chan.exit(1)
            return
        asyncio.ensure_future(self._spawn())

    async def _spawn(self) -> None:
        assert self.chan is not None
        login = self.server.login
        if login is None:
            self.chan.exit(1)
            return
        core = self.server.hub.core
        token = await core.auth.issue_handoff(login.actor)
        read_fd, write_fd = os.pipe()
        os.write(write_fd, f"{token}\n{login.actor.origin}\n".encode())
        os.close(write_fd)
        master, slave = pty.openpty()
        _set_size(slave, *self.size)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *self.server.hub.child_command, "shell", "--handoff-fd", str(read_fd),
                stdin=slave, stdout=slave, stderr=slave,
                env=_child_env(self.term), start_new_session=True,
                pass_fds=(read_fd,), preexec_fn=_make_controlling_tty,
            )
        finally:
            os.close(slave)
            os.close(read_fd)
        self.master = master
        os.set_blocking(master, False)
        asyncio.get_running_loop().add_reader(master, self._relay)
        asyncio.ensure_future(self._reap())

    def _relay(self) -> None:
        assert self.master is not None and self.chan is not None
        try:
            data = os.read(self.master, 65536)
        except BlockingIOError:
            return
        except OSError:  # EIO: the child closed the terminal
            data = b""
        if not data:
            asyncio.get_running_loop().remove_reader(self.master)
            return
        try:
            self.chan.write(data)
        except BrokenPipeError:  # the client went away; connection_lost ends the child
            asyncio.get_running_loop().remove_reader(self.master)

    async def _reap(self) -> None:
        assert self.proc is not None and self.chan is not None
        status = await self.proc.wait()
        if self.master is not None:
            asyncio.get_running_loop().remove_reader(self.master)
            # Whatever the child drew last.
            try:
                while chunk := os.read(self.master, 65536):
                    self.chan.write(chunk)
            except OSError:  # drained (EIO/EAGAIN), or the channel is closed (BrokenPipeError)
                pass
            os.close(self.master)
            self.master = None
        try:
            self.chan.exit(max(status, 0))
        except OSError:  # the client is gone already
            pass

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        if self.master is not None:
            try:
                os.write(self.master, data)
            except OSError:
                pass

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        self.size = (width, height)
        if self.master is not None:
            _set_size(self.master, width, height)
            if self.proc is not None:
                try:
                    os.killpg(self.proc.pid, signal.SIGWINCH)
                except ProcessLookupError:
                    pass

    def connection_lost(self, exc: Exception | None) -> None:
        proc = self.proc
        if proc is not None and proc.returncode is None:
            asyncio.ensure_future(_end(proc))


async def _end(proc: asyncio.subprocess.Process) -> None:
    """Hang up on the child, then kill it if it lingers."""
    for sig, wait in ((signal.SIGHUP, GRACE_SECONDS), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(proc.wait(), wait)
            return
        except asyncio.TimeoutError:
            continue


class LabServer(asyncssh.SSHServer):
    """One per connection: authenticates and then opens sessions as that user."""

    def __init__(self, hub: SshHub) -> None:
        self.hub = hub
        self.peer = "unknown"
        self.login: LoginResult | None = None
        self._key_user: str | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        peer = conn.get_extra_info("peername")
        self.peer = peer[0] if peer else "unknown"

    def begin_auth(self, username: str) -> bool:
        return True

    def password_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        try:
            self.login = await self.hub.core.auth.login(username, password, origin=self.peer)
        except AuthError as exc:
            log.info("ssh password login refused for %r from %s: %s", username, self.peer, exc)
            return False
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        # Called once to ask and once with the signature: open the session only once.
        if self.login is not None and self.login.actor.username == username:
            return True
        offered = key.export_public_key().decode()
        try:
            self.login = await self.hub.core.auth.login_with_key(username, offered, origin=self.peer)
        except AuthError:
            return False
        return True

    def session_requested(self) -> LabSession:
        return LabSession(self)


class SshHub:
    """The listening server and what its sessions share."""

    def __init__(self, core: Core, child_command: list[str]) -> None:
        self.core = core
        self.child_command = child_command
        self.server: asyncssh.SSHAcceptor | None = None

    async def start(self, host: str, port: int) -> str:
        """Listen; returns the host key's fingerprint (for the operator to publish)."""
        key = host_key(self.core.paths.home)
        self.server = await asyncssh.create_server(
            lambda: LabServer(self), host, port,
            server_host_keys=[key], encoding=None, line_editor=False,
        )
        return key.get_fingerprint()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
            await self.server.wait_closed()
