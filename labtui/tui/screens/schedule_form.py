"""The schedule form: validates the cron expression as you type and previews the next five
fire times in the chosen zone, so a mistake shows before it is saved."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static, Switch

from labtui.core import cron
from labtui.core.errors import LabtuiError, ValidationError
from labtui.core.schedules import ScheduleInfo, ScheduleSpec


def parse_inputs(text: str) -> dict[str, str]:
    """``K=V, K2=V2`` into a dict; a part without ``=`` is a :class:`ValidationError`."""
    out: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or not key.strip():
            raise ValidationError(f"Inputs are NAME=value pairs separated by commas, not '{part}'", "inputs")
        out[key.strip()] = value.strip()
    return out


class ScheduleForm(ModalScreen[ScheduleInfo | None]):
    """Saves through ``save`` (core) and returns the saved schedule, or None when cancelled.

    Core's refusals (a duplicate name, a bad zone) stay on the form beside the field.
    """

    DEFAULT_CSS = """
    ScheduleForm { align: center middle; }
    ScheduleForm > VerticalScroll {
        width: 90; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    ScheduleForm Grid { grid-size: 2; grid-columns: 16 1fr; grid-rows: auto; height: auto; grid-gutter: 1 1; padding-top: 1; }
    ScheduleForm Input, ScheduleForm Switch { border: none; height: 1; padding: 0 1; background: $boost; }
    ScheduleForm Input:focus, ScheduleForm Switch:focus { background: $accent 30%; }
    ScheduleForm #preview { height: auto; min-height: 6; padding: 0 1; color: $text-muted; }
    ScheduleForm #preview.-error { color: $error; }
    ScheduleForm #error { color: $error; height: auto; }
    ScheduleForm Horizontal { height: auto; align-horizontal: right; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def __init__(
        self,
        save: Callable[[ScheduleSpec], Awaitable[ScheduleInfo]],
        existing: ScheduleInfo | None = None,
        services: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.save = save
        self.existing = existing
        self.services = services or []

    def compose(self) -> ComposeResult:
        e = self.existing
        with VerticalScroll():
            yield Static(f"[b]{'Edit' if e else 'New'} schedule[/b]")
            with Grid():
                yield Label("Name", classes="field")
                yield Input(e.name if e else "", id="name", placeholder="nightly-deploy")
                yield Label("Service", classes="field")
                yield Input(e.service or "" if e else "", id="service", placeholder=", ".join(self.services[:4]) or "service name")
                yield Label("Script", classes="field")
                yield Input(e.script or "deploy" if e else "deploy", id="script")
                yield Label("Cron", classes="field")
                yield Input(e.cron if e else "0 3 * * *", id="cron", placeholder="minute hour day month weekday")
                yield Label("Time zone", classes="field")
                yield Input(e.tz if e else "UTC", id="tz", placeholder="UTC or e.g. Europe/Berlin")
                yield Label("Inputs", classes="field")
                yield Input(", ".join(f"{k}={v}" for k, v in (e.inputs if e else {}).items()), id="inputs", placeholder="NAME=value, OTHER=value")
                yield Label("Enabled", classes="field")
                yield Switch(e.enabled if e else True, id="enabled")
                yield Label("Skip if running", classes="field")
                yield Switch(e.skip_if_running if e else True, id="skip")
            yield Static("", id="preview")
            yield Static("", id="error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save", variant="primary")

    def on_mount(self) -> None:
        self._preview()
        self.query_one("#name", Input).focus()

    @on(Input.Changed, "#cron, #tz")
    def _preview(self) -> None:
        preview = self.query_one("#preview", Static)
        expr = self.query_one("#cron", Input).value
        tz = self.query_one("#tz", Input).value.strip() or "UTC"
        try:
            times = cron.preview(expr, tz, 5)
        except ValidationError as exc:
            preview.update(str(exc))
            preview.add_class("-error")
            return
        preview.remove_class("-error")
        preview.update("Next runs:\n" + "\n".join(t.strftime("  %a %Y-%m-%d %H:%M %Z") for t in times))

    def _value(self, selector: str) -> str:
        return self.query_one(selector, Input).value.strip()

    def spec(self) -> ScheduleSpec:
        """The form's content; raises :class:`ValidationError` for what the form can tell."""
        return ScheduleSpec(
            name=self._value("#name"),
            cron=self._value("#cron"),
            service=self._value("#service") or None,
            script=self._value("#script") or "deploy",
            tz=self._value("#tz") or "UTC",
            inputs=parse_inputs(self._value("#inputs")),
            enabled=self.query_one("#enabled", Switch).value,
            skip_if_running=self.query_one("#skip", Switch).value,
            description=self.existing.description if self.existing else "",
        )

    def show_error(self, error: LabtuiError) -> None:
        self.query_one("#error", Static).update(str(error))
        field = getattr(error, "field", None)
        target = {"cron": "#cron", "tz": "#tz", "name": "#name", "service": "#service", "inputs": "#inputs"}.get(field or "")
        if target:
            self.query_one(target, Input).focus()

    @on(Button.Pressed, "#save")
    async def action_save(self) -> None:
        try:
            saved = await self.save(self.spec())
        except LabtuiError as exc:
            self.show_error(exc)
            return
        self.dismiss(saved)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
