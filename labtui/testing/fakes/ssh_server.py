"""A real SSH server on 127.0.0.1 for the terminal pane's tests: a real shell on a real PTY.

``asyncssh`` with a generated ed25519 host key and one authorized client key (written to a
0600 file the tests hand to labtui). Every session that asks for a PTY gets
``bash --norc --noprofile -i`` (or ``/bin/sh -i``) with the client's TERM and size, its own
session and controlling terminal (so a window change reaches the shell as SIGWINCH).
Output is relayed with back-pressure, so a flood waits for the client like sshd's does.
Any user name is accepted with the key (recorded in :attr:`FakeSshServer.logins`).
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import pty
import shutil
import signal
import struct
import termios
from pathlib import Path

import asyncssh


def _set_size(fd: int, cols: int, rows: int) -> None:
    fcntl.ioctl(fd, termios.TIOCSWINSZ, struct.pack("HHHH", rows, cols, 0, 0))


def _controlling_tty() -> None:  # pragma: no cover - runs in the child after setsid
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)
    for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGPIPE):
        signal.signal(sig, signal.SIG_DFL)


async def _wait_fd(fd: int, *, write: bool = False) -> None:
    loop = asyncio.get_running_loop()
    ready = loop.create_future()
    add, remove = (loop.add_writer, loop.remove_writer) if write else (loop.add_reader, loop.remove_reader)

    def wake() -> None:
        if not ready.done():
            ready.set_result(None)

    add(fd, wake)
    try:
        await ready
    finally:
        remove(fd)


class _Server(asyncssh.SSHServer):
    def __init__(self, owner: FakeSshServer) -> None:
        self.owner = owner
        self.username = ""

    def begin_auth(self, username: str) -> bool:
        self.owner.attempts.append(username)
        self.username = username
        return True

    def auth_completed(self) -> None:
        self.owner.logins.append(self.username)

    def public_key_auth_supported(self) -> bool:
        return True

    def validate_public_key(self, username: str, key: asyncssh.SSHKey) -> bool:
        return key.public_data == self.owner.client_key.public_data


class FakeSshServer:
    """``await server.start()`` → port; ``await server.stop()``; ``await server.restart(new_host_key=True)``."""

    def __init__(self, home: Path, *, port: int = 0) -> None:
        self.home = home
        home.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key_file = home / "id_client"
        self.client_key.write_private_key(str(self.client_key_file))
        self.client_key_file.chmod(0o600)
        self.shell_home = home / "shell-home"
        self.shell_home.mkdir(exist_ok=True)
        self.attempts: list[str] = []
        self.logins: list[str] = []
        self.sessions: list[tuple[str, tuple[int, int]]] = []
        self._acceptor: asyncssh.SSHAcceptor | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    @property
    def fingerprint(self) -> str:
        return self.host_key.get_fingerprint("sha256")

    @staticmethod
    def shell_command() -> list[str]:
        bash = shutil.which("bash")
        return [bash, "--norc", "--noprofile", "-i"] if bash else ["/bin/sh", "-i"]

    async def start(self) -> int:
        self._acceptor = await asyncssh.create_server(
            lambda: _Server(self),
            "127.0.0.1",
            self.port,
            server_host_keys=[self.host_key],
            process_factory=self._session,
            encoding=None,
            line_editor=False,
            allow_scp=False,
            reuse_address=True,
        )
        self.port = self._acceptor.sockets[0].getsockname()[1]
        return self.port

    async def stop(self) -> None:
        if self._acceptor is not None:
            self._acceptor.close()
            await self._acceptor.wait_closed()
            self._acceptor = None
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    async def restart(self, *, new_host_key: bool = False) -> None:
        """Stop and start on the same port, optionally as a 'reinstalled' host (new key)."""
        await self.stop()
        if new_host_key:
            self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        await self.start()

    # -- one session --------------------------------------------------------------------

    def _session(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        task = asyncio.create_task(self._run(process))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _run(self, process: asyncssh.SSHServerProcess[bytes]) -> None:
        cols, rows = (process.term_size[0] or 80, process.term_size[1] or 24) if process.term_size else (80, 24)
        self.sessions.append((process.term_type or "", (cols, rows)))
        master, slave = pty.openpty()
        _set_size(master, cols, rows)
        env = {
            "TERM": process.term_type or "dumb",
            "HOME": str(self.shell_home),
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "LANG": "C.UTF-8",
            "PS1": "$ ",
            "HISTFILE": "/dev/null",
        }
        child = await asyncio.create_subprocess_exec(
            *self.shell_command(),
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=env,
            cwd=str(self.shell_home),
            start_new_session=True,
            preexec_fn=_controlling_tty,
        )
        os.close(slave)
        os.set_blocking(master, False)
        out = asyncio.create_task(self._relay_out(master, process))
        inp = asyncio.create_task(self._relay_in(master, process))
        try:
            await out
        finally:
            inp.cancel()
            with contextlib.suppress(ProcessLookupError):
                os.killpg(child.pid, signal.SIGHUP)
            try:
                status = await asyncio.wait_for(child.wait(), 2)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(child.pid, signal.SIGKILL)
                status = await child.wait()
            os.close(master)
            with contextlib.suppress(Exception):
                process.exit(status if status >= 0 else 128 - status)

    @staticmethod
    async def _relay_out(master: int, process: asyncssh.SSHServerProcess[bytes]) -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except BlockingIOError:
                await _wait_fd(master)
                continue
            except OSError:  # EIO: the shell and everything on the PTY is gone
                return
            if not data:
                return
            try:
                process.stdout.write(data)
                await process.stdout.drain()
            except (BrokenPipeError, ConnectionError, asyncssh.Error):  # the client went away
                return

    @staticmethod
    async def _relay_in(master: int, process: asyncssh.SSHServerProcess[bytes]) -> None:
        while True:
            try:
                data = await process.stdin.read(65536)
            except asyncssh.TerminalSizeChanged as change:
                _set_size(master, change.width, change.height)
                continue
            except (asyncssh.BreakReceived, asyncssh.SignalReceived):
                continue
            if not data:
                return
            while data:
                try:
                    written = os.write(master, data)
                except BlockingIOError:
                    await _wait_fd(master, write=True)
                    continue
                except OSError:
                    return
                data = data[written:]


async def _serve(home: Path) -> None:
    """Serve until stdin closes; print the port and the client key file (for benchmarks
    that want the server's work out of the measuring process)."""
    import sys

    server = FakeSshServer(home)
    port = await server.start()
    print(port, server.client_key_file, flush=True)
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.read)
    await server.stop()


if __name__ == "__main__":
    import sys

    asyncio.run(_serve(Path(sys.argv[1])))
