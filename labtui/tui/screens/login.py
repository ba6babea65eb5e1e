"""The login screen: username, then password (Tab moves, Enter submits).

A refusal is shown on the screen: core's message never says which part was wrong, and a
lockout says how long it lasts. F2/F3/F4 (or the links) lead to the invitation, forgot-
password and reset-token forms.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar

from textual import on
from textual.binding import Binding, BindingType
from textual.widget import Widget
from textual.widgets import Button, Input

from labtui.core.errors import LabtuiError
from labtui.tui.screens.auth_form import AuthForm


class LoginScreen(AuthForm):
    HEADING = "labtui · sign in"
    INTRO = "The operations console of this lab. Tab moves between fields, Enter signs in."
    SUBMIT = "Sign in"

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("f2", "invitation", "Invitation", tooltip="I have an invitation: choose my password"),
        Binding("f3", "forgot", "Forgot password", tooltip="Mail me a reset token"),
        Binding("f4", "reset", "Reset token", tooltip="I have a reset token: set a new password"),
    ]

    def __init__(self, username: str = "") -> None:
        super().__init__()
        self.username = username

    def fields(self) -> Iterable[Widget]:
        yield from self.field("Username", "username", value=self.username)
        yield from self.field("Password", "password", password=True)

    def links(self) -> Iterable[Widget]:
        yield Button("Invitation", id="invitation", compact=True, tooltip="I have an invitation (F2)")
        yield Button("Forgot password", id="forgot", compact=True, tooltip="Mail me a reset token (F3)")
        yield Button("Reset token", id="reset", compact=True, tooltip="I have a reset token (F4)")

    def initial_focus(self) -> Widget | None:
        return self.query_one("#password" if self.username else "#username", Input)

    async def submit(self) -> None:
        username = self.require("username", "The username")
        password = self.value("password")
        result = await self.lab.core.auth.login(username, password, origin=self.lab.origin)
        self.lab.sign_in(result.actor)

    def after_error(self, exc: LabtuiError) -> None:
        if getattr(exc, "field", None) == "username":
            self.query_one("#username", Input).focus()
            return
        box = self.query_one("#password", Input)
        box.value = ""
        box.focus()

    @on(Button.Pressed, "#invitation")
    def action_invitation(self) -> None:
        from labtui.tui.screens.redeem import InvitationScreen

        self.app.push_screen(InvitationScreen())

    @on(Button.Pressed, "#forgot")
    def action_forgot(self) -> None:
        from labtui.tui.screens.redeem import ForgotScreen

        self.app.push_screen(ForgotScreen(self.value("username").strip()))

    @on(Button.Pressed, "#reset")
    def action_reset(self) -> None:
        from labtui.tui.screens.redeem import ResetScreen

        self.app.push_screen(ResetScreen())
