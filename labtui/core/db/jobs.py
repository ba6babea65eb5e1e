"""The ``jobs`` and ``job_output`` tables: CloudLab's job rows plus what a shared queue needs.

CloudLab kept running jobs in memory and stored the output as one JSON array at the end.
labtui stores every output line as a row, appended in small batches while the job runs, so
any process tails a job by ``seq`` (the database is the bus, docs/architecture.md). ``worker``,
``heartbeat_at`` and ``cancel_requested`` let several processes share the queue safely.
"""

from __future__ import annotations

import datetime as dt
import json

from sqlalchemy import (
    Boolean,
    Connection,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    select,
    update,
)
from sqlalchemy.orm import Mapped, mapped_column

from labtui.core.db.base import Base, UTCDateTime, utcnow

#: Every status a job can have; the last four are final.
QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED, LOST = (
    "queued",
    "running",
    "completed",
    "failed",
    "cancelled",
    "lost",
)
STATUSES = (QUEUED, RUNNING, COMPLETED, FAILED, CANCELLED, LOST)
FINAL_STATUSES = (COMPLETED, FAILED, CANCELLED, LOST)
ACTIVE_STATUSES = (QUEUED, RUNNING)
#: ``Job.action`` of an inventory action (``script`` holds the action's name, ``inputs`` the
#: type, object and inputs, ``object_id`` the object).
INVENTORY_ACTION = "inventory"


class Job(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        Index("ix_jobs_status_created", "status", "created_at"),
        Index("ix_jobs_user_created", "user_id", "created_at"),
        Index("ix_jobs_service_created", "service", "created_at"),
        Index("ix_jobs_object_created", "object_id", "created_at"),
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
    #: Lines kept so far, so a reader knows how far the log goes: the highest ``seq``,
    #: unless output over ``jobs.max_output_mb`` was cut (then fewer).
    output_lines: Mapped[int] = mapped_column(Integer, default=0)
    #: The ``seq`` of the line saying what was cut, once output reached the cap: the rows
    #: after it resume at the oldest tail line kept (docs/job-output.md).
    output_cut: Mapped[int | None] = mapped_column(Integer)
    #: An inventory action's object (its type and inputs are in ``inputs``); indexed for the
    #: object's job list. Databases from before it get it filled by :func:`fill_object_ids`.
    object_id: Mapped[int | None] = mapped_column(Integer)


class JobOutput(Base):
    """One output line; the primary key (job_id, seq) is the index every tail reads by."""

    __tablename__ = "job_output"

    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"), primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, primary_key=True)
    line: Mapped[str] = mapped_column(Text)


def fill_object_ids(conn: Connection) -> int:
    """Set ``object_id`` of the inventory actions stored before the column existed (it was
    kept only in their inputs); run once, when the upgrade adds the column. Returns how many."""
    rows = conn.execute(select(Job.id, Job.inputs).where(Job.action == INVENTORY_ACTION, Job.object_id.is_(None)))
    filled = 0
    for job_id, inputs in rows.fetchall():
        try:
            object_id = json.loads(inputs or "{}").get("object_id")
        except (ValueError, AttributeError):  # not a JSON object: nothing to take
            continue
        if isinstance(object_id, int):
            conn.execute(update(Job).where(Job.id == job_id).values(object_id=object_id))
            filled += 1
    return filled
