"""Tables of health monitoring: every check result, each check's current state, silences.

``health_check_results`` keeps CloudLab's columns (so its history imports as it is) and adds
``outcome``: ``status`` is what the check *is* after this result (thresholds applied),
``outcome`` what this one probe found. With the default thresholds (1 and 1) the two are
equal, as in CloudLab. ``previous_status`` is the check's status before this result.

``health_check_state`` is written only by the process holding the poller lease; it is what
the screens show ("since when", last latency) without scanning the results.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import Float, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from labtui.core.db.base import Base, UTCDateTime, utcnow

HEALTHY = "healthy"
UNHEALTHY = "unhealthy"
DEGRADED = "degraded"
UNKNOWN = "unknown"
STATUSES = (HEALTHY, UNHEALTHY, DEGRADED, UNKNOWN)


class HealthCheckResult(Base):
    """One run of one check."""

    __tablename__ = "health_check_results"
    __table_args__ = (
        Index("ix_health_results_check_at", "service_name", "check_name", "checked_at"),
        Index("ix_health_results_at", "checked_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_name: Mapped[str] = mapped_column(String(100))
    check_name: Mapped[str] = mapped_column(String(100))
    status: Mapped[str] = mapped_column(String(20))
    outcome: Mapped[str] = mapped_column(String(20), default="")
    previous_status: Mapped[str] = mapped_column(String(20), default=UNKNOWN)
    response_time_ms: Mapped[float | None] = mapped_column(Float)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error_message: Mapped[str | None] = mapped_column(Text)
    check_type: Mapped[str] = mapped_column(String(20), default="")
    target: Mapped[str] = mapped_column(String(500), default="")
    checked_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class HealthCheckState(Base):
    """The current state of one check (thresholds' counters, since when, the last result)."""

    __tablename__ = "health_check_state"

    service_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    check_name: Mapped[str] = mapped_column(String(100), primary_key=True)
    status: Mapped[str] = mapped_column(String(20), default=UNKNOWN)
    since: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    consecutive_successes: Mapped[int] = mapped_column(Integer, default=0)
    last_checked_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    last_outcome: Mapped[str] = mapped_column(String(20), default="")
    last_latency_ms: Mapped[float | None] = mapped_column(Float)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    target: Mapped[str] = mapped_column(String(500), default="")


class HealthSilence(Base):
    """A maintenance window: no emails for the check until ``until`` (results still stored).

    A silence is active while ``ended_at`` is NULL; it ends when lifted or when it expires
    (the poller notices, sets ``ended_at`` and audits the end).
    """

    __tablename__ = "health_silences"
    __table_args__ = (Index("ix_health_silences_check", "service_name", "check_name", "ended_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    service_name: Mapped[str] = mapped_column(String(100))
    check_name: Mapped[str] = mapped_column(String(100))
    until: Mapped[dt.datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str] = mapped_column(String(255), default="")
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    ended_at: Mapped[dt.datetime | None] = mapped_column(UTCDateTime)
    ended_by: Mapped[str] = mapped_column(String(100), default="")
