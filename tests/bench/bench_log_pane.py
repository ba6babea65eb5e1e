"""Log pane benchmark: a job log of 1,000,000 lines in the database, shown by the TUI's
:class:`LogView` over a :class:`JobLogReader` in ``App.run_test()``. Times jump to top,
search, and jump to end (target < 200 ms each, from the key to the lines on screen) and
prints the process RSS (target < 300 MB).

The lines are inserted straight into ``job_output`` by a child process, so this process's
memory is the TUI's alone. Not part of the pytest run.
Usage: ``python tests/bench/bench_log_pane.py [--lines 1000000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import psutil
from textual.app import App, ComposeResult

from labtui.core.db.engine import Database
from labtui.core.db.jobs import COMPLETED, Job
from labtui.core.jobs.log_reader import JobLogReader
from labtui.tui.widgets.log_view import LogView

JOB_ID = "bench001"
NEEDLE = "NEEDLE-4242"
TARGET_MS = 200.0
TARGET_RSS_MB = 300.0


def line(i: int, total: int) -> str:
    """Ansible-like lines with colours; one line in the middle holds the needle."""
    if i == total // 2:
        return f"\x1b[0;33mchanged: [localhost] => line {i:07d} {NEEDLE}\x1b[0m"
    if i % 3 == 0:
        return f'\x1b[0;32mok: [localhost] => (item=line {i:07d}) => {{"msg": "all good"}}\x1b[0m'
    if i % 3 == 1:
        return f"TASK [step {i % 97}] ** line {i:07d} " + "*" * 40
    return f"line {i:07d} plain output of a noisy task with some words to search through"


def fill(db_path: Path, total: int) -> None:
    db = Database(f"sqlite:///{db_path}")
    db.create_schema()
    with db.session() as s:
        s.add(
            Job(
                id=JOB_ID,
                service="noisy",
                action="deploy",
                script="deploy",
                status=COMPLETED,
                username="bench",
                output_lines=total,
            )
        )
    db.dispose()
    con = sqlite3.connect(db_path)
    rows: Iterator[tuple[str, int, str]] = ((JOB_ID, i, line(i, total)) for i in range(1, total + 1))
    with con:
        con.executemany("INSERT INTO job_output (job_id, seq, line) VALUES (?, ?, ?)", rows)
    con.close()


class PaneApp(App[None]):
    def __init__(self, reader: JobLogReader) -> None:
        super().__init__()
        self.reader = reader

    def compose(self) -> ComposeResult:
        yield LogView(self.reader, id="log")

    def on_mount(self) -> None:
        view = self.query_one(LogView)
        view.focus()
        view.source_changed()


async def measure(db_path: Path, total: int) -> int:
    db = Database(f"sqlite:///{db_path}")
    reader = JobLogReader(db, JOB_ID)
    reader.poll()
    app = PaneApp(reader)
    timings: dict[str, float] = {}
    async with app.run_test(size=(160, 50)) as pilot:
        view = app.query_one(LogView)
        await pilot.pause()
        assert f"line {total:07d}" in view.visible_text()[-1], view.visible_text()[-1:]

        start = time.perf_counter()
        await pilot.press("home")
        await pilot.pause()
        shown = view.visible_text()
        timings["jump to top (Home)"] = (time.perf_counter() - start) * 1000
        assert "line 0000001" in shown[0], shown[:1]

        start = time.perf_counter()
        view.needle = NEEDLE  # what the job log screen does on Enter in its search box
        found = view.jump(True)
        await pilot.pause()
        shown = view.visible_text()
        timings[f"search '{NEEDLE}' (line {total // 2:,})"] = (time.perf_counter() - start) * 1000
        assert found and any(NEEDLE in text for text in shown), "search did not show the match"

        start = time.perf_counter()
        await pilot.press("end")
        await pilot.pause()
        shown = view.visible_text()
        timings["jump to end (End)"] = (time.perf_counter() - start) * 1000
        assert f"line {total:07d}" in shown[-1], shown[-1:]
    db.dispose()

    rss = psutil.Process().memory_info().rss / 2**20
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    ok = True
    for what, ms in timings.items():
        met = ms < TARGET_MS
        ok &= met
        print(f"{what}: {ms:.1f} ms (target < {TARGET_MS:.0f} ms: {'met' if met else 'MISSED'})")
    met = peak < TARGET_RSS_MB
    ok &= met
    print(
        f"process RSS {rss:.0f} MB now, {peak:.0f} MB peak (target < {TARGET_RSS_MB:.0f} MB: {'met' if met else 'MISSED'})"
    )
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=1_000_000)
    parser.add_argument("--fill", metavar="DB", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.fill:
        fill(Path(args.fill), args.lines)
        return 0
    with tempfile.TemporaryDirectory(prefix="labtui-bench-pane-") as tmp:
        db_path = Path(tmp) / "labtui.db"
        start = time.perf_counter()
        subprocess.run([sys.executable, __file__, "--fill", str(db_path), "--lines", str(args.lines)], check=True)
        print(
            f"{args.lines:,} lines stored in {time.perf_counter() - start:.1f} s ({db_path.stat().st_size / 2**20:.0f} MB)"
        )
        return asyncio.run(measure(db_path, args.lines))


if __name__ == "__main__":
    raise SystemExit(main())
