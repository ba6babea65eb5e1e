"""The ``scheduled_jobs`` table: CloudLab's columns plus a time zone and a misfire grace."""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Boolean, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from labtui.core.db.base import Base, UTCDateTime, utcnow


class ScheduledJob(Base):
    __tablename__ = "scheduled_jobs"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    job_type: Mapped[str] = mapped_column(String(30), default="service_script")
    service_name: Mapped[str | None] = mapped_column(String(100))
    script_name: Mapped[str | None] = mapped_column(String(100))
    type_slug: Mapped[str | None] = mapped_column(String(50))
    action_name: Mapped[str | None] = mapped_column(String(100))
    object_id: Mapped[int | None] = mapped_column(Integer)
    system_task: Mapped[str | None] = mapped_column(String(50))
    cron_expression: Mapped[str] = mapped_column(String(100))
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    misfire_grace_seconds: Mapped[int] = mapped_column(Integer, default=300)
    is_enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    inputs: Mapped[str | None] = mapped_column(Text)
    last_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_job_id: Mapped[str | None] = mapped_column(String(20))
    last_status: Mapped[str | None] = mapped_column(String(20))
    next_run_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime, index=True)
    skip_if_running: Mapped[bool] = mapped_column(Boolean, default=True)
    created_by: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)
