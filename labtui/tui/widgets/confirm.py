"""A yes/no modal for destructive or final actions (delete, quit, revoke...).

Returns ``True`` only when the person confirms, so callers can write::

    if await self.app.push_screen_wait(ConfirmScreen("Delete 'x'?", "Delete")):
        ...

or pass a callback to ``push_screen``. ``y`` confirms; ``n`` and Esc cancel.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Static
from textual.widgets.button import ButtonVariant


class ConfirmScreen(ModalScreen[bool]):
    """Asks one question; dismisses with ``True`` (confirmed) or ``False``."""

    DEFAULT_CSS = """
    ConfirmScreen { align: center middle; }
    ConfirmScreen > Vertical {
        width: 60; max-width: 100%; height: auto; max-height: 100%;
        border: thick $warning; background: $surface; padding: 1 2;
    }
    ConfirmScreen #message { width: 1fr; height: auto; margin-bottom: 1; }
    ConfirmScreen Horizontal { height: auto; align-horizontal: right; }
    ConfirmScreen Button { margin-left: 2; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("y", "confirm", "Yes"),
        Binding("n", "cancel", "No"),
        Binding("escape", "cancel", "Cancel"),
    ]

    def __init__(
        self,
        message: str,
        confirm_label: str = "Yes",
        *,
        cancel_label: str = "Cancel",
        variant: ButtonVariant = "error",
    ) -> None:
        super().__init__()
        self.message = message
        self.confirm_label = confirm_label
        self.cancel_label = cancel_label
        self.variant: ButtonVariant = variant

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.message, id="message", markup=False)
            with Horizontal():
                yield Button(self.cancel_label, id="cancel")
                yield Button(self.confirm_label, id="confirm", variant=self.variant)

    def on_mount(self) -> None:
        self.query_one("#confirm", Button).focus()

    @on(Button.Pressed, "#confirm")
    def action_confirm(self) -> None:
        self.dismiss(True)

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(False)
