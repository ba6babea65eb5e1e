"""The profile screen on the real LabApp and Core: name and email, own password, SSH key
(generated — private half shown once — pasted, removed) and own sessions with revoke."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncssh
import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Static, TabbedContent

from labtui.core.actor import Actor
from labtui.core.errors import AuthError
from labtui.core.runtime import Core
from labtui.tui.app import LabApp
from labtui.tui.screens.dashboard import DashboardScreen
from labtui.tui.screens.profile import ProfileScreen
from labtui.tui.screens.user_forms import SecretScreen
from labtui.tui.widgets.confirm import ConfirmScreen
from tests.conftest import ADMIN_PASSWORD, add_user
from tests.tui.conftest import SIZE, paste, screen_text, table_rows, text_of, wait_for


@asynccontextmanager
async def profile_screen(
    core: Core, actor: Actor, size: tuple[int, int] = SIZE
) -> AsyncIterator[tuple[LabApp, Pilot[None]]]:
    app = LabApp(core, actor=actor)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert app.open_screen("profile")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ProfileScreen) and app.screen.query_one("#sessions", DataTable).row_count,
        )
        yield app, pilot


def notified(app: LabApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


async def open_tab(pilot: Pilot[None], tab: str) -> None:
    await pilot.click(f"#--content-tab-{tab}")
    await wait_for(pilot, lambda: pilot.app.screen.query_one(TabbedContent).active == tab)


async def test_name_and_email_are_saved(core: Core, admin: Actor) -> None:
    async with profile_screen(core, admin, size=(80, 24)) as (app, pilot):
        await pilot.click("#display_name")
        await paste(pilot, "Ada Admin")
        await pilot.press("tab")
        await paste(pilot, "Ada@Example.com")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Profile saved" in notified(app))
    me = await core.users.get(admin, admin.user_id)  # type: ignore[arg-type]
    assert (me.display_name, me.email) == ("Ada Admin", "ada@example.com")


async def test_change_password_wrong_current_then_right(core: Core, admin: Actor) -> None:
    other = (await core.auth.login("admin", ADMIN_PASSWORD)).actor
    async with profile_screen(core, admin) as (app, pilot):
        await open_tab(pilot, "password")
        screen = app.screen
        await pilot.click("#current")
        await paste(pilot, "not-my-password")
        await pilot.press("enter")
        await paste(pilot, "pw-New-4567")
        await pilot.press("enter")
        await paste(pilot, "pw-New-4567")
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: "The current password is wrong" in text_of(screen.query_one("#password-error", Static))
        )
        assert app.focused is screen.query_one("#current", Input)

        await paste(pilot, ADMIN_PASSWORD)
        await pilot.press("enter")
        await paste(pilot, "pw-New-4567")
        await pilot.press("enter")
        await paste(pilot, "pw-Typo-4567")
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: "The new passwords differ" in text_of(screen.query_one("#password-error", Static))
        )

        await paste(pilot, "pw-New-4567")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Password changed" in text_of(screen.query_one("#password-notice", Static)))
        assert text_of(screen.query_one("#password-error", Static)) == ""
        assert all(screen.query_one(f"#{i}", Input).value == "" for i in ("current", "new", "confirm"))
        assert "pw-New-4567" not in screen_text(app)
    assert not await core.auth.session_alive(other)  # other sessions end; this one stays
    assert await core.auth.session_alive(admin)
    with pytest.raises(AuthError):
        await core.auth.login("admin", ADMIN_PASSWORD)
    assert (await core.auth.login("admin", "pw-New-4567")).actor.username == "admin"


async def test_generate_ssh_key_shows_private_half_once(
    core: Core, admin: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with profile_screen(core, admin, size=(80, 24)) as (app, pilot):
        await open_tab(pilot, "ssh")
        assert "No SSH key registered" in text_of(app.screen.query_one("#ssh-current", Static))
        app.screen.query_one(TabbedContent).focus()  # letters are keys when no input has focus
        await pilot.press("g")
        await wait_for(pilot, lambda: isinstance(app.screen, SecretScreen))
        private = text_of(app.screen.query_one("#secret", Static))
        assert private.startswith("-----BEGIN OPENSSH PRIVATE KEY-----")
        assert "shown only now" in text_of(app.screen.query_one("#explanation", Static))
        assert "PRIVATE KEY" not in notified(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ProfileScreen))
        public = await core.users.my_ssh_key(admin)
        assert public and public.startswith("ssh-ed25519 ")
        shown = text_of(app.screen.query_one("#ssh-current", Static))
        assert public in shown and "SHA256:" in shown
        assert asyncssh.import_private_key(private).export_public_key().decode().split()[1] == public.split()[1]
        assert "PRIVATE KEY" not in screen_text(app)

        await pilot.press("g")  # replacing asks first
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, ProfileScreen))
        assert await core.users.my_ssh_key(admin) == public
    assert private not in caplog.text and "PRIVATE KEY" not in caplog.text


async def test_paste_invalid_then_valid_key_then_remove(core: Core, admin: Actor) -> None:
    key = asyncssh.generate_private_key("ssh-ed25519", comment="me@laptop").export_public_key().decode().strip()
    async with profile_screen(core, admin) as (app, pilot):
        await open_tab(pilot, "ssh")
        screen = app.screen
        await pilot.click("#ssh_public_key")
        await paste(pilot, "ssh-ed25519 not-a-key")
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: "That is not an OpenSSH public key" in text_of(screen.query_one("#ssh-error", Static))
        )
        screen.query_one("#ssh_public_key", Input).value = ""
        await paste(pilot, key)
        await pilot.press("enter")
        await wait_for(pilot, lambda: key in text_of(screen.query_one("#ssh-current", Static)))
        assert text_of(screen.query_one("#ssh-error", Static)) == ""
        await pilot.click("#remove-key")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: "No SSH key registered" in text_of(screen.query_one("#ssh-current", Static)))
    assert await core.users.my_ssh_key(admin) is None


async def test_sessions_listed_and_revoked(core: Core, admin: Actor) -> None:
    other = (await core.auth.login("admin", ADMIN_PASSWORD)).actor
    async with profile_screen(core, admin, size=(80, 24)) as (app, pilot):
        await open_tab(pilot, "sessions-tab")
        rows = table_rows(app, "#sessions")
        assert len(rows) == 2 and rows[0].startswith("local |") and rows[1].endswith("| this session")
        table = app.screen.query_one("#sessions", DataTable)
        table.focus()
        await pilot.press("home")
        assert "x" in app.screen.active_bindings
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Revoke the session from local" in text_of(app.screen.query_one("#message", Static))
        await pilot.press("y")
        await wait_for(pilot, lambda: len(table_rows(app, "#sessions")) == 1)
        assert table_rows(app, "#sessions")[0].endswith("| this session")
        assert "Session revoked" in notified(app)
    assert not await core.auth.session_alive(other)
    assert await core.auth.session_alive(admin)


async def test_revoking_this_session_signs_out(core: Core, admin: Actor) -> None:
    from labtui.tui.screens.login import LoginScreen

    user = await add_user(core, admin, "alice", "viewer")
    async with profile_screen(core, user) as (app, pilot):
        await open_tab(pilot, "sessions-tab")
        app.screen.query_one("#sessions", DataTable).focus()
        await pilot.press("x")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "You will be signed out" in text_of(app.screen.query_one("#message", Static))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
        assert app.actor is None
    assert not await core.auth.session_alive(user)
