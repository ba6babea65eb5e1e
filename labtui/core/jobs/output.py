"""Job output in the database: one row per line, appended in batches, tailed by ``seq``.

One :class:`OutputWriter` thread per process takes the lines of every job it runs from a
queue and commits them in batches: under load a batch grows to ``max_batch`` (1,000 lines:
bigger batches wrote faster per line but held each line back longer, p95 ~120 ms against
~40 ms for a 100,000-line flood), when lines trickle in each is committed within
``max_delay`` (20 ms) — well inside the 100 ms the log panes promise. A job printing faster
than that is held back at its pipe (``max_pending``). A sync engine on a dedicated thread is
the fast path on SQLite (docs/ansible-runner.md, "SQLite as the bus").

Two limits keep a job's output from hurting everyone else (docs/job-output.md):

- the cap (``jobs.max_output_mb``): the first half is kept, then a cut line, then a rolling
  tail of the other half; the tail is stored as it arrives (live viewers see it) and its
  oldest lines are deleted as it grows, so the database stays bounded;
- storage failures (a full disk, an I/O error): the lines that could not be stored are
  counted, never retried for seconds while the pipe fills, and reported once per minute in
  the log; the job's end (:meth:`OutputWriter.finish`) says how many were lost so the
  worker fails it.
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from labtui.core.db.engine import Database
from labtui.core.db.jobs import Job, JobOutput

log = logging.getLogger("labtui.jobs")

#: CloudLab's capture: the first match on any line of the job.
DEPLOYMENT_RE = re.compile(r"DEPLOYMENT_ID=([\w-]+)")
MB = 1024 * 1024
#: SQLite's primary result codes that mean nothing can be stored now: retrying at once
#: (as for a lock) only floods the log.
_STORAGE_CODES = {"SQLITE_FULL", "SQLITE_IOERR", "SQLITE_CANTOPEN", "SQLITE_READONLY", "SQLITE_CORRUPT"}
_STORAGE_WORDS = ("disk is full", "no space left", "disk i/o error", "readonly database", "quota")


@dataclass(frozen=True)
class OutputLine:
    seq: int
    line: str


def storage_failure(exc: BaseException) -> str | None:
    """Why the database cannot store anything (``"database or disk is full"``), or None when
    ``exc`` is something else (a lock: worth waiting for)."""
    orig = getattr(exc, "orig", exc)
    name = getattr(orig, "sqlite_errorname", None) or ""  # SQLITE_IOERR_WRITE: an extended code
    message = str(orig)
    if any(name == code or name.startswith(code + "_") for code in _STORAGE_CODES):
        return message
    if any(word in message.lower() for word in _STORAGE_WORDS):
        return message
    return None


class FailureLog:
    """Logs a recurring failure at most once per ``every`` seconds per kind, saying how many
    were held back: a full disk fails every write, and a line per failure filled what was
    left of the disk with the log (1,100 tracebacks a second)."""

    def __init__(self, logger: logging.Logger, every: float = 60.0) -> None:
        self.logger = logger
        self.every = every
        self._last: dict[str, float] = {}
        self._held: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, kind: str, level: int, msg: str, *args: object, exc_info: bool = False) -> bool:
        """Log ``msg`` unless ``kind`` was logged in the last ``every`` seconds; True if logged."""
        now = time.monotonic()
        with self._lock:
            last = self._last.get(kind)
            if last is not None and now - last < self.every:
                self._held[kind] = self._held.get(kind, 0) + 1
                return False
            self._last[kind] = now
            held = self._held.pop(kind, 0)
        if held:
            msg += f" ({held:,} more like it in the last {self.every:.0f} s were not logged)"
        self.logger.log(level, msg, *args, exc_info=exc_info)
        return True


def read_lines(session: Session, job_id: str, after_seq: int = 0, limit: int = 1000) -> list[OutputLine]:
    rows = session.execute(
        select(JobOutput.seq, JobOutput.line)
        .where(JobOutput.job_id == job_id, JobOutput.seq > after_seq)
        .order_by(JobOutput.seq)
        .limit(limit)
    )
    return [OutputLine(r.seq, r.line) for r in rows]


def last_seq(session: Session, job_id: str) -> int:
    return session.scalar(select(func.max(JobOutput.seq)).where(JobOutput.job_id == job_id)) or 0


def append_line(session: Session, job_id: str, line: str) -> int:
    """Append one line outside a worker (a cancel before start, a lost job); returns its seq.
    ``output_lines`` counts the rows kept, which is less than the last seq once a cap cut."""
    seq = last_seq(session, job_id) + 1
    session.execute(insert(JobOutput).values(job_id=job_id, seq=seq, line=line))
    session.execute(update(Job).where(Job.id == job_id).values(output_lines=func.coalesce(Job.output_lines, 0) + 1))
    return seq


def _size(line: str) -> int:
    return len(line.encode("utf-8", "replace")) + 1  # with its newline


def _mb(size: int) -> str:
    if size < MB:
        return f"{size / 1024:,.0f} KB"
    return f"{size / MB:,.1f}".removesuffix(".0") + " MB"


@dataclass(frozen=True)
class OutputSummary:
    """A job's output at its end, from this writer's point of view."""

    #: Lines that could not be stored (the job must not end ``completed``).
    lost: int = 0
    #: The last storage error, as the database said it.
    reason: str | None = None
    #: Lines the cap cut from the middle.
    cut: int = 0


@dataclass
class _JobState:
    """What the writer keeps of one job's output while it runs."""

    loaded: bool = False
    next_seq: int = 1
    #: Rows kept (``Job.output_lines``).
    stored: int = 0
    head_bytes: int = 0
    #: Seq of the cut line once the head is full (``Job.output_cut``).
    cut_at: int | None = None
    #: Stored tail chunks (batches, small ones merged), oldest first: (first seq, last seq, bytes).
    tail: deque[tuple[int, int, int]] = field(default_factory=deque)
    tail_bytes: int = 0
    cut_lines: int = 0
    cut_bytes: int = 0
    lost: int = 0
    #: Lost since the last "lines lost here" line.
    lost_unmarked: int = 0
    reason: str | None = None

    def copy(self) -> _JobState:
        twin = _JobState(**{k: getattr(self, k) for k in self.__dataclass_fields__ if k != "tail"})
        twin.tail = deque(self.tail)
        return twin


class OutputWriter:
    """The batching writer thread of one process."""

    def __init__(
        self,
        db: Database,
        *,
        max_delay: float = 0.02,
        max_batch: int = 1000,
        max_pending: int = 2000,
        max_output_bytes: int = 50 * MB,
        failures: FailureLog | None = None,
    ) -> None:
        self.db = db
        self.max_delay = max_delay
        self.max_batch = max_batch
        #: Lines queued and not yet committed past which :meth:`append_many` waits: a job
        #: printing faster than lines are stored is held back at its pipe (its lines are
        #: printed when they can be shown soon) instead of queueing here (a flood had lines
        #: waiting 100 ms and more behind it).
        self.max_pending = max_pending
        #: Per job: the first half is kept, and the last half as a rolling tail.
        self.head_budget = max(1, max_output_bytes // 2)
        self.tail_budget = max(1, max_output_bytes - self.head_budget)
        #: The tail is cut a chunk at a time: 64 KB or 1/256 of it, whichever is bigger.
        self.tail_chunk = max(64 * 1024, self.tail_budget // 256)
        self.failures = failures or FailureLog(log)
        self._pending = 0
        self._room = threading.Condition()
        self._queue: queue.SimpleQueue[tuple[Any, ...]] = queue.SimpleQueue()
        self._jobs: dict[str, _JobState] = {}
        self._thread: threading.Thread | None = None
        self._insert: str | None = None  # the INSERT in the driver's paramstyle

    # -- producer side (any thread) --------------------------------------------------------

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="labtui-output-writer", daemon=True)
            self._thread.start()

    def append(self, job_id: str, line: str) -> None:
        """One line; never waits (any thread may call it, the event loop's too)."""
        with self._room:
            self._pending += 1
        self._queue.put(("lines", job_id, [line]))

    def append_many(self, job_id: str, lines: list[str]) -> None:
        """Lines read together (one read of a job's pipe): one queue item, not one per line.
        Waits while ``max_pending`` lines are not yet stored: call it from a job's reading
        thread only."""
        if not lines:
            return
        with self._room:
            while self._pending >= self.max_pending and self._thread is not None and self._thread.is_alive():
                self._room.wait(0.5)
            self._pending += len(lines)
        self._queue.put(("lines", job_id, lines))

    def set_deployment_id(self, job_id: str, value: str) -> None:
        """Stored with the next batch, only if the job has none yet (the first match wins)."""
        self._queue.put(("deployment", job_id, value))

    def flush(self, timeout: float = 30.0) -> bool:
        """Block until everything queued before this call is committed (or given up on)."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._queue.put(("flush", done))
        return done.wait(timeout)

    def finish(self, job_id: str, timeout: float = 30.0) -> OutputSummary:
        """The job ended: flush its lines, forget it, and say what could not be kept."""
        self.flush(timeout)
        state = self._jobs.get(job_id)  # the thread is between batches: flush returned
        summary = OutputSummary() if state is None else OutputSummary(state.lost, state.reason, state.cut_lines)
        self.forget(job_id)
        return summary

    def forget(self, job_id: str) -> None:
        """The job ended: drop its counters (after :meth:`flush`)."""
        self._queue.put(("forget", job_id))

    def close(self, timeout: float = 30.0) -> None:
        if self._thread is None:
            return
        self._queue.put(("stop",))
        self._thread.join(timeout)
        self._thread = None

    # -- the thread ------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            batch = [self._queue.get()]
            size = len(batch[0][2]) if batch[0][0] == "lines" else 0
            deadline = time.monotonic() + self.max_delay
            while size < self.max_batch and batch[-1][0] == "lines":
                remaining = deadline - time.monotonic()
                try:
                    batch.append(self._queue.get(timeout=remaining) if remaining > 0 else self._queue.get_nowait())
                except queue.Empty:
                    break
                if batch[-1][0] == "lines":
                    size += len(batch[-1][2])
            stop = self._handle(batch)
            if stop:
                return

    def _handle(self, batch: list[tuple[Any, ...]]) -> bool:
        lines: dict[str, list[str]] = {}
        count = 0
        deployments: dict[str, str] = {}
        events: list[threading.Event] = []
        forget: list[str] = []
        stop = False
        for item in batch:
            kind = item[0]
            if kind == "lines":
                lines.setdefault(item[1], []).extend(item[2])
                count += len(item[2])
            elif kind == "deployment":
                deployments.setdefault(item[1], item[2])
            elif kind == "flush":
                events.append(item[1])
            elif kind == "forget":
                forget.append(item[1])
            elif kind == "stop":
                stop = True
        if lines or deployments:
            try:
                self._write(lines, deployments)
            except Exception as exc:  # never the end of the thread: every later job would hang
                self._lost(lines, str(exc) or exc.__class__.__name__)
                self.failures("crash", logging.ERROR, "output: write crashed", exc_info=True)
        if count:
            with self._room:
                self._pending -= count
                self._room.notify_all()
        for job_id in forget:
            self._jobs.pop(job_id, None)
        for ev in events:
            ev.set()
        return stop

    def _insert_sql(self, s: Session) -> str:
        if self._insert is None:
            marks = {"qmark": "?, ?, ?", "numeric": ":1, :2, :3", "format": "%s, %s, %s", "pyformat": "%s, %s, %s"}
            paramstyle = s.get_bind().dialect.paramstyle
            if paramstyle not in marks:  # "named": no positional form
                raise RuntimeError(f"output: unsupported DB-API paramstyle {paramstyle!r}")
            self._insert = f"INSERT INTO {JobOutput.__tablename__} (job_id, seq, line) VALUES ({marks[paramstyle]})"
        return self._insert

    def _load(self, s: Session, job_id: str) -> _JobState:
        """The job's state, read from its rows the first time (a requeued job goes on)."""
        state = self._jobs.get(job_id)
        if state is None:
            state = self._jobs[job_id] = _JobState()
        if not state.loaded:
            row = s.execute(select(Job.output_lines, Job.output_cut).where(Job.id == job_id)).first()
            state.next_seq = last_seq(s, job_id) + 1
            state.stored = (row.output_lines or 0) if row is not None else 0
            # A job that already had its head cut keeps it: what it prints now is all tail.
            state.cut_at = row.output_cut if row is not None else None
            state.loaded = True
        return state

    def _write(self, lines: dict[str, list[str]], deployments: dict[str, str]) -> None:
        for attempt in range(8):
            try:
                staged: dict[str, _JobState] = {}
                with self.db.session() as s:
                    rows: list[tuple[str, int, str]] = []
                    cuts: list[tuple[str, int, int]] = []
                    for job_id, job_lines in lines.items():
                        state = self._load(s, job_id).copy()
                        self._stage(job_id, state, job_lines, rows, cuts)
                        staged[job_id] = state
                    if rows:
                        # The driver's own executemany over tuples: SQLAlchemy's per-row
                        # parameter handling held the GIL ~5 us a row, time the thread reading
                        # the job's pipe could not run (lines waited in the pipe meanwhile).
                        s.connection().exec_driver_sql(self._insert_sql(s), rows)
                    for job_id, first, last in cuts:
                        s.execute(
                            delete(JobOutput).where(JobOutput.job_id == job_id, JobOutput.seq.between(first, last))
                        )
                    for job_id, state in staged.items():
                        if any(cut[0] == job_id for cut in cuts):
                            s.execute(
                                update(JobOutput)
                                .where(JobOutput.job_id == job_id, JobOutput.seq == state.cut_at)
                                .values(line=self._cut_line(state))
                            )
                        s.execute(
                            update(Job)
                            .where(Job.id == job_id)
                            .values(output_lines=state.stored, output_cut=state.cut_at)
                        )
                    for job_id, value in deployments.items():
                        s.execute(
                            update(Job).where(Job.id == job_id, Job.deployment_id.is_(None)).values(deployment_id=value)
                        )
                for job_id, state in staged.items():
                    state.lost_unmarked = 0
                    self._jobs[job_id] = state
                return
            except IntegrityError:
                # Someone else appended (a sweep marking the job lost): re-read the counters.
                log.warning("output: sequence clash, re-reading counters")
                for job_id in lines:
                    if job_id in self._jobs:
                        self._jobs[job_id].loaded = False
            except OperationalError as exc:
                reason = storage_failure(exc)
                if reason is not None:  # a full disk: these lines are lost, the next batch tries again
                    self._lost(lines, reason)
                    return
                self.failures("retry", logging.WARNING, "output: write failed (%s), retrying", exc.orig)
                time.sleep(0.1 * (attempt + 1))
        self._lost(lines, "the database stayed locked")

    def _lost(self, lines: dict[str, list[str]], reason: str) -> None:
        """Count lines that could not be stored; the log hears of it once a minute."""
        total = 0
        for job_id, job_lines in lines.items():
            state = self._jobs.setdefault(job_id, _JobState())
            state.lost += len(job_lines)
            state.lost_unmarked += len(job_lines)
            state.reason = reason
            total += len(job_lines)
        if total:
            self.failures(
                "lost",
                logging.ERROR,
                "output: %d line(s) of job(s) %s could not be stored: %s",
                total,
                ", ".join(lines),
                reason,
            )

    def _stage(
        self,
        job_id: str,
        state: _JobState,
        job_lines: list[str],
        rows: list[tuple[str, int, str]],
        cuts: list[tuple[str, int, int]],
    ) -> None:
        """Add the job's lines to ``rows`` as the cap allows, updating ``state`` (a copy,
        kept only if the batch commits); tail batches past the cap go to ``cuts``."""
        if state.lost_unmarked:
            # Where the gap is: the lines around it were stored, these were not.
            job_lines = [
                f"[... {state.lost_unmarked:,} line(s) lost here: could not be stored ({state.reason}) ...]",
                *job_lines,
            ]
        tail_first, tail_bytes = None, 0
        for line in job_lines:
            size = _size(line)
            if state.cut_at is None:
                if state.head_bytes + size <= self.head_budget:
                    state.head_bytes += size
                    rows.append((job_id, state.next_seq, line))
                    state.next_seq += 1
                    state.stored += 1
                    continue
                # The head is full: the cut line goes here, its counts filled in as lines go.
                state.cut_at = state.next_seq
                rows.append((job_id, state.cut_at, self._cut_line(state)))
                state.next_seq += 1
                state.stored += 1
            if tail_first is None:
                tail_first = state.next_seq
            rows.append((job_id, state.next_seq, line))
            state.next_seq += 1
            state.stored += 1
            tail_bytes += size
        if tail_first is None:
            return
        newest = state.tail[-1] if state.tail else None
        if newest is not None and newest[2] < self.tail_chunk:
            # Small batches (a job printing slowly) are kept together: the queue stays short.
            state.tail[-1] = (newest[0], state.next_seq - 1, newest[2] + tail_bytes)
        else:
            state.tail.append((tail_first, state.next_seq - 1, tail_bytes))
        state.tail_bytes += tail_bytes
        # Drop the oldest tail chunks while what is left still fills the tail's half.
        while len(state.tail) > 1 and state.tail_bytes - state.tail[0][2] >= self.tail_budget:
            first, last, size = state.tail.popleft()
            state.tail_bytes -= size
            state.cut_lines += last - first + 1
            state.cut_bytes += size
            state.stored -= last - first + 1
            cuts.append((job_id, first, last))  # never this batch's own: the newest chunk stays

    def _cut_line(self, state: _JobState) -> str:
        if not state.cut_lines:  # nothing cut yet, maybe never: say only what is true now
            return (
                f"[... the output reached {_mb(self.head_budget)}: that much is kept above, and from here on "
                f"the last {_mb(self.tail_budget)} (jobs.max_output_mb) ...]"
            )
        return (
            f"[... {state.cut_lines:,} line(s) ({_mb(state.cut_bytes)}) cut: the first {_mb(self.head_budget)} "
            f"and the last {_mb(self.tail_budget)} of the output are kept (jobs.max_output_mb) ...]"
        )
