"""The shape most list screens share: a title line, a filter input that ``/`` shows and Esc
clears (a second Esc goes back), and a table of rows keyed by id."""

from __future__ import annotations

from typing import ClassVar

from textual import events, on
from textual.binding import Binding, BindingType
from textual.css.query import NoMatches
from textual.widgets import Input

from labtui.tui.screens.base import LabScreen
from labtui.tui.widgets.lab_table import LabTable


class FilteredTableScreen(LabScreen):
    """Subclasses compose ``#title``, ``Input#filter`` and one ``LabTable``, and implement
    :meth:`filter_changed`."""

    DEFAULT_CSS = """
    FilteredTableScreen #title { padding: 0 1; background: $boost; text-style: bold; }
    FilteredTableScreen #filter { display: none; }
    FilteredTableScreen #filter.-shown { display: block; }
    FilteredTableScreen DataTable { height: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "escape", "Back", show=False, tooltip="Clear the filter; without one, back")
    ]

    def filter_changed(self, text: str) -> None:
        """The filter text changed (as typed)."""

    @property
    def table(self) -> LabTable:
        return self.query_one(LabTable)

    def selected_key(self) -> str | None:
        """The key of the row under the cursor, if any (None before the table exists, e.g.
        when the footer asks ``check_action`` while the screen is being built)."""
        try:
            table = self.table
        except NoMatches:
            return None
        if not table.row_count:
            return None
        return table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-shown")
        box.focus()

    @on(events.Mount)
    def _watch_filter(self) -> None:
        # Heard as the key changes the value, not from Input.Changed: that message bubbles up
        # through the containers and a frame (the key's echo) is drawn before it arrives; this
        # way the new rows' query runs while that frame is drawn.
        self.watch(self.query_one("#filter", Input), "value", self.filter_changed, init=False)

    @on(Input.Submitted, "#filter")
    def _filter_input_done(self) -> None:
        self.table.focus()

    def clear_filter(self) -> bool:
        """Esc's first step: clear and hide an open filter and go back to the table. False
        when there was no filter to clear."""
        box = self.query_one("#filter", Input)
        if not (box.has_class("-shown") or box.value):
            return False
        box.value = ""
        box.remove_class("-shown")
        self.table.focus()
        return True

    def action_escape(self) -> None:
        """Esc clears an open filter first, and only then goes back."""
        if not self.clear_filter() and len(self.app.screen_stack) > 1:
            self.app.pop_screen()
