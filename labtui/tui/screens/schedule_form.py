"""The schedule form: validates the cron expression as you type and previews the next five
fire times in the chosen zone, so a mistake shows before it is saved.

The job type picks the fields shown: a service and script (``service_script``), an inventory
type, one of its actions and optionally an object id (``inventory_action``), or a system task
from the registry (``system_task``)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static, Switch

from labtui.core import cron
from labtui.core.errors import LabtuiError, ValidationError
from labtui.core.schedules import JOB_TYPES, ScheduleInfo, ScheduleSpec

JOB_TYPE_LABELS = {
    "service_script": "Service script",
    "inventory_action": "Inventory action",
    "system_task": "System task",
}
#: Which form rows each job type shows (by CSS class of the label and the field).
FIELDS_OF = {
    "service_script": ("-script", "-inputs"),
    "inventory_action": ("-action", "-inputs"),
    "system_task": ("-task",),
}
#: Core's field names -> the widget showing them.
FIELD_WIDGETS = {
    "cron": "#cron",
    "tz": "#tz",
    "name": "#name",
    "service": "#service",
    "inputs": "#inputs",
    "job_type": "#job_type",
    "type_slug": "#type_slug",
    "action": "#action",
    "object_id": "#object_id",
    "system_task": "#system_task",
}


def parse_object_id(text: str) -> int | None:
    """The object id field: blank is the whole type; otherwise a positive whole number."""
    text = text.strip().lstrip("#")
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise ValidationError("Object is an inventory object id (a number), or blank for the whole type", "object_id")
    return int(text)


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
    ScheduleForm Select { height: auto; }
    ScheduleForm .-hidden { display: none; }
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
        *,
        actions: Mapping[str, Sequence[tuple[str, str]]] | None = None,
        tasks: Sequence[str] = (),
    ) -> None:
        """``actions``: inventory type slug -> its (action name, label) that can run as jobs;
        ``tasks``: the system task names."""
        super().__init__()
        self.save = save
        self.existing = existing
        self.services = services or []
        self.actions = dict(actions or {})
        self.tasks = list(tasks)

    def _action_options(self, slug: str | None) -> list[tuple[str, str]]:
        return [(f"{label} ({name})", name) for name, label in self.actions.get(slug or "", ())]

    def compose(self) -> ComposeResult:
        e = self.existing
        job_type = e.job_type if e else "service_script"
        slug = e.type_slug if e and e.type_slug in self.actions else None
        action_options = self._action_options(slug)
        action = e.action if e and e.action in {v for _, v in action_options} else Select.NULL
        task_options = [
            (name, name) for name in sorted({*self.tasks, *([e.system_task] if e and e.system_task else [])})
        ]
        with VerticalScroll():
            yield Static(f"[b]{'Edit' if e else 'New'} schedule[/b]")
            with Grid():
                yield Label("Name", classes="field")
                yield Input(e.name if e else "", id="name", placeholder="nightly-deploy")
                yield Label("Job type", classes="field")
                yield Select(
                    [(JOB_TYPE_LABELS[j], j) for j in JOB_TYPES], value=job_type, allow_blank=False, id="job_type"
                )
                yield Label("Service", classes="field -script")
                yield Input(
                    e.service or "" if e else "",
                    id="service",
                    classes="-script",
                    placeholder=", ".join(self.services[:4]) or "service name",
                )
                yield Label("Script", classes="field -script")
                yield Input(e.script or "deploy" if e else "deploy", id="script", classes="-script")
                yield Label("Type", classes="field -action")
                yield Select(
                    [(s, s) for s in sorted(self.actions)],
                    value=slug or Select.NULL,
                    prompt="inventory type",
                    id="type_slug",
                    classes="-action",
                )
                yield Label("Action", classes="field -action")
                yield Select(action_options, value=action, prompt="action", id="action", classes="-action")
                yield Label("Object id", classes="field -action")
                yield Input(
                    str(e.object_id) if e and e.object_id is not None else "",
                    id="object_id",
                    classes="-action",
                    placeholder="object id (blank: the whole type)",
                )
                yield Label("Task", classes="field -task")
                yield Select(
                    task_options,
                    value=e.system_task if e and e.system_task else Select.NULL,
                    prompt="system task",
                    id="system_task",
                    classes="-task",
                )
                yield Label("Cron", classes="field")
                yield Input(e.cron if e else "0 3 * * *", id="cron", placeholder="minute hour day month weekday")
                yield Label("Time zone", classes="field")
                yield Input(e.tz if e else "UTC", id="tz", placeholder="UTC or e.g. Europe/Berlin")
                yield Label("Inputs", classes="field -inputs")
                yield Input(
                    ", ".join(f"{k}={v}" for k, v in (e.inputs if e else {}).items()),
                    id="inputs",
                    classes="-inputs",
                    placeholder="NAME=value, OTHER=value",
                )
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
        self._show_fields()
        self._preview()
        self.query_one("#name", Input).focus()

    @property
    def job_type(self) -> str:
        value = self.query_one("#job_type", Select).value
        return value if isinstance(value, str) else "service_script"

    @on(Select.Changed, "#job_type")
    def _show_fields(self) -> None:
        shown = FIELDS_OF.get(self.job_type, ())
        for cls in ("-script", "-action", "-task", "-inputs"):
            for widget in self.query(f".{cls}"):
                widget.set_class(cls not in shown, "-hidden")

    @on(Select.Changed, "#type_slug")
    def _type_chosen(self, event: Select.Changed) -> None:
        """The action list follows the chosen type."""
        slug = event.value if isinstance(event.value, str) else None
        action = self.query_one("#action", Select)
        keep = action.value
        options = self._action_options(slug)
        action.set_options(options)
        if keep in {v for _, v in options}:
            action.value = keep

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

    def _choice(self, selector: str) -> str | None:
        value = self.query_one(selector, Select).value
        return value if isinstance(value, str) else None

    def spec(self) -> ScheduleSpec:
        """The form's content; raises :class:`ValidationError` for what the form can tell."""
        job_type = self.job_type
        return ScheduleSpec(
            name=self._value("#name"),
            cron=self._value("#cron"),
            job_type=job_type,
            service=self._value("#service") or None,
            script=self._value("#script") or "deploy",
            type_slug=self._choice("#type_slug"),
            action=self._choice("#action"),
            object_id=parse_object_id(self._value("#object_id")) if job_type == "inventory_action" else None,
            system_task=self._choice("#system_task"),
            tz=self._value("#tz") or "UTC",
            inputs=parse_inputs(self._value("#inputs")) if job_type != "system_task" else {},
            enabled=self.query_one("#enabled", Switch).value,
            skip_if_running=self.query_one("#skip", Switch).value,
            description=self.existing.description if self.existing else "",
        )

    def show_error(self, error: LabtuiError) -> None:
        self.query_one("#error", Static).update(str(error))
        field = getattr(error, "field", None)
        target = FIELD_WIDGETS.get(field or "")
        if target:
            widget = self.query_one(target)
            if widget.display and not widget.has_class("-hidden"):
                widget.focus()

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
