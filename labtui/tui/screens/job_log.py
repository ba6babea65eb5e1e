"""One job: its facts and the live log pane.

The pane tails the database (docs/architecture.md), so a job started in any process or SSH session
streams here. Keys: ``End`` follow, ``/`` search (``n``/``N`` next/previous), ``f`` show only
matching lines, ``x`` cancel, ``R`` run again with the same inputs.
"""

from __future__ import annotations

import asyncio
import time

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.markup import escape
from textual.widgets import Input, Static

from labtui.core.jobs.log_reader import JobLogReader
from labtui.core.jobs.queue import JobInfo
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.base import LabScreen
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.log_view import LogView

#: How often an active job's log is polled for new lines (the issue asks ≤ 100 ms end to end).
TAIL_SECONDS = 0.025
#: How often a finished job is looked at (it may be re-read by nobody; keep it cheap).
IDLE_SECONDS = 2.0
#: How often the tail re-reads the whole job while its status stays the same.
JOB_SECONDS = 1.0


def job_summary(job: JobInfo) -> str:
    started = job.started_at.strftime("%Y-%m-%d %H:%M:%S") if job.started_at else "not started"
    took = f" · {job.duration:.1f} s" if job.duration is not None else ""
    what = f"{job.service} {job.action}" + (f" {job.script}" if job.script and job.action == "script" else "")
    parts = [
        f"[b]{job.id}[/b] {escape(what)}",
        f"[{_status_style(job.status)}]{job.status}[/]",
        f"by {escape(job.username)}",
        f"{started}{took}",
    ]
    if job.deployment_id:
        parts.append(f"deployment {job.deployment_id}")
    if job.exit_code not in (None, 0):
        parts.append(f"exit {job.exit_code}")
    return "  ·  ".join(parts)


def _status_style(status: str) -> str:
    return {
        "completed": "$success",
        "failed": "$error",
        "lost": "$error",
        "cancelled": "$warning",
        "running": "$accent",
        "queued": "$text-muted",
    }.get(status, "$text")


class JobLogScreen(LabScreen):
    SCREEN_HELP = (
        "The job's output as it arrives. The pane follows the newest line; scroll up to stop "
        "following and press End to resume. / searches (n / N move between matches), f shows "
        "only matching lines, x cancels the job, R runs it again with the same inputs."
    )

    DEFAULT_CSS = """
    JobLogScreen #summary { padding: 0 1; background: $boost; height: auto; }
    JobLogScreen #search { display: none; dock: bottom; }
    JobLogScreen #search.-shown { display: block; }
    JobLogScreen LogView { height: 1fr; }
    JobLogScreen #state { height: 1; padding: 0 1; color: $text-muted; }
    """

    ACTIONS = (
        ScreenAction("x", "cancel_job", "Cancel", "Cancel the job (asks first)"),
        ScreenAction("R", "rerun", "Re-run", "Run the job again with the same inputs"),
        ScreenAction("f", "toggle_filter", "Filter", "Show only the lines that match the search, or all again"),
    )
    #: Navigation, not an action (closes the search, then clears it, then back).
    BINDINGS = [Binding("escape", "escape", "Back", show=False)]

    def __init__(self, job_id: str) -> None:
        super().__init__()
        self.job_id = job_id
        self.job: JobInfo | None = None
        self.reader: JobLogReader | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"Job {self.job_id}", id="summary")
        yield LogView(_EMPTY, id="log")
        yield Static("", id="state")
        yield Input(placeholder="search the log (Enter: find, Esc: close)", id="search")
        yield LabFooter()

    def on_mount(self) -> None:
        self.query_one(LogView).focus()
        self.start()

    @work(exclusive=True, group="job-load")
    async def start(self) -> None:
        job = await self.call(lambda: self.core.jobs.get(self.actor, self.job_id))
        if job is None:
            return
        self.reader = JobLogReader(self.core.db, self.job_id)
        self.query_one(LogView).reset(self.reader)
        self.show(job)
        self.tail()

    @work(exclusive=True, group="job-tail")
    async def tail(self) -> None:
        """Poll the database for new lines and status until the screen closes."""
        assert self.reader is not None
        view = self.query_one(LogView)
        reader = self.reader
        known, job_read = -1, 0.0
        while self.is_attached:
            count = await asyncio.to_thread(reader.poll)
            if count != known:
                known = count
                view.source_changed()
                self._update_state()
            job = self.job
            # The whole job when its status moved on, else once a second (its deployment id
            # may come mid-run): not a second query on every tick of a flood.
            if job is None or reader.status != job.status or time.monotonic() - job_read >= JOB_SECONDS:
                job_read = time.monotonic()
                job = await self.call(lambda: self.core.jobs.get(self.actor, self.job_id))
                if job is not None and job != self.job:
                    self.show(job)
            await asyncio.sleep(IDLE_SECONDS if job is None or job.is_final else TAIL_SECONDS)

    def show(self, job: JobInfo) -> None:
        self.job = job
        self.query_one("#summary", Static).update(job_summary(job))
        self._update_state()

    def _update_state(self) -> None:
        view = self.query_one(LogView)
        bits = [f"{len(self.reader) if self.reader else 0:,} lines"]
        bits.append("following" if view.follow else "paused — End follows")
        if view.needle:
            bits.append(f"search: {view.needle!r}{' (filtered)' if view.filtered else ''}")
        self.query_one("#state", Static).update("  ·  ".join(bits))

    @on(LogView.FollowChanged)
    def _follow_changed(self) -> None:
        self._update_state()

    # -- search --------------------------------------------------------------------------

    def action_filter(self) -> None:
        box = self.query_one("#search", Input)
        box.add_class("-shown")
        box.focus()

    @on(Input.Submitted, "#search")
    def _search(self, event: Input.Submitted) -> None:
        view = self.query_one(LogView)
        view.needle = event.value.strip()
        view.focus()
        if view.needle and not view.filtered and not (view.jump(True) or view.jump(False)):
            self.notify(f"No line contains {view.needle!r}", timeout=3)
        self._update_state()

    def action_toggle_filter(self) -> None:
        view = self.query_one(LogView)
        if not view.needle:
            self.notify("Search first (/), then f shows only the matching lines", timeout=3)
            return
        view.filtered = not view.filtered
        self._update_state()

    def action_escape(self) -> None:
        box = self.query_one("#search", Input)
        view = self.query_one(LogView)
        if box.has_class("-shown"):
            box.remove_class("-shown")
            view.focus()
        elif view.needle:
            view.filtered = False
            view.needle = ""
            box.value = ""
            self._update_state()
        elif len(self.app.screen_stack) > 1:
            self.app.pop_screen()

    # -- actions -------------------------------------------------------------------------

    @work(group="job-action")
    async def action_cancel_job(self) -> None:
        if self.job is None or self.job.is_final:
            self.notify("The job has ended already", timeout=3)
            return
        from labtui.tui.widgets.confirm import ConfirmScreen

        if await self.app.push_screen_wait(
            ConfirmScreen(f"Cancel job {self.job_id} ({self.job.service})?", "Cancel job")
        ):
            await self.call(lambda: self.core.jobs.cancel(self.actor, self.job_id), success="Cancel requested")

    @work(group="job-action")
    async def action_rerun(self) -> None:
        job = self.job
        if job is None:
            return
        new = await self.call(lambda: self.core.jobs.rerun(self.actor, job.id))
        if new is not None:
            self.app.switch_screen(JobLogScreen(new.id))


class _Empty:
    """A source with no lines, until the job's reader is ready."""

    def __len__(self) -> int:
        return 0

    def get(self, start: int, stop: int) -> list[str]:
        return []

    def find(self, needle: str, start: int, forward: bool) -> int | None:
        return None

    def matching(self, needle: str) -> list[int]:
        return []


_EMPTY = _Empty()
