"""DNS: the records of the lab's Cloudflare zone; new, edit, delete — and the record form the
instances screen opens to point a name at an instance.

Every call goes through core (``core.dns``), which checks ``system.settings.view`` / ``.edit``
and audits; Cloudflare's refusals ("Record already exists. (81057)") come back as
notifications or beside the form field, never as a traceback.
"""

from __future__ import annotations

from contextlib import suppress
from typing import TYPE_CHECKING

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.css.query import NoMatches
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Label,
    Select,
    Static,
    Switch,
)

from labtui.core.dns import (
    EDIT_PERMISSION,
    PROXIABLE_TYPES,
    RECORD_TYPES,
    DnsRecord,
    DnsRecordSpec,
    parse_ttl,
)
from labtui.core.errors import LabtuiError, ValidationError
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.table_screen import FilteredTableScreen
from labtui.tui.screens.user_forms import FormModal
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable

if TYPE_CHECKING:
    from labtui.tui.app import LabApp

FIELDS = ("type", "name", "content", "ttl", "proxied")
CONTENT_HINTS = {
    "A": "an IPv4 address, e.g. 192.0.2.10",
    "AAAA": "an IPv6 address, e.g. 2001:db8::10",
    "CNAME": "the host name it aliases, e.g. app.example.org",
    "TXT": "the text (up to 2048 characters)",
}


class DnsRecordForm(FormModal):
    """New or edit one record; returns the saved :class:`DnsRecord`, or None when cancelled.

    It saves through core itself, so any screen can push it: the instances screen opens it
    prefilled (``DnsRecordForm(name="web", content=ip)``) to point a name at an instance. In
    that "point" mode an existing A/AAAA record of the name is updated instead of a second one
    being added; ``point`` defaults to on exactly when a new record is opened prefilled.
    """

    DEFAULT_CSS = """
    DnsRecordForm > VerticalScroll { width: 80; }
    DnsRecordForm .field { padding-top: 1; text-style: bold; }
    DnsRecordForm .field-error { color: $text-error; height: auto; display: none; }
    DnsRecordForm .field-error.-shown { display: block; }
    DnsRecordForm Input, DnsRecordForm Select { background: $boost; }
    DnsRecordForm Switch { width: auto; height: 1; border: none; padding: 0 1; }
    """

    def __init__(
        self,
        record: DnsRecord | None = None,
        *,
        name: str = "",
        type: str = "A",
        content: str = "",
        point: bool | None = None,
    ) -> None:
        super().__init__()
        self.record = record
        self.initial_name = record.name if record else name
        self.initial_type = (
            record.type
            if record and record.type in RECORD_TYPES
            else (type.upper() if type.upper() in RECORD_TYPES else "A")
        )
        self.initial_content = record.content if record else content
        self.initial_ttl = record.ttl_text if record else "auto"
        self.initial_proxied = record.proxied if record else False
        #: Create-or-update the name's A/AAAA record rather than add one more.
        self.point = (record is None and bool(name or content)) if point is None else (point and record is None)

    @property
    def lab(self) -> LabApp:
        return self.app  # type: ignore[return-value]

    def compose(self) -> ComposeResult:
        zone = self.lab.core.dns.zone_name
        if self.record:
            title = f"Edit {self.record.type} {self.record.name}"
        elif self.point:
            title = "Point a name at an address"
        else:
            title = "New DNS record"
        with VerticalScroll() as box:
            box.border_title = title
            yield Static("ctrl+s saves, Esc cancels.", classes="hint")
            yield Label("Type", classes="field")
            yield Select(
                [(t, t) for t in RECORD_TYPES], value=self.initial_type, allow_blank=False, id="type", compact=True
            )
            yield Static("", id="error-type", classes="field-error")
            yield Label("Name", classes="field")
            yield Input(self.initial_name, id="name", compact=True, placeholder="www, or @ for the zone itself")
            zone_hint = f"in zone {zone}: www means www.{zone}" if zone else "relative names get the zone appended"
            yield Static(zone_hint, classes="hint", markup=False)
            yield Static("", id="error-name", classes="field-error")
            yield Label("Content", classes="field")
            yield Input(self.initial_content, id="content", compact=True, placeholder=CONTENT_HINTS[self.initial_type])
            yield Static(CONTENT_HINTS[self.initial_type], id="content-hint", classes="hint", markup=False)
            yield Static("", id="error-content", classes="field-error")
            yield Label("TTL", classes="field")
            yield Input(self.initial_ttl, id="ttl", compact=True, placeholder="auto, or 60-86400 seconds")
            yield Static("", id="error-ttl", classes="field-error")
            yield Label("Proxied (A, AAAA, CNAME)", classes="field")
            yield Switch(self.initial_proxied, id="proxied")
            yield Static("", id="error-proxied", classes="field-error")
            if self.point:
                yield Static("An existing record of this name and type is updated, not duplicated.", classes="hint")
            yield Static("", id="error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#name" if not self.initial_name else "#content", Input).focus()

    @on(Select.Changed, "#type")
    def _type_changed(self, event: Select.Changed) -> None:
        kind = str(event.value)
        hint = CONTENT_HINTS.get(kind, "")
        self.query_one("#content-hint", Static).update(hint)
        self.query_one("#content", Input).placeholder = hint
        proxied = self.query_one("#proxied", Switch)
        proxied.disabled = kind not in PROXIABLE_TYPES
        if proxied.disabled:
            proxied.value = False

    def spec(self) -> DnsRecordSpec:
        """What the form holds; core validates it again (and says which field is wrong)."""
        kind = self.query_one("#type", Select).value
        return DnsRecordSpec(
            type=str(kind) if kind is not Select.NULL else "",
            name=self.query_one("#name", Input).value,
            content=self.query_one("#content", Input).value,
            ttl=parse_ttl(self.query_one("#ttl", Input).value),
            proxied=self.query_one("#proxied", Switch).value,
        )

    # -- saving ------------------------------------------------------------------------------

    @on(Input.Submitted)
    async def _submitted(self) -> None:
        await self.action_save()

    async def action_save(self) -> None:
        self._clear_errors()
        try:
            spec = self.spec()
        except ValidationError as exc:
            self.show_error(exc)
            return
        self._save(spec)

    @work(exclusive=True, group="dns-form-save")
    async def _save(self, spec: DnsRecordSpec) -> None:
        core, actor = self.lab.core, self.lab.actor
        assert actor is not None
        try:
            if self.record is not None:
                saved = await core.dns.update(actor, self.record.id, spec)
            elif self.point and spec.type.upper() in ("A", "AAAA"):
                saved = await core.dns.point(actor, spec.name, spec.content, ttl=spec.ttl, proxied=spec.proxied)
            else:
                saved = await core.dns.create(actor, spec)
        except LabtuiError as exc:
            self.show_error(exc)
            if not isinstance(exc, ValidationError):
                self.notify(str(exc), severity="error", timeout=8, markup=False)
            return
        self.dismiss(saved)

    def _clear_errors(self) -> None:
        for line in self.query(".field-error"):
            line.remove_class("-shown")
        self.query_one("#error", Static).update("")

    def show_error(self, error: LabtuiError) -> None:
        """Under the field core named, or on the form's error line."""
        field = getattr(error, "field", None)
        if field in FIELDS:
            with suppress(NoMatches):
                line = self.query_one(f"#error-{field}", Static)
                line.update(Content(str(error)))
                line.add_class("-shown")
                self.query_one(f"#{field}").focus()
                return
        self.query_one("#error", Static).update(Content(str(error)))


class DnsScreen(FilteredTableScreen):
    SCREEN_HELP = (
        "The DNS records of the lab's Cloudflare zone (config: cloudflare.*). `n` adds a record, "
        "`e` or Enter edits one, `D` deletes after asking, `r` reloads from Cloudflare, `/` filters "
        "by type, name or content. Changes need system.settings.edit and are audited."
    )

    ACTIONS = (
        ScreenAction("n", "new", "New", "Add an A, AAAA, CNAME or TXT record", palette="DNS: new record"),
        ScreenAction("e", "edit", "Edit", "Edit the selected record"),
        ScreenAction("D", "delete", "Delete", "Delete the selected record (asks first)"),
        ScreenAction("r", "reload", "Reload", "Read the zone's records again", palette="DNS: reload"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.records: list[DnsRecord] = []
        self.text_filter = ""

    def compose(self) -> ComposeResult:
        yield Static("DNS", id="title")
        yield Input(placeholder="filter: type, name, content", id="filter")
        table: DataTable[str] = LabTable(cursor_type="row", zebra_stripes=True)
        table.add_columns("Type", "Name", "Content", "TTL", "Proxied")
        yield table
        yield LabFooter()

    def on_mount(self) -> None:
        self.table.focus()
        self.load()

    @work(exclusive=True, group="dns-load")
    async def load(self) -> None:
        title = self.query_one("#title", Static)
        title.update(Content(f"DNS · {self.core.dns.zone_name or 'Cloudflare'} · loading…"))
        try:
            records = await self.core.dns.list(self.actor)
        except LabtuiError as exc:
            title.update(Content(f"DNS · {exc}"))
            self.notify(str(exc), severity="error", timeout=8, markup=False)
            return
        self.records = records
        plural = "" if len(records) == 1 else "s"
        title.update(Content(f"DNS · zone {self.core.dns.zone_name} · {len(records)} record{plural}"))
        self.render_rows()

    def render_rows(self) -> None:
        table = self.table
        selected = table.cursor_row
        table.clear()
        needle = self.text_filter.lower()
        for r in self.records:
            if needle and needle not in f"{r.type} {r.name} {r.content}".lower():
                continue
            table.add_row(r.type, r.name, r.content, r.ttl_text, "yes" if r.proxied else "no", key=r.id)
        if table.row_count:
            table.move_cursor(row=min(selected, table.row_count - 1))

    def filter_changed(self, text: str) -> None:
        self.text_filter = text
        self.render_rows()

    def selected(self) -> DnsRecord | None:
        key = self.selected_key()
        return next((r for r in self.records if r.id == key), None)

    # -- actions -----------------------------------------------------------------------------

    def _may_edit(self) -> bool:
        if self.can(EDIT_PERMISSION):
            return True
        self.notify(f"Changing DNS needs '{EDIT_PERMISSION}'", severity="warning")
        return False

    def _open_form(self, form: DnsRecordForm) -> None:
        def done(saved: object) -> None:
            if isinstance(saved, DnsRecord):
                self.notify(f"Saved {saved.type} {saved.name} → {saved.content}", markup=False)
                self.load()

        self.app.push_screen(form, done)

    def action_reload(self) -> None:
        self.load()

    def action_new(self) -> None:
        if self._may_edit():
            self._open_form(DnsRecordForm())

    def action_edit(self) -> None:
        record = self.selected()
        if record is not None and self._may_edit():
            self._open_form(DnsRecordForm(record))

    @on(DataTable.RowSelected)
    def _row_chosen(self) -> None:
        self.action_edit()

    @work(group="dns-change")
    async def action_delete(self) -> None:
        record = self.selected()
        if record is None or not self._may_edit():
            return
        from labtui.tui.widgets.confirm import ConfirmScreen

        question = f"Delete the {record.type} record {record.name} → {record.content}?"
        if not await self.app.push_screen_wait(ConfirmScreen(question, "Delete")):
            return
        done = await self.call(lambda: self.core.dns.delete(self.actor, record.id))
        if done is not None:
            self.notify(f"Deleted {done.type} {done.name}", markup=False)
            self.load()
