"""A wall clock a test moves by hand, for what takes a clock (leases, the poller's silences):
the test advances it instead of sleeping until a lease or a silence runs out."""

from __future__ import annotations

import datetime as dt


class ManualClock:
    """Callable like ``utcnow``: the time it was set to, timezone-aware UTC."""

    def __init__(self, start: dt.datetime | None = None) -> None:
        self.now = start or dt.datetime.now(dt.UTC)

    def __call__(self) -> dt.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += dt.timedelta(seconds=seconds)


class ManualTicks:
    """Callable like ``time.monotonic``: seconds that move only when advanced (the health
    poller's due-clock, so a test makes every check due without waiting its interval)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
