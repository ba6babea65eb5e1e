"""A service's runtime outputs (``outputs/service_outputs.yaml``): URLs, credentials and
other values. Credentials stay masked until ``v`` reveals the selected one (core audits
each reveal); ``v`` again hides it, and leaving the screen forgets it. ``c`` copies the
selected value to the clipboard (a credential is revealed, and audited, to copy it).
"""

from __future__ import annotations

from textual import work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import DataTable, Static

from labtui.core.outputs import REVEAL_PERMISSION, OutputItem
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.base import LabScreen
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable


class OutputsScreen(LabScreen):
    SCREEN_HELP = (
        "What the service's last deploy left in outputs/service_outputs.yaml. Credentials are "
        "masked: v reveals the selected one (recorded in the audit log), v again hides it. "
        "c copies the selected value. r reloads."
    )

    DEFAULT_CSS = """
    OutputsScreen #head { padding: 0 1; background: $boost; }
    OutputsScreen #empty { padding: 1 2; color: $text-muted; display: none; }
    OutputsScreen #empty.-shown { display: block; }
    """

    ACTIONS = (
        ScreenAction("v", "reveal", "Reveal/hide", "Reveal the selected credential (audited), or hide it again"),
        ScreenAction("c", "copy", "Copy", "Copy the selected value"),
        ScreenAction("r", "reload", "Reload", "Read the outputs again"),
    )
    #: Navigation, not an action.
    BINDINGS = [Binding("escape", "close", "Back", show=False)]

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self.items: list[OutputItem] = []
        #: Revealed credential values by output name (this screen only).
        self.revealed: dict[str, str] = {}

    def compose(self) -> ComposeResult:
        yield Static(f"Outputs of {self.service}", id="head", markup=False)
        table: DataTable[str] = LabTable(cursor_type="row", zebra_stripes=True, id="outputs")
        table.add_columns("Output", "Type", "Value", "Username")
        yield table
        yield Static("No outputs yet: a deploy writes outputs/service_outputs.yaml.", id="empty")
        yield LabFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.load()

    def on_screen_suspend(self) -> None:
        self.revealed.clear()
        self.render_rows()

    def action_state(self, action: str) -> bool | None:
        if action == "reveal" and not self.can(REVEAL_PERMISSION):
            return None  # shown disabled, not hidden
        return True

    @work(exclusive=True, group="outputs-load")
    async def load(self) -> None:
        items = await self.call(lambda: self.core.outputs.list(self.actor, self.service))
        if items is None:
            return
        self.items = items
        self.revealed = {k: v for k, v in self.revealed.items() if any(i.name == k for i in items)}
        self.render_rows()

    def shown(self, item: OutputItem) -> str:
        if item.is_credential and item.name in self.revealed:
            return self.revealed[item.name]
        return item.shown

    def render_rows(self) -> None:
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for item in self.items:
            kind = item.type if not item.is_credential else f"credential ({item.credential_type})"
            table.add_row(item.label, kind, self.shown(item), item.username or "", key=item.name)
        table.move_cursor(row=min(row, max(table.row_count - 1, 0)))
        self.query_one("#empty", Static).set_class(not self.items, "-shown")

    def selected(self) -> OutputItem | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        name = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((i for i in self.items if i.name == name), None)

    @work(group="outputs-action")
    async def action_reveal(self) -> None:
        item = self.selected()
        if item is None:
            return
        if not item.is_credential:
            self.notify("Only credentials are masked", timeout=3)
            return
        if item.name in self.revealed:
            del self.revealed[item.name]
        else:
            full = await self.call(lambda: self.core.outputs.reveal(self.actor, self.service, item.name))
            if full is None or full.value is None:
                return
            self.revealed[item.name] = full.value
        self.render_rows()

    @work(group="outputs-action")
    async def action_copy(self) -> None:
        item = self.selected()
        if item is None:
            return
        value = item.value
        if item.is_credential:
            value = self.revealed.get(item.name)
            if value is None:
                full = await self.call(lambda: self.core.outputs.reveal(self.actor, self.service, item.name))
                value = full.value if full is not None else None
        if value is None:
            return
        self.app.copy_to_clipboard(value)
        self.notify(f"Copied {item.label}", markup=False, timeout=3)

    def action_reload(self) -> None:
        self.load()

    def action_close(self) -> None:
        self.app.pop_screen()
