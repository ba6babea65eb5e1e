"""Cron expressions: validation with a reason, and fire times in a time zone.

Fire times are computed in the schedule's zone and stored in UTC. croniter follows the
zone of its base time, so DST is handled by croniter; on a fall-back night a daily
expression can match the same local wall time twice, and :func:`next_fire` skips the
second one so a daily job does not run twice (docs/ansible-runner.md, croniter).
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
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
    parses but never fires (``0 0 31 2 *``) or has a range written backwards (``5-1``) is
    refused too.
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
    for spec, text in zip(_FIELDS, fields, strict=True):
        _check_ranges(spec, text, expr)
    try:
        itr = croniter(expr, dt.datetime.now(zone(tz)))
        itr.get_next(dt.datetime)
    except ValidationError:
        raise
    except (ValueError, KeyError) as exc:
        raise ValidationError(f"Invalid cron expression '{expr}': {_reason(exc)}", "cron") from None
    return expr


@dataclass(frozen=True)
class _Field:
    """One of the five fields, for reading a range in it: its values run ``first``..``last``
    and its names (``jan``, ``sun``) stand for ``first``, ``first + 1``, ..."""

    name: str
    last: int
    names: tuple[str, ...] = ()
    first: int = 0

    def number(self, token: str) -> int | None:
        if token.isdigit():
            return int(token)
        lowered = token.lower()
        return self.names.index(lowered) + self.first if lowered in self.names else None


_MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_FIELDS = (
    _Field("minute", 59),
    _Field("hour", 23),
    _Field("day", 31, first=1),
    _Field("month", 12, _MONTHS, first=1),
    _Field("weekday", 6, _DAYS),
)
_RANGE = re.compile(r"([0-9]+|[A-Za-z]{3})-([0-9]+|[A-Za-z]{3})(/[0-9]+)?")


def _check_ranges(spec: _Field, text: str, expr: str) -> None:
    """Refuse ``a-b`` with ``a > b``: croniter wraps it round the field's end (``5-1`` fires
    at minutes 5-59 and 0-1), which nobody who wrote it that way can be assumed to mean."""
    for item in text.split(","):
        match = _RANGE.fullmatch(item)
        if match is None:
            continue
        low, high = spec.number(match.group(1)), spec.number(match.group(2))
        if low is None or high is None or low <= high:
            continue
        hint = "write the smaller number first"
        if low <= spec.last and not match.group(3):
            hint += f", or {_span(low, spec.last)},{_span(spec.first, high)} to wrap round"
        raise ValidationError(
            f"Invalid cron expression '{expr}': the {spec.name} range {item} runs backwards ({hint})", "cron"
        )


def _span(low: int, high: int) -> str:
    return str(low) if low == high else f"{low}-{high}"


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
