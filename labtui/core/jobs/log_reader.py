"""Random access to one job's stored output, for the log pane.

The pane draws only the lines on screen and asks for them synchronously while drawing, so
reads are single indexed range queries on (job_id, seq), cached a page at a time in a small
LRU: memory stays bounded however long the log is. Search and filter run in the database.
The reader is handed out by :meth:`Jobs.log_reader` after the visibility check.

Output over ``jobs.max_output_mb`` has a gap in its seqs (docs/job-output.md): the head up to
the cut line (``Job.output_cut``), then the rolling tail from its oldest row kept. The pane's
lines stay contiguous: line ``i`` past the cut line is the ``i - cut``-th row of the tail.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from sqlalchemy import func, select

from labtui.core.db.engine import Database
from labtui.core.db.jobs import Job, JobOutput

PAGE = 256
MAX_PAGES = 64  # at most 16k lines held


def _like(needle: str) -> str:
    escaped = needle.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _contains(db: Database, needle: str) -> Any:
    """Case-insensitive substring match; on SQLite plain LIKE (already case-blind for ASCII:
    ilike's lower() on every row doubles a search over a million lines)."""
    pattern = _like(needle)
    if db.is_sqlite:
        return JobOutput.line.like(pattern, escape="\\")
    return JobOutput.line.ilike(pattern, escape="\\")


class JobLogReader:
    """Line ``i`` of the pane is the row with ``seq == i + 1`` (past a cut: see above)."""

    def __init__(self, db: Database, job_id: str) -> None:
        self.db = db
        self.job_id = job_id
        self._count = 0
        #: The cut line's seq and the first tail seq still stored (None: nothing was cut).
        self._cut: int | None = None
        self._tail = 0
        self._pages: OrderedDict[int, list[str]] = OrderedDict()
        #: The job's status at the last :meth:`poll` (None before it): the pane re-reads the
        #: whole job only when this changes, so each tick is this one query.
        self.status: str | None = None

    def __len__(self) -> int:
        return self._count

    def poll(self) -> int:
        """Re-read how many lines are stored (cheap: the job row keeps the count) and the
        job's status (:attr:`status`)."""
        with self.db.session() as s:
            row = s.execute(select(Job.output_lines, Job.status, Job.output_cut).where(Job.id == self.job_id)).first()
            cut = row[2] if row is not None else None
            tail = 0
            if cut is not None:  # the rolling tail moves on: where it starts now (indexed)
                tail = (
                    s.scalar(
                        select(func.min(JobOutput.seq)).where(JobOutput.job_id == self.job_id, JobOutput.seq > cut)
                    )
                    or cut + 1
                )
        count, self.status = (row[0] or 0, row[1]) if row is not None else (0, None)
        if (cut, tail) != (self._cut, self._tail):
            # Lines past the cut are other rows now: drop their pages.
            first_moved = max(0, (cut if cut is not None else self._cut or 1) - 1) // PAGE  # from the cut line's page
            for number in [n for n in self._pages if n >= first_moved]:
                del self._pages[number]
            self._cut, self._tail = cut, tail
        if count != self._count:
            last_page = self._count // PAGE
            self._pages.pop(last_page, None)  # the partial last page grew
            self._count = count
        return count

    def _page(self, number: int) -> list[str]:
        page = self._pages.get(number)
        if page is not None:
            self._pages.move_to_end(number)
            return page
        start, stop = number * PAGE, (number + 1) * PAGE
        cut = self._cut if self._cut is not None else stop
        ranges = []  # seq ranges [first, end) of the head and of the tail in this page
        if start < cut:
            ranges.append((start + 1, min(stop, cut) + 1))
        if stop > cut:
            ranges.append((self._seq(max(start, cut)), self._seq(stop - 1) + 1))
        page = []
        with self.db.session() as s:
            for first, end in ranges:
                page += s.scalars(
                    select(JobOutput.line)
                    .where(JobOutput.job_id == self.job_id, JobOutput.seq >= first, JobOutput.seq < end)
                    .order_by(JobOutput.seq)
                )
        self._pages[number] = page
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)
        return page

    def _seq(self, index: int) -> int:
        """The seq of line ``index``."""
        if self._cut is None or index < self._cut:
            return index + 1
        return self._tail + index - self._cut

    def _index(self, seq: int) -> int | None:
        """The line of ``seq`` (None: a row cut meanwhile)."""
        if self._cut is None or seq <= self._cut:
            return seq - 1
        return self._cut + seq - self._tail if seq >= self._tail else None

    def get(self, start: int, stop: int) -> Sequence[str]:
        out: list[str] = []
        index = start
        stop = min(stop, self._count)
        while index < stop:
            number, offset = divmod(index, PAGE)
            page = self._page(number)
            chunk = page[offset : offset + (stop - index)]
            if not chunk:
                break
            out.extend(chunk)
            index += len(chunk)
        return out

    def find(self, needle: str, start: int, forward: bool) -> int | None:
        cond = [JobOutput.job_id == self.job_id, _contains(self.db, needle)]
        at = self._seq(start)
        if forward:
            stmt = select(JobOutput.seq).where(*cond, JobOutput.seq >= at).order_by(JobOutput.seq)
        else:
            stmt = select(JobOutput.seq).where(*cond, JobOutput.seq <= at).order_by(JobOutput.seq.desc())
        with self.db.session() as s:
            seq = s.scalar(stmt.limit(1))
        index = None if seq is None else self._index(seq)
        return None if index is None or index >= self._count else index

    def matching(self, needle: str) -> list[int]:
        with self.db.session() as s:
            seqs = s.scalars(
                select(JobOutput.seq)
                .where(
                    JobOutput.job_id == self.job_id,
                    _contains(self.db, needle),
                    JobOutput.seq <= self._seq(self._count - 1),
                )
                .order_by(JobOutput.seq)
            )
            indices = (self._index(seq) for seq in seqs)
            return [i for i in indices if i is not None]

    def count_matches(self, needle: str) -> int:
        with self.db.session() as s:
            return (
                s.scalar(select(func.count()).where(JobOutput.job_id == self.job_id, _contains(self.db, needle))) or 0
            )
