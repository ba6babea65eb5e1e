"""The users screen on the real LabApp and a real Core: statuses, invite (token shown once),
roles, deactivate / activate (not yourself), admin reset, and what non-admins are offered."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, SelectionList, Static

from labtui.core.actor import Actor
from labtui.core.errors import AuthError, PermissionDenied
from labtui.core.runtime import Core
from labtui.tui.app import LabApp
from labtui.tui.screens.dashboard import DashboardScreen
from labtui.tui.screens.user_forms import (
    AssignRolesForm,
    InviteForm,
    SecretScreen,
    UserDetail,
)
from labtui.tui.screens.users import UsersScreen
from labtui.tui.widgets.confirm import ConfirmScreen
from tests.conftest import add_user
from tests.tui.conftest import SIZE, paste, screen_text, table_rows, text_of, wait_for


@asynccontextmanager
async def users_screen(
    core: Core, actor: Actor, size: tuple[int, int] = SIZE
) -> AsyncIterator[tuple[LabApp, Pilot[None]]]:
    """LabApp signed in as ``actor``, on the users screen with its list loaded."""
    app = LabApp(core, actor=actor)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert app.open_screen("users")
        await wait_for(pilot, lambda: isinstance(app.screen, UsersScreen) and app.screen.loaded)
        yield app, pilot


async def cursor_to(pilot: Pilot[None], username: str) -> None:
    """Move the table cursor to ``username``'s row with the arrow keys."""
    table = pilot.app.screen.query_one(DataTable)
    table.focus()
    names = [str(table.get_row_at(i)[0]) for i in range(table.row_count)]
    target = names.index(username)
    while table.cursor_row != target:
        await pilot.press("down" if table.cursor_row < target else "up")


def notified(app: LabApp) -> str:
    """Every notification of this run (a modal on top hides the toasts, not the messages)."""
    return "\n".join(str(n.message) for n in app._notifications)


def row_of(app: LabApp, username: str) -> str:
    return next(r for r in table_rows(app) if r.startswith(f"{username} |"))


async def test_lists_users_with_status_and_roles_at_80x24(core: Core, admin: Actor) -> None:
    await add_user(core, admin, "alice", "viewer")
    await core.users.invite(admin, "bob", "Bob@Example.com", roles=["operator"], display_name="Bob B")
    carol = await add_user(core, admin, "carol", "operator")
    await core.users.set_active(admin, carol.user_id, False)  # type: ignore[arg-type]
    async with users_screen(core, admin, size=(80, 24)) as (app, _pilot):
        assert row_of(app, "admin").startswith("admin |  |  | active | super-admin | 20")
        assert row_of(app, "alice").startswith("alice |  |  | active | viewer | 20")
        assert row_of(app, "bob") == "bob | Bob B | bob@example.com | invited | operator | —"
        assert row_of(app, "carol").startswith("carol |  |  | inactive | operator |")
        assert "4 users · 2 active · 1 invited · 1 inactive" in text_of(app.screen.query_one("#status", Static))
        assert {"i", "r", "d", "p"} <= set(app.screen.active_bindings)


async def test_invite_shows_token_once_and_it_redeems_once(
    core: Core, admin: Actor, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    async with users_screen(core, admin) as (app, pilot):
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InviteForm))
        await paste(pilot, "newbie")
        await pilot.press("tab")
        await paste(pilot, "New@Example.com")
        await pilot.press("tab")
        await paste(pilot, "Newbie")
        await pilot.press("tab")
        roles = app.screen.query_one(SelectionList)
        assert app.focused is roles
        await pilot.press("end", "space")  # roles are listed system first: the last is viewer
        assert roles.selected == ["viewer"]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, SecretScreen))
        token = text_of(app.screen.query_one("#secret", Static))
        assert len(token) >= 20 and " " not in token
        assert "Invitation token for newbie" in app.screen.query_one("Vertical").border_title  # type: ignore[operator]
        await pilot.press("c")
        assert app.clipboard == token
        messages = notified(app)
        assert "Email is off: give this token to the user in person" in messages
        assert token not in messages
        await pilot.press("escape")
        await wait_for(
            pilot, lambda: isinstance(app.screen, UsersScreen) and any(r.startswith("newbie") for r in table_rows(app))
        )
        assert row_of(app, "newbie") == "newbie | Newbie | new@example.com | invited | viewer | —"
        assert token not in screen_text(app) and token not in notified(app)
    assert token not in caplog.text
    result = await core.auth.redeem_invite(token, "password-456")
    assert result.actor.username == "newbie"
    with pytest.raises(AuthError):
        await core.auth.redeem_invite(token, "password-789")
    assert (await core.auth.login("newbie", "password-456")).actor.username == "newbie"


async def test_invite_refusal_stays_on_the_form(core: Core, admin: Actor) -> None:
    async with users_screen(core, admin) as (app, pilot):
        await pilot.press("i")
        await wait_for(pilot, lambda: isinstance(app.screen, InviteForm))
        await pilot.press(*"x!", "tab", *"x@example.com", "enter")
        await wait_for(pilot, lambda: "Usernames are 3 to 30" in text_of(app.screen.query_one("#error", Static)))
        assert isinstance(app.screen, InviteForm)
        assert app.focused is app.screen.query_one("#username")
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, UsersScreen))
        assert [r.split(" |")[0] for r in table_rows(app)] == ["admin"]


async def test_assign_roles_changes_the_roles_column(core: Core, admin: Actor) -> None:
    await add_user(core, admin, "alice", "viewer")
    async with users_screen(core, admin) as (app, pilot):
        await cursor_to(pilot, "alice")
        await pilot.press("r")
        await wait_for(pilot, lambda: isinstance(app.screen, AssignRolesForm))
        roles = app.screen.query_one(SelectionList)
        assert roles.selected == ["viewer"]
        await pilot.press("home", "space")  # operator, listed first
        assert sorted(roles.selected) == ["operator", "viewer"]
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: isinstance(app.screen, UsersScreen) and "operator, viewer" in row_of(app, "alice")
        )
        assert "Roles of alice: operator, viewer" in notified(app)
    alice = next(u for u in await core.users.list(admin) if u.username == "alice")
    assert alice.roles == ("operator", "viewer")


async def test_deactivate_yourself_is_refused_others_asked_then_done(core: Core, admin: Actor) -> None:
    alice = await add_user(core, admin, "alice", "viewer")
    async with users_screen(core, admin) as (app, pilot):
        await cursor_to(pilot, "admin")
        await pilot.press("d")
        await wait_for(pilot, lambda: "You cannot deactivate yourself" in notified(app))
        assert isinstance(app.screen, UsersScreen) and "| active |" in row_of(app, "admin")

        await cursor_to(pilot, "alice")
        assert app.screen.active_bindings["d"].binding.description == "Deactivate"
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Deactivate alice?" in text_of(app.screen.query_one("#message", Static))
        await pilot.press("y")
        await wait_for(pilot, lambda: "| inactive |" in row_of(app, "alice"))
        assert not await core.auth.session_alive(alice)

        assert app.screen.active_bindings["d"].binding.description == "Activate"
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: "| active |" in row_of(app, "alice"))


async def test_admin_reset_shows_token_once_and_it_resets(core: Core, admin: Actor) -> None:
    await core.users.create(admin, "alice", "password-123", roles=["viewer"], email="alice@example.com")
    async with users_screen(core, admin) as (app, pilot):
        await cursor_to(pilot, "alice")
        await pilot.press("p")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, SecretScreen))
        token = text_of(app.screen.query_one("#secret", Static))
        assert "Password reset token for alice" in app.screen.query_one("Vertical").border_title  # type: ignore[operator]
        assert token not in notified(app)
        await pilot.press("escape")
    await core.auth.redeem_reset(token, "password-new-1")
    assert (await core.auth.login("alice", "password-new-1")).actor.username == "alice"


async def test_filter_and_detail(core: Core, admin: Actor) -> None:
    await core.users.create(admin, "alice", "password-123", roles=["viewer"], email="alice@example.com")
    await core.users.create(admin, "bobby", "password-123", roles=["operator"])
    async with users_screen(core, admin) as (app, pilot):
        await pilot.press("slash", *"operator")
        await wait_for(pilot, lambda: [r.split(" |")[0] for r in table_rows(app)] == ["bobby"])
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(table_rows(app)) == 3)
        assert isinstance(app.screen, UsersScreen)
        await cursor_to(pilot, "alice")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, UserDetail))
        detail = text_of(app.screen.query_one("#fields", Static))
        assert "alice@example.com" in detail and "viewer" in detail and "active" in detail
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, UsersScreen))


async def test_operator_is_refused_and_not_offered_invite(core: Core, admin: Actor) -> None:
    oper = await add_user(core, admin, "oper", "operator")
    with pytest.raises(PermissionDenied):
        await core.users.list(oper)
    app = LabApp(core, actor=oper)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert not app.open_screen("users")
        await wait_for(pilot, lambda: "You may not open Users" in notified(app))
        app.push_screen(UsersScreen())  # even forced open, core refuses and nothing is offered
        await wait_for(pilot, lambda: "Permission denied: you need 'users.view'" in notified(app))
        assert app.screen.query_one(DataTable).row_count == 0
        assert not {"i", "r", "d", "p"} & set(app.screen.active_bindings)
        await pilot.press("i")
        await pilot.pause()
        assert isinstance(app.screen, UsersScreen)


async def test_viewer_sees_the_list_but_no_changes(core: Core, admin: Actor) -> None:
    viewer = await add_user(core, admin, "vera", "viewer")
    async with users_screen(core, viewer) as (app, pilot):
        assert [r.split(" |")[0] for r in table_rows(app)] == ["admin", "vera"]
        assert not {"i", "r", "d", "p"} & set(app.screen.active_bindings)
        await pilot.press("i", "r", "d", "p")
        await pilot.pause()
        assert isinstance(app.screen, UsersScreen)
