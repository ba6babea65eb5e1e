"""CloudLab import benchmark: a ``cloudlab.db`` with 10,000 jobs of 100 output lines each
and 100,000 audit records, imported into a fresh labtui database (target: under 60 s).

Prints rows per second, and the ratio against a baseline measured in the same run: the same
rows inserted with plain ``sqlite3.executemany`` into the same labtui schema (audit text
index triggers included), i.e. the cost of reading, checking and mapping over the bare
writes. A second import (nothing to do) is timed too.

Not part of the pytest run. Usage: ``python tests/bench/bench_import.py [--jobs 10000]
[--lines 100] [--audit 100000]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from labtui.core.actor import Actor
from labtui.core.config import Config
from labtui.core.db.engine import Database
from labtui.core.importer import ImportRequest, import_cloudlab
from labtui.core.runtime import Core, Paths
from tests.cloudlab_fixtures import build_bulk_sqlite

TARGET_SECONDS = 60.0


def baseline(source: Path, target: Path) -> float:
    """Seconds to copy the same rows with bare executemany into labtui's schema."""
    Database(f"sqlite:///{target}").create_schema()
    src = sqlite3.connect(source)
    jobs = src.execute(
        "SELECT id, service, action, status, started_at, finished_at, output, username FROM jobs"
    ).fetchall()
    audit = src.execute("SELECT created_at, username, action, resource, details, ip_address FROM audit_log").fetchall()
    src.close()
    start = time.perf_counter()
    conn = sqlite3.connect(target)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=NORMAL")
    with conn:
        conn.executemany(
            "INSERT INTO jobs (id, service, action, status, username, created_at, started_at, finished_at, cancel_requested, output_lines) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0, ?)",
            ((j[0], j[1], j[2], j[3], j[7], j[4], j[4], j[5], len(json.loads(j[6]))) for j in jobs),
        )
        conn.executemany(
            "INSERT INTO job_output (job_id, seq, line) VALUES (?, ?, ?)",
            ((j[0], seq, line) for j in jobs for seq, line in enumerate(json.loads(j[6]), 1)),
        )
        conn.executemany(
            "INSERT INTO audit_log (created_at, username, action, target, detail, origin) VALUES (?, ?, ?, ?, ?, ?)",
            audit,
        )
    conn.close()
    return time.perf_counter() - start


async def run(jobs: int, lines: int, audit: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        source = root / "cloudlab.db"
        made = time.perf_counter()
        build_bulk_sqlite(source, jobs=jobs, lines=lines, audit=audit)
        print(
            f"source: {jobs:,} jobs x {lines} lines, {audit:,} audit records ({source.stat().st_size / 1e6:.0f} MB, built in {time.perf_counter() - made:.1f} s)"
        )
        base = baseline(source, root / "baseline.db")

        core = Core(Config(), Paths(root / "home"))
        await core.start()
        try:
            start = time.perf_counter()
            report = await import_cloudlab(core, Actor.system("bench"), ImportRequest(db_path=source))
            took = time.perf_counter() - start
            start = time.perf_counter()
            again = await import_cloudlab(core, Actor.system("bench"), ImportRequest(db_path=source))
            took_again = time.perf_counter() - start
        finally:
            await core.aclose()
    rows = sum(c + u for _t, c, u, _s in report.rows())
    print(f"baseline (bare executemany of the same rows): {base:.1f} s")
    print(f"import: {took:.1f} s, {rows:,} rows, {rows / took:,.0f} rows/s (x{took / base:.2f} the baseline)")
    print(f"second import (nothing to do, changed={again.changed}): {took_again:.1f} s")
    ok = took < TARGET_SECONDS and not again.changed
    print(f"target < {TARGET_SECONDS:.0f} s: {'met' if ok else 'NOT met'}")
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=10_000)
    parser.add_argument("--lines", type=int, default=100)
    parser.add_argument("--audit", type=int, default=100_000)
    args = parser.parse_args()
    return asyncio.run(run(args.jobs, args.lines, args.audit))


if __name__ == "__main__":
    raise SystemExit(main())
