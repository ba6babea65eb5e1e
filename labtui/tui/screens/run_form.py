"""The form to run a service script, generated from its ``scripts.yaml`` inputs.

Types as CloudLab's UI: ``select`` (options), ``list`` (comma-separated here),
``ssh_key_select`` (user names, comma-separated), ``deployment_id``/``deployment_select``
(the active deployments), anything else a text field. Core validates again before queueing;
its message lands beside the input it names.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from labtui.core.errors import LabtuiError
from labtui.core.jobs.queue import JobInfo
from labtui.core.services import InputDef, ScriptDef

LIST_LIKE = ("list", "ssh_key_select")
DEPLOYMENT_TYPES = ("deployment_id", "deployment_select")


def _wid(name: str) -> str:
    """A widget id for an input name (ids allow letters, digits, '-' and '_')."""
    return "".join(c if c.isalnum() or c in "-_" else "_" for c in name)


class RunScriptForm(ModalScreen[JobInfo | None]):
    """Returns the queued job, or None when cancelled."""

    DEFAULT_CSS = """
    RunScriptForm { align: center middle; }
    RunScriptForm > VerticalScroll {
        width: 80; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; background: $surface; padding: 0 1;
    }
    RunScriptForm Label { padding-top: 1; }
    RunScriptForm Input { border: none; height: 1; padding: 0 1; background: $boost; }
    RunScriptForm Input:focus { background: $accent 30%; }
    RunScriptForm .error { color: $error; height: auto; }
    RunScriptForm Horizontal { height: auto; align-horizontal: right; padding-top: 1; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "run", "Run")]

    def __init__(
        self,
        service: str,
        script: ScriptDef,
        run: Callable[[dict[str, Any]], Awaitable[JobInfo]],
        deployments: list[str] | None = None,
    ) -> None:
        super().__init__()
        self.service = service
        self.script = script
        self.run = run
        self.deployments = deployments or []

    def compose(self) -> ComposeResult:
        with VerticalScroll():
            yield Static(f"[b]Run {self.script.label}[/b] on {self.service}  ({self.script.file})")
            if not self.script.inputs:
                yield Static("This script takes no inputs.")
            for spec in self.script.inputs:
                mark = " *" if spec.required else ""
                hint = " (comma-separated)" if spec.type in LIST_LIKE else ""
                yield Label(f"{spec.label or spec.name}{mark}{hint}")
                yield self._field(spec)
                yield Static("", id=f"err-{_wid(spec.name)}", classes="error")
            yield Static("", id="error", classes="error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Run", id="run", variant="primary")

    def _field(self, spec: InputDef) -> Input | Select[str]:
        wid = f"in-{_wid(spec.name)}"
        options = (
            list(spec.options) if spec.type == "select" else self.deployments if spec.type in DEPLOYMENT_TYPES else None
        )
        if options is not None:
            # Select.NULL is "nothing chosen" (Select.BLANK is only the allow_blank flag's
            # default, False, and crashes the widget when passed as a value).
            default = spec.default if spec.default in options else Select.NULL
            return Select([(o, o) for o in options], value=default, id=wid, allow_blank=True)
        default = spec.default
        if isinstance(default, list):
            default = ", ".join(map(str, default))
        return Input("" if default is None else str(default), id=wid)

    def on_mount(self) -> None:
        fields = self.query("Input, Select")
        (fields.first() if fields else self.query_one("#run", Button)).focus()

    def values(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for spec in self.script.inputs:
            widget = self.query_one(f"#in-{_wid(spec.name)}")
            if isinstance(widget, Select):
                value = widget.value
                if value is not Select.NULL and value is not None:
                    out[spec.name] = value
                continue
            assert isinstance(widget, Input)
            text = widget.value.strip()
            if spec.type in LIST_LIKE:
                items = [part.strip() for part in text.split(",") if part.strip()]
                if items:
                    out[spec.name] = items
            elif text:
                out[spec.name] = text
        return out

    @on(Button.Pressed, "#run")
    async def action_run(self) -> None:
        for box in self.query(".error"):
            box.update("")  # type: ignore[attr-defined]
        try:
            job = await self.run(self.values())
        except LabtuiError as exc:
            field = getattr(exc, "field", None)
            boxes = self.query(f"#err-{_wid(field)}") if field else None
            box = boxes.first(Static) if boxes else self.query_one("#error", Static)
            box.update(str(exc))
            return
        self.dismiss(job)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
