"""The forms reached from the login screen: redeem an invitation, ask for a reset token,
redeem a reset token. Each token is single-use and expiring; core says only that a bad
token is not valid (never whether it was mistyped, used or expired)."""

from __future__ import annotations

from collections.abc import Iterable

from textual import on
from textual.widget import Widget
from textual.widgets import Button

from labtui.tui.screens.auth_form import AuthForm


class InvitationScreen(AuthForm):
    HEADING = "labtui · I have an invitation"
    INTRO = "Paste the token from your invitation and choose a password (at least 8 characters)."
    SUBMIT = "Accept invitation"

    def fields(self) -> Iterable[Widget]:
        yield from self.field("Invitation token", "token", password=True)
        yield from self.field("New password", "password", password=True)
        yield from self.field("New password again", "confirm", password=True)

    async def submit(self) -> None:
        token = self.require("token", "The token")
        password = self.check_confirm()
        result = await self.lab.core.auth.redeem_invite(token, password, origin=self.lab.origin)
        self.lab.sign_in(result.actor, welcome=f"Welcome, {result.actor.username}: your account is ready")


class ForgotScreen(AuthForm):
    HEADING = "labtui · forgot password"
    INTRO = "Type your username or email. If an account matches, a reset token is mailed to it."
    SUBMIT = "Send reset token"

    def __init__(self, who: str = "") -> None:
        super().__init__()
        self.who = who

    def fields(self) -> Iterable[Widget]:
        yield from self.field("Username or email", "who", value=self.who)

    def links(self) -> Iterable[Widget]:
        yield Button("I have a reset token", id="have-token", compact=True)

    async def submit(self) -> None:
        core = self.lab.core
        who = self.require("who", "The username or email")
        await core.users.forgot_password(who, origin=self.lab.origin)
        minutes = core.config.auth.reset_minutes
        if core.mailer.delivers:
            # The same words whether or not the account exists: asking reveals nothing.
            self.show_notice(
                f"If an account matches, a reset token is on its way. It works once within "
                f'{minutes} minutes: choose "I have a reset token" to use it.'
            )
        else:
            self.show_notice(
                'This lab sends no email: ask an administrator for a reset token, then choose "I have a reset token".'
            )

    @on(Button.Pressed, "#have-token")
    def _have_token(self) -> None:
        self.app.switch_screen(ResetScreen())


class ResetScreen(AuthForm):
    HEADING = "labtui · I have a reset token"
    INTRO = "Paste the reset token and choose a new password. Your other sessions are signed out."
    SUBMIT = "Set password"

    def fields(self) -> Iterable[Widget]:
        yield from self.field("Reset token", "token", password=True)
        yield from self.field("New password", "password", password=True)
        yield from self.field("New password again", "confirm", password=True)

    async def submit(self) -> None:
        token = self.require("token", "The token")
        password = self.check_confirm()
        result = await self.lab.core.auth.redeem_reset(token, password, origin=self.lab.origin)
        self.lab.sign_in(result.actor, welcome="Your password is changed")
