"""LabTable: Textual's DataTable with a fast path for the common row and cell.

DataTable renders every new cell through Rich's full layout (Styled(Padding(cell)) through
``console.render_lines``: wrapping, justification, line splitting), and every line looks up
its component styles afresh. A one-line text cell in a row-cursor table needs none of that,
and a new page of a wide table is hundreds of new cells: on the inventory's 100,000-object
bench that work was over half of the time from a filter typed to its first page on screen.

The fast path makes the same segments directly; tests/tui/test_lab_table.py pins it against
DataTable's own output, cell by cell and line by line. Anything else (fixed columns, row
labels, taller rows, tabs or newlines, justified text, other renderables) takes DataTable's
path. The cache keys and style lookups copy DataTable's (textual 8.x, pinned in
pyproject.toml): private API, hence that test.
"""

from __future__ import annotations

from typing import Any, cast

from rich.cells import cell_len, set_cell_size
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.coordinate import Coordinate
from textual.geometry import Region, Size
from textual.render import measure
from textual.strip import Strip
from textual.widgets import DataTable
from textual.widgets._data_table import CellCacheKey, RowKey


class LabTable(DataTable[Any]):
    #: Styles looked up once per render pass, not once per line (None outside a pass).
    _pass_styles: dict[Any, Any] | None = None

    def render_lines(self, crop: Region) -> list[Strip]:
        self._pass_styles = {}
        try:
            return super().render_lines(crop)
        finally:
            self._pass_styles = None

    def _pass_style(self, key: Any, compute: Any) -> Any:
        memo = self._pass_styles
        if memo is None:
            return compute()
        if key not in memo:
            memo[key] = compute()
        return memo[key]

    def _scroll_update(self, virtual_size: Size) -> None:
        """Widget's, less its explicit scrollbar repaints: a scrollbar's sizes are reactives
        that repaint it when they change. Textual calls this on every layout of the screen
        (ScrollView compares the layout's virtual size with its own, which differ for any
        view that scrolls), so each layout — a key echoed in the filter — cost a second frame
        for the table's unchanged scrollbars, and a page arriving meanwhile waited for it."""
        self._refresh_scrollbars()
        width, height = self.container_size
        if self.show_vertical_scrollbar and self.styles.scrollbar_size_vertical:
            self.vertical_scrollbar.window_virtual_size = virtual_size.height
            self.vertical_scrollbar.window_size = height - self.scrollbar_size_horizontal
        if self.show_horizontal_scrollbar and self.styles.scrollbar_size_horizontal:
            self.horizontal_scrollbar.window_virtual_size = virtual_size.width
            self.horizontal_scrollbar.window_size = width - self.scrollbar_size_vertical
        self.scroll_x = self.validate_scroll_x(self.scroll_x)
        self.scroll_y = self.validate_scroll_y(self.scroll_y)

    def settle(self) -> None:
        """Measure new rows and cells now rather than when the table is next idle (DataTable's
        way): call after filling the table, so the next frame draws it measured. Otherwise a
        frame drawn between the fill and the table's idle paints every row unmeasured and the
        measured rows wait for the frame after."""
        if self._updated_cells:
            updated_cells = self._updated_cells.copy()
            self._updated_cells.clear()
            self._update_column_widths(updated_cells)
        if self._require_update_dimensions:
            self._require_update_dimensions = False
            new_rows = self._new_rows.copy()
            self._new_rows.clear()
            self._update_dimensions(new_rows)

    def _update_dimensions(self, new_rows: Any) -> None:
        """Column widths from the new rows, then the lines drawn before at other widths are
        dropped: DataTable's line cache is not keyed by the widths, so a frame drawn between
        a fill and its measuring kept every column cut to its header's width until the
        cursor moved (seen on the audit log after a refill)."""
        before = [column.content_width for column in self.ordered_columns]
        self._measure_rows(list(new_rows))
        if [column.content_width for column in self.ordered_columns] != before:
            self._update_count += 1  # a key of every render cache
            self.refresh()

    def _measure_rows(self, new_rows: list[Any]) -> None:
        """DataTable's measuring, with a text's width read off it directly (Rich's measure
        builds console options per cell, a third of a page's time before paint)."""
        placed = [(self._row_locations.get(key), self.rows.get(key)) for key in new_rows]
        if any(row is not None and (row.label is not None or row.auto_height) for _, row in placed):
            super()._update_dimensions(new_rows)
            return
        columns = self.ordered_columns
        widths = [column.content_width for column in columns]
        console = self.app.console
        for index, row in placed:
            if index is None or row is None:  # removed before the table went idle
                continue
            for position, cell in enumerate(self._get_row_renderables(index).cells[: len(widths)]):
                if type(cell) is Text:  # Text.__rich_measure__'s maximum
                    lines = cell.plain.splitlines()
                    width = max(map(cell_len, lines)) if lines else 0
                else:
                    width = measure(console, cell, 1)
                widths[position] = max(widths[position], width)
        for column, width in zip(columns, widths, strict=True):
            column.content_width = width
        super()._update_dimensions([])  # the virtual size from the widths

    def _get_row_style(self, row_index: int, base_style: Style) -> Style:
        if row_index == -1:
            name = "datatable--header"
        elif row_index < self.fixed_rows:
            name = "datatable--fixed"
        elif self.zebra_stripes:
            name = "datatable--odd-row" if row_index % 2 else "datatable--even-row"
        else:
            return base_style
        return self._pass_style(name, lambda: self.get_component_styles(name).rich_style)

    def _render_line_in_row(
        self,
        row_key: RowKey,
        line_no: int,
        base_style: Style,
        cursor_location: Coordinate,
        hover_location: Coordinate,
    ) -> tuple[list[list[Segment]], list[list[Segment]]]:
        if (
            self.cursor_type != "row"
            or self.fixed_columns
            or line_no
            or (self._labelled_row_exists and self.show_row_labels)
        ):
            return super()._render_line_in_row(row_key, line_no, base_style, cursor_location, hover_location)
        cache_key = (
            row_key,
            line_no,
            base_style,
            cursor_location,
            hover_location,
            self.cursor_type,
            self.show_cursor,
            self._show_hover_cursor,
            self._update_count,
            self._pseudo_class_state,
        )
        cached = self._row_render_cache.get(cache_key)
        if cached is not None:
            return cached
        row_index = self._row_locations.get(row_key)
        if row_index is None:  # the header
            row_index = -1
        row_style = self._get_row_style(row_index, base_style)
        # A row cursor highlights every cell of its row alike (DataTable's _should_highlight).
        cursor = cursor_location.row == row_index
        hover = hover_location.row == row_index
        widths = [column.get_render_width(self) for column in self.ordered_columns]
        render_cell = self._render_cell
        scrollable = [
            render_cell(row_index, index, row_style, width, cursor=cursor, hover=hover)[0]
            for index, width in enumerate(widths)
        ]
        remaining = max(0, self.size.width - sum(widths) - self._row_label_column_width)
        extend_style, _ = self._get_styles_to_render_cell(
            row_index == -1, False, False, hover, cursor, self.show_cursor, self._show_hover_cursor, False, False
        )
        extend_style = (
            row_style + extend_style + Style.from_meta({"row": row_index, "column": 0, "out_of_bounds": True})
        )
        scrollable.append([Segment(" " * remaining, extend_style)])
        row_pair: tuple[list[list[Segment]], list[list[Segment]]] = ([], scrollable)
        self._row_render_cache[cache_key] = row_pair
        return row_pair

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> list[list[Segment]]:
        is_header_cell = row_index == -1
        row_key = self._header_row_key if is_header_cell else self._row_locations.get_key(row_index)
        # The label column has no key: DataTable keys its cells by None too.
        cache_key = cast(
            "CellCacheKey",
            (
                row_key,
                self._column_locations.get_key(column_index),
                base_style,
                cursor,
                hover,
                self._show_hover_cursor,
                self._update_count,
                self._pseudo_class_state,
            ),
        )
        cached = self._cell_render_cache.get(cache_key)
        if cached is not None:
            return cached
        lines = None
        if column_index != -1:
            lines = self._fast_cell(row_index, column_index, row_key, base_style, width, cursor, hover)
        if lines is None:
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        self._cell_render_cache[cache_key] = lines
        return lines

    def _settings(self) -> tuple[Any, ...]:
        """The reactives a cell reads (each read of a reactive is costly), once per pass."""
        return self._pass_style(
            "settings",
            lambda: (
                self.cell_padding,
                self.header_height,
                self.fixed_rows,
                self.fixed_columns,
                self.show_cursor,
                self._show_hover_cursor,
                self.cursor_foreground_priority == "css",
                self.cursor_background_priority == "css",
                self.app.console,
            ),
        )

    def _fast_cell(
        self, row_index: int, column_index: int, row_key: Any, base_style: Style, width: int, cursor: bool, hover: bool
    ) -> list[list[Segment]] | None:
        """The cell's one line of segments, or None where DataTable's own path is needed."""
        padding, header_height, fixed_rows, fixed_columns, show_cursor, show_hover, fg_css, bg_css, console = (
            self._settings()
        )
        is_header_cell = row_index == -1
        if is_header_cell:
            if header_height != 1:
                return None
        else:
            row = self.rows.get(row_key)
            if row is None or row.height != 1:
                return None
        cells = self._get_row_renderables(row_index).cells
        if column_index >= len(cells):
            return None
        cell = cells[column_index]
        inner = width - 2 * padding
        if type(cell) is not Text or inner < 0:
            return None
        plain, overflow = cell.plain, cell.overflow
        if (
            cell.justify not in (None, "default")
            or overflow not in (None, "fold", "crop", "ellipsis")
            or "\n" in plain
            or "\t" in plain
        ):
            return None
        length = cell_len(plain)
        if length > inner and overflow == "ellipsis":  # Rich's Text.truncate
            if cell._spans or inner < 1:
                return None
            plain, length = set_cell_size(plain, inner - 1) + "…", inner
        is_fixed_style_cell = not is_header_cell and (row_index < fixed_rows or column_index < fixed_columns)
        component_style, post_style = self._get_styles_to_render_cell(
            is_header_cell, False, is_fixed_style_cell, hover, cursor, show_cursor, show_hover, fg_css, bg_css
        )
        pre_style = base_style + component_style
        meta = Style.from_meta({"row": row_index, "column": column_index})
        pad = " " * padding
        if not cell._spans and length <= inner:
            # One segment: the text padded to the cell, in one style (Rich's pad spaces carry
            # the cell's outer styles only, so a styled text keeps its pads apart).
            outer = pre_style + post_style
            if not cell.style:
                return [[Segment(pad + plain + " " * (inner - length) + pad, outer + meta)]]
            style = pre_style + console.get_style(cell.style) + post_style
            return [
                [
                    Segment(pad, outer + meta),
                    Segment(plain, style + meta),
                    Segment(" " * (inner - length) + pad, outer + meta),
                ]
            ]
        if cell._spans:
            parts = list(cell.render(console))
        else:  # Text.render drops the base style of a text without spans; Rich's layout keeps it
            parts = [Segment(plain, console.get_style(cell.style) if cell.style else None)]
        line = [Segment(pad), *Segment.adjust_line_length(parts, inner), Segment(pad)]
        # Styled without the mouse's meta first: the same few styles recur on every row, so
        # Rich's style-sum cache hits; the cell's own meta is added once per merged segment.
        styled = Segment.simplify(Segment.apply_style(line, pre_style, post_style))
        return [[Segment(text, style + meta if style else meta) for text, style, _ in styled]]
