"""Job output when storage runs out: a full database, and output past ``jobs.max_output_mb``.

The failures are real: SQLite's own ``PRAGMA max_page_count`` on the job's real database
file makes every write that needs a new page fail with SQLITE_FULL ("database or disk is
full"), exactly as a full disk does; where the machine lets us mount one, a 12 MB tmpfs
fills for real under a ``labtui serve``.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import re
import resource
import shutil
import sqlite3
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import event, text

from labtui.core.actor import Actor
from labtui.core.config import Config, JobsConfig
from labtui.core.db.engine import Database
from labtui.core.jobs.worker import JobWorker
from labtui.core.runtime import Core, Paths
from tests.conftest import ADMIN_PASSWORD, MakeCore, job_lines
from tests.core.test_jobs import add_service

LOST_RE = re.compile(
    r"^\[OUTPUT LOST: ([\d,]+) line\(s\) of this job could not be stored \(database or disk is full\); the job is marked failed\]$"
)
CUT_RE = re.compile(
    r"^\[\.\.\. ([\d,]+) line\(s\) \(([\d.,]+) MB\) cut: the first 512 KB and the last 512 KB of the output are kept"
)


def flood_script(lines: int, width: int = 40) -> str:
    return (
        f'pad=$(printf "x%.0s" {{1..{width}}})\n'
        f'for ((i = 1; i <= {lines}; i++)); do printf "flood %06d %s\\n" "$i" "$pad"; done\n'
        "echo 'flood done'\n"
    )


class PageLimit:
    """``PRAGMA max_page_count`` on every connection the database hands out: ``pages`` None
    lifts it (SQLite's default, as when the disk has room again)."""

    def __init__(self, db: Database) -> None:
        self.pages: int | None = None
        self.engine = db.engine
        event.listen(self.engine, "checkout", self._apply)

    def _apply(self, dbapi_conn: sqlite3.Connection, _record: object, _proxy: object) -> None:
        dbapi_conn.execute(f"PRAGMA max_page_count = {self.pages or 1073741823}")

    def close(self) -> None:
        event.remove(self.engine, "checkout", self._apply)


def fill(path: Path) -> None:
    """Fill the database file's every free byte under the limit its size is now (a full
    disk): rows of shrinking size until not even a tiny one fits."""
    conn = sqlite3.connect(path, timeout=10)
    try:
        conn.execute("CREATE TABLE IF NOT EXISTS ballast (b BLOB)")
        conn.commit()
        pages = conn.execute("PRAGMA page_count").fetchone()[0]
        conn.execute(f"PRAGMA max_page_count = {pages}")
        for size in (4000, 1000, 200, 40, 8, 1):
            while True:
                try:
                    conn.execute("INSERT INTO ballast VALUES (zeroblob(?))", (size,))
                    conn.commit()
                except sqlite3.OperationalError as exc:
                    assert "full" in str(exc)
                    conn.rollback()
                    break
    finally:
        conn.close()


class Records(logging.Handler):
    """What labtui logs, as a log file would get it."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []
        #: Set when a record matching :attr:`awaited` is logged.
        self.seen = threading.Event()
        self.awaited: re.Pattern[str] | None = None

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)
        if self.awaited is not None and self.awaited.match(record.getMessage()):
            self.seen.set()

    def problems(self) -> list[str]:
        return [r.getMessage() for r in self.records if r.levelno >= logging.WARNING]


@pytest.fixture
def records() -> Iterator[Records]:
    handler = Records()
    logger = logging.getLogger("labtui")
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield handler
    logger.removeHandler(handler)
    logger.setLevel(level)


async def test_a_full_database_fails_the_job_and_says_how_many_lines_were_lost(
    core: Core, admin: Actor, records: Records
) -> None:
    add_service(core, "flood", {"deploy.sh": flood_script(30000)})
    limit = PageLimit(core.db)
    worker = JobWorker(core.jobs)
    await worker.start()
    try:
        with core.db.session() as s:  # room for a few thousand lines, then the disk is full
            limit.pages = s.scalar(text("PRAGMA page_count")) + 40
        job = await core.jobs.run_script(admin, "flood")
        # Its end recorded, or held back by the full disk: logged either way.
        records.awaited = re.compile(f"job {job.id}(: could not record its end| [a-z]+ \\(exit code)")
        assert await asyncio.to_thread(records.seen.wait, 120)  # its lines were lost as the disk filled
        during = records.problems()
        limit.pages = None  # room again: the end the full disk held back is recorded
        done = await core.jobs.wait(admin, job.id, timeout=60)
    finally:
        await worker.stop(requeue=False)
        limit.close()
    out = await job_lines(core, admin, job.id)
    assert done.status == "failed" and done.exit_code == 0  # the script did exit 0
    lost = LOST_RE.match(out[-1])
    assert lost, out[-3:]
    printed = 2 + 30000 + 1  # "--- Running deploy.sh for flood ---", "$ bash ...", the lines, "flood done"
    kept = [line for line in out if not line.startswith("[")]
    assert 0 < len(kept) < printed and int(lost.group(1).replace(",", "")) == printed - len(kept)
    assert kept[2:5] == [f"flood {i:06d} {'x' * 40}" for i in (1, 2, 3)]  # the head is in order
    # The failure was logged a few times, not once per write (30 batches failed).
    assert 1 <= len(during) <= 3, during
    assert any("could not be stored: database or disk is full" in m for m in during)


async def test_output_is_stored_again_after_room_is_made_with_a_line_where_it_was_lost(
    core: Core, admin: Actor
) -> None:
    """The writer drops what it cannot store, and says where, once the disk has room."""
    from labtui.core.jobs.output import OutputWriter

    job = await core.jobs.run_script(admin, "hello")  # a job row to hang lines on; no worker runs it
    limit = PageLimit(core.db)
    writer = OutputWriter(core.db)
    writer.start()
    try:
        writer.append_many(job.id, ["before"])
        writer.flush()
        with core.db.session() as s:
            limit.pages = s.scalar(text("PRAGMA page_count"))
        await asyncio.to_thread(fill, core.paths.database)
        writer.append_many(job.id, [f"while full {i}" for i in range(500)])
        writer.flush()
        limit.pages = None
        with core.db.session() as s:
            s.execute(text("DROP TABLE ballast"))  # room again
        writer.append_many(job.id, ["after"])
        summary = await asyncio.to_thread(writer.finish, job.id)
    finally:
        writer.close()
        limit.close()
    assert summary.lost == 500 and summary.reason == "database or disk is full"
    assert await job_lines(core, admin, job.id) == [
        "before",
        "[... 500 line(s) lost here: could not be stored (database or disk is full) ...]",
        "after",
    ]


def test_jobs_cancel_on_a_full_disk_says_so_in_one_line(make_core: MakeCore, tmp_path: Path) -> None:
    home = tmp_path / "home"

    async def setup() -> str:
        core = await make_core()
        await core.auth.create_admin("admin", ADMIN_PASSWORD)
        admin = (await core.auth.login("admin", ADMIN_PASSWORD)).actor
        job = await core.jobs.run_script(admin, "hello")
        await core.aclose()
        return job.id

    job_id = asyncio.run(setup())
    env = {k: v for k, v in os.environ.items() if k != "LABTUI_HOME"}
    # Another process reading (as ``labtui serve`` and every screen do): the database's
    # write-ahead log cannot start over, a write must append to it.
    reader = sqlite3.connect(home / "labtui.db", isolation_level=None)
    try:
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM jobs").fetchone()
        # The real CLI, in a process no file of which may grow (RLIMIT_FSIZE: the kernel
        # refuses every write past a file's end, as a full disk does): the write-ahead log
        # cannot take a page, labtui.log not a line.
        result = subprocess.run(
            [sys.executable, "-m", "labtui", "--home", str(home), "jobs", "cancel", job_id, "--as", "admin"],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            preexec_fn=lambda: resource.setrlimit(resource.RLIMIT_FSIZE, (0, resource.RLIM_INFINITY)),
        )
    finally:
        reader.close()
    # Startup's warnings first (what it could not refresh), then the one line of the refusal.
    *_, last = result.stderr.splitlines()
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr and re.fullmatch(
        f"labtui: Cannot cancel job {job_id}: the database could not store it \\((disk I/O error|database or disk is full)\\)",
        last,
    ), result.stderr
    assert result.stdout == ""
    # Nothing half done: the job is still queued, and nothing was audited.
    with sqlite3.connect(home / "labtui.db") as conn:
        assert conn.execute("SELECT status, cancel_requested FROM jobs WHERE id = ?", (job_id,)).fetchone() == (
            "queued",
            0,
        )
        assert conn.execute("SELECT count(*) FROM audit_log WHERE action = 'job.cancel'").fetchone() == (0,)


async def test_output_past_the_cap_keeps_head_and_tail_and_stays_bounded(make_core: MakeCore) -> None:
    core = await make_core(Config(jobs=JobsConfig(max_output_mb=1)))
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    admin = (await core.auth.login("admin", ADMIN_PASSWORD)).actor
    lines, line_bytes = 80000, len(f"flood {1:06d} {'x' * 80}\n")  # ~7 MB
    add_service(core, "flood", {"deploy.sh": flood_script(lines, 80)})

    def db_bytes() -> int:
        with core.db.session() as s:
            s.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
        return sum(os.path.getsize(p) for p in core.paths.home.glob("labtui.db*"))

    before = db_bytes()
    worker = JobWorker(core.jobs)
    await worker.start()
    followed: list[str] = []
    try:
        job = await core.jobs.run_script(admin, "flood")
        async for batch in core.jobs.follow(admin, job.id):  # a live viewer
            followed += [line.line for line in batch]
        done = await core.jobs.wait(admin, job.id, timeout=60)
    finally:
        await worker.stop(requeue=False)
    growth = db_bytes() - before
    out = await job_lines(core, admin, job.id)
    assert done.status == "completed" and done.output_lines == len(out)
    cut_at = next(i for i, line in enumerate(out) if line.startswith("[... "))
    cut = CUT_RE.match(out[cut_at])
    assert cut, out[cut_at]
    head, tail = out[2:cut_at], out[cut_at + 1 : -1]  # after the header and "$ bash ..."
    numbers = [int(line.split()[1]) for line in head + tail]
    assert numbers[: len(head)] == list(range(1, len(head) + 1))  # the head from the start
    assert numbers[len(head) :] == list(range(lines - len(tail) + 1, lines + 1))  # the tail to the end
    assert out[-1] == "flood done"
    cut_lines = int(cut.group(1).replace(",", ""))
    assert cut_lines == lines - len(head) - len(tail)
    assert abs(float(cut.group(2).replace(",", "")) - cut_lines * line_bytes / 2**20) < 0.1
    # Half a MB each side (the tail a chunk of 64 KB and a batch more at most), not the 7 MB printed.
    assert 0.45 * 2**20 < len(head) * line_bytes <= 0.5 * 2**20
    assert 0.5 * 2**20 <= len(tail) * line_bytes < 0.5 * 2**20 + 64 * 1024 + 1000 * line_bytes
    print(f"db grew {growth / 2**20:.2f} MB for {lines * line_bytes / 2**20:.2f} MB printed")
    assert growth < 3 * 2**20
    # The viewer saw the tail arrive, lines since cut included, and the end.
    assert followed[-1] == "flood done" and len(followed) > len(out)
    assert followed[:cut_at] == out[:cut_at]

    # The log pane reads the kept lines as one contiguous log: head, cut line, tail.
    reader = await core.jobs.log_reader(admin, job.id)
    assert reader.poll() == len(out)
    assert list(reader.get(0, len(out))) == out
    assert list(reader.get(cut_at - 1, cut_at + 2)) == out[cut_at - 1 : cut_at + 2]
    assert reader.find("flood done", 0, True) == len(out) - 1
    last_tail = f"flood {lines:06d}"
    assert reader.find(last_tail, len(out) - 1, False) == len(out) - 2
    assert reader.matching(last_tail) == [len(out) - 2]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A real 12 MB tmpfs (mounting needs root: skipped where it cannot be had)."""
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(disk)], capture_output=True, check=False
    )
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.decode().strip()}")
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], capture_output=True, check=False)


def test_serve_on_a_disk_that_fills_fails_the_job_and_keeps_the_log_quiet(small_disk: Path, tmp_path: Path) -> None:
    home = small_disk / "home"
    printed, go = tmp_path / "printed", tmp_path / "go"

    async def setup() -> None:
        core = Core(Config(), Paths(home))
        await core.start()
        await core.auth.create_admin("admin", ADMIN_PASSWORD)
        # 300,000 lines (18 MB) on a 12 MB disk; then it waits: it is running while the disk is full.
        add_service(
            core,
            "flood",
            {
                "deploy.sh": flood_script(300000).replace(
                    "echo 'flood done'\n",
                    f"touch {printed}\nwhile [ ! -e {go} ]; do sleep 0.05; done\necho 'flood done'\n",
                )
            },
        )
        await core.aclose()

    asyncio.run(setup())
    ballast = small_disk / "ballast"
    ballast.write_bytes(b"\0" * 2 * 2**20)  # what an operator deletes to make room
    env = {k: v for k, v in os.environ.items() if k != "LABTUI_HOME"}

    def cli(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "labtui", "--home", str(home), *args],
            capture_output=True,
            text=True,
            timeout=120,
            env=env,
            check=False,
        )

    def job_row(job_id: str) -> tuple[str, int]:
        with sqlite3.connect(home / "labtui.db", timeout=10) as conn:
            return conn.execute("SELECT status, output_lines FROM jobs WHERE id = ?", (job_id,)).fetchone()

    def until(predicate: Callable[[], object], timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            assert time.monotonic() < deadline, "condition not met in time"
            time.sleep(0.05)

    serve_err = tmp_path / "serve.stderr"
    with serve_err.open("w") as err:
        serve = subprocess.Popen(
            [sys.executable, "-m", "labtui", "--home", str(home), "serve", "--no-scheduler"],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env,
        )
    try:
        until(lambda: "running up to" in serve_err.read_text())
        queued = cli("jobs", "run", "flood", "--as", "admin")
        assert queued.returncode == 0, queued.stderr
        job_id = queued.stdout.split()[-1]
        log_before = (home / "labtui.log").read_text().splitlines()
        until(printed.exists)  # every line printed, the disk full long before
        # Full to the last page: what the flood's failed batches left free (a batch needs
        # more than a cancel) goes to the rest of the lab's disk users.
        with (small_disk / "ballast-2").open("wb", buffering=0) as rest:
            for size in (65536, 4096, 512):
                try:
                    while True:
                        rest.write(b"\0" * size)
                except OSError as exc:
                    assert exc.errno == errno.ENOSPC
        assert shutil.disk_usage(small_disk).free < 4096

        # Someone reading meanwhile (a screen, a follower), so SQLite cannot start its
        # write-ahead log over. A small write may still fit in the room the log's file already
        # has (written from its start after a checkpoint): then the cancel works, full disk or
        # not. Either way one line, never a traceback; the refusal itself is pinned by
        # test_jobs_cancel_on_a_full_disk_says_so_in_one_line.
        reader = sqlite3.connect(home / "labtui.db", isolation_level=None)
        try:
            reader.execute("BEGIN")
            reader.execute("SELECT count(*) FROM jobs").fetchone()
            cancel = cli("jobs", "cancel", job_id, "--as", "admin")
        finally:
            reader.close()
        assert "Traceback" not in cancel.stderr
        if cancel.returncode == 0:
            assert cancel.stdout == f"job {job_id}: cancel requested (its worker ends it within seconds)\n"
        else:
            assert cancel.returncode == 2, cancel.stderr
            assert cancel.stderr.splitlines()[-1] == (
                f"labtui: Cannot cancel job {job_id}: the database could not store it (database or disk is full)"
            ), cancel.stderr

        ballast.unlink()  # room again: the job goes on to its end
        (small_disk / "ballast-2").unlink()
        go.touch()
        until(lambda: job_row(job_id)[0] != "running")
        log_during = (home / "labtui.log").read_text().splitlines()[len(log_before) :]
    finally:
        serve.terminate()
        serve.wait(timeout=30)
    status, _ = job_row(job_id)
    with sqlite3.connect(home / "labtui.db") as conn:
        out = [line for (line,) in conn.execute("SELECT line FROM job_output WHERE job_id = ? ORDER BY seq", (job_id,))]
    # Never completed: failed, or cancelled when the cancel found room.
    assert status == ("cancelled" if cancel.returncode == 0 else "failed")
    lost = re.match(LOST_RE.pattern.replace("failed", status), out[-1])
    assert lost, out[-3:]
    kept = [line for line in out if not line.startswith("[")]
    if status == "failed":
        assert kept[-1] == "flood done"
        assert int(lost.group(1).replace(",", "")) == 2 + 300000 + 1 - len(kept)
    else:  # ended before it said "flood done"; its "[CANCELLED]" may have been lost too
        assert int(lost.group(1).replace(",", "")) - (2 + 300000 - len(kept)) in (0, 1)
    print(f"kept {len(kept):,} lines, lost {lost.group(1)}; labtui.log got {len(log_during)} line(s) meanwhile:")
    print("\n".join(log_during))
    # Not the flood of old: a few lines of serve's (the cancel's start-up lines aside).
    problems = [line for line in log_during if " INFO " not in line]
    assert 1 <= len(problems) <= 4, "\n".join(log_during)
    assert len(log_during) <= 40, "\n".join(log_during)
    assert "Traceback" not in serve_err.read_text() and "Logging error" not in serve_err.read_text()


def test_a_log_file_that_cannot_grow_is_quiet_then_says_how_many_records_were_lost(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """labtui.log on a full disk: no traceback per record on stderr (the TUI's terminal),
    and one line saying what is missing once it can be written again."""
    from labtui.core.runtime import LogFile

    path = tmp_path / "labtui.log"
    handler = LogFile(path)
    logger = logging.getLogger("labtui.test-log-file")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("before")
        soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
        # This process may not grow any file past the log's size now (the kernel refuses,
        # as a full disk does; Python ignores SIGXFSZ).
        resource.setrlimit(resource.RLIMIT_FSIZE, (path.stat().st_size, hard))
        try:
            for i in range(100):
                logger.warning("while full %d", i)
        finally:
            resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
        logger.warning("after")
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert capfd.readouterr().err == ""
    assert path.read_text().splitlines() == [
        "before",
        "100 log record(s) could not be written ([Errno 27] File too large)",
        "after",
    ]


async def test_a_slow_job_past_the_cap_keeps_a_rolling_tail_and_says_only_what_is_true(
    core: Core, admin: Actor
) -> None:
    """Small batches: the tail rolls a chunk at a time; past half the cap and before anything
    is cut, the cut line claims no cut."""
    from labtui.core.jobs.output import OutputWriter

    job = await core.jobs.run_script(admin, "hello")  # a job row to hang lines on; no worker runs it
    writer = OutputWriter(core.db, max_output_bytes=2 * 200 * 1024, max_delay=0, max_batch=50)
    writer.tail_chunk = 10 * 1024  # the cap's smallest chunk is 64 KB: a smaller one to see it roll
    line = "y" * 99  # 100 bytes with its newline
    writer.start()
    try:
        writer.append_many(job.id, [f"{i:04d}" + line[4:] for i in range(2048 + 100)])
        writer.flush()
        reader = await core.jobs.log_reader(admin, job.id)
        reader.poll()
        assert reader.get(2048, 2049)[0].startswith("[... the output reached 200 KB: that much is kept above")
        for i in range(2148, 6000):  # a line at a time, as a slow job prints
            writer.append(job.id, f"{i:04d}" + line[4:])
        summary = await asyncio.to_thread(writer.finish, job.id)
    finally:
        writer.close()
    assert summary.lost == 0 and summary.cut > 0
    out = await job_lines(core, admin, job.id)
    head, cut, tail = out[:2048], out[2048], out[2049:]
    assert [int(x[:4]) for x in head] == list(range(2048))
    said = re.fullmatch(
        r"\[\.\.\. ([\d,]+) line\(s\) \(([\d,]+) KB\) cut: the first 200 KB and the last 200 KB "
        r"of the output are kept \(jobs\.max_output_mb\) \.\.\.\]",
        cut,
    )
    assert said, cut
    assert int(said.group(1).replace(",", "")) == summary.cut and int(said.group(2).replace(",", "")) == round(
        summary.cut * 100 / 1024
    )
    assert [int(x[:4]) for x in tail] == list(range(6000 - len(tail), 6000))
    # The tail's half, and at most a chunk and a batch (50 lines) more.
    assert 200 * 1024 <= len(tail) * 100 < 210 * 1024 + 50 * 100 and len(head) + summary.cut + len(tail) == 6000
