"""Running a type's actions from the inventory: a picker of what the user may run on this
object (or on the type), a confirmation when the action asks for one or is destructive, then
the job's live log. The builtin ``ssh`` action (and ``s``) opens the terminal pane instead.
A ``dynamic_scripts`` action first asks which of the service's scripts, and its inputs.

Core decides which actions are offered (``core.inventory_actions.actions_for``) and checks
``inventory.<type>.<action>`` again when one runs; this module only shows and asks.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar, Literal

from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import OptionList, Static
from textual.widgets.option_list import Option

from labtui.core.inventory.actions import ActionInfo
from labtui.core.inventory.objects import ObjectInfo
from labtui.core.jobs.queue import JobInfo
from labtui.tui.screens.inventory_view import host_of
from labtui.tui.widgets.confirm import ConfirmScreen

if TYPE_CHECKING:
    from labtui.tui.screens.base import LabScreen


class PickerScreen(ModalScreen[Any]):
    """A short list to choose from; Enter returns the highlighted value, Esc None."""

    DEFAULT_CSS = """
    PickerScreen { align: center middle; }
    PickerScreen > Vertical {
        width: 70; max-width: 100%; height: auto; max-height: 80%;
        border: thick $accent; border-title-color: $text-accent; border-title-style: bold;
        background: $surface; padding: 0 1;
    }
    PickerScreen OptionList { height: auto; max-height: 16; }
    PickerScreen .hint { color: $text-muted; }
    """

    BINDINGS: ClassVar[list[Any]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(
        self, title: str, choices: list[tuple[Text | str, Any]], hint: str = "Enter chooses, Esc cancels"
    ) -> None:
        super().__init__()
        self.title_text = title
        self.choices = choices
        self.hint = hint

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.title_text
            yield OptionList(*(Option(label, id=str(i)) for i, (label, _) in enumerate(self.choices)), id="choices")
            yield Static(self.hint, classes="hint", markup=False)

    def on_mount(self) -> None:
        self.query_one(OptionList).focus()

    @on(OptionList.OptionSelected)
    def _chosen(self, event: OptionList.OptionSelected) -> None:
        self.dismiss(self.choices[int(event.option.id or 0)][1])

    def action_cancel(self) -> None:
        self.dismiss(None)


def action_line(a: ActionInfo) -> Text:
    line = Text.assemble((a.label or a.name, "bold"), f"  {a.name} · {a.type}")
    if a.scope == "type":
        line.append(" · whole type")
    if a.destructive:
        line.append(" · destructive", style="bold")
    elif a.confirm:
        line.append(" · asks first")
    return line


async def run_action(screen: LabScreen, type_slug: str, obj: ObjectInfo | None) -> None:
    """Pick an action of ``type_slug`` (on ``obj``, or type-wide), confirm if it asks, run it
    and open its log. Call from a worker: it waits on the picker and the confirmation."""
    service = screen.core.inventory_actions
    object_id = obj.id if obj is not None else None
    actions = await screen.call(lambda: service.actions_for(screen.actor, type_slug, object_id))
    if actions is None:
        return
    if obj is not None and host_of(obj) is None:
        actions = [a for a in actions if not a.is_ssh]
    where = f"{obj.type_label} {obj.title}" if obj is not None else f"every {type_slug}"
    if not actions:
        screen.notify(f"No action you may run on {where}", severity="warning", markup=False)
        return
    action = await screen.app.push_screen_wait(PickerScreen(f"Run on {where}", [(action_line(a), a) for a in actions]))
    if not isinstance(action, ActionInfo):
        return
    if action.is_ssh:
        if obj is not None:
            await open_ssh(screen, obj)
        return
    if action.needs_confirm:
        target = f" on {obj.title}" if obj is not None else f" on {where}"
        question = (
            f"{action.confirm}\n\n{action.label}{target}"
            if action.confirm
            else f"Run {action.label}{target}? It is marked destructive."
        )
        variant: Literal["error", "primary"] = "error" if action.destructive else "primary"
        if not await screen.app.push_screen_wait(ConfirmScreen(question, action.label, variant=variant)):
            return
    if action.type == "dynamic_scripts" and obj is not None:
        job = await _run_dynamic(screen, type_slug, action, obj)
    else:
        job = await screen.call(lambda: service.run(screen.actor, type_slug, action.name, object_id=object_id))
    if job is not None:
        from labtui.tui.screens.job_log import JobLogScreen

        screen.app.push_screen(JobLogScreen(job.id))


async def _run_dynamic(screen: LabScreen, type_slug: str, action: ActionInfo, obj: ObjectInfo) -> JobInfo | None:
    """CloudLab's ``run_script``: one of the service's scripts, with the inputs it declares."""
    from labtui.tui.screens.run_form import RunScriptForm

    name = obj.data.get("name")
    info = await screen.call(lambda: screen.core.services.get(screen.actor, str(name or "")))
    if info is None or not info.scripts:
        return None
    scripts = info.scripts
    default = next((s for s in scripts if s.name == (action.script_name or "deploy")), scripts[0])
    script = default
    if len(scripts) > 1:
        ordered = [default, *(s for s in scripts if s is not default)]
        choice = await screen.app.push_screen_wait(
            PickerScreen(
                f"{action.label}: which script of {info.name}?",
                [(Text.assemble((s.label or s.name, "bold"), f"  {s.name} · {s.file}"), s) for s in ordered],
            )
        )
        if choice is None:
            return None
        script = choice

    async def run(inputs: dict[str, Any]) -> JobInfo:
        return await screen.core.inventory_actions.run(
            screen.actor, type_slug, action.name, object_id=obj.id, inputs=inputs, script=script.name
        )

    if not script.inputs:
        return await screen.call(lambda: run({}))
    deployments = screen.core.services.active_deployments()
    job = await screen.app.push_screen_wait(RunScriptForm(info.name, script, run, deployments))
    return job if isinstance(job, JobInfo) else None


async def open_ssh(screen: LabScreen, obj: ObjectInfo) -> None:
    """A terminal to the object's host, resolved as CloudLab did (the services' inventories
    give address, user and key); core checks the SSH permission and audits the connect."""
    host = host_of(obj)
    if host is None:
        screen.notify(f"{obj.title} names no host to connect to", severity="warning", markup=False)
        return
    from labtui.tui.screens.terminal import open_terminal

    await open_terminal(screen.app, host)
