"""Frame pacing: a screen draws a change as soon as it is ready, at most MAX_FPS times a second.

Textual's screen update timer ticks on a fixed grid of 1/MAX_FPS and, after a tick that came
late (the usual case: the timer rests paused until something needs drawing), skips one grid
point too many (textual 8.2 ``Timer._run``: ``count`` is set to the next grid point's index,
then ``count + 1`` is waited for). So after any frame — the echo of a typed key, a cursor
move — the next change waited 17 to 33 ms past the previous frame, whatever it was ready: on
the inventory's 100,000-object bench a filter's page was ready ~20 ms after the key and drawn
at 36-44 ms.

:class:`FramePacer` keeps the cap and drops the grid: a resumed pacer ticks at once when the
last tick is at least an interval old, else when it will be. :func:`install` makes it every
screen's update timer (Textual's own screens too: the command palette, toasts' screens), by
replacing ``Screen._update_timer``: private API, hence textual pinned <9 and
tests/tui/test_frames.py.
"""

from __future__ import annotations

import math

from textual import _time
from textual.screen import UPDATE_PERIOD, Screen
from textual.timer import EventTargetGone, Timer


class FramePacer(Timer):
    """A paused-until-needed timer that ticks when resumed, no sooner than ``interval`` after
    its previous tick."""

    async def _run(self) -> None:
        last = -math.inf
        count = 0
        while True:
            await self._active.wait()
            wait = last + self._interval - _time.get_time()
            if wait > 0:
                await _time.sleep(wait)
                if not self._active.is_set():  # paused meanwhile (a frame drawn another way)
                    continue
            last = _time.get_time()
            count += 1
            try:
                await self._tick(next_timer=last, count=count)
            except EventTargetGone:
                break


def _paced_update_timer(screen: Screen[object]) -> Timer:
    timer: Timer | None = screen._Screen__update_timer  # type: ignore[attr-defined]
    if timer is None:
        timer = FramePacer(screen, UPDATE_PERIOD, name="screen_update", callback=screen._on_timer_update, pause=True)
        timer._start()
        screen._timers.add(timer)
        screen._Screen__update_timer = timer  # type: ignore[attr-defined]
    return timer


def install() -> None:
    """Pace every screen's frames with :class:`FramePacer` (idempotent; process-wide)."""
    Screen._update_timer = property(_paced_update_timer)  # type: ignore[assignment,method-assign]
