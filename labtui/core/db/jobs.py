"""The ``jobs`` and ``job_output`` tables: CloudLab's job rows plus what a shared queue needs.

CloudLab kept running jobs in memory and stored the output as one JSON array at the end.
labtui stores every output line as a row, appended in small batches while the job runs, so
any process tails a job by ``seq`` (the database is the bus, DESIGN.md §2). ``worker``,
``heartbeat_at`` and ``cancel_requested`` let several processes share the queue safely.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from labtui.core.db.base import Base, UTCDateTime, utcnow

#: Every status a job can have; the last four are final.
QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED, LOST = (
    "queued", "running", "completed", "failed", "cancelled", "lost",
)
STATUSES = (QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED, LOST)
FINAL_STATUSES = (COMPLETED, FAILED, CANCELLED, LOST)
ACTIVE_STATUSES = (QUEUED, RUNNING)


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_created", "status", "created_at"),
        Index("ix_jobs_user_created", "user_id", "created_at"),
        Index("ix_jobs_service_created", "service", "created_at"),
    )

    #: CloudLab's id: the first 8 characters of a uuid4.
    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    service: Mapped[str] = mapped_column(String(100))
    #: ``deploy`` | ``script`` | ``stop`` (CloudLab's actions).
    action: Mapped[str] = mapped_column(String(30))
    script: Mapped[str | None] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20), default=QUEUED)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    username: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, index=True)
    started_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    deployment_id: Mapped[str | None] = mapped_column(String(100))
    schedule_id: Mapped[int | None] = mapped_column(Integer)
    #: The validated inputs as JSON (``ssh_key_select`` keeps the selection, resolved at run time).
    inputs: Mapped[str | None] = mapped_column(Text)
    worker: Mapped[str | None] = mapped_column(String(100))
    heartbeat_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    exit_code: Mapped[int | None] = mapped_column(Integer)
    #: Lines stored so far (the highest ``seq``), so a reader knows how far the log goes.
    output_lines: Mapped[int] = mapped_column(Integer, default=0)


class JobOutput(Base):
    """One output line; the primary key (job_id, seq) is the index every tail reads by."""

    __tablename__ = "job_output"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    line: Mapped[str] = mapped_column(Text)
