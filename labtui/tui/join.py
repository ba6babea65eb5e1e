"""The restricted ``join`` login (the SSH server runs it for the user ``join``): redeem an invitation or a reset token, nothing else.

``ssh -t -p PORT join@host`` needs no password. The app offers only the two token forms of
the login screen; a redeemed token sets the password, and the session it opened is closed
again at once: the person then connects as themselves. A few bad tokens end the session
(the server also limits join sessions per address), and every refusal is audited by core.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar, cast

from textual import on, work
from textual.app import App
from textual.widget import Widget
from textual.widgets import Button

from labtui.core.errors import AuthError, LabtuiError
from labtui.tui.screens.auth_form import AuthForm
from labtui.tui.screens.redeem import InvitationScreen, ResetScreen

if TYPE_CHECKING:
    from labtui.core.actor import Actor
    from labtui.core.runtime import Core

#: Bad tokens one join session may try before it is closed.
MAX_BAD_TOKENS = 3
CSS_FILE = Path(__file__).resolve().parent / "tcss" / "labtui.tcss"


class JoinScreen(AuthForm):
    HEADING = "labtui · join"
    INTRO = (
        "This login only sets a password from an invitation or a reset token an administrator "
        "gave you. Then connect with your own user name."
    )
    SUBMIT = "I have an invitation"

    def links(self) -> Iterable[Widget]:
        yield Button("I have a reset token", id="reset", compact=True)
        yield Button("Quit", id="quit", compact=True)

    def initial_focus(self) -> Widget | None:
        return self.query_one("#submit")

    async def submit(self) -> None:
        await self.app.push_screen(JoinInvitationScreen())

    @on(Button.Pressed, "#reset")
    def _reset(self) -> None:
        self.app.push_screen(JoinResetScreen())

    @on(Button.Pressed, "#quit")
    def _quit(self) -> None:
        self.app.exit()


class _Counted(AuthForm):
    """Before a token form in the bases: count refused tokens on the app."""

    def after_error(self, exc: LabtuiError) -> None:
        if isinstance(exc, AuthError):
            cast("JoinApp", self.app).bad_token()
        super().after_error(exc)


class JoinInvitationScreen(_Counted, InvitationScreen):
    pass


class JoinResetScreen(_Counted, ResetScreen):
    pass


class DoneScreen(AuthForm):
    HEADING = "labtui · done"
    SUBMIT = "Close"

    def __init__(self, message: str) -> None:
        self.INTRO = message
        super().__init__()

    def initial_focus(self) -> Widget | None:
        return self.query_one("#submit")

    async def submit(self) -> None:
        self.app.exit()


class JoinApp(App[None]):
    """Duck-types what the token forms use of :class:`~labtui.tui.app.LabApp`: ``core``,
    ``origin`` and ``sign_in``."""

    TITLE = "labtui"
    CSS_PATH = str(CSS_FILE)
    ENABLE_COMMAND_PALETTE = False
    BINDINGS: ClassVar = []

    def __init__(self, core: Core, *, origin: str, connect_hint: str = "") -> None:
        super().__init__()
        self.core = core
        self.origin = origin
        self.connect_hint = connect_hint
        self.bad_tokens = 0

    def on_mount(self) -> None:
        self.push_screen(JoinScreen())

    def bad_token(self) -> None:
        self.bad_tokens += 1
        if self.bad_tokens >= MAX_BAD_TOKENS:
            self.exit(message=f"Too many tokens were refused ({self.bad_tokens}): the join session ends.")

    @work(exclusive=True, group="session")
    async def sign_in(self, actor: Actor, *, welcome: str | None = None) -> None:
        """A token was redeemed: close the session it opened (join grants no TUI) and say
        how to connect."""
        try:
            await self.core.auth.logout(actor)
        except LabtuiError:
            pass  # the session expires on its own
        hint = self.connect_hint.replace("{user}", actor.username)
        message = f"{welcome or 'Done'}. Connect as yourself now" + (f": {hint}" if hint else ".")
        while len(self.screen_stack) > 1:
            await self.pop_screen()
        await self.push_screen(DoneScreen(message))
