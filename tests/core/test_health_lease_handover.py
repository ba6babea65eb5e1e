"""Two real ``labtui serve`` processes on one data dir (one SQLite file): only the holder of
the ``health-poller`` lease polls; SIGKILL it and the other takes polling over once the
dead holder's lease runs out (a 3 s lease here, from the config file).

What the test watches is what an operator could: the lease row (its holder names the
process id), the results the poller stores, and the log line a process writes when it
starts running the checks.
"""

from __future__ import annotations

import datetime as dt
import itertools
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TypeVar

import pytest

from labtui.testing.fakes.http_target import HttpTarget

LEASE_SECONDS = 3
#: The lease is retried every third of its period (HealthPoller.run).
RETRY_SECONDS = LEASE_SECONDS / 3
TAKES_OVER = "health poller: this process now runs the health checks"

T = TypeVar("T")


@pytest.fixture
def web() -> Iterator[HttpTarget]:
    target = HttpTarget().start()
    yield target
    target.stop()


def wait_for(predicate: Callable[[], T], timeout: float, what: str) -> T:
    """Poll ``predicate`` until it returns something true; fail after ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(0.05)


class Lab:
    """The data dir both processes share, read the way an operator would (sqlite3, the log)."""

    def __init__(self, tmp: Path, url: str) -> None:
        self.home = tmp / "home"
        self.home.mkdir()
        lab = tmp / "lab"
        (lab / "health").mkdir(parents=True)
        (lab / "health" / "site.yaml").write_text(
            f"interval: 1\nchecks:\n  - {{name: web, type: http, url: '{url}', timeout: 2}}\n"
        )
        self.config = tmp / "config.yaml"
        self.config.write_text(
            f"lab:\n  checkout: {lab}\nhealth:\n  tick_seconds: 1\n  lease_seconds: {LEASE_SECONDS}\n"
        )
        self.outputs: list[Path] = []

    def serve(self, name: str) -> subprocess.Popen[bytes]:
        """``labtui serve`` (headless: no --ssh) on this data dir, output to a file."""
        env = {**os.environ, "LABTUI_HOME": str(self.home)}
        out = self.home.parent / f"{name}.out"
        self.outputs.append(out)
        with out.open("wb") as sink:
            return subprocess.Popen(
                [sys.executable, "-m", "labtui", "--config", str(self.config), "serve"],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=env,
            )

    def query(self, sql: str) -> list[tuple[object, ...]]:
        try:
            with sqlite3.connect(self.home / "labtui.db", timeout=5) as db:
                return db.execute(sql).fetchall()
        except sqlite3.OperationalError:  # not created yet by the first process
            return []

    def poller_pid(self) -> int | None:
        """The process holding an unexpired ``health-poller`` lease (its holder is
        ``host-pid-random``)."""
        now = dt.datetime.now(dt.UTC).replace(tzinfo=None).isoformat(sep=" ")
        rows = self.query(f"SELECT holder FROM leases WHERE name = 'health-poller' AND expires_at >= '{now}'")
        return int(str(rows[0][0]).rsplit("-", 2)[1]) if rows else None

    def results(self) -> list[dt.datetime]:
        rows = self.query("SELECT checked_at FROM health_check_results WHERE service_name = 'site' ORDER BY id")
        return [dt.datetime.fromisoformat(str(r[0])) for r in rows]

    def takeovers(self) -> int:
        log = self.home / "labtui.log"
        return log.read_text().count(TAKES_OVER) if log.exists() else 0


def gaps(times: list[dt.datetime]) -> list[float]:
    return [(b - a).total_seconds() for a, b in itertools.pairwise(times)]


def test_only_the_lease_holder_polls_and_the_other_takes_over_after_sigkill(tmp_path: Path, web: HttpTarget) -> None:
    lab = Lab(tmp_path, web.url)
    first = lab.serve("first")
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_for(lambda: lab.poller_pid() == first.pid, 30, "the first process to hold the poller lease")
        wait_for(lambda: len(lab.results()) >= 2, 10, "the first process's results")

        second = lab.serve("second")
        wait_for(
            lambda: b"labtui serve: worker" in (tmp_path / "second.out").read_bytes(),
            30,
            "the second process to start its workers",
        )
        # Both run now: over a few of the second one's lease attempts, the first keeps polling
        # alone — one process took the lease, and results come one per interval, not two.
        seen_before = len(lab.results())
        watch_until = time.monotonic() + 3 * RETRY_SECONDS + 0.5
        while time.monotonic() < watch_until:
            assert lab.poller_pid() == first.pid
            time.sleep(0.1)
        both_running = lab.results()
        assert lab.takeovers() == 1
        assert len(both_running) > seen_before, "the first process kept polling"
        assert min(gaps(both_running)) > 0.5, f"results closer than one interval: doubled polling? {gaps(both_running)}"

        killed_at = time.monotonic()
        first.send_signal(signal.SIGKILL)  # no chance to release the lease
        first.wait(10)
        stored_by_first = len(lab.results())
        # The dead holder's lease runs out at most LEASE_SECONDS after its last renewal, and
        # the second process tries again every RETRY_SECONDS (+ slack for a loaded machine).
        wait_for(
            lambda: lab.poller_pid() == second.pid,
            LEASE_SECONDS + RETRY_SECONDS + 5,
            "the second process to take the lease",
        )
        handover = time.monotonic() - killed_at
        assert lab.takeovers() == 2
        wait_for(lambda: len(lab.results()) >= stored_by_first + 2, 10, "the second process's results")
        after = lab.results()
        assert min(gaps(after[stored_by_first - 1 :])) > 0.5, "one poller after the handover"
        assert lab.poller_pid() == second.pid
        print(f"handover took {handover:.1f} s (lease {LEASE_SECONDS} s)")

        second.send_signal(signal.SIGTERM)  # a clean stop releases the lease
        assert second.wait(15) == 0
        assert lab.poller_pid() is None
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.kill()
                proc.wait(10)
