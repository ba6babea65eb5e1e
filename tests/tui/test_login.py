"""The screens before sign-in: first-run setup, login with lockout, invitation, reset."""

from __future__ import annotations

from textual.widgets import Input

from labtui.core.runtime import Core
from labtui.tui.app import LabApp
from labtui.tui.screens.dashboard import DashboardScreen
from labtui.tui.screens.login import LoginScreen
from labtui.tui.screens.redeem import ForgotScreen, InvitationScreen
from labtui.tui.screens.setup import SetupScreen
from tests.conftest import ADMIN_PASSWORD, MakeCore
from tests.tui.conftest import (
    SIZE,
    fill,
    screen_text,
    sign_in,
    text_of,
    wait_for,
)


async def test_setup_creates_first_admin_and_lands_on_dashboard(make_core: MakeCore) -> None:
    core = await make_core()
    app = LabApp(core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, SetupScreen))
        assert app.screen.query_one("#username", Input).value == "admin"
        assert app.focused is app.screen.query_one("#password", Input)
        await fill(pilot, "pw-Root-999", "pw-Root-99X")
        await wait_for(pilot, lambda: "differ" in text_of(app.screen.query_one("#error")))
        assert await core.auth.setup_needed()
        app.screen.query_one("#confirm", Input).value = "pw-Root-999"
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, DashboardScreen) and "roles: super-admin" in screen_text(app)
        )
        assert app.actor is not None and app.actor.username == "admin"
        assert app.can("users.view") and "*" in app.permissions
    assert not await core.auth.setup_needed()
    assert (await core.auth.login("admin", "pw-Root-999")).actor.username == "admin"


async def test_right_password_shows_dashboard_with_username(admin_core: Core) -> None:
    app = LabApp(admin_core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
        assert app.focused is app.screen.query_one("#username", Input)
        await pilot.press(*"admin", "tab", *ADMIN_PASSWORD, "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen) and "roles:" in screen_text(app))
        whoami = text_of(app.screen.query_one("#whoami"))
        assert whoami.startswith("admin") and "super-admin" in whoami
        assert "Users 1" in screen_text(app)


async def test_wrong_password_shows_error_and_clears_password(admin_core: Core) -> None:
    app = LabApp(admin_core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await sign_in(pilot, "admin", "not-the-password")
        await wait_for(pilot, lambda: "Invalid username or password" in text_of(app.screen.query_one("#error")))
        assert isinstance(app.screen, LoginScreen)
        assert app.screen.query_one("#password", Input).value == ""
        assert app.focused is app.screen.query_one("#password", Input)
        assert "not-the-password" not in screen_text(app)


async def test_five_wrong_passwords_lock_with_clear_message(admin_core: Core) -> None:
    app = LabApp(admin_core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await sign_in(pilot, "admin", "wrong-1")

        def error() -> str:
            return text_of(app.screen.query_one("#error"))

        await wait_for(pilot, lambda: "Invalid" in error())
        for n in range(2, 6):
            await fill(pilot, f"wrong-{n}")
            await wait_for(pilot, lambda: app.screen.query_one("#password", Input).value == "" and not app.screen._busy)
        await wait_for(pilot, lambda: "locked" in error())
        assert "Too many failed logins: locked, try again in 5 minutes" in error()
        # Even the right password is refused while locked, with the same clear message.
        await fill(pilot, ADMIN_PASSWORD)
        await wait_for(pilot, lambda: app.screen.query_one("#password", Input).value == "" and not app.screen._busy)
        assert "locked" in error()
        assert isinstance(app.screen, LoginScreen)


async def test_invitation_redeemed_once_from_login_screen(admin_core: Core, admin_actor) -> None:  # type: ignore[no-untyped-def]
    admin = await admin_actor()
    delivery = await admin_core.users.invite(admin, "carol", "carol@example.org", roles=["viewer"])
    token = delivery.token
    assert token
    app = LabApp(admin_core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, InvitationScreen))
        await fill(pilot, token, "carol-pass-1", "carol-pass-1")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen) and "roles: viewer" in screen_text(app))
        assert app.actor is not None and app.actor.username == "carol"
        assert token not in screen_text(app)
        # Log out, then try the same token again: refused on the form.
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
        await pilot.click("#invitation")
        await wait_for(pilot, lambda: isinstance(app.screen, InvitationScreen))
        await fill(pilot, token, "other-pass-2", "other-pass-2")
        await wait_for(pilot, lambda: "not valid" in text_of(app.screen.query_one("#error")))
        assert isinstance(app.screen, InvitationScreen)
        assert token not in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
    assert (await admin_core.auth.login("carol", "carol-pass-1")).actor.username == "carol"


async def test_forgot_password_answers_the_same_for_unknown_accounts(admin_core: Core) -> None:
    app = LabApp(admin_core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
        answers = []
        for who in ("admin", "nobody-here"):
            await pilot.press("f3")
            await wait_for(pilot, lambda: isinstance(app.screen, ForgotScreen))
            app.screen.query_one("#who", Input).value = who
            await pilot.press("enter")
            await wait_for(pilot, lambda: text_of(app.screen.query_one("#notice")) != "")
            answers.append(text_of(app.screen.query_one("#notice")))
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
        assert answers[0] == answers[1]
        assert "reset token" in answers[0]


async def test_reset_token_from_login_screen_sets_password(admin_core: Core, admin_actor) -> None:  # type: ignore[no-untyped-def]
    admin = await admin_actor()
    users = await admin_core.users.list(admin)
    delivery = await admin_core.users.admin_reset(admin, users[0].id)
    assert delivery.token
    app = LabApp(admin_core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
        await pilot.press("f4")
        await fill(pilot, delivery.token, "brand-new-pw", "brand-new-pw")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
    assert (await admin_core.auth.login("admin", "brand-new-pw")).actor.username == "admin"
