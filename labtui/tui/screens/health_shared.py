"""What the health screen and a check's history share: status colours and text, the
formatting of latencies and ages, and the actions both offer (check now, silence, lift a
silence, with the silence form). Its own module so neither screen imports the other's."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any, ClassVar

from rich.text import Text
from textual import on
from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.color import Color
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import (
    Button,
    Input,
    Label,
    RadioButton,
    RadioSet,
    Static,
)

from labtui.core.health import (
    CheckStatus,
)
from labtui.core.permissions_catalog import Perm
from labtui.tui.screens.base import LabScreen

if TYPE_CHECKING:
    pass


#: Status word -> the theme variable of its colour.
STATUS_VARIABLES = {"healthy": "success", "unhealthy": "error", "degraded": "warning", "unknown": "text-muted"}


TYPE_SHORT = {"ssh_command": "ssh"}


MANAGE = Perm.HEALTH_MANAGE


def short_age(at: dt.datetime | None, now: dt.datetime) -> str:
    if at is None:
        return "—"
    seconds = max(0, int((now - at).total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def latency_text(ms: float | None) -> str:
    if ms is None:
        return "—"
    if ms < 100:
        return f"{ms:.1f} ms"
    if ms < 10_000:
        return f"{ms:.0f} ms"
    return f"{ms / 1000:.1f} s"


def theme_colours(app: App[Any]) -> dict[str, str]:
    """Theme variables resolved to solid ``#rrggbb`` colours for Rich text in table cells
    (DataTable cells do not resolve ``$variables``). ``auto N%`` values (``text-muted``)
    become the contrast text of the surface at that opacity, blended onto it."""
    variables = app.theme_variables
    try:
        surface = Color.parse(variables.get("surface") or variables.get("background") or "#1e1e1e")
    except Exception:  # an odd theme: fall back to a dark surface
        surface = Color(30, 30, 30)
    out: dict[str, str] = {}
    for name in {*STATUS_VARIABLES.values(), "warning", "error", "success", "text-muted"}:
        raw = (variables.get(name) or "").strip()
        try:
            if raw.startswith("auto"):
                alpha = float(raw.split()[1].rstrip("%")) / 100 if " " in raw else 1.0
                colour = surface.get_contrast_text(alpha)
            else:
                colour = Color.parse(raw)
            out[name] = (surface + colour).hex
        except Exception:  # unknown value: plain text
            out[name] = ""
    return out


def status_text(status: str, colours: dict[str, str], *, bold: bool = False) -> Text:
    colour = colours.get(STATUS_VARIABLES.get(status, ""), "")
    return Text(status, style=f"{colour} bold".strip() if bold else colour, no_wrap=True)


def result_summary(
    key: str, status: str, latency_ms: float | None, status_code: int | None, error: str | None, target: str
) -> str:
    details = [
        x
        for x in (
            target,
            latency_text(latency_ms) if latency_ms is not None else "",
            f"HTTP {status_code}" if status_code else "",
        )
        if x
    ]
    line = f"{key}: {status}" + (f" ({', '.join(details)})" if details else "")
    if error:
        line += f"\n{error}"
    return line + "\n(checked now; not stored, the poller's history is unchanged)"


async def check_now(screen: LabScreen, service: str, name: str) -> None:
    """Run one check now and show its result in a notification (``c``)."""
    key = f"{service}/{name}"
    screen.notify(f"Checking {key}…", timeout=2, markup=False)
    result = await screen.call(lambda: screen.core.health.check_now(screen.actor, service, name))
    if result is None:
        return
    severity = "information" if result.status == "healthy" else "error" if result.status == "unhealthy" else "warning"
    message = result_summary(key, result.status, result.latency_ms, result.status_code, result.error, result.target)
    screen.notify(message, title="Check now", severity=severity, timeout=10, markup=False)  # type: ignore[arg-type]


async def silence(screen: LabScreen, check: CheckStatus) -> bool:
    """Ask for how long and why, then silence the check (``m``). True when done."""
    from labtui.core.db.base import utcnow

    if check.silenced_until is not None:
        return await unsilence(screen, check)
    choice = await screen.app.push_screen_wait(SilenceForm(check.key))
    if not choice:
        return False
    period, reason = choice
    info = await screen.call(
        lambda: screen.core.health.silence(screen.actor, check.service, check.name, utcnow() + period, reason)
    )
    if info is None:
        return False
    screen.notify(
        f"{check.key} silenced until {info.until:%Y-%m-%d %H:%M} UTC: no emails until then (results are still kept)",
        markup=False,
    )
    return True


async def unsilence(screen: LabScreen, check: CheckStatus) -> bool:
    """Lift a silence (``m`` on a silenced check, or ``M``), after asking. True when done."""
    from labtui.tui.widgets.confirm import ConfirmScreen

    if check.silenced_until is None:
        return False
    question = ConfirmScreen(
        f"Lift the silence of {check.key} (until {check.silenced_until:%Y-%m-%d %H:%M} UTC)? Emails resume at once.",
        "Lift",
        variant="primary",
    )
    if not await screen.app.push_screen_wait(question):
        return False

    async def lift() -> bool:
        await screen.core.health.unsilence(screen.actor, check.service, check.name)
        return True

    if not await screen.call(lift):
        return False
    screen.notify(f"{check.key}: silence lifted, emails resume", markup=False)
    return True


#: The silence form's choices.
SILENCE_CHOICES: tuple[tuple[str, dt.timedelta], ...] = (
    ("30 minutes", dt.timedelta(minutes=30)),
    ("1 hour", dt.timedelta(hours=1)),
    ("4 hours", dt.timedelta(hours=4)),
    ("24 hours", dt.timedelta(hours=24)),
)


class SilenceForm(ModalScreen[tuple[dt.timedelta, str] | None]):
    """How long to silence a check (30 min to 24 h) and why (audited). Returns
    ``(period, reason)``, or None when cancelled. 1-4 pick a period, Enter silences."""

    DEFAULT_CSS = """
    SilenceForm { align: center middle; }
    SilenceForm > Vertical {
        width: 64; max-width: 100%; height: auto; max-height: 100%;
        border: thick $warning; background: $surface; padding: 1 2;
    }
    SilenceForm #intro { height: auto; margin-bottom: 1; }
    SilenceForm RadioSet { width: 100%; margin-bottom: 1; }
    SilenceForm Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    SilenceForm Button { margin-left: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("ctrl+s", "submit", "Silence"),
        *(Binding(str(i + 1), f"choose({i})", label, show=False) for i, (label, _) in enumerate(SILENCE_CHOICES)),
    ]

    DEFAULT_CHOICE = 1

    def __init__(self, key: str) -> None:
        super().__init__()
        self.key = key

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(
                f"Silence {self.key}: no emails about it until the time is up (results are still kept).",
                id="intro",
                markup=False,
            )
            with RadioSet(id="period"):
                for i, (label, _) in enumerate(SILENCE_CHOICES):
                    yield RadioButton(label, value=i == self.DEFAULT_CHOICE, id=f"p{i}")
            yield Label("Reason (optional, in the audit log); Enter silences, 1-4 pick the time")
            yield Input(placeholder="e.g. maintenance window", id="reason", max_length=255)
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Silence", id="silence", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#period", RadioSet).focus()

    def choice(self) -> int:
        radio = self.query_one("#period", RadioSet)
        return radio.pressed_index if radio.pressed_index >= 0 else self.DEFAULT_CHOICE

    def action_choose(self, index: int) -> None:
        self.query_one(f"#p{index}", RadioButton).value = True

    @on(Input.Submitted, "#reason")
    @on(Button.Pressed, "#silence")
    def action_submit(self) -> None:
        period = SILENCE_CHOICES[self.choice()][1]
        self.dismiss((period, self.query_one("#reason", Input).value.strip()))

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)
