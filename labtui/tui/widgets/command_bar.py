"""The ``:`` command bar: one line at the bottom where a screen name is typed.

It is a modal screen rather than a widget each screen composes, so every screen (also the
ones later issues add) gets it from the app's binding alone. Tab completes a name; Enter
dismisses with the typed text (the app decides what it means); Esc dismisses with None.
"""

from __future__ import annotations

import os
from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal
from textual.screen import ModalScreen
from textual.suggester import SuggestFromList
from textual.widgets import Input, Static


class CommandBar(ModalScreen[str | None]):
    """Dismisses with the text typed (stripped), or None when cancelled."""

    DEFAULT_CSS = """
    CommandBar { align: left bottom; background: transparent; }
    CommandBar > Horizontal { dock: bottom; height: 1; background: $panel; }
    CommandBar #prompt { width: 2; padding-left: 1; color: $accent; text-style: bold; background: $panel; }
    CommandBar Input { width: 1fr; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel"),
        Binding("tab", "complete", "Complete", priority=True),
    ]

    def __init__(self, names: list[str]) -> None:
        super().__init__()
        self.names = names

    def compose(self) -> ComposeResult:
        with Horizontal():
            yield Static(":", id="prompt")
            yield Input(
                placeholder="screen name (Tab completes, Enter goes, Esc cancels)",
                suggester=SuggestFromList(self.names, case_sensitive=False),
                compact=True,
                id="command",
            )

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    def completion(self, text: str) -> str:
        """The longest name prefix shared by every name starting with ``text``."""
        needle = text.strip().lower()
        matches = [n for n in self.names if n.startswith(needle)]
        if not matches:
            return text
        return os.path.commonprefix(matches) if len(matches) > 1 else matches[0]

    def action_complete(self) -> None:
        box = self.query_one(Input)
        box.value = self.completion(box.value)
        box.cursor_position = len(box.value)

    @on(Input.Submitted)
    def _submitted(self, event: Input.Submitted) -> None:
        self.dismiss(event.value.strip() or None)

    def action_cancel(self) -> None:
        self.dismiss(None)
