"""Jobs: every job the actor may see, newest first, with live status.

``/`` filters with free text plus ``status:S``, ``service:S`` and ``user:U`` tokens.
"""

from __future__ import annotations

import asyncio
import datetime as dt
from dataclasses import dataclass

from textual import on, work
from textual.app import ComposeResult
from textual.widgets import DataTable, Input, Static

from labtui.core.jobs.queue import JobInfo
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.job_log import JobLogScreen
from labtui.tui.screens.table_screen import FilteredTableScreen
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable

REFRESH_SECONDS = 1.0


@dataclass(frozen=True)
class JobFilter:
    status: str | None = None
    service: str | None = None
    user: str | None = None
    text: str = ""

    @classmethod
    def parse(cls, raw: str) -> JobFilter:
        fields: dict[str, str] = {}
        words: list[str] = []
        for token in raw.split():
            key, sep, value = token.partition(":")
            if sep and key in ("status", "service", "user") and value:
                fields[key] = value
            else:
                words.append(token)
        return cls(fields.get("status"), fields.get("service"), fields.get("user"), " ".join(words).lower())

    def keeps(self, job: JobInfo) -> bool:
        if self.user and job.username != self.user:
            return False
        if self.text:
            hay = f"{job.id} {job.service} {job.action} {job.script or ''} {job.status} {job.username} {job.deployment_id or ''}"
            return self.text in hay.lower()
        return True


def ago(at: dt.datetime | None) -> str:
    if at is None:
        return "—"
    seconds = int((dt.datetime.now(dt.UTC) - at).total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{max(seconds, 0)}s ago"


class JobsScreen(FilteredTableScreen):
    SCREEN_HELP = (
        "Jobs you may see (all of them with jobs.view_all, else your own), newest first; the "
        "status updates live. / filters: free text, status:failed, service:hello, user:alice. "
        "Enter opens the live log."
    )

    ACTIONS = (
        ScreenAction("enter", "open", "Open log", "The selected job's live log"),
        ScreenAction("x", "cancel_job", "Cancel", "Cancel the selected job (asks first)"),
    )

    def __init__(self, initial_filter: str = "") -> None:
        super().__init__()
        self.flt = JobFilter.parse(initial_filter)
        self.initial_filter = initial_filter
        self.rows: list[JobInfo] = []

    def compose(self) -> ComposeResult:
        yield Static("Jobs", id="title")
        yield Input(self.initial_filter, placeholder="filter: text status:failed service:hello user:alice", id="filter")
        table: DataTable[str] = LabTable(cursor_type="row", zebra_stripes=True)
        table.add_columns("ID", "Service", "Action", "Status", "User", "Started", "Took", "Deployment")
        yield table
        yield LabFooter()

    def on_mount(self) -> None:
        if self.initial_filter:
            self.query_one("#filter", Input).add_class("-shown")
        self.query_one(DataTable).focus()
        self.refresh_loop()

    @work(exclusive=True, group="jobs-refresh")
    async def refresh_loop(self) -> None:
        while self.is_attached:
            await self.load()
            await asyncio.sleep(REFRESH_SECONDS)

    async def load(self) -> None:
        flt = self.flt
        rows = await self.call(
            lambda: self.core.jobs.list(self.actor, status=flt.status, service=flt.service, limit=500)
        )
        if rows is None:
            return
        rows = [r for r in rows if flt.keeps(r)]
        if rows != self.rows:
            self.rows = rows
            self.render_rows()

    def render_rows(self) -> None:
        table = self.query_one(DataTable)
        selected = table.cursor_row
        table.clear()
        for job in self.rows:
            what = job.what
            took = f"{job.duration:.0f}s" if job.duration is not None else "—"
            table.add_row(
                job.id,
                job.service,
                what,
                job.status,
                job.username,
                ago(job.started_at or job.created_at),
                took,
                job.deployment_id or "",
                key=job.id,
            )
        if table.row_count:
            table.move_cursor(row=min(selected, table.row_count - 1))

    def selected(self) -> JobInfo | None:
        key = self.selected_key()
        return next((j for j in self.rows if j.id == key), None)

    @on(DataTable.RowSelected)
    def action_open(self) -> None:
        job = self.selected()
        if job:
            self.app.push_screen(JobLogScreen(job.id))

    @work(group="jobs-action")
    async def action_cancel_job(self) -> None:
        job = self.selected()
        if job is None or job.is_final:
            return
        from labtui.tui.widgets.confirm import ConfirmScreen

        if await self.app.push_screen_wait(ConfirmScreen(f"Cancel job {job.id} ({job.service})?", "Cancel job")):
            await self.call(lambda: self.core.jobs.cancel(self.actor, job.id), success="Cancel requested")

    def filter_changed(self, text: str) -> None:
        self.flt = JobFilter.parse(text)
        self.run_worker(self.load(), exclusive=True, group="jobs-filter")
