"""LabTable's fast cell path draws exactly what DataTable's own path draws."""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.app import App, ComposeResult
from textual.geometry import Region
from textual.widgets import DataTable

from labtui.tui.widgets.lab_table import LabTable

ROWS: list[list[Any]] = [
    [
        Text("plain"),
        Text("styled", style="bold red"),
        Text.assemble(("web", "bold #ff0000"), " ", ("db", "italic")),
        "[b]markup[/b]",
    ],
    [Text("日本語 wide"), Text("a very long value that the column is narrower than"), Text(""), 42],
    [Text("on a background", style="on blue"), Text("line\nbreak"), Text("right", justify="right"), None],
    [
        Text("ellipsis when cut", style="green", overflow="ellipsis"),
        Text("cut short with an ellipsis here", overflow="ellipsis"),
        Text("日本語日本語日本語", overflow="ellipsis"),
        Text.assemble(("spans", "red"), " cut", overflow="ellipsis"),
    ],
]


def cells(lines: list[list[Segment]]) -> list[list[tuple[str, Style | None]]]:
    """Each line as one (character, style) per cell: the same picture, however it is split."""
    return [[(ch, seg.style) for seg in line for ch in seg.text] for line in lines]


class TableApp(App[None]):
    def compose(self) -> ComposeResult:
        table = LabTable(cursor_type="row")
        table.add_column("A", width=10)
        table.add_column("B", width=12)  # narrower than its longest cell: cropped
        table.add_column("C", width=7)  # a wide character cut in half
        table.add_column("D", width=5)
        table.add_rows(ROWS)
        yield table


async def test_fast_cells_match_datatable_cells() -> None:
    app = TableApp()
    async with app.run_test(size=(80, 10)) as pilot:
        await pilot.pause()
        table = app.query_one(LabTable)
        table.move_cursor(row=1)
        await pilot.pause()
        base = table.rich_style
        compared = 0
        for row in range(-1, len(ROWS)):
            for column, col in enumerate(table.ordered_columns):
                width = col.get_render_width(table)
                for cursor in (False, True):
                    table._cell_render_cache.clear()
                    theirs = DataTable._render_cell(table, row, column, base, width, cursor=cursor)
                    table._cell_render_cache.clear()
                    ours = table._render_cell(row, column, base, width, cursor=cursor)
                    assert cells(ours) == cells(theirs), (row, column, cursor)
                    compared += 1
        assert compared == 2 * 4 * (len(ROWS) + 1)
        # The fast path was taken for the plain Text cells (not only the fallback compared with itself).
        table._cell_render_cache.clear()
        assert table._fast_cell(0, 0, table._row_locations.get_key(0), base, 10, False, False) is not None
        assert (
            table._fast_cell(0, 3, table._row_locations.get_key(0), base, 10, False, False) is not None
        )  # markup, parsed
        assert table._fast_cell(2, 1, table._row_locations.get_key(2), base, 10, False, False) is None  # a newline
        assert table._fast_cell(2, 2, table._row_locations.get_key(2), base, 10, False, False) is None  # justified
        assert (
            table._fast_cell(3, 1, table._row_locations.get_key(3), base, 10, False, False) is not None
        )  # cut, with "…"
        assert (
            table._fast_cell(3, 3, table._row_locations.get_key(3), base, 10, False, False) is None
        )  # spans, cut with "…"


class TwinApp(App[None]):
    """The same rows in a DataTable and a LabTable, one above the other."""

    CSS = "DataTable { height: 1fr; }"

    def compose(self) -> ComposeResult:
        for table in (
            DataTable(id="theirs", cursor_type="row", zebra_stripes=True),
            LabTable(id="ours", cursor_type="row", zebra_stripes=True),
        ):
            table.add_columns("Name", "Address", "Tags", "Note")
            for i in range(40):
                table.add_row(
                    Text(f"web-{i:03d}"),
                    Text(f"10.0.{i}.{i * 7 % 256}", style="italic" if i % 3 else ""),
                    Text.assemble(("team-3", "bold #ff0000"), " ", ("日本", "#00ff00")) if i % 2 else Text(""),
                    "[b]done[/b]" if i % 5 == 0 else Text("x" * (i % 13)),
                )
            yield table


async def test_tables_measure_and_draw_alike() -> None:
    app = TwinApp()
    async with app.run_test(size=(70, 40)) as pilot:
        await pilot.pause()
        theirs, ours = app.query_one("#theirs", DataTable), app.query_one("#ours", LabTable)
        for table in (theirs, ours):
            table.move_cursor(row=3)
        await pilot.pause()
        assert (
            [c.content_width for c in ours.ordered_columns]
            == [c.content_width for c in theirs.ordered_columns]
            == [7, 11, 11, 12]
        )
        assert ours.virtual_size == theirs.virtual_size
        for table in (theirs, ours):
            table.scroll_to(y=5, animate=False)
        app.set_focus(None)  # one of them would have it, and focus restyles the header
        await pilot.pause()
        assert ours.size == theirs.size and ours.size.height > 5
        region = Region(0, 0, ours.size.width, ours.size.height)

        def picture(table: DataTable[Any]) -> list[list[tuple[str, Style | None]]]:
            return [[(ch, s.style) for s in strip for ch in s.text] for strip in table.render_lines(region)]

        assert picture(ours) == picture(theirs)
        assert "web-008" in "".join(ch for ch, _ in picture(ours)[4])  # scrolled by 5, below the header
        theirs.focus()
        await pilot.pause()
        focused_theirs = picture(theirs)
        ours.focus()
        await pilot.pause()
        assert picture(ours) == focused_theirs != picture(theirs)


class FillApp(App[None]):
    def compose(self) -> ComposeResult:
        table = LabTable(cursor_type="row")
        table.add_columns("Time", "Action")
        yield table


async def test_lines_drawn_before_the_rows_were_measured_are_not_kept() -> None:
    """A frame between a fill and its measuring draws the columns at their headers' widths;
    once measured, the next frame must draw them whole (DataTable kept the cut lines)."""
    app = FillApp()
    async with app.run_test(size=(60, 6)) as pilot:
        await pilot.pause()
        table = app.query_one(LabTable)
        table.add_row("2025-06-02 10:00:00", "role.create")
        early = "".join(seg.text for seg in table.render_line(1))  # drawn unmeasured
        assert "role.create" not in early
        table.settle()
        assert "2025-06-02 10:00:00" in "".join(seg.text for seg in table.render_line(1))
        assert "role.create" in "".join(seg.text for seg in table.render_line(1))
