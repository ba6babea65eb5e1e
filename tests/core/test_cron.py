"""Cron validation and fire times across time zones and DST."""

from __future__ import annotations

import datetime as dt

import pytest

from labtui.core.cron import next_fire, preview, validate
from labtui.core.errors import ValidationError

UTC = dt.UTC


@pytest.mark.parametrize(
    ("expr", "reason"),
    [
        ("61 * * * *", "out of range"),
        ("* * *", "5 fields"),
        ("* * * * * *", "5 fields"),
        ("0 0 31 2 *", "never fires"),
        ("a b c d e", "Invalid cron"),
    ],
)
def test_invalid_expressions_say_why(expr: str, reason: str) -> None:
    with pytest.raises(ValidationError, match=reason) as exc:
        validate(expr)
    assert exc.value.field == "cron"


def test_unknown_zone_is_refused() -> None:
    with pytest.raises(ValidationError, match="Unknown time zone 'Mars/Olympus'"):
        validate("* * * * *", "Mars/Olympus")


def test_preview_in_berlin_working_hours() -> None:
    monday_7utc = dt.datetime(2026, 11, 23, 7, 0, tzinfo=UTC)  # 08:00 in Berlin
    times = preview("*/15 9-17 * * 1-5", "Europe/Berlin", 5, after=monday_7utc)
    assert [t.strftime("%H:%M") for t in times] == ["09:00", "09:15", "09:30", "09:45", "10:00"]
    assert all(str(t.tzinfo) == "Europe/Berlin" for t in times)


def test_next_fire_is_strictly_after_and_utc() -> None:
    at = dt.datetime(2026, 1, 1, 10, 0, tzinfo=UTC)
    assert next_fire("0 * * * *", at) == dt.datetime(2026, 1, 1, 11, 0, tzinfo=UTC)
    assert next_fire("0 0 * * *", at) == dt.datetime(2026, 1, 2, 0, 0, tzinfo=UTC)


def test_fall_back_runs_a_daily_job_once_but_wildcard_hours_every_instant() -> None:
    before = dt.datetime(2026, 10, 24, 12, 0, tzinfo=UTC)
    daily = preview("30 2 * * *", "Europe/Berlin", 3, after=before)
    assert [t.date().day for t in daily] == [25, 26, 27]
    halfhourly = preview("*/30 * * * *", "Europe/Berlin", 8, after=dt.datetime(2026, 10, 24, 22, 0, tzinfo=UTC))
    utc_times = [t.astimezone(UTC).strftime("%H:%M") for t in halfhourly]
    assert utc_times == ["22:30", "23:00", "23:30", "00:00", "00:30", "01:00", "01:30", "02:00"]


def test_spring_forward_fires_at_the_next_valid_time() -> None:
    before = dt.datetime(2026, 3, 28, 12, 0, tzinfo=UTC)
    first = preview("30 2 * * *", "Europe/Berlin", 1, after=before)[0]
    assert first.date().day == 29 and first.hour == 3


@pytest.mark.parametrize(
    ("expr", "says"),
    [
        (
            "5-1 * * * *",
            "the minute range 5-1 runs backwards (write the smaller number first, or 5-59,0-1 to wrap round)",
        ),
        ("0,40-20/5 * * * *", "the minute range 40-20/5 runs backwards (write the smaller number first)"),
        (
            "0 23-2 * * *",
            "the hour range 23-2 runs backwards (write the smaller number first, or 23,0-2 to wrap round)",
        ),
        (
            "0 0 28-3 * *",
            "the day range 28-3 runs backwards (write the smaller number first, or 28-31,1-3 to wrap round)",
        ),
        (
            "0 0 1 nov-feb *",
            "the month range nov-feb runs backwards (write the smaller number first, or 11-12,1-2 to wrap round)",
        ),
        ("0 0 1 12-1 *", "the month range 12-1 runs backwards (write the smaller number first, or 12,1 to wrap round)"),
        (
            "0 9 * * fri-mon",
            "the weekday range fri-mon runs backwards (write the smaller number first, or 5-6,0-1 to wrap round)",
        ),
        ("0 9 * * 7-1", "the weekday range 7-1 runs backwards (write the smaller number first)"),
    ],
)
def test_a_backwards_range_is_refused_in_every_field(expr: str, says: str) -> None:
    """croniter would wrap them round the field's end; validate refuses them instead."""
    with pytest.raises(ValidationError) as exc:
        validate(expr)
    assert str(exc.value) == f"Invalid cron expression '{expr}': {says}" and exc.value.field == "cron"


@pytest.mark.parametrize("expr", ["0-0 * * * *", "*/5 9-17 * * mon-fri", "0 0 1 jan-dec 1-7", "0 0 * * sun-sat"])
def test_forward_and_single_ranges_are_kept(expr: str) -> None:
    assert validate(expr) == expr
