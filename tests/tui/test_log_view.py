"""The log pane: follows the tail, stops when scrolled up, End resumes, search and filter."""

from __future__ import annotations

from textual.app import App, ComposeResult

from labtui.tui.widgets.log_view import ListLineSource, LogView


class LogApp(App[None]):
    def __init__(self, source: ListLineSource) -> None:
        super().__init__()
        self.source = source

    def compose(self) -> ComposeResult:
        yield LogView(self.source)


async def test_follows_tail_until_scrolled_up_and_end_resumes() -> None:
    source = ListLineSource([f"line {i}" for i in range(100)])
    app = LogApp(source)
    async with app.run_test(size=(60, 20)) as pilot:
        view = app.query_one(LogView)
        view.focus()
        view.source_changed()
        await pilot.pause()
        assert view.visible_text()[-1] == "line 99"
        source.lines.extend(f"line {i}" for i in range(100, 150))
        view.source_changed()
        await pilot.pause()
        assert view.visible_text()[-1] == "line 149" and view.follow
        await pilot.press("pageup")
        await pilot.pause()
        assert not view.follow
        source.lines.extend(f"line {i}" for i in range(150, 160))
        view.source_changed()
        await pilot.pause()
        assert "line 159" not in view.visible_text()
        await pilot.press("end")
        await pilot.pause()
        assert view.follow and view.visible_text()[-1] == "line 159"


async def test_ansi_colour_is_rendered_not_shown_raw() -> None:
    source = ListLineSource(["\x1b[31mred text\x1b[0m plain"])
    app = LogApp(source)
    async with app.run_test(size=(60, 10)) as pilot:
        view = app.query_one(LogView)
        view.source_changed()
        await pilot.pause()
        assert view.visible_text() == ["red text plain"]
        strip = view.render_line(0)
        assert "\x1b" not in strip.text and strip.text.startswith("red text plain")
        assert any(seg.style and seg.style.color and seg.style.color.number == 1 for seg in strip)


async def test_search_jumps_between_matches_and_filter_shows_only_them() -> None:
    lines = [f"ok {i}" for i in range(1000)]
    for i in (100, 500, 900):
        lines[i] = f"ERROR at {i}"
    app = LogApp(ListLineSource(lines))
    async with app.run_test(size=(60, 20)) as pilot:
        view = app.query_one(LogView)
        view.focus()
        view.source_changed()
        await pilot.press("home")
        view.needle = "error"
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        assert "ERROR at 100" in view.visible_text()
        await pilot.press("n")
        await pilot.pause()
        assert "ERROR at 500" in view.visible_text()
        await pilot.press("N")
        await pilot.pause()
        assert "ERROR at 100" in view.visible_text()
        view.filtered = True
        await pilot.pause()
        assert view.visible_text() == ["ERROR at 100", "ERROR at 500", "ERROR at 900"]
        view.filtered = False
        await pilot.pause()
        assert view.row_count == 1000
