"""Thresholds, transitions and aggregation: pure functions, no I/O.

A check's status follows its results through ``fail_after`` / ``recover_after``:

- a healthy result makes an unknown check healthy at once, and an unhealthy one healthy
  after ``recover_after`` consecutive healthy results;
- an unhealthy result makes a check unhealthy after ``fail_after`` consecutive ones
  (CloudLab's behaviour is the default, 1 and 1);
- an unknown result (ICMP not permitted, ...) makes the check unknown and resets the counts.

A change of status between two known states (healthy <-> unhealthy) is a transition event:
audited, emailed. Changes to or from ``unknown`` are not (CloudLab's rule).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import Any

from labtui.core.db.health import DEGRADED, HEALTHY, UNHEALTHY, UNKNOWN
from labtui.core.health.checks import CheckResult
from labtui.core.health.definitions import CheckDef

KNOWN = (HEALTHY, UNHEALTHY)


@dataclass(frozen=True)
class CheckState:
    """What the poller remembers of one check between results."""

    status: str = UNKNOWN
    since: dt.datetime | None = None
    failures: int = 0
    successes: int = 0
    last_checked_at: dt.datetime | None = None
    last_outcome: str = ""
    last_latency_ms: float | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    target: str = ""


@dataclass(frozen=True)
class Transition:
    """A check's status changed between two known states."""

    service: str
    check: str
    old: str
    new: str
    at: dt.datetime
    latency_ms: float | None
    error: str | None
    target: str
    silenced: bool = False

    @property
    def key(self) -> str:
        return f"{self.service}/{self.check}"

    @property
    def direction(self) -> str:
        return "RECOVERED" if self.new == HEALTHY else "DOWN"

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "check": self.check,
            "from": self.old,
            "to": self.new,
            "at": self.at.isoformat(),
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 2),
            "error": self.error,
            "target": self.target,
            "silenced": self.silenced,
        }


def is_event(old: str, new: str) -> bool:
    return old != new and old in KNOWN and new in KNOWN


def apply(state: CheckState, check: CheckDef, result: CheckResult, now: dt.datetime) -> CheckState:
    """The check's state after ``result``."""
    status, failures, successes = state.status, state.failures, state.successes
    if result.status == HEALTHY:
        successes, failures = successes + 1, 0
        if status != HEALTHY and (status != UNHEALTHY or successes >= check.recover_after):
            status = HEALTHY
    elif result.status == UNHEALTHY:
        failures, successes = failures + 1, 0
        if status != UNHEALTHY and failures >= check.fail_after:
            status = UNHEALTHY
    else:
        status, failures, successes = UNKNOWN, 0, 0
    return replace(
        state,
        status=status,
        since=now if status != state.status or state.since is None else state.since,
        failures=failures,
        successes=successes,
        last_checked_at=now,
        last_outcome=result.status,
        last_latency_ms=result.latency_ms,
        last_status_code=result.status_code,
        last_error=result.error,
        target=result.target or state.target,
    )


def transition(check: CheckDef, before: CheckState, after: CheckState, *, silenced: bool = False) -> Transition | None:
    if not is_event(before.status, after.status):
        return None
    assert after.last_checked_at is not None
    return Transition(
        service=check.service,
        check=check.name,
        old=before.status,
        new=after.status,
        at=after.last_checked_at,
        latency_ms=after.last_latency_ms,
        error=after.last_error,
        target=after.target,
        silenced=silenced,
    )


def overall(statuses: Iterable[str]) -> str:
    """A service's status from its checks': unknown checks are left out; the known ones
    all healthy -> healthy, all unhealthy -> unhealthy, a mix -> degraded; none known -> unknown."""
    known = {s for s in statuses if s in KNOWN}
    if not known:
        return UNKNOWN
    if known == {HEALTHY}:
        return HEALTHY
    if known == {UNHEALTHY}:
        return UNHEALTHY
    return DEGRADED
