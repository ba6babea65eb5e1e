"""The shared shape of the screens shown before anyone is logged in: setup, login, and the
invitation / forgot-password / reset-token forms.

A centred box of labelled inputs, one error line, and a submit button. Enter in a field
moves to the next empty one, or submits; the core call runs in a worker and a refusal
(:class:`LabtuiError`) is shown on the form, next to the inputs, never as a traceback.
Secrets typed here go only to core: they are never put in a notification or the log.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, VerticalScroll
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Static

from labtui.core.errors import LabtuiError, ValidationError
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.typeahead import TypeaheadInput

if TYPE_CHECKING:
    from labtui.tui.app import LabApp


class AuthForm(Screen[None]):
    """Subclasses set ``HEADING``/``INTRO``/``SUBMIT``, yield :meth:`fields` and implement
    :meth:`submit` (raise :class:`LabtuiError` to show a message)."""

    HEADING = "labtui"
    INTRO = ""
    SUBMIT = "Continue"

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "back", "Back")]

    def __init__(self) -> None:
        super().__init__()
        self._busy = False

    @property
    def lab(self) -> LabApp:
        return self.app  # type: ignore[return-value]

    # -- building ------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        with VerticalScroll(id="auth-box") as box:
            box.border_title = self.HEADING
            if self.INTRO:
                yield Static(self.INTRO, id="intro", markup=False)
            yield from self.fields()
            yield Static("", id="error", markup=False)
            yield Static("", id="notice", markup=False)
            with Horizontal(id="actions"):
                yield Button(self.SUBMIT, id="submit", variant="primary", compact=True)
                yield from self.links()
        yield LabFooter()

    def fields(self) -> Iterable[Widget]:
        return ()

    def links(self) -> Iterable[Widget]:
        """Extra buttons beside the submit button (e.g. the login screen's links)."""
        return ()

    @staticmethod
    def field(
        label: str, id: str, *, password: bool = False, placeholder: str = "", value: str = ""
    ) -> Iterable[Widget]:
        yield Label(label, classes="field-label")
        yield TypeaheadInput(value, id=id, password=password, placeholder=placeholder)

    def on_mount(self) -> None:
        target = self.initial_focus()
        if target is not None:
            target.focus()

    def initial_focus(self) -> Widget | None:
        """Where the cursor starts: the first input, unless a subclass knows better."""
        return next(iter(self.query(Input)), None)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "back":
            return len(self.app.screen_stack) > 2
        return True

    # -- helpers for subclasses ------------------------------------------------------------

    def value(self, id: str) -> str:
        return self.query_one(f"#{id}", Input).value

    def _say(self, id: str, message: str) -> None:
        box = self.query_one(f"#{id}", Static)
        box.update(message)
        box.set_class(bool(message), "-shown")
        if message:  # a short terminal scrolls the form: keep the message in sight
            self.call_after_refresh(box.scroll_visible)

    def show_error(self, message: str) -> None:
        self._say("notice", "")
        self._say("error", message)

    def show_notice(self, message: str) -> None:
        self._say("error", "")
        self._say("notice", message)

    def require(self, id: str, what: str) -> str:
        text = self.value(id).strip()
        if not text:
            raise ValidationError(f"{what} is empty", id)
        return text

    def check_confirm(self, password_id: str = "password", confirm_id: str = "confirm") -> str:
        password = self.value(password_id)
        if password != self.value(confirm_id):
            raise ValidationError("The two passwords differ", confirm_id)
        return password

    # -- submitting ----------------------------------------------------------------------

    @on(Input.Submitted)
    def _enter(self, event: Input.Submitted) -> None:
        inputs = list(self.query(Input))
        index = inputs.index(event.input)
        following = inputs[index + 1 :]
        if following and not following[0].value:
            following[0].focus()
        else:
            self.run_submit()

    @on(Button.Pressed, "#submit")
    def run_submit(self) -> None:
        if self._busy:
            return
        self._busy = True
        self._say("error", "")
        self.query_one("#submit", Button).disabled = True
        self._submit()

    @work(exclusive=True, group="auth-form")
    async def _submit(self) -> None:
        try:
            await self.submit()
        except LabtuiError as exc:
            self.show_error(str(exc))
            self.after_error(exc)
        finally:
            self._busy = False
            self.query("#submit").set(disabled=False)

    async def submit(self) -> None:
        raise NotImplementedError

    def after_error(self, exc: LabtuiError) -> None:
        """Put the cursor where the problem is (the field core named, if any)."""
        field = getattr(exc, "field", None)
        if field and self.query(f"#{field}"):
            self.query_one(f"#{field}", Input).focus()

    def action_back(self) -> None:
        if len(self.app.screen_stack) > 2:
            self.app.pop_screen()
