"""No process of a job outlives the node that ran it, however its tree detaches.

Every job's environment carries ``LABTUI_JOB_TOKEN=<random per worker>``; whatever a job
forks inherits it, ``setsid``, double forks and ``nohup`` included, and ``/proc/PID/environ``
shows it without privileges for processes of our own user. A guard process (this file, run
by the worker's interpreter, standard library only) holds the read end of a pipe
whose write end only the worker holds: when the worker dies, even by SIGKILL, the kernel
closes it, the guard reads EOF, kills every process carrying the token (pass after pass,
until a few find nothing, for the forks made meanwhile) and exits. A clean stop closes the
pipe the same way. Each worker also records its token under ``<home>/job-nodes/``; a worker
starting later sweeps the tokens of this host's dead workers, for a guard killed with its
node. Why this and not cgroups or a subreaper: docs/jobs.md.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterable
from pathlib import Path

#: The variable every job process carries (set by the worker, inherited by descendants).
TOKEN_VAR = "LABTUI_JOB_TOKEN"
#: A sweep ends after this many passes in a row found nothing ...
QUIET_PASSES = 3
PASS_INTERVAL = 0.05
#: ... or after this long (a job forking faster than it is killed is still killed pass by pass).
SWEEP_SECONDS = 5.0


def marked(needles: Iterable[str]) -> list[int]:
    """Pids (not this one) whose environment holds every ``NAME=value`` of ``needles``."""
    wanted = {n.encode() for n in needles}
    me = os.getpid()
    found: list[int] = []
    for name in os.listdir("/proc"):
        if not name.isdigit() or int(name) == me:
            continue
        try:
            with open(f"/proc/{name}/environ", "rb") as f:
                env = set(f.read().split(b"\0"))
        except OSError:  # gone, or not ours to read
            continue
        if wanted <= env:
            found.append(int(name))
    return found


def sweep(needles: Iterable[str], seconds: float = SWEEP_SECONDS) -> list[int]:
    """SIGKILL every process marked with ``needles`` until :data:`QUIET_PASSES` passes in a
    row find none (a killed process is a zombie with an empty environment: not found again)."""
    needles = list(needles)
    killed: list[int] = []
    quiet = 0
    deadline = time.monotonic() + seconds
    while quiet < QUIET_PASSES and time.monotonic() < deadline:
        pids = marked(needles)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                continue
            killed.append(pid)
        quiet = 0 if pids else quiet + 1
        time.sleep(PASS_INTERVAL)
    return killed


def token_needle(token: str) -> str:
    return f"{TOKEN_VAR}={token}"


class NodeGuard:
    """A worker's token, its guard process and its record under ``nodes_dir``."""

    def __init__(self, nodes_dir: Path) -> None:
        self.token = secrets.token_hex(16)
        self.nodes_dir = nodes_dir
        self._proc: subprocess.Popen[bytes] | None = None

    @property
    def env(self) -> dict[str, str]:
        """What every job of this worker adds to its environment."""
        return {TOKEN_VAR: self.token}

    @property
    def _record(self) -> Path:
        return self.nodes_dir / self.token

    def ensure_started(self) -> None:
        """Start the guard before the first job process exists (again if it was killed)."""
        if self._proc is not None and self._proc.poll() is None:
            return
        self.nodes_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
        fd = os.open(self._record, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            json.dump({"host": socket.gethostname(), "pid": os.getpid(), "started": _started(os.getpid())}, f)
        # Its own session: a signal to the worker's process group (Ctrl-C) must not reach it.
        # The pipe's write end is close-on-exec: no job process inherits it.
        self._proc = subprocess.Popen(
            [sys.executable, "-I", "-S", str(Path(__file__).resolve())],
            stdin=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
            cwd="/",
        )
        assert self._proc.stdin is not None
        self._proc.stdin.write(f"{self.token}\n".encode())  # not in argv: no other user sees it
        self._proc.stdin.flush()

    def stop(self, timeout: float = SWEEP_SECONDS + 2) -> None:
        """Close the pipe (the guard sweeps what the jobs left) and wait for it."""
        proc, self._proc = self._proc, None
        if proc is None:
            return
        assert proc.stdin is not None
        proc.stdin.close()
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        self._record.unlink(missing_ok=True)


def _started(pid: int) -> str | None:
    """The process's start time in clock ticks since boot (tells a reused pid apart)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            return f.read().rsplit(b")", 1)[1].split()[19].decode()
    except (OSError, IndexError):
        return None


def sweep_dead_nodes(nodes_dir: Path) -> list[int]:
    """Kill what the dead workers of this host left (their guard died with them), forget them."""
    killed: list[int] = []
    try:
        records = list(nodes_dir.iterdir())
    except OSError:
        return killed
    host = socket.gethostname()
    for record in records:
        try:
            info = json.loads(record.read_text())
        except (OSError, ValueError):
            continue
        if not isinstance(info, dict) or info.get("host") != host:
            continue
        pid = info.get("pid")
        started = _started(pid) if isinstance(pid, int) else None
        if started is not None and started == info.get("started"):
            continue  # that worker is alive (the same pid, started at the same time)
        killed += sweep([token_needle(record.name)])
        record.unlink(missing_ok=True)
    return killed


def _main() -> int:
    """The guard: read the token, wait for EOF, sweep, exit."""
    for sig in (signal.SIGINT, signal.SIGHUP):  # a terminal's Ctrl-C or hang-up is the worker's
        signal.signal(sig, signal.SIG_IGN)
    token = sys.stdin.buffer.readline().strip().decode()
    if not token:
        return 2
    while os.read(0, 4096):
        pass
    killed = sweep([token_needle(token)])
    if killed:
        try:
            print(f"labtui job guard: killed {len(killed)} leftover job process(es)", file=sys.stderr)
        except OSError:  # the worker's stderr may be gone with it
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(_main())
