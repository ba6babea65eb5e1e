"""Health: every check of the lab with its status, since when, latency, a sparkline of its
recent latencies and its uptime; ``c`` checks one now, ``m`` silences it, ``R`` reloads the
definitions, Enter opens its history.

Built for 10,000 checks: the whole list stays in memory and only a window of it (the rows
matching the filter, at most :attr:`HealthScreen.WINDOW`) is put into the DataTable, whose
cost grows with its row count (every cell is measured). The first page of the window (what
fits on screen) goes in first and the rest after that frame, so opening the screen or
changing the filter waits on one page only. Opened when nothing was read in the process
lately, the first frame shows the first page and the counts (``core.health.first_page``,
which builds no status for the rest) and every status is read after it. A refresh that
changes no row's place updates only the cells that changed. Statuses are re-read every few
seconds (at once when this process's poller stores results); sparklines and uptime, which
scan the results table, less often.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
import weakref
from collections import Counter
from collections.abc import Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.css.query import NoMatches
from textual.widgets import DataTable, Input, Static

from labtui.core.health import (
    CheckStatus,
    ReloadReport,
    ServiceStatus,
    StatusPage,
    problems_first,
)
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
    theme_colours,
    unsilence,
)
from labtui.tui.screens.table_screen import FilteredTableScreen
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable

if TYPE_CHECKING:
    from labtui.core.runtime import Core

#: The statuses the summary always counts (degraded is a service's, not a check's).
SUMMARY_STATUSES = ("healthy", "unhealthy", "unknown")
#: How the filter's ``status:`` may also be written.
STATUS_ALIASES = {"down": "unhealthy", "up": "healthy", "ok": "healthy", "bad": "unhealthy"}
SPARK_BARS = "▁▂▃▄▅▆▇█"
SPARK_POINTS = 12

# (key, label, width or None for automatic)
COLUMNS: tuple[tuple[str, str, int | None], ...] = (
    ("service", "Service", None),
    ("check", "Check", None),
    ("type", "Type", 4),
    ("status", "Status", 9),
    ("since", "Since", 5),
    ("latency", "Latency", 8),
    ("recent", "Recent", SPARK_POINTS),
    ("up24", "24 h", 6),
    ("up7", "7 d", 6),
    ("silenced", "Silenced", 11),
)

Cell = tuple[str, str]
"""A cell as (text, theme variable of its colour or "")."""


# -- formatting (pure, cheap: called for every shown row on every refresh) ------------------


def sparkline(values: Sequence[float | None], points: int = SPARK_POINTS) -> str:
    """The last ``points`` latencies as bars scaled from 0 to their maximum (so a steady
    latency reads as a flat line, not as noise); a result without latency is ``·``."""
    values = list(values)[-points:]
    known = [v for v in values if v is not None]
    if not known:
        return "·" * len(values)
    top = max(known) or 1.0
    last = len(SPARK_BARS) - 1
    return "".join("·" if v is None else SPARK_BARS[min(last, int(v / top * last + 0.5))] for v in values)


def plural(n: int, word: str) -> str:
    return f"{n:,} {word}" + ("" if n == 1 else "s")


def uptime_cell(value: float | None) -> Cell:
    if value is None:
        return "—", "text-muted"
    text = "100%" if value >= 99.995 else f"{value:.1f}%"
    return text, "" if value >= 99 else "warning" if value >= 90 else "error"


def until_text(until: dt.datetime | None, now: dt.datetime) -> str:
    """When a silence ends, in UTC (as every time on screen); the date only when not today."""
    if until is None:
        return ""
    return until.strftime("until %H:%M" if until.date() == now.date() else "%m-%d %H:%M")


@dataclass(frozen=True)
class HealthFilter:
    """``/`` filter: free words (all must occur in service, check, type, status or target)
    plus ``status:S`` (``down``/``up`` work too), ``service:NAME``, ``type:T`` and ``is:silenced``."""

    status: str | None = None
    service: str | None = None
    type: str | None = None
    silenced: bool = False
    words: tuple[str, ...] = ()

    @classmethod
    def parse(cls, raw: str) -> HealthFilter:
        fields: dict[str, str] = {}
        words: list[str] = []
        silenced = False
        for token in raw.lower().split():
            key, sep, value = token.partition(":")
            if sep and key in ("status", "service", "type") and value:
                fields[key] = STATUS_ALIASES.get(value, value) if key == "status" else value
            elif token in ("is:silenced", "silenced:yes"):
                silenced = True
            else:
                words.append(token)
        kind = fields.get("type")
        return cls(
            fields.get("status"),
            fields.get("service"),
            "ssh_command" if kind == "ssh" else kind,
            silenced,
            tuple(words),
        )

    @property
    def empty(self) -> bool:
        return not (self.status or self.service or self.type or self.silenced or self.words)

    def keeps(self, c: CheckStatus, haystack: str) -> bool:
        if self.status and c.status != self.status:
            return False
        if self.service and c.service.lower() != self.service:
            return False
        if self.type and c.type != self.type:
            return False
        if self.silenced and c.silenced_until is None:
            return False
        return all(w in haystack for w in self.words)


def reload_summary(report: ReloadReport) -> tuple[str, str]:
    """(message, severity) of a reload for a notification."""
    lines = [
        (
            f"Reloaded: {report.count} service(s) with health checks; "
            f"{len(report.added)} added, {len(report.changed)} changed, {len(report.removed)} removed"
        )
    ]
    for label, keys in (("+", report.added), ("~", report.changed), ("-", report.removed)):
        if keys:
            shown = ", ".join(keys[:5]) + (f" and {len(keys) - 5} more" if len(keys) > 5 else "")
            lines.append(f"{label} {shown}")
    if report.problems:
        lines.append(f"{len(report.problems)} problem(s):")
        lines += [f"• {p}" for p in report.problems[:5]]
        if len(report.problems) > 5:
            lines.append(f"… and {len(report.problems) - 5} more (labtui health reload lists all)")
    return "\n".join(lines), "warning" if report.problems else "information"


def changed_pairs(before: list[CheckStatus], after: list[CheckStatus]) -> list[tuple[CheckStatus, CheckStatus]]:
    """(old, new) of the checks whose status differs between two reads. ``core.health.status``
    returns an unchanged check as the same object and the checks in definition order, so
    while the definitions stay the same this is one identity test per check."""
    if len(before) == len(after) and all(
        old is new or (old.service == new.service and old.name == new.name)
        for old, new in zip(before, after, strict=True)
    ):
        return [
            (old, new) for old, new in zip(before, after, strict=True) if old is not new and old.status != new.status
        ]
    by_key = {c.key: c for c in before}
    return [(old, c) for c in after if (old := by_key.get(c.key)) is not None and old.status != c.status]


# -- the last statuses read in this process -----------------------------------------------------


@dataclass
class Snapshot:
    """What was last read for one user: the health screen opens with it at once (then
    refreshes), so opening it does not wait on the database. The dashboard and the services
    screen read the statuses anyway, so even the first opening usually finds one."""

    services: list[ServiceStatus]
    at: float = field(default_factory=time.monotonic)
    sparks: dict[str, str] = field(default_factory=dict)
    up24: dict[str, float] = field(default_factory=dict)
    up7: dict[str, float] = field(default_factory=dict)


_SNAPSHOTS: weakref.WeakKeyDictionary[Core, dict[str, Snapshot]] = weakref.WeakKeyDictionary()
#: An older snapshot is not shown (the screen waits for the database instead).
SNAPSHOT_MAX_AGE = 120.0


def recall(screen: LabScreen) -> Snapshot | None:
    snap = _SNAPSHOTS.get(screen.core, {}).get(screen.actor.username)
    return snap if snap is not None and time.monotonic() - snap.at <= SNAPSHOT_MAX_AGE else None


async def read_statuses(screen: LabScreen) -> list[ServiceStatus] | None:
    """``core.health.status`` for the screen's actor (errors as notifications), remembered
    for the health screen's next opening."""
    services = await screen.call(lambda: screen.core.health.status(screen.actor))
    if services is not None:
        store = _SNAPSHOTS.setdefault(screen.core, {})
        old = store.get(screen.actor.username)
        store[screen.actor.username] = (
            Snapshot(services, sparks=old.sparks, up24=old.up24, up7=old.up7) if old else Snapshot(services)
        )
    return services


class HealthScreen(FilteredTableScreen):
    SCREEN_HELP = (
        "Every health check of the lab, problems first (o: by service). Status colours: "
        "healthy, unhealthy, unknown (cannot be judged, e.g. ICMP not permitted). Since: how "
        "long it has had that status. Recent: the latencies of its last results; 24 h / 7 d: "
        "share of healthy results. / filters: words, status:unhealthy, service:NAME, type:http, "
        "is:silenced. Enter opens a check's history. With health.manage: c checks the selected "
        "one now (not stored), m silences it for a while (no emails; m again lifts it), R "
        "reloads the lab's health files and says what changed. The list updates live."
    )

    DEFAULT_CSS = """
    HealthScreen #summary { height: 1; padding: 0 1; background: $boost; }
    HealthScreen #more { height: auto; padding: 0 1; color: $text-muted; display: none; }
    HealthScreen #more.-shown { display: block; }
    """

    ACTIONS = (
        ScreenAction("enter", "open", "History", "The selected check's history"),
        ScreenAction(
            "c",
            "check_now",
            "Check now",
            "Run the selected check now and show the result (not stored)",
            MANAGE,
            palette="Check the selected health check now",
        ),
        ScreenAction(
            "m",
            "silence",
            "Silence",
            "No emails for the selected check for a while (maintenance)",
            MANAGE,
            palette="Silence the selected health check",
        ),
        # Both keys: the footer shows the first (M is the one that never silences).
        ScreenAction("m,M", "unsilence", "Unsilence", "Lift the selected check's silence", MANAGE),
        ScreenAction(
            "R",
            "reload_definitions",
            "Reload",
            "Re-read the lab's health files and say what changed",
            MANAGE,
            palette="Reload health definitions",
        ),
        ScreenAction("o", "order", "Order", "Problems first, or by service"),
        ScreenAction("r", "refresh", "Refresh", "Read the statuses again now", show=False),
    )
    #: Most rows put into the table; the rest are counted under it (refine the filter).
    WINDOW: ClassVar[int] = 100
    #: Statuses are re-read this often (and soon after this process's poller stored results).
    REFRESH_SECONDS: ClassVar[float] = 3.0
    #: Never more often than this, however often the poller flushes.
    MIN_GAP_SECONDS: ClassVar[float] = 1.0
    #: Sparklines and uptime (which scan the results) this often at most, and never more
    #: than 1/20 of the time: a lab whose results take 2 s to scan gets them every 40 s.
    STATS_SECONDS: ClassVar[float] = 30.0
    #: How long the first frame waits for the first page when nothing was read before.
    FIRST_PAINT_WAIT: ClassVar[float] = 0.25
    STATS_DUTY: ClassVar[float] = 20.0

    def __init__(self, initial_filter: str = "") -> None:
        super().__init__()
        self.initial_filter = initial_filter
        self.flt = HealthFilter.parse(initial_filter)
        self.services: list[ServiceStatus] = []
        self.checks: list[CheckStatus] = []
        #: The window's checks by key (the rows the table holds, or will once filled).
        self.window: dict[str, CheckStatus] = {}
        #: Lower-case text of each check for the filter's words (built on first use).
        self.haystacks: dict[str, str] | None = None
        self._ordered: list[CheckStatus] | None = None
        self.sparks: dict[str, str] = {}
        self.up24: dict[str, float] = {}
        self.up7: dict[str, float] = {}
        self.problems_first = True
        self.loaded = False
        #: What a cold open shows before every status is read: the first page of the checks
        #: and the lab's counts (None once ``checks`` are loaded).
        self.page: StatusPage | None = None
        #: Whether this screen has read the statuses itself (a snapshot's are not compared).
        self._read = False
        #: Keys of the window, in order, and the cells last worked out for each; the first
        #: ``filled`` of them are in the table (the rest follow the first page's frame).
        self.shown: list[str] = []
        self.filled = 0
        self.matching = 0
        self._cells: dict[str, tuple[Cell, ...]] = {}
        #: Checks and services, checks by status and how many are silenced (of ``checks``:
        #: worked out once per load; or the first page's).
        self._tally: tuple[int, int, dict[str, int], int] | None = None
        self._colours: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._stats_at = float("-inf")
        #: How many times sparklines and uptime were read (tests and the benchmark wait on it).
        self.stats_loads = 0
        self._stats_took = 0.0

    def compose(self) -> ComposeResult:
        yield Static("Health", id="summary")
        yield Input(
            self.initial_filter,
            placeholder="filter: words  status:unhealthy  service:NAME  type:http  is:silenced",
            id="filter",
        )
        table: DataTable[Text] = LabTable(cursor_type="row", zebra_stripes=True)
        for key, label, width in COLUMNS:
            table.add_column(label, width=width, key=key)
        yield table
        yield Static("Reading the checks' statuses…", id="more", classes="-shown")
        yield LabFooter()

    async def on_mount(self) -> None:
        self._colours = theme_colours(self.app)
        self.app.theme_changed_signal.subscribe(self, self._theme_changed)
        if self.initial_filter:
            self.query_one("#filter", Input).add_class("-shown")
        self.table.focus()
        self.core.health.listeners.append(self._poller_stored)
        snap = recall(self)
        if snap is not None:  # show what was last read at once; the loop refreshes it
            self.sparks, self.up24, self.up7 = snap.sparks, snap.up24, snap.up7
            self.apply(snap.services, announce=False)
        elif self.flt.empty:
            # Nothing read yet: the first page and the counts before the first frame (a
            # fraction of reading every status), so that frame already shows rows; every
            # status is read after it. A slow read does not hold the screen: after
            # FIRST_PAINT_WAIT it shows "Reading…" and the rows follow.
            health, actor, rows = self.core.health, self.actor, self.page_rows()
            first = asyncio.ensure_future(self.call(lambda: health.first_page(actor, rows)))
            with suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(first), self.FIRST_PAINT_WAIT)
            page = first.result() if first.done() else None
            if page is not None:
                self.show_page(page)
        self.refresh_loop()

    def on_unmount(self) -> None:
        # The signal's callback holds the screen: without this every visit stayed in memory
        # with its 10,000 statuses (and made each later garbage collection longer).
        self.app.theme_changed_signal.unsubscribe(self)
        try:
            self.core.health.listeners.remove(self._poller_stored)
        except ValueError:
            pass

    def on_screen_resume(self) -> None:
        self._wake.set()

    def _theme_changed(self, _theme: object) -> None:
        self._colours = theme_colours(self.app)
        self._cells.clear()
        self.shown = []
        self.render_rows()

    def _poller_stored(self, states: dict[str, Any], transitions: list[Any]) -> None:
        """This process's poller stored results: refresh soon (other processes' results
        arrive with the periodic refresh)."""
        self._wake.set()

    # -- permissions and the footer -----------------------------------------------------------

    def action_state(self, action: str) -> bool | None:
        if action in ("silence", "unsilence"):
            check = self.selected()
            if check is None:
                return None if action == "silence" else False
            return (check.silenced_until is not None) == (action == "unsilence")
        return True

    # -- loading -------------------------------------------------------------------------------

    @work(exclusive=True, group="health-refresh")
    async def refresh_loop(self) -> None:
        just_read = self._read  # by on_mount, a moment ago
        while self.is_attached:
            self._wake.clear()
            if self.loaded and not self.is_current:
                # Under a check's history or a form: nothing to read until shown again
                # (``on_screen_resume`` wakes the loop).
                await self._wake.wait()
                continue
            if not just_read:
                if self.page is not None:  # its frame first: the read would slow it down
                    await self.painted()
                await self.load()
            just_read = False
            if time.monotonic() - self._stats_at >= max(self.STATS_SECONDS, self.STATS_DUTY * self._stats_took):
                # The rows first: the results scan would slow the frame that shows them.
                await self.painted()
                await self.load_stats()
            await asyncio.sleep(self.MIN_GAP_SECONDS)
            try:
                await asyncio.wait_for(self._wake.wait(), max(0.0, self.REFRESH_SECONDS - self.MIN_GAP_SECONDS))
            except TimeoutError:
                pass

    async def painted(self) -> None:
        """Until the screen has drawn what it was given so far, the rest of the window too
        (which is put in after the frame of its first page: one more frame)."""
        for _ in range(2 if self.filled < len(self.shown) else 1):
            done = asyncio.Event()
            self.call_after_refresh(done.set)
            await done.wait()

    async def load(self) -> None:
        """Statuses of every check; then, for the next refresh, the definitions again if
        another process changed them (``R`` there, or ``labtui health reload``)."""
        services = await read_statuses(self)
        if services is not None:
            self.apply(services, announce=self._read)
            self._read = True
        await self.call(self.core.health.refresh_if_changed)

    def apply(self, services: list[ServiceStatus], *, announce: bool) -> None:
        """Show ``services``; with ``announce``, notify the transitions since the last ones."""
        previous = self.checks
        self.services = services
        self.checks = [c for s in services for c in s.checks]
        self.page = None
        self._tally = None
        self.haystacks = None
        self._ordered = None
        self.loaded = True
        if announce:
            self._announce(previous)
        self.render_rows()

    def show_page(self, page: StatusPage) -> None:
        """The first page and the counts (a cold open): the rest comes with :meth:`apply`."""
        self.page = page
        self._tally = (page.checks, page.services, dict.fromkeys(SUMMARY_STATUSES, 0) | page.counts, page.silenced)
        self.render_rows()

    async def load_stats(self) -> None:
        """Sparklines and 24 h / 7 d uptime (these scan the results: not every refresh)."""
        self._stats_at = started = time.monotonic()
        health, actor = self.core.health, self.actor
        latencies = await self.call(lambda: health.recent_latencies(actor, SPARK_POINTS))
        up24 = await self.call(lambda: health.uptime(actor, 24))
        up7 = await self.call(lambda: health.uptime(actor, 24 * 7))
        if latencies is not None:
            self.sparks = {key: sparkline(values) for key, values in latencies.items()}
        self.up24 = up24 if up24 is not None else self.up24
        self.up7 = up7 if up7 is not None else self.up7
        snap = _SNAPSHOTS.get(self.core, {}).get(self.actor.username)
        if snap is not None:
            snap.sparks, snap.up24, snap.up7 = self.sparks, self.up24, self.up7
        self.stats_loads += 1
        self._stats_took = time.monotonic() - started
        self.render_rows()

    def _announce(self, previous: list[CheckStatus]) -> None:
        """Transitions seen since the last refresh (made by the poller, in any process)."""
        changed = [
            (old.status, c)
            for old, c in changed_pairs(previous, self.checks)
            if {old.status, c.status} <= {"healthy", "unhealthy"}
        ]
        if not changed:
            return
        down = sum(1 for _, c in changed if c.status == "unhealthy")
        if len(changed) <= 3:
            for old, c in changed:
                self.notify(
                    f"{c.key}: {old} → {c.status}",
                    severity="error" if c.status == "unhealthy" else "information",
                    markup=False,
                )
        else:
            self.notify(
                f"{len(changed)} checks changed: {down} down, {len(changed) - down} recovered",
                severity="error" if down else "information",
                markup=False,
            )

    # -- rendering -----------------------------------------------------------------------------

    def ordered(self) -> list[CheckStatus]:
        """The checks in the table's order (kept until the next load or ``o``)."""
        if self._ordered is None:
            self._ordered = problems_first(self.checks) if self.problems_first else self.checks
        return self._ordered

    def matching_checks(self) -> list[CheckStatus]:
        ordered, flt = self.ordered(), self.flt
        if flt.empty:
            return ordered
        if flt.words and self.haystacks is None:
            self.haystacks = {
                c.key: f"{c.service}/{c.name} {c.type} {c.status} {c.target}".lower() for c in self.checks
            }
        haystacks = self.haystacks or {}
        return [c for c in ordered if flt.keeps(c, haystacks.get(c.key, ""))]

    def cells(self, c: CheckStatus, now: dt.datetime) -> tuple[Cell, ...]:
        key = c.key
        silenced = c.silenced_until is not None and c.silenced_until > now
        return (
            (c.service, ""),
            (c.name, ""),
            (TYPE_SHORT.get(c.type, c.type), ""),
            (c.status, STATUS_VARIABLES.get(c.status, "")),
            (short_age(c.since, now), ""),
            (latency_text(c.latency_ms), ""),
            (self.sparks.get(key, ""), "text-muted" if c.status != "healthy" else ""),
            uptime_cell(self.up24.get(key)),
            uptime_cell(self.up7.get(key)),
            (until_text(c.silenced_until, now) if silenced else "", "warning"),
        )

    def _text(self, cell: Cell) -> Text:
        text, variable = cell
        return Text(text, style=self._colours.get(variable, "") if variable else "", no_wrap=True, overflow="ellipsis")

    def page_rows(self) -> int:
        """How many rows the first frame needs: as many as the terminal has lines."""
        return max(10, self.app.size.height)

    def render_rows(self) -> None:
        """Show the window of matching rows: in place when the rows are the same ones in the
        same order (only changed cells are written), else rebuilt with its first page now
        and the rest after the frame that shows it."""
        try:
            table = self.table
        except NoMatches:  # closed while loading
            return
        now = dt.datetime.now(dt.UTC)
        if self.page is not None:  # until every status is read (a filter or order waits for it)
            matching, self.matching = self.page.first, self.page.checks
        else:
            matching = self.matching_checks()
            self.matching = len(matching)
        self.window = {c.key: c for c in matching[: self.WINDOW]}
        keys = list(self.window)
        if keys[: len(self.shown)] == self.shown and self.filled >= min(len(keys), self.page_rows()):
            # The same rows in the same order, maybe more of them after (the first page's
            # rows when every status arrives): cells of the rows in the table are updated in
            # place, the rest of the window is filled after the frame.
            if len(keys) > len(self.shown):
                self.shown = keys
                self.call_after_refresh(self._fill_window)
            columns = [key for key, _, _ in COLUMNS]
            for key in keys[: self.filled]:
                new, old = self.cells(self.window[key], now), self._cells.get(key)
                if new == old:
                    continue
                for i, cell in enumerate(new):
                    if old is None or old[i] != cell:
                        table.update_cell(key, columns[i], self._text(cell))
                self._cells[key] = new
        else:
            current = self.selected_key()
            row = table.cursor_row
            # The cursor follows its check when moved there; at the top it stays at the
            # top (where the worst problems are when they come first).
            target = keys.index(current) if row and current in keys else min(row, max(len(keys) - 1, 0))
            table.clear()
            self.shown, self._cells = keys, {}
            self.filled = min(len(keys), max(self.page_rows(), target + 1))
            self._add_rows(table, keys[: self.filled], now)
            if keys:
                table.move_cursor(row=target, animate=False)
            if self.filled < len(keys):
                self.call_after_refresh(self._fill_window)
        self.render_summary()
        self.refresh_bindings()

    def _fill_window(self) -> None:
        """The window's rows below the first page (after the frame that showed it)."""
        try:
            table = self.table
        except NoMatches:
            return
        self._add_rows(table, self.shown[self.filled :], dt.datetime.now(dt.UTC))
        self.filled = len(self.shown)

    def _add_rows(self, table: LabTable, keys: list[str], now: dt.datetime) -> None:
        """Rows for ``keys`` of the window, their cells kept for in-place updates, measured
        at once (the next frame draws them)."""
        for key in keys:
            self._cells[key] = cells = self.cells(self.window[key], now)
            table.add_row(*(self._text(cell) for cell in cells), key=key)
        table.settle()

    def render_summary(self) -> None:
        if self._tally is None:  # per load, not per filter keystroke
            counts = dict.fromkeys(SUMMARY_STATUSES, 0)
            counts.update(Counter(c.status for c in self.checks))
            self._tally = (
                len(self.checks),
                len(self.services),
                counts,
                sum(1 for c in self.checks if c.silenced_until is not None),
            )
        checks, services, counts, silenced = self._tally
        summary = Text.assemble(
            ("Health", "bold"),
            f"  {plural(checks, 'check')} in {plural(services, 'service')}  ",
            *(
                part
                for s, n in counts.items()
                if n
                for part in ((f"{n:,} {s}", self._colours.get(STATUS_VARIABLES.get(s, ""), "")), "  ")
            ),
            (f"{silenced:,} silenced  " if silenced else ""),
            ("· problems first" if self.problems_first else "· by service", "dim"),
        )
        self.query_one("#summary", Static).update(summary)
        if not checks and self.loaded:
            message = (
                "No health checks defined: add services/<name>/health.yaml or health/*.yaml to the lab, then R reloads."
            )
        elif self.loaded and self.matching == 0:
            message = "No check matches the filter (Esc clears it)."
        elif self.matching > len(self.shown):
            message = f"Showing {len(self.shown):,} of {self.matching:,} matching checks — refine the filter (/) to see the others."
        else:
            message = ""
        more = self.query_one("#more", Static)
        more.update(Text(message))
        more.set_class(bool(message), "-shown")

    def selected(self) -> CheckStatus | None:
        key = self.selected_key()
        return self.window.get(key) if key else None

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self.refresh_bindings()

    # -- filter --------------------------------------------------------------------------------

    def filter_changed(self, text: str) -> None:
        self.flt = HealthFilter.parse(text)
        self.render_rows()

    # -- actions -------------------------------------------------------------------------------

    @on(DataTable.RowSelected)
    def action_open(self) -> None:
        check = self.selected()
        if check is not None:
            from labtui.tui.screens.health_history import HealthHistoryScreen

            self.app.push_screen(HealthHistoryScreen(check.service, check.name))

    def action_order(self) -> None:
        self.problems_first = not self.problems_first
        self._ordered = None
        self.render_rows()

    def action_refresh(self) -> None:
        self._stats_at = float("-inf")
        self._wake.set()

    @work(group="health-action")
    async def action_check_now(self) -> None:
        check = self.selected()
        if check is not None:
            await check_now(self, check.service, check.name)

    @work(group="health-action")
    async def action_silence(self) -> None:
        check = self.selected()
        if check is not None and await silence(self, check):
            self._wake.set()

    @work(group="health-action")
    async def action_unsilence(self) -> None:
        check = self.selected()
        if check is not None and await unsilence(self, check):
            self._wake.set()

    @work(exclusive=True, group="health-reload")
    async def action_reload_definitions(self) -> None:
        report = await self.call(lambda: self.core.health.reload(self.actor))
        if report is None:
            return
        message, severity = reload_summary(report)
        self.notify(message, severity=severity, timeout=15 if report.problems else 8, markup=False)  # type: ignore[arg-type]
        self._stats_at = float("-inf")
        self._wake.set()


# -- actions shared with the history screen ---------------------------------------------------
