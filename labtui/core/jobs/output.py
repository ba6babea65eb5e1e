"""Job output in the database: one row per line, appended in batches, tailed by ``seq``.

One :class:`OutputWriter` thread per process takes the lines of every job it runs from a
queue and commits them in batches: under load a batch grows to ``max_batch`` (1,000 lines:
bigger batches wrote faster per line but held each line back longer, p95 ~120 ms against
~40 ms for a 100,000-line flood), when lines trickle in each is committed within
``max_delay`` (20 ms) — well inside the 100 ms the log panes promise. A job printing faster
than that is held back at its pipe (``max_pending``). A sync engine on a dedicated thread is
the fast path on SQLite (docs/ansible-runner.md, "SQLite as the bus").
"""

from __future__ import annotations

import logging
import queue
import re
import threading
import time
from dataclasses import dataclass

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.orm import Session

from labtui.core.db.engine import Database
from labtui.core.db.jobs import Job, JobOutput

log = logging.getLogger("labtui.jobs")

#: CloudLab's capture: the first match on any line of the job.
DEPLOYMENT_RE = re.compile(r"DEPLOYMENT_ID=([\w-]+)")


@dataclass(frozen=True)
class OutputLine:
    seq: int
    line: str


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
    """Append one line outside a worker (a cancel before start, a lost job); returns its seq."""
    seq = last_seq(session, job_id) + 1
    session.execute(insert(JobOutput).values(job_id=job_id, seq=seq, line=line))
    session.execute(update(Job).where(Job.id == job_id).values(output_lines=seq))
    return seq


class OutputWriter:
    """The batching writer thread of one process."""

    def __init__(self, db: Database, *, max_delay: float = 0.02, max_batch: int = 1000, max_pending: int = 2000) -> None:
        self.db = db
        self.max_delay = max_delay
        self.max_batch = max_batch
        #: Lines queued and not yet committed past which :meth:`append_many` waits: a job
        #: printing faster than lines are stored is held back at its pipe (its lines are
        #: printed when they can be shown soon) instead of queueing here (a flood had lines
        #: waiting 100 ms and more behind it).
        self.max_pending = max_pending
        self._pending = 0
        self._room = threading.Condition()
        self._queue: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self._next_seq: dict[str, int] = {}
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
        """Block until everything queued before this call is committed."""
        if self._thread is None:
            return True
        done = threading.Event()
        self._queue.put(("flush", done))
        return done.wait(timeout)

    def forget(self, job_id: str) -> None:
        """The job ended: drop its counter (after :meth:`flush`)."""
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

    def _handle(self, batch: list[tuple]) -> bool:
        lines: list[tuple[str, str]] = []
        deployments: dict[str, str] = {}
        events: list[threading.Event] = []
        forget: list[str] = []
        stop = False
        for item in batch:
            kind = item[0]
            if kind == "lines":
                lines.extend((item[1], line) for line in item[2])
            elif kind == "deployment":
                deployments.setdefault(item[1], item[2])
            elif kind == "flush":
                events.append(item[1])
            elif kind == "forget":
                forget.append(item[1])
            elif kind == "stop":
                stop = True
        if lines or deployments:
            self._write(lines, deployments)
        if lines:
            with self._room:
                self._pending -= len(lines)
                self._room.notify_all()
        for job_id in forget:
            self._next_seq.pop(job_id, None)
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

    def _write(self, lines: list[tuple[str, str]], deployments: dict[str, str]) -> None:
        for attempt in range(8):
            try:
                with self.db.session() as s:
                    rows = []
                    counters = dict(self._next_seq)
                    for job_id, line in lines:
                        if job_id not in counters:
                            counters[job_id] = last_seq(s, job_id) + 1
                        rows.append((job_id, counters[job_id], line))
                        counters[job_id] += 1
                    if rows:
                        # The driver's own executemany over tuples: SQLAlchemy's per-row
                        # parameter handling held the GIL ~5 us a row, time the thread reading
                        # the job's pipe could not run (lines waited in the pipe meanwhile).
                        s.connection().exec_driver_sql(self._insert_sql(s), rows)
                    for job_id in {j for j, _ in lines}:
                        s.execute(update(Job).where(Job.id == job_id).values(output_lines=counters[job_id] - 1))
                    for job_id, value in deployments.items():
                        s.execute(
                            update(Job)
                            .where(Job.id == job_id, Job.deployment_id.is_(None))
                            .values(deployment_id=value)
                        )
                self._next_seq = counters
                return
            except IntegrityError:
                # Someone else appended (a sweep marking the job lost): re-read the counters.
                log.warning("output: sequence clash, re-reading counters")
                for job_id in {j for j, _ in lines}:
                    self._next_seq.pop(job_id, None)
            except OperationalError as exc:
                log.warning("output: write failed (%s), retrying", exc.orig)
                time.sleep(0.1 * (attempt + 1))
        log.error("output: dropped %d line(s) after repeated write failures", len(lines))
