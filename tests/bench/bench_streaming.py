"""Streaming benchmark: from an output line leaving the job process to its appearing in a
second process's log pane reader, while ``noisy`` streams 100,000 lines (target p95 ≤ 100 ms;
every line arrives, in order, none twice).

The job is the demo's ``noisy`` (bash printing 100,000 numbered lines one by one) with each
line stamped with bash's ``$EPOCHREALTIME`` — a builtin, so stamping costs no process — run
by a ``labtui serve`` worker. This process is the second one: it reads exactly as the log pane
does (:class:`JobLogReader` ``poll``/``get``, every ``TAIL_SECONDS`` of the job log screen) and
notes when each line became visible.

Not part of the pytest run. Usage: ``python tests/bench/bench_streaming.py [--lines 100000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labtui.core.actor import Actor
from labtui.core.config import load_config
from labtui.core.jobs.log_reader import JobLogReader
from labtui.core.runtime import Core, Paths
from labtui.tui.screens.job_log import TAIL_SECONDS

TARGET_P95 = 0.100
PASSWORD = "bench-Admin-123"
LINE = re.compile(r"noisy line (\d{6}) of \d+ (\d+\.\d+)$")

NOISY = """\
#!/usr/bin/env bash
# The demo's noisy, each line stamped with the time it was printed (a bash builtin, no fork).
set -euo pipefail
for ((i = 1; i <= {n}; i++)); do
  printf 'noisy line %06d of {n} %s\\n' "$i" "$EPOCHREALTIME"
done
echo "noisy done"
"""


def make_lab(root: Path, lines: int) -> Path:
    lab = root / "lab-src"
    service = lab / "services" / "noisy"
    service.mkdir(parents=True)
    (service / "deploy.sh").write_text(NOISY.replace("{n}", str(lines)))
    return lab


async def main_async(lines: int) -> int:
    with tempfile.TemporaryDirectory(prefix="labtui-bench-stream-") as tmp:
        root = Path(tmp)
        lab = make_lab(root, lines)
        home = root / "home"
        home.mkdir()
        (home / "config.yaml").write_text(f"lab:\n  repo: {lab}\n")
        core = Core(load_config(home / "config.yaml"), Paths(home))
        await core.start()
        await core.auth.create_admin("admin", PASSWORD)
        admin = (await core.auth.login("admin", PASSWORD)).actor
        env = {k: v for k, v in os.environ.items() if k != "LABTUI_HOME"}
        serve = subprocess.Popen(
            [sys.executable, "-m", "labtui", "--home", str(home), "serve", "--no-scheduler"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env,
        )
        try:
            assert serve.stderr is not None
            if "labtui serve: worker" not in serve.stderr.readline():
                raise SystemExit("labtui serve did not start")
            job = await core.jobs.run_script(admin, "noisy")
            reader = await core.jobs.log_reader(admin, job.id)
            latencies, numbers, status = await tail(core, reader, job.id)
        finally:
            serve.terminate()
            serve.wait(timeout=30)
            await core.aclose()
    return report(lines, latencies, numbers, status)


async def tail(core: Core, reader: JobLogReader, job_id: str) -> tuple[list[float], list[int], str]:
    """Poll like the log pane until the job ends: (latencies, line numbers, final status).

    Like :class:`JobLogScreen`, each tick asks the reader how many lines are stored and
    the job's status; a line can be drawn from the first tick whose count includes it. The
    lines themselves are read once at the end (to learn when each was printed, and to check
    that all arrived, in order, none twice), so that reading does not slow the ticks down.
    """
    ticks: list[tuple[float, int]] = []
    watcher = Actor.system("bench")
    while True:
        count = await asyncio.to_thread(reader.poll)
        ticks.append((time.time(), count))
        info = await core.jobs.get(watcher, job_id)
        if info.is_final and reader.poll() == count:
            break
        await asyncio.sleep(TAIL_SECONDS)
    lines = await asyncio.to_thread(reader.get, 0, count)
    latencies: list[float] = []
    numbers: list[int] = []
    tick = 0
    for index, text in enumerate(lines):
        while ticks[tick][1] <= index:
            tick += 1
        m = LINE.search(text)
        if m:
            numbers.append(int(m.group(1)))
            latencies.append(ticks[tick][0] - float(m.group(2)))
    return latencies, numbers, info.status


def report(lines: int, latencies: list[float], numbers: list[int], status: str) -> int:
    in_order = numbers == sorted(numbers)
    unique = len(set(numbers)) == len(numbers)
    complete = numbers == list(range(1, lines + 1))
    if not latencies:
        print(f"no lines arrived (job {status})")
        return 1
    ordered = sorted(latencies)
    p50 = statistics.median(ordered)
    p95 = ordered[int(len(ordered) * 0.95)]
    ok = p95 <= TARGET_P95 and complete and status == "completed"
    print(
        f"job {status}; {len(numbers):,} of {lines:,} lines arrived, "
        f"{'in order' if in_order else 'OUT OF ORDER'}, {'none twice' if unique else 'DUPLICATES'}"
    )
    print(
        f"line printed → visible in a second process's log pane reader (poll every {TAIL_SECONDS * 1000:.0f} ms): "
        f"p50 {p50 * 1000:.1f} ms, p95 {p95 * 1000:.1f} ms, max {ordered[-1] * 1000:.1f} ms "
        f"(target p95 ≤ {TARGET_P95 * 1000:.0f} ms: {'met' if ok else 'MISSED'})"
    )
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, default=100_000)
    return asyncio.run(main_async(parser.parse_args().lines))


if __name__ == "__main__":
    raise SystemExit(main())
