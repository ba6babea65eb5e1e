"""Random access to one job's stored output, for the log pane.

The pane draws only the lines on screen and asks for them synchronously while drawing, so
reads are single indexed range queries on (job_id, seq), cached a page at a time in a small
LRU: memory stays bounded however long the log is. Search and filter run in the database.
The reader is handed out by :meth:`Jobs.log_reader` after the visibility check.
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
    """Line ``i`` of the pane is the row with ``seq == i + 1``."""

    def __init__(self, db: Database, job_id: str) -> None:
        self.db = db
        self.job_id = job_id
        self._count = 0
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
            row = s.execute(select(Job.output_lines, Job.status).where(Job.id == self.job_id)).first()
        count, self.status = (row[0] or 0, row[1]) if row is not None else (0, None)
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
        first = number * PAGE + 1
        with self.db.session() as s:
            page = list(
                s.scalars(
                    select(JobOutput.line)
                    .where(JobOutput.job_id == self.job_id, JobOutput.seq >= first, JobOutput.seq < first + PAGE)
                    .order_by(JobOutput.seq)
                )
            )
        self._pages[number] = page
        while len(self._pages) > MAX_PAGES:
            self._pages.popitem(last=False)
        return page

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
        if forward:
            stmt = select(JobOutput.seq).where(*cond, JobOutput.seq >= start + 1).order_by(JobOutput.seq)
        else:
            stmt = select(JobOutput.seq).where(*cond, JobOutput.seq <= start + 1).order_by(JobOutput.seq.desc())
        with self.db.session() as s:
            seq = s.scalar(stmt.limit(1))
        return None if seq is None or seq > self._count else seq - 1

    def matching(self, needle: str) -> list[int]:
        with self.db.session() as s:
            seqs = s.scalars(
                select(JobOutput.seq)
                .where(JobOutput.job_id == self.job_id, _contains(self.db, needle), JobOutput.seq <= self._count)
                .order_by(JobOutput.seq)
            )
            return [seq - 1 for seq in seqs]

    def count_matches(self, needle: str) -> int:
        with self.db.session() as s:
            return s.scalar(
                select(func.count()).where(JobOutput.job_id == self.job_id, _contains(self.db, needle))
            ) or 0
