"""Instances: the cached Vultr instances with their cost; refresh, halt, start, reboot,
destroy (the label typed to confirm), a costs breakdown, and the server object on Enter."""

from __future__ import annotations

import datetime as dt
import functools
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, DataTable, Input, Static

from labtui.core.db.base import utcnow
from labtui.core.instances import CostGroup, CostReport, InstanceInfo, InstanceList
from labtui.core.inventory.vultr_sync import SOURCE as VULTR_SOURCE
from labtui.core.permissions_catalog import Perm
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.table_screen import FilteredTableScreen
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable

#: How often the cache age in the title is brought up to date.
AGE_TICK_SECONDS = 30.0


def age_text(when: dt.datetime | None, now: dt.datetime | None = None) -> str:
    if when is None:
        return "never refreshed"
    seconds = max(0, int(((now or utcnow()) - when).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"refreshed {seconds // size}{unit} ago"
    return f"refreshed {seconds}s ago"


def money(value: float | None) -> str:
    return "?" if value is None else f"${value:,.2f}"


def _group_lines(title: str, groups: list[CostGroup]) -> list[str]:
    width = max([len(title), *(len(g.name) for g in groups)])
    lines = [f"{title.ljust(width)}  {'#':>4}  {'monthly':>11}"]
    lines += [f"{g.name.ljust(width)}  {g.count:>4}  {money(g.monthly_cost):>11}" for g in groups]
    return lines


def costs_text(report: CostReport) -> str:
    """The costs panel: the total, then by tag and by region side by side."""
    head = f"Monthly cost {money(report.total)} for {len(report.instances)} instances"
    head += f" ({report.plans} plans, {age_text(report.plans_time)})" if report.plans else " (no plan costs cached yet)"
    left, right = _group_lines("By tag", report.by_tag), _group_lines("By region", report.by_region)
    width = max(len(line) for line in left)
    rows = [
        f"{(left[i] if i < len(left) else '').ljust(width)}    {right[i] if i < len(right) else ''}".rstrip()
        for i in range(max(len(left), len(right)))
    ]
    return "\n".join([head, "", *rows])


class TypeLabelScreen(ModalScreen[bool]):
    """A typed confirmation: destroying asks for the instance's label, stopping every
    instance for ``stop all``; dismisses True only on a match. ``button`` names the act and
    ``purpose`` ends the refusal ("Type exactly 'x' <purpose>")."""

    DEFAULT_CSS = """
    TypeLabelScreen { align: center middle; }
    TypeLabelScreen > Vertical {
        width: 70; max-width: 100%; height: auto; border: thick $error; background: $surface; padding: 1 2;
    }
    TypeLabelScreen #message, TypeLabelScreen #error { width: 1fr; height: auto; }
    TypeLabelScreen #error { color: $error; }
    TypeLabelScreen Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    TypeLabelScreen Button { margin-left: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, message: str, label: str, *, button: str = "Destroy", purpose: str = "to destroy it") -> None:
        super().__init__()
        self.message = message
        self.label = label
        self.button = button
        self.purpose = purpose

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.message, id="message", markup=False)
            yield Input(placeholder=f"type {self.label} to confirm", id="typed")
            yield Static("", id="error", markup=False)
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button(self.button, id="confirm", variant="error", disabled=True)

    def on_mount(self) -> None:
        self.query_one("#typed", Input).focus()

    @on(Input.Changed, "#typed")
    def _typed(self, event: Input.Changed) -> None:
        self.query_one("#confirm", Button).disabled = event.value.strip() != self.label
        self.query_one("#error", Static).update("")

    @on(Input.Submitted, "#typed")
    @on(Button.Pressed, "#confirm")
    def action_confirm(self) -> None:
        if self.query_one("#typed", Input).value.strip() != self.label:
            self.query_one("#error", Static).update(f"Type exactly '{self.label}' {self.purpose}")
            return
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)


class InstancesScreen(FilteredTableScreen):
    SCREEN_HELP = (
        "The Vultr instances as last cached (the lab's inventory/vultr.yml holds the same). "
        "r asks Vultr now; a failed refresh keeps the cached list and says why. h halts and b "
        "reboots (both ask first), o powers on, D destroys after you type the instance's "
        "label. c shows the monthly costs by tag and by region. Enter opens the instance's "
        "server object in the inventory."
    )

    DEFAULT_CSS = """
    InstancesScreen #costs { display: none; height: auto; max-height: 50%; padding: 1 2; border-top: solid $accent; }
    InstancesScreen #costs.-shown { display: block; }
    """

    # No permission here: every key is offered and says what it needs (core refuses anyway).
    ACTIONS = (
        ScreenAction("r", "refresh", "Refresh", "Ask Vultr for the current instances", palette="Refresh instances"),
        ScreenAction("h", "halt", "Halt", "Halt the selected instance (asks first)"),
        ScreenAction("o", "start", "Power on", "Power the selected instance on"),
        ScreenAction("b", "reboot", "Reboot", "Reboot the selected instance (asks first)"),
        ScreenAction("D", "destroy", "Destroy", "Destroy the selected instance (type its label to confirm)"),
        ScreenAction("c", "costs", "Costs", "Monthly cost by tag and by region", palette="Instance costs"),
        ScreenAction("p", "point_dns", "Point DNS name", "Point a DNS name of the zone at the selected instance"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.listing: InstanceList | None = None
        self.text_filter = ""
        self.refreshing = False

    def compose(self) -> ComposeResult:
        yield Static("Instances", id="title")
        yield Input(placeholder="filter: label, hostname, region, plan, IP, power, tag", id="filter")
        table: DataTable[str] = LabTable(cursor_type="row", zebra_stripes=True)
        table.add_columns("Label", "Hostname", "Region", "Plan", "IP", "Power", "Tags", "Monthly")
        yield table
        yield Static("", id="costs", markup=False)
        yield LabFooter()

    def on_mount(self) -> None:
        self.table.focus()
        self.load()
        self.set_interval(AGE_TICK_SECONDS, self.render_title)

    # -- data ----------------------------------------------------------------------------

    @work(exclusive=True, group="instances-load")
    async def load(self) -> None:
        listing = await self.call(lambda: self.core.instances.list(self.actor))
        if listing is not None:
            self.listing = listing
            self.render_rows()
            self.render_title()
            if self.query_one("#costs").has_class("-shown"):
                self.load_costs()

    def render_title(self) -> None:
        title = "Instances"
        if self.listing is not None:
            title += f" · {len(self.listing.instances)} cached · {age_text(self.listing.cache_time)}"
        if self.refreshing:
            title += " · refreshing from Vultr…"
        elif not self.core.instances.configured:
            title += " · Vultr not configured (vultr.api_key)"
        self.query_one("#title", Static).update(title)

    def render_rows(self) -> None:
        table = self.table
        selected = table.cursor_row
        table.clear()
        needle = self.text_filter.lower()
        for i in self.listing.instances if self.listing else []:
            tags = " ".join(i.tags)
            if (
                needle
                and needle not in f"{i.label} {i.hostname} {i.region} {i.plan} {i.ip} {i.power_status} {tags}".lower()
            ):
                continue
            table.add_row(
                i.label, i.hostname, i.region, i.plan, i.ip, i.power_status, tags, money(i.monthly_cost), key=i.hostname
            )
        if table.row_count:
            table.move_cursor(row=min(selected, table.row_count - 1))

    def filter_changed(self, text: str) -> None:
        self.text_filter = text
        self.render_rows()

    def selected(self) -> InstanceInfo | None:
        key = self.selected_key()
        if key is None or self.listing is None:
            return None
        return next((i for i in self.listing.instances if i.hostname == key), None)

    # -- actions -------------------------------------------------------------------------

    @work(group="instances-refresh")
    async def action_refresh(self) -> None:
        if not self.can(Perm.INSTANCES_REFRESH):
            self.notify("You may not refresh instances: it needs 'instances.refresh'", severity="warning")
            return
        if self.refreshing:  # a second r waits for the first rather than cancelling it
            self.notify("Already refreshing from Vultr", timeout=3)
            return
        self.refreshing = True
        self.render_title()
        try:
            result = await self.call(lambda: self.core.instances.refresh(self.actor))
        finally:
            self.refreshing = False
            self.render_title()
        if result is not None:
            self.notify(result.summary(), markup=False)
            for warning in result.warnings:
                self.notify(warning, severity="warning", timeout=10, markup=False)
            self.load()

    def _may_act(self) -> InstanceInfo | None:
        row = self.selected()
        if row is None:
            return None
        if not self.can(Perm.INSTANCES_STOP):
            self.notify("You may not change instances: it needs 'instances.stop'", severity="warning")
            return None
        return row

    async def _power(self, row: InstanceInfo, verb: str, done: str) -> None:
        method = getattr(self.core.instances, verb)
        warnings = await self.call(lambda: method(self.actor, row.hostname))
        if warnings is not None:
            self.notify(f"{row.label or row.hostname}: {done}", markup=False)
            for warning in warnings:
                self.notify(warning, severity="warning", timeout=10, markup=False)
        self.load()

    @work(group="instances-change")
    async def action_halt(self) -> None:
        from labtui.tui.widgets.confirm import ConfirmScreen

        row = self._may_act()
        if row is None:
            return
        question = f"Halt {row.label or row.hostname} ({row.hostname}, {row.region})? It powers off at Vultr."
        if await self.app.push_screen_wait(ConfirmScreen(question, "Halt")):
            await self._power(row, "halt", "halted")

    @work(group="instances-change")
    async def action_reboot(self) -> None:
        from labtui.tui.widgets.confirm import ConfirmScreen

        row = self._may_act()
        if row is None:
            return
        question = f"Reboot {row.label or row.hostname} ({row.hostname}, {row.region})?"
        if await self.app.push_screen_wait(ConfirmScreen(question, "Reboot")):
            await self._power(row, "reboot", "rebooting")

    @work(group="instances-change")
    async def action_start(self) -> None:
        row = self._may_act()
        if row is not None:
            await self._power(row, "start", "powering on")

    @work(group="instances-change")
    async def action_destroy(self) -> None:
        row = self._may_act()
        if row is None:
            return
        label = row.label or row.hostname
        message = (
            f"Destroy {label} ({row.hostname}, {row.region}, {row.ip})? Vultr deletes the "
            f"machine and its disk; this cannot be undone. Type its label to confirm."
        )
        if not await self.app.push_screen_wait(TypeLabelScreen(message, label)):
            return
        warnings = await self.call(lambda: self.core.instances.destroy(self.actor, row.hostname, label))
        if warnings is not None:
            self.notify(f"Destroyed {label}", markup=False)
            for warning in warnings:
                self.notify(warning, severity="warning", timeout=10, markup=False)
        self.load()

    def action_point_dns(self) -> None:
        """Point a DNS name at the selected instance (creates or moves the name's A record)."""
        from labtui.tui.screens.dns import DnsRecordForm

        instance = self.selected()
        if instance is None or not instance.ip:
            self.notify("Choose an instance with an IP address first", severity="warning")
            return
        if not self.can(Perm.SYSTEM_SETTINGS_EDIT):
            self.notify("You may not change DNS: it needs 'system.settings.edit'", severity="warning")
            return
        if not self.core.dns.configured:
            self.notify("DNS is not configured (cloudflare.api_token is empty in the config)", severity="warning")
            return

        def done(record: object) -> None:
            if record is not None:
                self.notify(f"{instance.hostname}: DNS now points at {instance.ip}")

        self.app.push_screen(DnsRecordForm(name=instance.hostname, content=instance.ip), done)

    def action_costs(self) -> None:
        panel = self.query_one("#costs", Static)
        if panel.has_class("-shown"):
            panel.remove_class("-shown")
            return
        if not self.can(Perm.COSTS_VIEW):
            self.notify("You may not see costs: it needs 'costs.view'", severity="warning")
            return
        panel.add_class("-shown")
        panel.update("Loading costs…")
        self.load_costs()

    @work(exclusive=True, group="instances-costs")
    async def load_costs(self) -> None:
        report = await self.call(lambda: self.core.instances.costs(self.actor))
        if report is not None:
            self.query_one("#costs", Static).update(costs_text(report))

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        event.stop()
        self.open_object()

    @work(exclusive=True, group="instances-open")
    async def open_object(self) -> None:
        """Enter: the server object the sync made of this instance (if the user may see it)."""
        row = self.selected()
        if row is None:
            return
        try:
            from labtui.tui.screens.inventory_detail import ObjectDetailScreen
        except ImportError:
            self.notify("The inventory screen is not available in this build", severity="warning")
            return
        slugs = [t.slug for t in self.core.inventory_types.values() if t.sync == VULTR_SOURCE]
        for slug in slugs:
            page = await self.call(
                functools.partial(self.core.inventory.list, self.actor, type=slug, search=f'"{row.hostname}"', limit=50)
            )
            match = next((o for o in page.items if o.data.get("hostname") == row.hostname), None) if page else None
            if match is not None:
                self.app.push_screen(ObjectDetailScreen(match.id))
                return
        self.notify(f"No inventory object for {row.hostname} that you may see", severity="warning", markup=False)
