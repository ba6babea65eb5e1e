"""One health check's history: its results newest first, a latency plot, and its
transitions; ``c`` checks it now, ``m`` silences it (the form is here too), ``h`` changes the
period. It refreshes itself, so a transition appears while you watch.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import statistics
from typing import ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.css.query import NoMatches
from textual.widgets import (
    DataTable,
    Sparkline,
    Static,
)

from labtui.core.health import CheckStatus, ResultRow
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.base import LabScreen
from labtui.tui.screens.health_shared import (
    MANAGE,
    STATUS_VARIABLES,
    TYPE_SHORT,
    check_now,
    latency_text,
    short_age,
    silence,
    status_text,
    theme_colours,
    unsilence,
)
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable

#: The periods ``h`` cycles through, in hours.
PERIODS = (1.0, 24.0, 24.0 * 7)
#: Results read for the plot and the table (newest first), and shown in the table.
HISTORY_LIMIT = 2000
TABLE_ROWS = 300
TRANSITIONS = 50
RESULT_COLUMNS = (("Time (UTC)", 14), ("Status", 9), ("Probe", 9), ("Latency", 8), ("Code", 4))


def when(at: dt.datetime) -> str:
    """Times are shown in UTC, as in the audit log, so every session reads the same (the
    year is left out: results are kept for days, not years)."""
    return at.strftime("%m-%d %H:%M:%S")


def shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"


def period_text(hours: float) -> str:
    return f"{hours / 24:g} d" if hours >= 48 else f"{hours:g} h"


def plot_caption(rows: list[ResultRow], hours: float) -> str:
    """Latency figures of the results plotted."""
    values = sorted(r.latency_ms for r in rows if r.latency_ms is not None)
    if not values:
        return f"Latency, last {period_text(hours)}: no measurements"
    p95 = values[min(len(values) - 1, int(0.95 * len(values)))]
    return (
        f"Latency, last {period_text(hours)} (oldest → newest, {len(rows):,} results): "
        f"min {latency_text(values[0])} · median {latency_text(statistics.median(values))} · "
        f"p95 {latency_text(p95)} · max {latency_text(values[-1])}"
    )


class HealthHistoryScreen(LabScreen):
    SCREEN_HELP = (
        "One check's results (newest first), its latency over the period (the plot: each bar "
        "the highest latency of its slice of time) and its transitions (healthy ↔ unhealthy, "
        "each of which was audited and mailed unless silenced). h changes the period (1 h, "
        "24 h, 7 d). With health.manage: c runs the check now (not stored), m silences it "
        "or lifts its silence. Times are UTC. Esc goes back."
    )

    DEFAULT_CSS = """
    HealthHistoryScreen #head { height: auto; padding: 0 1; background: $boost; }
    HealthHistoryScreen #plot-caption { height: 1; padding: 0 1; color: $text-muted; }
    HealthHistoryScreen #plot { height: 4; margin: 0 1; }
    HealthHistoryScreen #plot > .sparkline--max-color { color: $warning; }
    HealthHistoryScreen #plot > .sparkline--min-color { color: $success 60%; }
    HealthHistoryScreen #lists { height: 1fr; }
    HealthHistoryScreen #results-pane { width: 1fr; }
    HealthHistoryScreen #transitions-pane { width: 42; }
    HealthHistoryScreen .pane-title { height: 1; padding: 0 1; text-style: bold; }
    HealthHistoryScreen DataTable { height: 1fr; }
    """

    ACTIONS = (
        ScreenAction("c", "check_now", "Check now", "Run this check now and show the result (not stored)", MANAGE),
        ScreenAction("m", "silence", "Silence", "No emails for this check for a while (maintenance)", MANAGE),
        # Both keys: the footer shows the first (M is the one that never silences).
        ScreenAction("m,M", "unsilence", "Unsilence", "Lift this check's silence", MANAGE),
        ScreenAction("h", "period", "Period", "Show the last 1 h, 24 h or 7 d"),
        ScreenAction("r", "refresh", "Refresh", "Read the results again now", show=False),
    )
    #: Navigation, not an action.
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back", show=False)]

    REFRESH_SECONDS: ClassVar[float] = 5.0

    def __init__(self, service: str, check: str, hours: float = 24.0) -> None:
        super().__init__()
        self.service = service
        self.check = check
        self.hours = hours
        self.status: CheckStatus | None = None
        self.rows: list[ResultRow] = []
        self.transitions: list[ResultRow] = []
        self.loaded = False
        self._colours: dict[str, str] = {}
        self._wake = asyncio.Event()

    @property
    def key(self) -> str:
        return f"{self.service}/{self.check}"

    def compose(self) -> ComposeResult:
        yield Static(self.key, id="head")
        yield Static("", id="plot-caption")
        yield Sparkline([], id="plot")
        with Horizontal(id="lists"):
            with Vertical(id="results-pane"):
                yield Static("Results", id="results-title", classes="pane-title")
                results: DataTable[Text] = LabTable(id="results", cursor_type="row", zebra_stripes=True)
                for label, width in RESULT_COLUMNS:
                    results.add_column(label, width=width)
                results.add_column("Error")
                yield results
            with Vertical(id="transitions-pane"):
                yield Static("Transitions (7 d)", classes="pane-title")
                transitions: DataTable[Text] = LabTable(id="transitions", cursor_type="row")
                transitions.add_columns("Time (UTC)", "Change")
                yield transitions
        yield LabFooter()

    def on_mount(self) -> None:
        self._colours = theme_colours(self.app)
        self.query_one("#results", DataTable).focus()
        self.refresh_loop()

    def action_state(self, action: str) -> bool | None:
        if action in ("silence", "unsilence"):
            if self.status is None:
                return None if action == "silence" else False
            return (self.status.silenced_until is not None) == (action == "unsilence")
        return True

    # -- loading -------------------------------------------------------------------------------

    @work(exclusive=True, group="health-history")
    async def refresh_loop(self) -> None:
        while self.is_attached:
            self._wake.clear()
            await self.load()
            try:
                await asyncio.wait_for(self._wake.wait(), self.REFRESH_SECONDS)
            except TimeoutError:
                pass

    async def load(self) -> None:
        health, actor = self.core.health, self.actor
        services = await self.call(lambda: health.status(actor, self.service))
        rows = await self.call(
            lambda: health.history(actor, self.service, self.check, hours=self.hours, limit=HISTORY_LIMIT)
        )
        transitions = await self.call(
            lambda: health.history(
                actor, self.service, self.check, hours=24 * 7, limit=TRANSITIONS, transitions_only=True
            )
        )
        if services is not None:
            self.status = next((c for s in services for c in s.checks if c.name == self.check), None)
        self.rows = rows if rows is not None else self.rows
        self.transitions = transitions if transitions is not None else self.transitions
        self.loaded = True
        try:
            self.render_all()
        except NoMatches:  # closed while loading
            return

    # -- rendering -----------------------------------------------------------------------------

    def render_all(self) -> None:
        self.render_head()
        rows = self.rows
        self.query_one("#plot-caption", Static).update(Text(plot_caption(rows, self.hours)))
        self.query_one("#plot", Sparkline).data = [r.latency_ms or 0.0 for r in reversed(rows)] or [0.0]
        self.render_results()
        self.render_transitions()
        self.refresh_bindings()

    def render_head(self) -> None:
        c, colours = self.status, self._colours
        head = self.query_one("#head", Static)
        if c is None:
            head.update(
                Text.assemble(
                    (self.key, "bold"),
                    "  ·  no longer defined (reloaded away?): its results remain until retention deletes them",
                )
            )
            return
        now = dt.datetime.now(dt.UTC)
        healthy = sum(1 for r in self.rows if r.status == "healthy")
        uptime = (
            f"{100 * healthy / len(self.rows):.1f}% healthy of {len(self.rows):,} results"
            if self.rows
            else "no results"
        )
        lines = [
            Text.assemble((c.key, "bold"), f"  ·  {TYPE_SHORT.get(c.type, c.type)}  ·  {c.target}"),
            Text.assemble(
                status_text(c.status, colours, bold=True),
                f" since {c.since:%Y-%m-%d %H:%M} UTC ({short_age(c.since, now)})" if c.since else " (never checked)",
                f"  ·  last {latency_text(c.latency_ms)}" + (f", HTTP {c.status_code}" if c.status_code else ""),
                f"  ·  {period_text(self.hours)}: {uptime}",
            ),
            Text(
                f"Every {c.interval:g} s; unhealthy after {c.fail_after} failed run(s) in a row, "
                f"healthy again after {c.recover_after} good one(s)",
                style="dim",
            ),
        ]
        if c.silenced_until is not None:
            lines.append(
                Text(
                    f"Silenced until {c.silenced_until:%Y-%m-%d %H:%M} UTC: no emails (results are still kept)",
                    style=colours.get("warning", ""),
                )
            )
        if c.error and c.status != "healthy":
            lines.append(Text(f"Last error: {c.error}", style=colours.get("error", "")))
        head.update(Text("\n").join(lines))

    def render_results(self) -> None:
        table = self.query_one("#results", DataTable)
        row = table.cursor_row
        table.clear()
        colours = self._colours
        # The error gets the width the other columns leave, so the table never scrolls
        # sideways for a long message (2: the vertical scrollbar).
        used = sum(w for _, w in RESULT_COLUMNS) + 2 * table.cell_padding * (len(RESULT_COLUMNS) + 1)
        room = max(12, (table.size.width or self.app.size.width - 42) - used - 2)
        for r in self.rows[:TABLE_ROWS]:
            table.add_row(
                Text(when(r.checked_at)),
                status_text(r.status, colours, bold=r.is_transition),
                status_text(r.outcome, colours),
                Text(latency_text(r.latency_ms)),
                Text(str(r.status_code or "")),
                Text(shorten((r.error or "").replace("\n", " "), room), no_wrap=True),
                key=str(r.id),
            )
        if table.row_count:
            table.move_cursor(row=min(row, table.row_count - 1), animate=False)
        shown = min(len(self.rows), TABLE_ROWS)
        more = f", newest {shown:,} shown" if len(self.rows) > shown else ""
        capped = " (the newest; more in the period)" if len(self.rows) >= HISTORY_LIMIT else ""
        self.query_one("#results-title", Static).update(
            Text(f"Results, last {period_text(self.hours)}: {len(self.rows):,}{capped}{more}")
        )

    def render_transitions(self) -> None:
        table = self.query_one("#transitions", DataTable)
        table.clear()
        colours = self._colours
        for r in self.transitions:
            change = Text.assemble(
                (r.previous_status, colours.get(STATUS_VARIABLES.get(r.previous_status, ""), "")),
                " → ",
                (r.status, colours.get(STATUS_VARIABLES.get(r.status, ""), "") + " bold"),
            )
            table.add_row(Text(when(r.checked_at)), change, key=str(r.id))
        if not self.transitions:
            table.add_row(Text("none in 7 d", style="dim"), Text(""))

    # -- actions -------------------------------------------------------------------------------

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()

    def action_period(self) -> None:
        index = PERIODS.index(self.hours) if self.hours in PERIODS else 0
        self.hours = PERIODS[(index + 1) % len(PERIODS)]
        self._wake.set()

    def action_refresh(self) -> None:
        self._wake.set()

    @work(group="health-action")
    async def action_check_now(self) -> None:
        await check_now(self, self.service, self.check)

    @work(group="health-action")
    async def action_silence(self) -> None:
        if self.status is not None and await silence(self, self.status):
            self._wake.set()

    @work(group="health-action")
    async def action_unsilence(self) -> None:
        if self.status is not None and await unsilence(self, self.status):
            self._wake.set()
