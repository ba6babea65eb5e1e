"""First run: no account exists yet, so the first person creates the administrator.

Core refuses (``first_run_only``) if someone else finished setup meanwhile — e.g. with
``labtui users create-admin`` from another terminal — and the message says to log in.
"""

from __future__ import annotations

from collections.abc import Iterable

from textual.widget import Widget

from labtui.core.errors import Conflict, LabtuiError
from labtui.tui.screens.auth_form import AuthForm


class SetupScreen(AuthForm):
    HEADING = "labtui · first run"
    INTRO = "No account exists yet: create the first administrator. It holds every permission and invites the others."
    SUBMIT = "Create administrator"

    def fields(self) -> Iterable[Widget]:
        yield from self.field("Username", "username", placeholder="3-30 letters, digits or _", value="admin")
        yield from self.field("Password (at least 8 characters)", "password", password=True)
        yield from self.field("Password again", "confirm", password=True)

    def initial_focus(self) -> Widget | None:
        return self.query_one("#password")

    async def submit(self) -> None:
        core, origin = self.lab.core, self.lab.origin
        username = self.require("username", "The username")
        password = self.check_confirm()
        await core.auth.create_admin(username, password, origin=origin, first_run_only=True)
        result = await core.auth.login(username, password, origin=origin)
        self.lab.sign_in(result.actor, welcome=f"Welcome, {username}: you are the first administrator")

    def after_error(self, exc: LabtuiError) -> None:
        if isinstance(exc, Conflict) and "Setup is done" in str(exc):
            from labtui.tui.screens.login import LoginScreen

            self.app.notify(str(exc), severity="warning", markup=False)
            self.app.switch_screen(LoginScreen(self.value("username").strip()))
            return
        super().after_error(exc)
