"""Cron expressions: validation with a reason, and fire times in a time zone.

Fire times are computed in the schedule's zone and stored in UTC. croniter follows the
zone of its base time, so DST is handled by croniter; on a fall-back night a daily
expression can match the same local wall time twice, and :func:`next_fire` skips the
second one so a daily job does not run twice (NOTES-CORE.md).
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

from labtui.core.errors import ValidationError

UTC = dt.UTC


def zone(name: str) -> ZoneInfo:
    """A time zone by IANA name, or a :class:`ValidationError` naming it."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationError(f"Unknown time zone '{name}'", "tz") from None


def validate(expr: str, tz: str = "UTC") -> str:
    """The expression, normalised, or a :class:`ValidationError` saying what is wrong.

    Exactly five fields (minute hour day month weekday), as CloudLab; an expression that
    parses but never fires (``0 0 31 2 *``) is refused too.
    """
    expr = " ".join(expr.split())
    fields = expr.split(" ") if expr else []
    if len(fields) != 5:
        raise ValidationError(
            f"A cron expression has 5 fields (minute hour day month weekday), this has {len(fields)}",
            "cron",
        )
    if len(expr) > 100:
        raise ValidationError("A cron expression is at most 100 characters", "cron")
    try:
        itr = croniter(expr, dt.datetime.now(zone(tz)))
        itr.get_next(dt.datetime)
    except ValidationError:
        raise
    except (ValueError, KeyError) as exc:
        raise ValidationError(f"Invalid cron expression '{expr}': {_reason(exc)}", "cron") from None
    return expr


def _reason(exc: Exception) -> str:
    text = str(exc).strip() or exc.__class__.__name__
    if "failed to find" in text.lower() or "bad date" in text.lower():
        return "it never fires"
    return text.splitlines()[0]


def next_fire(expr: str, after: dt.datetime, tz: str = "UTC") -> dt.datetime:
    """The first fire time strictly after ``after`` (aware), as aware UTC."""
    local_zone = zone(tz)
    base = after.astimezone(local_zone)
    itr = croniter(expr, base)
    candidate: dt.datetime = itr.get_next(dt.datetime)
    fixed_hour = "*" not in expr.split()[1]
    while fixed_hour and candidate.fold == 1:
        candidate = itr.get_next(dt.datetime)
    return candidate.astimezone(UTC)


def preview(expr: str, tz: str = "UTC", count: int = 5, after: dt.datetime | None = None) -> list[dt.datetime]:
    """The next ``count`` fire times, in the schedule's zone (for showing to a person)."""
    expr = validate(expr, tz)
    if not 1 <= count <= 100:
        raise ValidationError("Preview between 1 and 100 times", "count")
    local_zone = zone(tz)
    current = after or dt.datetime.now(UTC)
    out: list[dt.datetime] = []
    for _ in range(count):
        current = next_fire(expr, current, tz)
        out.append(current.astimezone(local_zone))
    return out
