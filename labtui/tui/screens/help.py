"""``?``: the keys that work everywhere, the current screen's own keys and help text, and
the screens this user may open. The app gathers the lists; this modal only shows them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import Static

from labtui.tui.registry import ScreenEntry

KeyRow = tuple[str, str]


def _keys(rows: Sequence[KeyRow]) -> Content:
    width = max((len(k) for k, _ in rows), default=4) + 2
    return Content("\n").join(
        Content.from_markup("[b $accent]$key[/]$description", key=key.ljust(width), description=desc)
        for key, desc in rows
    )


class HelpScreen(ModalScreen[None]):
    """Esc, ``?`` or ``q`` closes it."""

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 84; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; border-title-color: $accent; background: $surface; padding: 0 2;
    }
    HelpScreen .heading { text-style: bold; color: $text-accent; margin-top: 1; }
    HelpScreen Static { height: auto; }
    HelpScreen #about { color: $text-muted; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("question_mark", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(
        self,
        title: str,
        help_text: str,
        global_keys: Sequence[KeyRow],
        screen_keys: Sequence[KeyRow],
        screens: Sequence[ScreenEntry],
    ) -> None:
        super().__init__()
        self.title_text = title
        self.help_text = help_text
        self.global_keys = global_keys
        self.screen_keys = screen_keys
        self.screens = screens

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = f"Help · {self.title_text}"
            if self.help_text:
                yield Static(self.help_text, id="about", markup=False)
            if self.screen_keys:
                yield Static("Keys on this screen", classes="heading")
                yield Static(_keys(self.screen_keys), id="screen-keys")
            yield Static("Keys everywhere", classes="heading")
            yield Static(_keys(self.global_keys), id="global-keys")
            if self.screens:
                yield Static("Screens you may open (type : and the name)", classes="heading")
                yield Static(
                    _keys([(f":{e.name}", f"{e.title} — {e.description}") for e in self.screens]), id="screens"
                )
            yield Static("Esc closes this help.", classes="heading")

    def action_close(self) -> None:
        self.dismiss(None)
