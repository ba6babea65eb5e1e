"""Schedules: every schedule ordered by its next run; create, edit, enable/disable, run now,
delete, and each schedule's run history (``h``)."""

from __future__ import annotations

import datetime as dt

from textual import work
from textual.app import ComposeResult
from textual.widgets import DataTable, Input, Static

from labtui.core import cron
from labtui.core.permissions_catalog import Perm
from labtui.core.schedules import ScheduleInfo, ScheduleSpec, known_system_tasks
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.schedule_form import ScheduleForm
from labtui.tui.screens.table_screen import FilteredTableScreen
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable


def _when(at: dt.datetime | None, tz: str) -> str:
    if at is None:
        return "—"
    return at.astimezone(cron.zone(tz)).strftime("%Y-%m-%d %H:%M %Z")


class SchedulesScreen(FilteredTableScreen):
    SCREEN_HELP = (
        "Recurring jobs on 5-field cron expressions, each in its own time zone: a service "
        "script, an inventory action or a system task. The list is ordered by the next run; "
        "disabled schedules come last. h shows a schedule's past runs, g runs it now."
    )

    ACTIONS = (
        ScreenAction("n", "new", "New", "Create a schedule"),
        ScreenAction("e", "edit", "Edit", "Edit the selected schedule"),
        ScreenAction("t", "toggle_enabled", "Enable/disable", "Enable the selected schedule, or disable it"),
        ScreenAction("g", "run_now", "Run now", "Run the selected schedule's job now, as you"),
        ScreenAction("h", "history", "History", "The selected schedule's past runs"),
        ScreenAction("D", "delete", "Delete", "Delete the selected schedule (asks first)"),
        ScreenAction("r", "reload", "Reload", "Read the schedules again", show=False),
    )

    def __init__(self) -> None:
        super().__init__()
        self.rows: list[ScheduleInfo] = []
        self.text_filter = ""

    def compose(self) -> ComposeResult:
        yield Static("Schedules", id="title")
        yield Input(placeholder="filter: name, service, cron", id="filter")
        table: DataTable[str] = LabTable(cursor_type="row", zebra_stripes=True)
        table.add_columns("Name", "Target", "Cron", "Zone", "Next run", "Last run", "Last", "On")
        yield table
        yield LabFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.load()

    @work(exclusive=True, group="schedules-load")
    async def load(self) -> None:
        rows = await self.call(lambda: self.core.schedules.list(self.actor))
        if rows is not None:
            self.rows = rows
            self.render_rows()

    def render_rows(self) -> None:
        table = self.query_one(DataTable)
        selected = table.cursor_row
        table.clear()
        needle = self.text_filter.lower()
        for r in self.rows:
            if needle and needle not in f"{r.name} {r.target} {r.cron} {r.tz}".lower():
                continue
            table.add_row(
                r.name,
                r.target,
                r.cron,
                r.tz,
                _when(r.next_run_at, r.tz),
                _when(r.last_run_at, r.tz),
                r.last_status or "—",
                "yes" if r.enabled else "no",
                key=str(r.id),
            )
        if table.row_count:
            table.move_cursor(row=min(selected, table.row_count - 1))

    def selected(self) -> ScheduleInfo | None:
        key = self.selected_key()
        return next((r for r in self.rows if str(r.id) == key), None)

    def filter_changed(self, text: str) -> None:
        self.text_filter = text
        self.render_rows()

    # -- actions -----------------------------------------------------------------------------

    def action_reload(self) -> None:
        self.load()

    def _open_form(self, existing: ScheduleInfo | None) -> None:
        if not self.can(Perm.SCHEDULES_EDIT if existing else Perm.SCHEDULES_CREATE):
            self.notify("You may not change schedules", severity="warning")
            return

        async def save(spec: ScheduleSpec) -> ScheduleInfo:
            if existing:
                return await self.core.schedules.update(self.actor, existing.id, spec)
            return await self.core.schedules.create(self.actor, spec)

        def done(saved: ScheduleInfo | None) -> None:
            if saved:
                self.notify(f"Saved '{saved.name}'; next run {_when(saved.next_run_at, saved.tz)}")
                self.load()

        self.app.push_screen(
            ScheduleForm(
                save, existing, self.core.services.names(), actions=self._actions(), tasks=known_system_tasks()
            ),
            done,
        )

    def _actions(self) -> dict[str, list[tuple[str, str]]]:
        """Inventory type -> its actions that run as jobs (not the builtin ssh)."""
        return {
            slug: [(a.name, a.label) for a in t.actions if a.type not in ("builtin", "ssh")]
            for slug, t in sorted(self.core.inventory_types.items())
            if any(a.type not in ("builtin", "ssh") for a in t.actions)
        }

    def action_history(self) -> None:
        row = self.selected()
        if row is None:
            return
        from labtui.tui.screens.schedule_history import ScheduleHistoryScreen

        self.app.push_screen(ScheduleHistoryScreen(row))

    def action_new(self) -> None:
        self._open_form(None)

    def action_edit(self) -> None:
        row = self.selected()
        if row:
            self._open_form(row)

    @work(group="schedules-change")
    async def action_toggle_enabled(self) -> None:
        row = self.selected()
        if row is None:
            return
        done = await self.call(lambda: self.core.schedules.set_enabled(self.actor, row.id, not row.enabled))
        if done:
            self.notify(f"'{done.name}' {'enabled' if done.enabled else 'disabled'}")
            self.load()

    @work(group="schedules-change")
    async def action_run_now(self) -> None:
        """Queue the schedule's job now, as the person asking (core checks their right to)."""
        row = self.selected()
        if row is None:
            return
        job_id = await self.call(lambda: self.core.jobs.launch(row, self.actor))
        if job_id is not None:
            from labtui.tui.screens.job_log import JobLogScreen

            self.app.push_screen(JobLogScreen(job_id))

    @work(group="schedules-change")
    async def action_delete(self) -> None:
        row = self.selected()
        if row is None:
            return
        from labtui.tui.widgets.confirm import ConfirmScreen

        if not await self.app.push_screen_wait(ConfirmScreen(f"Delete schedule '{row.name}'?", "Delete")):
            return
        await self.call(lambda: self.core.schedules.delete(self.actor, row.id), success=f"Deleted '{row.name}'")
        self.load()
