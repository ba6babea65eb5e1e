"""Ending a job's whole process tree, Ansible's setsid'd workers included.

ansible-runner's own cancel kills the main process group only; ansible-core's task workers
call ``setsid()``, so they (and a ``sleep`` under them) survive, reparented to PID 1
(docs/ansible-runner.md). The recipe here leaves nothing behind: keep snapshotting the descendants
while SIGINT gives the main process a chance to stop cleanly, then SIGKILL every process
ever seen in the tree that is still alive. A process that left the tree before it was seen
(a double fork re-parented to PID 1) is found by the job's marks in its environment
(:func:`labtui.core.jobs.guard.sweep`) and killed too.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import psutil

from labtui.core.jobs.guard import sweep

#: How long SIGINT may take before everything is killed.
GRACE_SECONDS = 2.0


def _alive(p: psutil.Process) -> bool:
    try:
        return p.is_running() and p.status() != psutil.STATUS_ZOMBIE
    except psutil.Error:
        return False


def _snapshot(procs: dict[int, psutil.Process], roots: list[psutil.Process]) -> None:
    for root in roots:
        try:
            for child in root.children(recursive=True):
                procs.setdefault(child.pid, child)
        except psutil.Error:
            pass


def kill_tree(pid: int, grace: float = GRACE_SECONDS) -> list[int]:
    """SIGINT ``pid`` (its process group if it leads one), wait up to ``grace``, then SIGKILL
    the whole tree as snapshotted along the way. Returns the pids that had to be killed."""
    try:
        main = psutil.Process(pid)
    except psutil.Error:
        return []
    seen: dict[int, psutil.Process] = {}
    _snapshot(seen, [main])
    try:
        if os.getpgid(pid) == pid:
            os.killpg(pid, signal.SIGINT)
        else:
            main.send_signal(signal.SIGINT)
    except (OSError, psutil.Error):
        pass
    deadline = time.monotonic() + grace
    while time.monotonic() < deadline and _alive(main):
        _snapshot(seen, [main])
        time.sleep(0.05)
    # Anything forked by a survivor since the last look is part of the tree too.
    _snapshot(seen, [main, *seen.values()])
    victims = [p for p in [main, *seen.values()] if _alive(p)]
    for p in victims:
        try:
            p.kill()
        except psutil.Error:
            pass
    psutil.wait_procs(victims, timeout=2.0)
    return [p.pid for p in victims]


class ProcessTracker:
    """What the worker knows about a job's current process, shared with the runner thread.

    ``cancel()`` may come before the process exists: the runner checks :attr:`cancelled`
    before starting each step, and ansible-runner's cancel callback reads :attr:`terminated`.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.pid: int | None = None
        #: Finds the main pid when the runner could not report it (ansible-runner).
        self.find_pid: Callable[[], int | None] | None = None
        self.cancelled = threading.Event()
        self.terminated = threading.Event()
        #: ``NAME=value`` pairs only this job's processes have in their environment (none: no
        #: sweep); what outlived the tree kill is found by them.
        self.marks: tuple[str, ...] = ()

    def started(self, pid: int | None, find_pid: Callable[[], int | None] | None = None) -> None:
        with self._lock:
            self.pid = pid
            self.find_pid = find_pid
            self.terminated.clear()
        if self.cancelled.is_set():
            self.terminate()

    def cancel(self) -> None:
        """Request the end of the job (idempotent); kills the current process tree."""
        if self.cancelled.is_set():
            return
        self.cancelled.set()
        self.terminate()

    def terminate(self) -> None:
        with self._lock:
            pid = self.pid
            finder = self.find_pid
        if pid is None and finder is not None:
            pid = finder()
        if pid is not None:
            kill_tree(pid)
        if self.marks:
            sweep(self.marks)
        self.terminated.set()
