"""Frame pacing (labtui/tui/frames.py): a change is drawn as soon as it is ready, never sooner
than a frame interval after the previous frame; and a key typed into a filter costs one frame,
not a second one for the table's unchanged scrollbars."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from textual.app import App, ComposeResult
from textual.screen import Screen
from textual.widgets import Input

from labtui.tui import frames
from labtui.tui.frames import FramePacer
from labtui.tui.screens.table_screen import FilteredTableScreen
from labtui.tui.widgets.lab_table import LabTable

INTERVAL = 0.02


class FakeClock:
    """Stands in for textual._time in the pacer: time moves only when the test or a sleep
    moves it, so the schedule is checked exactly."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def get_time(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds
        await asyncio.sleep(0)


class RecordingPacer(FramePacer):
    def __init__(self, clock: FakeClock) -> None:
        super().__init__(App(), INTERVAL, pause=True)
        self.clock = clock
        self.ticks: list[float] = []

    async def _tick(self, *, next_timer: float, count: int) -> None:
        self.ticks.append(round(self.clock.now, 6))
        self.pause()  # as the screen's update callback does


async def test_the_pacer_ticks_when_resumed_but_not_within_an_interval_of_its_last_tick(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clock = FakeClock()
    monkeypatch.setattr(frames, "_time", clock)
    pacer = RecordingPacer(clock)
    task = asyncio.create_task(pacer._run())

    async def resume_at(now: float) -> None:
        clock.now = now
        pacer.resume()
        for _ in range(5):
            await asyncio.sleep(0)

    try:
        await resume_at(100.0)  # idle before: at once
        await resume_at(100.005)  # 5 ms after that frame: waits for the interval's end
        await resume_at(101.0)  # long after: at once (Textual's grid waited up to two intervals)
        await resume_at(101.03)  # more than an interval after: at once
        assert pacer.ticks == [100.0, 100.02, 101.0, 101.03]
        assert clock.sleeps == [0.015]
    finally:
        task.cancel()


class FilterScreen(FilteredTableScreen):
    def compose(self) -> ComposeResult:
        yield Input(id="filter")
        yield LabTable(id="rows", cursor_type="row")

    def on_mount(self) -> None:
        table = self.table
        table.add_columns(*(f"column {n}" for n in range(12)))  # wider than the screen: two scrollbars
        self.filter_changed("")

    def filter_changed(self, text: str) -> None:
        table = self.table
        table.clear()
        table.add_rows([[f"{text}{row}-{col}" for col in range(12)] for row in range(100)])
        table.settle()


class FrameCounter(App[None]):
    def __init__(self) -> None:
        frames.install()
        super().__init__()
        self.frames: list[Any] = []
        self.keymap: dict[str, str] = {}  # what a LabScreen reads of LabApp (tui.keymap)

    def on_mount(self) -> None:
        self.push_screen(FilterScreen())

    def _display(self, screen: Screen[Any], renderable: Any) -> None:
        super()._display(screen, renderable)
        if renderable is not None:
            self.frames.append(renderable)


async def test_a_key_in_the_filter_is_one_frame_with_its_rows() -> None:
    app = FrameCounter()
    async with app.run_test(size=(80, 20)) as pilot:
        screen = app.screen
        assert isinstance(screen, FilterScreen)
        box = screen.query_one(Input)
        box.cursor_blink = False
        box.focus()
        await pilot.pause(0.2)
        table = screen.table
        assert table.show_horizontal_scrollbar and table.show_vertical_scrollbar
        before = len(app.frames)
        await pilot.press("x")
        await pilot.pause(0.2)
        # The filter heard the key before the frame was drawn, so the echo and the new rows
        # (measured: settle) are one frame; no second frame for the scrollbars.
        assert len(app.frames) - before == 1
        assert table.get_row_at(0)[0] == "x0-0"
        assert table.virtual_size.height == 101  # header and 100 rows
