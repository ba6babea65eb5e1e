"""One schedule's past runs (CloudLab's schedule history): the jobs it queued, newest first,
with when each started, how it ended, how long it took and as whom. Enter opens the job's log."""

from __future__ import annotations

import asyncio
import datetime as dt

from textual import on, work
from textual.app import ComposeResult
from textual.widgets import DataTable, Input, Static

from labtui.core import cron
from labtui.core.jobs.queue import JobInfo
from labtui.core.schedules import ScheduleInfo
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.table_screen import FilteredTableScreen
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable

#: How often the runs are re-read (a run in progress changes status).
REFRESH_SECONDS = 2.0


def _started(job: JobInfo, tz: str) -> str:
    at: dt.datetime | None = job.started_at
    if at is None:
        return "not started"
    return at.astimezone(cron.zone(tz)).strftime("%Y-%m-%d %H:%M:%S %Z")


def _took(job: JobInfo) -> str:
    if job.duration is None:
        return "—"
    return f"{job.duration:.1f}s" if job.duration < 60 else f"{int(job.duration // 60)}m{int(job.duration % 60):02d}s"


class ScheduleHistoryScreen(FilteredTableScreen):
    SCREEN_HELP = (
        "The runs of one schedule, newest first: when each job started (in the schedule's time "
        "zone), its status, how long it took and who it ran as. Enter opens the job's log."
    )

    ACTIONS = (ScreenAction("r", "reload", "Reload", "Read the schedule's runs again", show=False),)

    def __init__(self, schedule: ScheduleInfo) -> None:
        super().__init__()
        self.schedule = schedule
        self.rows: list[JobInfo] = []
        self.text_filter = ""

    def compose(self) -> ComposeResult:
        s = self.schedule
        yield Static(f"Runs of {s.name}  ·  {s.target}  ·  {s.cron} ({s.tz})", id="title")
        yield Input(placeholder="filter: status, user, job id", id="filter")
        table: DataTable[str] = LabTable(cursor_type="row", zebra_stripes=True)
        table.add_columns("Job", "Started", "Status", "Took", "Who")
        yield table
        yield Static("", id="empty")
        yield LabFooter()

    def on_mount(self) -> None:
        self.table.focus()
        self.refresh_loop()

    @work(exclusive=True, group="schedule-history")
    async def refresh_loop(self) -> None:
        while self.is_attached:
            await self.load()
            await asyncio.sleep(REFRESH_SECONDS)

    async def load(self) -> None:
        rows = await self.call(lambda: self.core.jobs.for_schedule(self.actor, self.schedule.id))
        if rows is not None and rows != self.rows:
            self.rows = rows
            self.render_rows()
        if rows is not None:
            self.query_one("#empty", Static).update(
                "" if rows else "This schedule has not run yet (or not as anyone whose jobs you may see)."
            )

    def render_rows(self) -> None:
        table = self.table
        selected = table.cursor_row
        table.clear()
        needle = self.text_filter.lower()
        for job in self.rows:
            if needle and needle not in f"{job.id} {job.status} {job.username}".lower():
                continue
            table.add_row(job.id, _started(job, self.schedule.tz), job.status, _took(job), job.username, key=job.id)
        if table.row_count:
            table.move_cursor(row=min(selected, table.row_count - 1))

    def filter_changed(self, text: str) -> None:
        self.text_filter = text
        self.render_rows()

    def action_reload(self) -> None:
        self.run_worker(self.load(), exclusive=True, group="schedule-history-load")

    @on(DataTable.RowSelected)
    def open_job(self) -> None:
        key = self.selected_key()
        if key:
            from labtui.tui.screens.job_log import JobLogScreen

            self.app.push_screen(JobLogScreen(key))
