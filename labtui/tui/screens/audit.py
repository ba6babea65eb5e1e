"""The audit log: newest first, a page at a time, filtered by user, action and free text.

Paging is keyset paging in core (``before_id``), so the hundredth page costs what the
first does, even over millions of rows. ``/`` opens the filter bar: ``user:NAME`` and
``action:NAME`` (``action:login*`` for a prefix) narrow by field, other words search
everywhere. Enter shows a record in full.
"""

from __future__ import annotations

import shlex
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.css.query import NoMatches
from textual.widgets import DataTable, Input, Static

from labtui.core.audit import AuditFilter, AuditRow
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.base import LabScreen
from labtui.tui.widgets.audit_detail import COLUMNS, AuditDetail, fill_audit_table
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable


def parse_filter(text: str) -> AuditFilter:
    """``user:alice action:login.failed some words`` → an :class:`AuditFilter`."""
    try:
        words = shlex.split(text)
    except ValueError:  # an unbalanced quote: take the words as typed
        words = text.split()
    username = action = ""
    rest: list[str] = []
    for word in words:
        key, sep, value = word.partition(":")
        if sep and key.lower() in ("user", "u") and value:
            username = value
        elif sep and key.lower() in ("action", "a") and value:
            action = value
        else:
            rest.append(word)
    return AuditFilter(username=username, action=action, text=" ".join(rest))


def describe_filter(flt: AuditFilter) -> str:
    parts = []
    if flt.username:
        parts.append(f"user:{flt.username}")
    if flt.action:
        parts.append(f"action:{flt.action}")
    if flt.text:
        parts.append(flt.text if " " not in flt.text else f'"{flt.text}"')
    return " ".join(parts)


class AuditScreen(LabScreen):
    SCREEN_HELP = (
        "Every state change and every login attempt, newest first. n and p page to older "
        "and newer records. / filters: user:NAME and action:NAME (action:login* matches a "
        "prefix) narrow by field, any other words search the target, detail, action, user "
        "and origin. Esc clears the filter; Enter opens a record with its full detail."
    )

    ACTIONS = (
        ScreenAction("n", "next_page", "Older", "Older records: the next page"),
        ScreenAction("p", "previous_page", "Newer", "Newer records: the page before"),
        ScreenAction("r", "reload", "Refresh", "Read this page again"),
    )
    #: Navigation, not an action (the app's Back, which clears an open filter first).
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "escape", "Back", show=False)]

    PAGE_SIZE = 50

    def __init__(self) -> None:
        super().__init__()
        self.filter = AuditFilter()
        #: ``before_id`` of each page visited so far; the last is the page shown.
        self.cursors: list[int | None] = [None]
        self.rows: list[AuditRow] = []
        self.has_more = False

    def compose(self) -> ComposeResult:
        yield Static("Audit log", id="title", classes="screen-title")
        yield Input(placeholder="filter: user:NAME action:NAME words…  (Enter applies, Esc clears)", id="filter")
        table: DataTable[str] = LabTable(id="audit-table", cursor_type="row", zebra_stripes=True)
        table.add_columns(*COLUMNS)
        yield table
        yield Static("", id="status")
        yield LabFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.load()

    # -- loading -------------------------------------------------------------------------------

    @work(exclusive=True, group="audit-load")
    async def load(self) -> None:
        flt, before = self.filter, self.cursors[-1]
        rows = await self.call(
            lambda: self.core.audit.page(self.actor, flt, before_id=before, limit=self.PAGE_SIZE + 1)
        )
        if rows is None:
            return
        self.has_more = len(rows) > self.PAGE_SIZE
        self.rows = rows[: self.PAGE_SIZE]
        try:
            self.render_rows()
        except NoMatches:  # closed while loading
            return

    def render_rows(self, keep_cursor: bool = False) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row if keep_cursor else 0
        fill_audit_table(table, self.rows)
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1))
        self.render_status()

    def on_resize(self) -> None:
        """The Detail column takes the width there is: refit it."""
        if self.rows:
            self.call_after_refresh(self.render_rows, True)

    def render_status(self) -> None:
        page = len(self.cursors)
        shown = f"{len(self.rows)} record{'s' if len(self.rows) != 1 else ''}"
        if not self.rows:
            shown = "no records" + (" match the filter" if self.filter != AuditFilter() else "")
        flt = describe_filter(self.filter)
        status = Content.from_markup(
            "Page $page · $shown · newest first$flt$older$newer",
            page=page,
            shown=shown,
            flt=f" · filter: {flt}" if flt else "",
            older=" · n: older" if self.has_more else " · oldest reached",
            newer=" · p: newer" if page > 1 else "",
        )
        self.query_one("#status", Static).update(status)
        self.query_one("#title", Static).update(Content(f"Audit log{' · ' + flt if flt else ''}"))

    def selected(self) -> AuditRow | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((r for r in self.rows if str(r.id) == key), None)

    # -- paging ----------------------------------------------------------------------------------

    def action_next_page(self) -> None:
        if not self.has_more or not self.rows:
            self.notify("No older records", timeout=2)
            return
        self.cursors.append(self.rows[-1].id)
        self.load()

    def action_previous_page(self) -> None:
        if len(self.cursors) == 1:
            self.notify("These are the newest records", timeout=2)
            return
        self.cursors.pop()
        self.load()

    def action_reload(self) -> None:
        self.load()

    # -- filter ------------------------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#filter", Input)
        box.add_class("-shown")
        box.focus()

    @on(Input.Submitted, "#filter")
    def _filter_applied(self, event: Input.Submitted) -> None:
        self.apply_filter(parse_filter(event.value))
        self.query_one(DataTable).focus()

    def apply_filter(self, flt: AuditFilter) -> None:
        self.filter = flt
        self.cursors = [None]
        self.load()

    def action_escape(self) -> None:
        """Esc clears the filter (and closes its bar) first; then it goes back."""
        box = self.query_one("#filter", Input)
        if box.has_class("-shown") or self.filter != AuditFilter():
            box.value = ""
            box.remove_class("-shown")
            self.query_one(DataTable).focus()
            if self.filter != AuditFilter():
                self.apply_filter(AuditFilter())
        else:
            self.lab.go_back()

    # -- detail ------------------------------------------------------------------------------------

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        row = next((r for r in self.rows if str(r.id) == event.row_key.value), None)
        if row is not None:
            self.app.push_screen(AuditDetail(row))
