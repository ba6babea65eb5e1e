"""labtui over SSH: each session gets its own labtui process (docs/ssh.md, docs/ssh-serving.md).

The server authenticates (labtui password with the same lockout, or the user's registered
public key: only the key whose signature asyncssh verified logs in), opens a labtui session
for the user, and hands the child process a single-use, short-lived token and the server's
resolved configuration over an inherited pipe — never argv (world-readable) or environment
(spoofable, inherited). Nothing the client sends can choose the identity. docs/ssh.md.

- A session with a PTY and no command runs the TUI on a pseudo-terminal that is its
  controlling terminal, with the client's TERM and size.
- A command (``ssh -p PORT host jobs list --json``) runs that labtui CLI subcommand as the
  user (see :mod:`labtui.ssh.commands`); its exit status is the session's.
- The user ``join`` needs no password and gets only the token-redeeming screens
  (:mod:`labtui.tui.join`): a few sessions per address per window, a small pool of its own
  (never a signed-in user's place) and a deadline.
- ``config.ssh`` bounds the connections that have not logged in (total and per address,
  with a grace time, as OpenSSH's MaxStartups and LoginGraceTime), the sessions (total and
  per user) and closes idle ones; a refused or closed session is told why and the audit
  records it. :meth:`SshHub.shutdown` (SIGTERM)
  tells every session, lets the children quit for a moment, then ends them.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import logging
import os
import pty
import signal
import struct
import sys
import termios
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncssh

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.auth import LoginResult
from labtui.core.config import SshConfig
from labtui.core.errors import AuthError, ValidationError
from labtui.core.runtime import Core
from labtui.core.secretbox import SecretBox, box_for_home, sealed_file
from labtui.ssh.commands import split_command, summary
from labtui.ssh.forkserver import ForkedProcess, ForkServer
from labtui.ssh.handoff import config_to_data, write_handoff

log = logging.getLogger("labtui.ssh")

#: The user name of the restricted, password-less token-redeeming login.
JOIN_USER = "join"
NO_PTY_MESSAGE = (
    "labtui is a terminal app: connect with a terminal, e.g. `ssh -t -p PORT user@host`, "
    "or give a command, e.g. `ssh -p PORT user@host jobs list`.\r\n"
)
JOIN_NO_PTY_MESSAGE = "The join login needs a terminal: `ssh -t -p PORT join@host`.\r\n"
SHUTDOWN_MESSAGE = "labtui: the server is shutting down; your session has ended."
#: Written before a message to a session whose TUI may have been killed mid-screen: leave
#: the alternate screen, stop mouse reporting and bracketed paste, show the cursor.
RESET_TERMINAL = b"\x1b[?1049l\x1b[?1000l\x1b[?1002l\x1b[?1003l\x1b[?1006l\x1b[?1015l\x1b[?2004l\x1b[?25h\x1b[0m\r\n"


@dataclass
class SshLimits:
    """``config.ssh`` in the units the server works in (tests shrink them)."""

    idle_seconds: float = 3600.0
    max_sessions: int = 100
    max_sessions_per_user: int = 10
    #: ``join`` sessions one address may start per window.
    join_per_window: int = 5
    join_window_seconds: float = 600.0
    #: How long a child may take to quit when told to, before SIGKILL.
    grace_seconds: float = 3.0
    #: Connections not logged in yet (``join`` ones until they are let in), at most, and
    #: from one address; and how long they may take.
    max_startups: int = 30
    max_startups_per_source: int = 10
    login_grace_seconds: float = 30.0
    #: ``join`` connections (and their sessions) at once, and how long one may stay.
    max_join_sessions: int = 5
    join_timeout_seconds: float = 300.0

    @classmethod
    def from_config(cls, config: SshConfig) -> SshLimits:
        return cls(
            idle_seconds=config.idle_timeout * 60.0,
            max_sessions=config.max_sessions,
            max_sessions_per_user=config.max_sessions_per_user,
            max_startups=config.max_startups,
            max_startups_per_source=config.max_startups_per_source,
            login_grace_seconds=float(config.login_grace_seconds),
            max_join_sessions=config.max_join_sessions,
            join_timeout_seconds=float(config.join_timeout_seconds),
        )


def host_key(home: Path, box: SecretBox | None = None) -> asyncssh.SSHKey:
    """The server's ed25519 host key, made on first start in the data dir: a 0600 file
    sealed with the lab's secrets key (``box``, by default the one this process's Core opened
    for ``home``; docs/secrets.md). A plain key file an older version made is sealed in place."""
    text = sealed_file(
        home / "ssh_host_ed25519_key",
        box or box_for_home(home),
        "ssh.host_key",
        lambda: asyncssh.generate_private_key("ssh-ed25519").export_private_key().decode("ascii"),
    )
    return asyncssh.import_private_key(text)


def _child_env(term: str) -> dict[str, str]:
    """Built from scratch: never the server's environment (secrets) nor the client's."""
    env = {
        "TERM": term or "xterm-256color",
        "LANG": "C.UTF-8",
        "LC_ALL": "C.UTF-8",
        "PATH": os.pathsep.join([str(Path(sys.executable).parent), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": os.environ.get("HOME", "/"),
        "PYTHONUNBUFFERED": "1",
    }
    if env["TERM"].endswith("256color"):
        env["COLORTERM"] = "truecolor"
    return env


def _default_signals() -> None:  # pragma: no cover - runs in the child
    # A server started under nohup/& would pass "ignore SIGHUP" on to the children.
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)


def _make_controlling_tty() -> None:  # pragma: no cover - runs in the child
    _default_signals()
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", max(rows, 1), max(cols, 1), 0, 0))


def _duration(seconds: float) -> str:
    if seconds >= 60:
        minutes = seconds / 60
        return f"{minutes:g} minute{'s' if minutes != 1 else ''}"
    return f"{seconds:g} second{'s' if seconds != 1 else ''}"


async def _end(proc: asyncio.subprocess.Process | ForkedProcess, first: signal.Signals, grace: float) -> None:
    """Signal the child's process group, then kill it if it lingers."""
    for sig, wait in ((first, grace), (signal.SIGKILL, 5.0)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(proc.wait(), wait)
            return
        except TimeoutError:
            continue


class LabSession(asyncssh.SSHServerSession[bytes]):
    """One SSH channel: the TUI, a CLI command, or the join screens, in a child process."""

    def __init__(self, server: LabServer) -> None:
        self.server = server
        self.hub = server.hub
        self.chan: asyncssh.SSHServerChannel[bytes] | None = None
        self.term = ""
        self.size = (80, 24)
        self.has_pty = False
        self.command: str | None = None
        self.master: int | None = None
        self.proc: asyncio.subprocess.Process | ForkedProcess | None = None
        self.farewell: str | None = None
        self.closed = False
        self.reaped = asyncio.Event()
        self.last_input = asyncio.get_running_loop().time()
        self._pending: list[bytes] = []
        self._pending_eof = False
        self._pumps: list[asyncio.Future[None]] = []
        self._idle_task: asyncio.Task[None] | None = None
        self._waiting: asyncio.Future[None] | None = None

    @property
    def username(self) -> str:
        login = self.server.login
        return login.actor.username if login and not self.server.joining else JOIN_USER

    @property
    def actor(self) -> Actor:
        login = self.server.login
        return login.actor if login and not self.server.joining else Actor(None, JOIN_USER, self.server.peer)

    # -- what the client asks for ----------------------------------------------------------

    def connection_made(self, chan: asyncssh.SSHServerChannel[bytes]) -> None:
        self.chan = chan

    def pty_requested(self, term_type: str, term_size: tuple[int, int, int, int], term_modes: object) -> bool:
        self.has_pty = True
        self.term = term_type
        self.size = (term_size[0] or 80, term_size[1] or 24)
        return True

    def shell_requested(self) -> bool:
        return True

    def exec_requested(self, command: str) -> bool:
        self.command = command
        return True

    def session_started(self) -> None:
        # asyncssh lets channels open as soon as it sent the success, while auth_completed
        # may still be opening the labtui session of a public-key login.
        if self.server.authenticated.is_set():
            self._begin()
        else:
            self._waiting = asyncio.ensure_future(self._begin_when_authenticated())

    async def _begin_when_authenticated(self) -> None:
        await self.server.authenticated.wait()
        self._begin()

    def _begin(self) -> None:
        if self.closed:
            return
        if self.server.login is None and not self.server.joining:  # refused: the connection is closing
            self._finish("labtui: not signed in\r\n", 1, stderr=True)
            return
        words: list[str] = []
        if self.server.joining:
            if self.command is not None or not self.has_pty:
                self._finish(JOIN_NO_PTY_MESSAGE, 1)
                return
        elif self.command is not None:
            try:
                words = split_command(self.command)
            except ValidationError as exc:
                self._finish(f"labtui: {exc}\r\n", 2, stderr=True)
                return
        elif not self.has_pty:
            self._finish(NO_PTY_MESSAGE, 1)
            return
        refusal = self.hub.admit(self)
        if refusal is not None:
            self._finish(f"{refusal}\r\n", 1, stderr=self.command is not None)
            self.hub.audit_later(self.actor, "ssh.session_refused", f"users/{self.username}", {"reason": refusal})
            return
        self.hub.in_background(self._start(words))

    def _finish(self, message: str, status: int, *, stderr: bool = False) -> None:
        assert self.chan is not None
        with contextlib.suppress(OSError):
            (self.chan.write_stderr if stderr else self.chan.write)(message.encode())
            self.chan.exit(status)

    # -- the child -------------------------------------------------------------------------

    def _handoff(self, words: list[str], token: str) -> dict[str, Any]:
        peer = self.server.peer
        config = config_to_data(self.hub.core.config)
        if self.server.joining:
            host, port = self.server.local_address
            hint = f"ssh -t -p {port} {{user}}@{host}"
            return {"mode": "join", "origin": peer, "connect_hint": hint, "config": config}
        if words:
            return {
                "mode": "exec",
                "origin": peer,
                "token": token,
                "argv": words,
                "username": self.username,
                "config": config,
            }
        return {"mode": "tui", "origin": peer, "token": token, "config": config}

    async def _start(self, words: list[str]) -> None:
        assert self.chan is not None
        login = self.server.login
        try:
            token = await self.hub.core.auth.issue_handoff(login.actor) if login else ""
            if words:
                self.hub.audit_later(self.actor, "ssh.exec", f"users/{self.username}", {"command": summary(words)})
            await self._spawn(self._handoff(words, token), use_pty=self.has_pty)
        except Exception:
            log.exception("ssh session for %s: cannot start", self.username)
            self.hub.sessions.discard(self)
            self._finish("labtui: the session could not start (see labtui.log)\r\n", 1)
            self.reaped.set()
            return
        if self.closed or self.farewell is not None:  # gone (or told to go) while starting
            assert self.proc is not None
            self.hub.in_background(_end(self.proc, signal.SIGTERM, self.hub.limits.grace_seconds))
        elif not words and self.hub.limits.idle_seconds > 0:
            self._idle_task = asyncio.ensure_future(self._watch_idle(self.hub.limits.idle_seconds))

    async def _spawn(self, handoff: dict[str, Any], *, use_pty: bool) -> None:
        read_fd = write_handoff(handoff)
        argv = [*self.hub.child_command, "shell", "--handoff-fd", str(read_fd)]
        env = _child_env(self.term)
        if use_pty:
            master, slave = pty.openpty()
            _set_size(slave, *self.size)
            try:
                self.proc = await self._fork(env, slave, read_fd) or await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=slave,
                    stdout=slave,
                    stderr=slave,
                    env=env,
                    start_new_session=True,
                    pass_fds=(read_fd,),
                    preexec_fn=_make_controlling_tty,
                )
            except BaseException:
                os.close(master)
                raise
            finally:
                os.close(slave)
                os.close(read_fd)
            self.master = master
            os.set_blocking(master, False)
            asyncio.get_running_loop().add_reader(master, self._relay)
        else:
            try:
                self.proc = await asyncio.create_subprocess_exec(
                    *argv,
                    stdin=asyncio.subprocess.PIPE,
                    stdout=asyncio.subprocess.PIPE,
                    stderr=asyncio.subprocess.PIPE,
                    env=env,
                    start_new_session=True,
                    pass_fds=(read_fd,),
                    preexec_fn=_default_signals,
                )
            finally:
                os.close(read_fd)
            assert self.chan is not None and self.proc.stdout and self.proc.stderr
            self._pumps = [
                asyncio.ensure_future(_pump(self.proc.stdout, self.chan.write)),
                asyncio.ensure_future(_pump(self.proc.stderr, self.chan.write_stderr)),
            ]
        for data in self._pending:
            self._to_child(data)
        self._pending.clear()
        if self._pending_eof:
            self.eof_received()
        self.hub.in_background(self._reap())

    async def _fork(self, env: dict[str, str], slave: int, read_fd: int) -> ForkedProcess | None:
        """From the warm fork server, if there is one (else None: spawn a new process)."""
        forks = self.hub.forks
        if forks is None or not forks.alive:
            return None
        try:
            return await forks.spawn(env, slave, read_fd)
        except (OSError, ConnectionError, TimeoutError):
            log.warning("fork server unavailable: starting a new process", exc_info=True)
            return None

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
        if self._pumps:
            await asyncio.gather(*self._pumps, return_exceptions=True)
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
        if self._idle_task is not None:
            self._idle_task.cancel()
        self.hub.sessions.discard(self)
        try:
            if self.farewell is not None:
                if self.has_pty:
                    self.chan.write(RESET_TERMINAL + self.farewell.encode() + b"\r\n")
                else:
                    self.chan.write_stderr(self.farewell.encode() + b"\n")
            self.chan.exit(status if status >= 0 else 128 - status)
        except OSError:  # the client is gone already
            pass
        self.reaped.set()

    # -- input, resize, idle, the end ------------------------------------------------------

    def data_received(self, data: bytes, datatype: asyncssh.DataType) -> None:
        self.last_input = asyncio.get_running_loop().time()
        if self.proc is None:
            self._pending.append(data)  # typed (or piped) before the child started
        else:
            self._to_child(data)

    def _to_child(self, data: bytes) -> None:
        if self.master is not None:
            with contextlib.suppress(OSError):
                os.write(self.master, data)
        elif self.proc is not None and self.proc.stdin is not None:
            with contextlib.suppress(OSError, RuntimeError):
                self.proc.stdin.write(data)

    def eof_received(self) -> bool:
        if self.proc is None:
            self._pending_eof = True
        elif self.master is None and self.proc.stdin is not None:
            with contextlib.suppress(OSError, RuntimeError):
                self.proc.stdin.close()
        return True  # keep sending the child's output

    def terminal_size_changed(self, width: int, height: int, pixwidth: int, pixheight: int) -> None:
        self.size = (width, height)
        if self.master is not None:
            _set_size(self.master, width, height)
            if self.proc is not None:
                try:
                    os.killpg(self.proc.pid, signal.SIGWINCH)
                except ProcessLookupError:
                    pass

    async def _watch_idle(self, seconds: float) -> None:
        loop = asyncio.get_running_loop()
        while not self.closed and self.farewell is None:
            left = self.last_input + seconds - loop.time()
            if left <= 0:
                self.hub.audit_later(self.actor, "ssh.idle_timeout", f"users/{self.username}", {"seconds": seconds})
                await self.end(f"labtui: no input for {_duration(seconds)}: the session is closed.")
                return
            await asyncio.sleep(left)

    async def end(self, message: str) -> None:
        """Tell the session why it ends, let the child quit (SIGTERM), then make sure."""
        if self.farewell is not None:
            await self.reaped.wait()
            return
        self.farewell = message
        proc = self.proc  # None while starting: _start then ends the child it makes
        if proc is not None and proc.returncode is None:
            await _end(proc, signal.SIGTERM, self.hub.limits.grace_seconds)
        await self.reaped.wait()

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.hub.sessions.discard(self)
        if self._idle_task is not None:
            self._idle_task.cancel()
        proc = self.proc
        if proc is not None and proc.returncode is None:
            self.hub.in_background(_end(proc, signal.SIGHUP, self.hub.limits.grace_seconds))


async def _pump(stream: asyncio.StreamReader, write: Callable[[bytes], None]) -> None:
    while chunk := await stream.read(65536):
        try:
            write(chunk)
        except OSError:  # the client went away: keep draining so the child is not blocked
            continue


class LabServer(asyncssh.SSHServer):
    """One per connection: authenticates and then opens sessions as that user."""

    def __init__(self, hub: SshHub) -> None:
        self.hub = hub
        self.peer = "unknown"
        self.local_address: tuple[str, int] = ("127.0.0.1", 22)
        self.login: LoginResult | None = None
        self.joining = False
        self.conn: asyncssh.SSHServerConnection | None = None
        #: Set once authentication completed and its labtui session (if any) is open.
        self.authenticated = asyncio.Event()
        #: (user, key) that validate_public_key accepted last: asyncssh verifies that key's
        #: signature next and, if it holds, calls auth_completed with no await in between.
        self._key: tuple[str, str] | None = None
        self._refused_key_for: str | None = None
        self._deadline: asyncio.TimerHandle | None = None
        self._time_up: asyncio.Future[None] | None = None

    def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
        self.conn = conn
        peer = conn.get_extra_info("peername")
        self.peer = peer[0] if peer else "unknown"
        local = conn.get_extra_info("sockname")
        if local:
            self.local_address = (str(local[0]), int(local[1]))
        if not self.hub.start_up(self):
            conn.abort()  # at once, before the version exchange: nothing of it is kept
            return
        self.hub.connections.add(conn)

    def connection_lost(self, exc: Exception | None) -> None:
        self.hub.let_go(self)
        if self._deadline is not None:
            self._deadline.cancel()
        if self.conn is not None:
            self.hub.connections.discard(self.conn)
        if self._refused_key_for is not None and self.login is None and not self.joining:
            username = self._refused_key_for
            self.hub.later(self.hub.core.auth.key_login_refused(username, origin=self.peer), "login.failed")

    def begin_auth(self, username: str) -> bool:
        # ``join`` needs no authentication: it can only redeem tokens.
        self.joining = username == JOIN_USER
        self._key = None
        return not self.joining

    def password_auth_supported(self) -> bool:
        return True

    async def validate_password(self, username: str, password: str) -> bool:
        self._key = None
        try:
            self.login = await self.hub.core.auth.login(username, password, origin=self.peer)
        except AuthError as exc:
            log.info("ssh password login refused for %r from %s: %s", username, self.peer, exc)
            return False
        return True

    def public_key_auth_supported(self) -> bool:
        return True

    async def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        # Asked for a probe (no signature) and again for the signed request: this only says
        # whether this exact key belongs to this active user. It opens nothing: a probe
        # proves nothing, public keys are public (auth_completed logs in).
        self._key = None
        offered = key.export_public_key().decode()
        if not await self.hub.core.auth.key_may_log_in(username, offered, origin=self.peer):
            self._refused_key_for = username
            return False
        self._key = (username, offered)
        return True

    async def auth_completed(self) -> None:
        assert self.conn is not None
        try:
            if self.joining:
                refusal = self.hub.join(self)
                if refusal is not None:
                    self.conn.disconnect(asyncssh.DISC_TOO_MANY_CONNECTIONS, refusal)
                    return
                self._deadline = asyncio.get_running_loop().call_later(
                    self.hub.limits.join_timeout_seconds, self._join_ends
                )
            elif self.login is None:
                await self._key_login()
        finally:
            self.hub.let_go(self, keep_join=True)
            self.authenticated.set()

    async def _key_login(self) -> None:
        """Log in with the key asyncssh just verified, as the user it was offered for."""
        assert self.conn is not None
        username, key = self._key or ("", "")
        try:
            if not key or username != self.conn.get_extra_info("username"):
                raise AuthError("no verified key")
            self.login = await self.hub.core.auth.login_with_key(username, key, origin=self.peer)
        except AuthError:  # removed, or the user disabled, since it was checked
            log.info("ssh key login refused for %r from %s at completion", username, self.peer)
            self.conn.disconnect(asyncssh.DISC_NO_MORE_AUTH_METHODS_AVAILABLE, "Permission denied")

    def _join_ends(self) -> None:
        self._time_up = asyncio.ensure_future(self._join_time_up())

    async def _join_time_up(self) -> None:
        seconds = self.hub.limits.join_timeout_seconds
        mine = [s for s in self.hub.sessions if s.server is self]
        await asyncio.gather(
            *(s.end(f"labtui: join sessions last {_duration(seconds)}: this one is closed.") for s in mine),
            return_exceptions=True,
        )
        if self.conn is not None:
            self.conn.close()

    def session_requested(self) -> LabSession:
        return LabSession(self)


class SshHub:
    """The listening server and what its sessions share: the limits and the live sessions."""

    def __init__(
        self, core: Core, child_command: list[str], limits: SshLimits | None = None, *, fork_entry: str | None = None
    ) -> None:
        """``child_command`` starts labtui (``python -m labtui --home ...``); with
        ``fork_entry`` (the module a session child runs, see :class:`ForkServer`), TUI sessions
        are forked from a process that imported it once."""
        self.core = core
        self.child_command = child_command
        self.forks: ForkServer | None = None
        if fork_entry and child_command[1:3] == ["-m", "labtui"]:
            self.forks = ForkServer(fork_entry, child_command[3:], _child_env("xterm-256color"))
        self.limits = limits or SshLimits.from_config(core.config.ssh)
        self.server: asyncssh.SSHAcceptor | None = None
        self.sessions: set[LabSession] = set()
        self.connections: set[asyncssh.SSHServerConnection] = set()
        #: Connections not logged in yet, with their address (``join`` ones until let in).
        self.startups: dict[LabServer, str] = {}
        #: ``join`` connections let in.
        self.joined: set[LabServer] = set()
        #: Connections dropped at once for the startup limits (since the start).
        self.dropped = 0
        self.closing = False
        self._joins: dict[str, deque[float]] = {}
        self._audits: set[asyncio.Task[None]] = set()
        self._background: set[asyncio.Future[None]] = set()

    async def start(self, host: str, port: int) -> str:
        """Listen; returns the host key's fingerprint (for the operator to publish)."""
        key = host_key(self.core.paths.home)
        if self.forks is not None:
            await self.forks.start()
        self.server = await asyncssh.create_server(
            lambda: LabServer(self),
            host,
            port,
            server_host_keys=[key],
            encoding=None,
            line_editor=False,
            login_timeout=self.limits.login_grace_seconds,
        )
        return key.get_fingerprint()

    @property
    def port(self) -> int:
        assert self.server is not None
        return int(self.server.sockets[0].getsockname()[1])

    def start_up(self, server: LabServer) -> bool:
        """Count a new connection among those not logged in yet, or say to drop it
        (``max_startups``, and ``max_startups_per_source`` from its address)."""
        limits = self.limits
        from_there = sum(1 for peer in self.startups.values() if peer == server.peer)
        if self.closing or len(self.startups) >= limits.max_startups or from_there >= limits.max_startups_per_source:
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 1000 == 0:
                log.warning(
                    "ssh: %d connection(s) dropped: too many not logged in (now from %s)", self.dropped, server.peer
                )
            return False
        self.startups[server] = server.peer
        return True

    def join(self, server: LabServer) -> str | None:
        """Let a ``join`` connection in, or say why not: they have a pool of their own."""
        if len(self.joined) >= self.limits.max_join_sessions:
            return (
                f"labtui: the server has its maximum of {self.limits.max_join_sessions} join sessions: try again later."
            )
        self.joined.add(server)
        return None

    def let_go(self, server: LabServer, *, keep_join: bool = False) -> None:
        """``server`` logged in (or is gone): it no longer counts as starting up."""
        self.startups.pop(server, None)
        if not keep_join:
            self.joined.discard(server)

    def admit(self, session: LabSession) -> str | None:
        """Count ``session`` in, or say why not (synchronous: no race between two checks).
        ``join`` sessions have their own pool: they never take a signed-in user's place."""
        limits = self.limits
        if self.closing:
            return SHUTDOWN_MESSAGE
        joining = session.server.joining
        if joining:
            if sum(1 for s in self.sessions if s.server.joining) >= limits.max_join_sessions:
                return (
                    f"labtui: the server has its maximum of {limits.max_join_sessions} join sessions: try again later."
                )
            refusal = self._join_refusal(session.server.peer)
            if refusal:
                return refusal
        else:
            if limits.max_sessions and sum(1 for s in self.sessions if not s.server.joining) >= limits.max_sessions:
                return f"labtui: the server has its maximum of {limits.max_sessions} sessions open: try again later."
            mine = sum(1 for s in self.sessions if s.username == session.username and not s.server.joining)
            if limits.max_sessions_per_user and mine >= limits.max_sessions_per_user:
                return (
                    f"labtui: {session.username} has {mine} sessions open, the most allowed: close one and try again."
                )
        self.sessions.add(session)
        return None

    def _join_refusal(self, peer: str) -> str | None:
        now = asyncio.get_running_loop().time()
        starts = self._joins.setdefault(peer, deque())
        while starts and starts[0] <= now - self.limits.join_window_seconds:
            starts.popleft()
        if len(starts) >= self.limits.join_per_window:
            wait = starts[0] + self.limits.join_window_seconds - now
            return f"labtui: too many join sessions from {peer}: try again in {_duration(max(1, round(wait)))}."
        starts.append(now)
        return None

    def audit_later(self, actor: Actor, action: str, target: str, detail: dict[str, Any]) -> None:
        """Record an audit entry without holding up the SSH protocol (kept until written)."""
        self.later(self.core.db.run(lambda s: audit.record(s, actor, action, target, detail)), action)

    def later(self, write: Awaitable[None], action: str) -> None:
        """Run an audit write in the background (awaited at shutdown)."""

        async def run() -> None:
            try:
                await write
            except Exception:
                log.exception("ssh: cannot write the audit record %s", action)

        task = asyncio.ensure_future(run())
        self._audits.add(task)
        task.add_done_callback(self._audits.discard)

    def in_background(self, work: Awaitable[None]) -> None:
        """Run ``work`` without waiting for it, holding it until it is done (the event loop
        keeps only weak references to tasks: an unheld one may vanish mid-way)."""
        task = asyncio.ensure_future(work)
        self._background.add(task)
        task.add_done_callback(self._background.discard)

    async def shutdown(self, message: str = SHUTDOWN_MESSAGE) -> None:
        """Stop listening, tell every session, give the children ``grace_seconds`` to quit
        (then kill them), and close the connections."""
        self.closing = True
        if self.server is not None:
            self.server.close()
        sessions = list(self.sessions)
        for session in sessions:
            self.audit_later(session.actor, "ssh.session_closed", f"users/{session.username}", {"reason": "shutdown"})
        ending = asyncio.gather(*(s.end(message) for s in sessions), return_exceptions=True)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(ending, self.limits.grace_seconds + 10.0)
        conns = list(self.connections)
        for conn in conns:
            conn.close()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(c.wait_closed() for c in conns), return_exceptions=True), 5.0)
        if self.server is not None:
            await self.server.wait_closed()
            self.server = None
        if self.forks is not None:
            await self.forks.stop()
        if self._audits:
            await asyncio.gather(*list(self._audits), return_exceptions=True)

    async def stop(self) -> None:
        await self.shutdown()
