"""A fork server for SSH sessions: one process that imported labtui and Textual once, and
forks a session's TUI from that warm state (docs/ssh-serving.md: ~0.2 s of each first frame is
importing; forked children also share those pages copy-on-write).

The SSH server (:class:`ForkServer`) talks to it over a socketpair (SOCK_SEQPACKET): a
request is a JSON message carrying the child's environment, with two file descriptors
attached (SCM_RIGHTS): the pseudo-terminal's slave end and the hand-over pipe. The fork
server answers ``{"pid": N}``, and ``{"exit": N, "status": S}`` when that child ends (it is
the parent, so it reaps). The child does what a spawned one would: new session, the PTY as
controlling terminal and stdio, default signal handlers, an environment built by the
server, then the session entry's ``run(["--home", ..., "shell", "--handoff-fd", "N"])``. If the SSH server goes away, the fork
server hangs up on its children and exits.

Run only by :class:`ForkServer`: ``python -m labtui.ssh.forkserver FD ENTRY GLOBAL_ARGS_JSON``.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import fcntl
import json
import os
import select
import signal
import socket
import sys
import termios
import time
from typing import Any

#: Messages are small JSON objects.
MAX_MESSAGE = 65536


# -- the server side (in the SSH server's event loop) -------------------------------------


class ForkedProcess:
    """What the SSH session needs of a child: its pid (= process group) and its end."""

    stdin = None

    def __init__(self, pid: int, ended: asyncio.Future[int]) -> None:
        self.pid = pid
        self._ended = ended

    @property
    def returncode(self) -> int | None:
        return self._ended.result() if self._ended.done() and not self._ended.cancelled() else None

    async def wait(self) -> int:
        return await asyncio.shield(self._ended)


class ForkServer:
    def __init__(self, entry: str, global_args: list[str], env: dict[str, str]) -> None:
        """``entry`` names the module a session child runs: its ``preload()`` is called once
        here, its ``run(argv) -> int`` in each child (labtui serve passes
        ``labtui.cli.session_entry``; this layer does not import the CLI)."""
        self.entry = entry
        self.global_args = global_args
        self.env = env
        self.proc: asyncio.subprocess.Process | None = None
        self.sock: socket.socket | None = None
        self._waiting: collections.deque[asyncio.Future[int]] = collections.deque()
        self._ends: dict[int, asyncio.Future[int]] = {}
        self._lock = asyncio.Lock()

    @property
    def alive(self) -> bool:
        return self.sock is not None

    async def start(self) -> None:
        mine, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        try:
            self.proc = await asyncio.create_subprocess_exec(
                sys.executable,
                "-m",
                "labtui.ssh.forkserver",
                str(theirs.fileno()),
                self.entry,
                json.dumps(self.global_args),
                pass_fds=(theirs.fileno(),),
                env=self.env,
                start_new_session=True,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
            )
        finally:
            theirs.close()
        mine.setblocking(False)
        self.sock = mine
        asyncio.get_running_loop().add_reader(mine.fileno(), self._receive)

    def _end_of(self, pid: int) -> asyncio.Future[int]:
        if pid not in self._ends:
            self._ends[pid] = asyncio.get_running_loop().create_future()
        return self._ends[pid]

    def _receive(self) -> None:
        assert self.sock is not None
        try:
            data = self.sock.recv(MAX_MESSAGE)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:  # the fork server died: its children were hung up on
            self._gone()
            return
        message = json.loads(data)
        if "pid" in message:
            if self._waiting:
                self._waiting.popleft().set_result(int(message["pid"]))
        elif "exit" in message:
            pid = int(message["exit"])
            future = self._end_of(pid)
            if not future.done():
                future.set_result(int(message["status"]))
            self._ends.pop(pid, None)

    def _gone(self) -> None:
        if self.sock is not None:
            asyncio.get_running_loop().remove_reader(self.sock.fileno())
            self.sock.close()
            self.sock = None
        for waiting in self._waiting:
            if not waiting.done():
                waiting.set_exception(ConnectionError("the fork server is gone"))
        self._waiting.clear()
        for future in self._ends.values():
            if not future.done():
                future.set_result(-int(signal.SIGHUP))
        self._ends.clear()

    async def spawn(self, env: dict[str, str], slave: int, handoff_fd: int) -> ForkedProcess:
        """Fork a session child on the PTY ``slave`` with the hand-over pipe ``handoff_fd``."""
        async with self._lock:  # answers come in request order
            if self.sock is None:
                raise ConnectionError("the fork server is gone")
            future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
            self._waiting.append(future)
            socket.send_fds(self.sock, [json.dumps({"env": env}).encode()], [slave, handoff_fd])
            pid = await asyncio.wait_for(future, 10.0)
        return ForkedProcess(pid, self._end_of(pid))

    async def stop(self) -> None:
        """Close the socket: the fork server hangs up on what is left and exits."""
        if self.sock is not None:
            self._gone()
        if self.proc is not None:
            try:
                await asyncio.wait_for(self.proc.wait(), 10.0)
            except TimeoutError:
                self.proc.kill()
                await self.proc.wait()


# -- the fork server process ------------------------------------------------------------


def _preload(entry: str) -> None:
    import importlib

    import sqlalchemy.orm

    importlib.import_module(entry).preload()
    sqlalchemy.orm.configure_mappers()
    # Frozen before the forks: a session's collections then never touch (and so never copy)
    # the pages it shares with this process.
    importlib.import_module("labtui.heap").freeze_once()


def _become_session(
    request: dict[str, Any], slave: int, handoff_fd: int, entry: str, global_args: list[str]
) -> None:  # pragma: no cover - the forked child
    code = 1
    try:
        os.setsid()
        fcntl.ioctl(slave, termios.TIOCSCTTY, 0)
        for target in (0, 1, 2):
            os.dup2(slave, target)
        if slave > 2:
            os.close(slave)
        for sig in (signal.SIGHUP, signal.SIGINT, signal.SIGQUIT, signal.SIGTERM, signal.SIGPIPE, signal.SIGCHLD):
            signal.signal(sig, signal.SIG_DFL)
        os.environ.clear()
        os.environ.update({str(k): str(v) for k, v in request.get("env", {}).items()})
        import importlib

        code = importlib.import_module(entry).run([*global_args, "shell", "--handoff-fd", str(handoff_fd)])
    except SystemExit as exc:
        code = exc.code if isinstance(exc.code, int) else 1
    except BaseException:  # report on the terminal, never return into the loop
        import traceback

        traceback.print_exc()
    finally:
        with contextlib.suppress(Exception):
            sys.stdout.flush()
            sys.stderr.flush()
        os._exit(code)


def _reap(sock: socket.socket, children: set[int]) -> None:
    while children:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        children.discard(pid)
        with contextlib.suppress(OSError):
            sock.send(json.dumps({"exit": pid, "status": os.waitstatus_to_exitcode(status)}).encode())


def _hang_up(children: set[int]) -> None:
    for sig, wait in ((signal.SIGHUP, 2.0), (signal.SIGKILL, 2.0)):
        for pid in list(children):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, sig)
        end = time.monotonic() + wait
        while children and time.monotonic() < end:
            try:
                pid, _ = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid:
                children.discard(pid)
            else:
                time.sleep(0.05)


def serve(fd: int, entry: str, global_args: list[str]) -> None:  # pragma: no cover - a separate process
    sock = socket.socket(fileno=fd)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the SSH server decides when this ends
    _preload(entry)
    children: set[int] = set()
    while True:
        ready, _, _ = select.select([sock], [], [], 0.1)
        _reap(sock, children)
        if not ready:
            continue
        try:
            message, fds, _, _ = socket.recv_fds(sock, MAX_MESSAGE, 2)
        except OSError:
            break
        if not message:
            break
        if len(fds) != 2:
            for extra in fds:
                os.close(extra)
            continue
        slave, handoff_fd = fds
        pid = os.fork()
        if pid == 0:
            sock.close()
            _become_session(json.loads(message), slave, handoff_fd, entry, global_args)
        os.close(slave)
        os.close(handoff_fd)
        children.add(pid)
        sock.send(json.dumps({"pid": pid}).encode())
    _hang_up(children)


if __name__ == "__main__":  # pragma: no cover
    serve(int(sys.argv[1]), sys.argv[2], json.loads(sys.argv[3]))
