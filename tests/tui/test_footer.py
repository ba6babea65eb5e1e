"""LabFooter shows what Textual's own Footer shows, and rebuilds its keys only when that changed."""

from __future__ import annotations

from typing import Any, ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.screen import Screen
from textual.widgets import Footer, Static
from textual.widgets._footer import FooterKey

from labtui.tui.widgets.footer import LabFooter


class KeysScreen(Screen[None]):
    """A key that comes and goes, one enabled or not, and one always there."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("s", "silence", "Silence"),
        Binding("u", "unsilence", "Unsilence"),
        Binding("c", "check", "Check now"),
        Binding("r", "refresh", "Refresh"),
    ]

    def __init__(self, footer: type[Footer]) -> None:
        super().__init__()
        self.footer = footer
        self.silenced = False
        self.manager = True

    def compose(self) -> ComposeResult:
        yield Static("keys")
        yield self.footer()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("silence", "unsilence"):
            return self.silenced == (action == "unsilence")
        if action == "check":
            return True if self.manager else None  # shown disabled
        return True


class KeysApp(App[None]):
    def __init__(self, footer: type[Footer]) -> None:
        super().__init__()
        self.keys = KeysScreen(footer)

    def on_mount(self) -> None:
        self.push_screen(self.keys)


def shown(app: App[Any]) -> list[tuple[str, str, bool]]:
    return [(k.key, k.description, k.has_class("-disabled")) for k in app.screen.query(FooterKey)]


async def run_steps(footer: type[Footer]) -> tuple[list[list[tuple[str, str, bool]]], list[bool]]:
    """What the footer shows after each step, and whether the step kept its key widgets."""
    app = KeysApp(footer)
    states: list[list[tuple[str, str, bool]]] = []
    kept: list[bool] = []
    steps = [
        lambda s: None,  # nothing changed (a cursor move, a refresh of the rows)
        lambda s: setattr(s, "silenced", True),
        lambda s: None,
        lambda s: setattr(s, "manager", False),
        lambda s: setattr(s, "silenced", False),
        lambda s: None,
    ]
    async with app.run_test() as pilot:
        await pilot.pause()
        for step in steps:
            before = list(app.screen.query(FooterKey))
            step(app.keys)
            app.keys.refresh_bindings()
            await pilot.pause()
            await pilot.pause()
            states.append(shown(app))
            kept.append(list(app.screen.query(FooterKey)) == before)
    return states, kept


async def test_lab_footer_shows_what_textuals_shows_and_rebuilds_only_on_change() -> None:
    textual_states, _ = await run_steps(Footer)
    lab_states, kept = await run_steps(LabFooter)
    assert lab_states == textual_states
    assert ("s", "Silence", False) in lab_states[0] and ("u", "Unsilence", False) in lab_states[1]
    assert ("c", "Check now", True) in lab_states[3]
    assert kept == [True, False, True, False, False, True]
