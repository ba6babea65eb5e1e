"""The roles screen on the real LabApp and Core: create a role, tick permissions in the
checklist, save; system roles are read-only; a role in use cannot be deleted."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from textual.pilot import Pilot
from textual.widgets import DataTable, Static

from labtui.core.actor import Actor
from labtui.core.runtime import Core
from labtui.tui.app import LabApp
from labtui.tui.screens.dashboard import DashboardScreen
from labtui.tui.screens.role_forms import PermissionTree, RoleForm
from labtui.tui.screens.roles import RolesScreen
from labtui.tui.widgets.confirm import ConfirmScreen
from tests.conftest import add_user
from tests.tui.conftest import SIZE, paste, table_rows, text_of, wait_for

SYSTEM_REFUSAL = "'super-admin' is a system role and cannot be changed"


@asynccontextmanager
async def roles_screen(
    core: Core, actor: Actor, size: tuple[int, int] = SIZE
) -> AsyncIterator[tuple[LabApp, Pilot[None]]]:
    app = LabApp(core, actor=actor)
    async with app.run_test(size=size) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert app.open_screen("roles")
        await wait_for(pilot, lambda: isinstance(app.screen, RolesScreen) and app.screen.query_one(DataTable).row_count)
        yield app, pilot


def notified(app: LabApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


def row_of(app: LabApp, name: str) -> str:
    return next(r for r in table_rows(app, "#roles-table") if r.split(" |")[0].removesuffix(" *") == name)


async def cursor_to(pilot: Pilot[None], name: str) -> None:
    table = pilot.app.screen.query_one(DataTable)
    table.focus()
    target = [r.split(" |")[0].removesuffix(" *") for r in table_rows(pilot.app, "#roles-table")].index(name)
    while table.cursor_row != target:
        await pilot.press("down" if table.cursor_row < target else "up")


async def test_create_role_tick_permissions_and_save(core: Core, admin: Actor) -> None:
    async with roles_screen(core, admin, size=(80, 24)) as (app, pilot):
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, RoleForm))
        await paste(pilot, "auditor")
        await pilot.press("tab")
        await paste(pilot, "Reads the audit log")
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, RolesScreen)
                and any(r.startswith("auditor") for r in table_rows(app, "#roles-table"))
            ),
        )
        assert row_of(app, "auditor") == "auditor |  | 0 | 0 | Reads the audit log"
        screen = app.screen
        tree = screen.query_one(PermissionTree)
        await wait_for(pilot, lambda: tree.has_focus)
        assert "auditor: Reads the audit log" in text_of(screen.query_one("#role-note", Static))

        tree.move_cursor(tree.node_for("system.audit_log"))
        await pilot.press("space")
        tree.move_cursor(tree.node_for("category:users"))  # a category ticks all of it
        await pilot.press("space")
        assert tree.checked == {
            "system.audit_log",
            "users.view",
            "users.create",
            "users.edit",
            "users.delete",
            "users.assign_roles",
        }
        assert row_of(app, "auditor").startswith("auditor * |  | 0 | 0 |")
        assert "Unsaved changes" in text_of(screen.query_one("#role-note", Static))
        await pilot.press("s")
        await wait_for(pilot, lambda: row_of(app, "auditor") == "auditor |  | 0 | 6 | Reads the audit log")
        assert "Saved auditor: 6 permissions" in notified(app)

        tree.move_cursor(tree.node_for("users.delete"))  # untick one: the count follows
        await pilot.press("space", "ctrl+s")
        await wait_for(pilot, lambda: row_of(app, "auditor").startswith("auditor |  | 0 | 5 |"))
    role = next(r for r in await core.rbac.list_roles(admin) if r.name == "auditor")
    assert role.permissions == {"system.audit_log", "users.view", "users.create", "users.edit", "users.assign_roles"}


async def test_unsaved_ticks_survive_moving_between_roles(core: Core, admin: Actor) -> None:
    await core.rbac.create_role(admin, "alpha")
    await core.rbac.create_role(admin, "beta", permissions={"jobs.view_own"})
    async with roles_screen(core, admin) as (app, pilot):
        await cursor_to(pilot, "alpha")
        tree = app.screen.query_one(PermissionTree)
        tree.focus()
        tree.move_cursor(tree.node_for("jobs.cancel"))
        await pilot.press("space")
        await cursor_to(pilot, "beta")
        assert tree.checked == {"jobs.view_own"}
        await cursor_to(pilot, "alpha")
        assert tree.checked == {"jobs.cancel"} and row_of(app, "alpha").startswith("alpha * |")
        await pilot.press("escape")  # unsaved: asks before leaving
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "alpha" in text_of(app.screen.query_one("#message", Static))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, RolesScreen))


async def test_super_admin_is_read_only_with_cores_message(core: Core, admin: Actor) -> None:
    async with roles_screen(core, admin) as (app, pilot):
        await cursor_to(pilot, "super-admin")
        assert row_of(app, "super-admin") == "super-admin | yes | 1 | all | Full system access"
        assert "System role" in text_of(app.screen.query_one("#role-note", Static))
        await pilot.press("e")
        await wait_for(pilot, lambda: SYSTEM_REFUSAL in notified(app))
        assert isinstance(app.screen, RolesScreen)  # no form for what cannot be saved

        tree = app.screen.query_one(PermissionTree)
        tree.focus()
        tree.move_cursor(tree.node_for("users.view"))
        await pilot.press("space")
        assert "users.view" in tree.checked and not app.screen.pending
        assert not app.screen.active_bindings["s"].enabled  # nothing to save, shown disabled
        app._notifications.clear()
        await pilot.press("D")
        await wait_for(pilot, lambda: SYSTEM_REFUSAL in notified(app))
        assert row_of(app, "super-admin").startswith("super-admin | yes |")


async def test_role_in_use_is_not_deleted_unused_one_is(core: Core, admin: Actor) -> None:
    await core.rbac.create_role(admin, "busy")
    await core.rbac.create_role(admin, "spare")
    await core.users.create(admin, "alice", "password-123", roles=["busy"])
    async with roles_screen(core, admin) as (app, pilot):
        await cursor_to(pilot, "busy")
        assert row_of(app, "busy").startswith("busy |  | 1 | 0")
        await pilot.press("D")
        await wait_for(pilot, lambda: "Role 'busy' is assigned to 1 user(s); unassign it first" in notified(app))
        assert any(r.startswith("busy") for r in table_rows(app, "#roles-table"))

        await cursor_to(pilot, "spare")
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: not any(r.startswith("spare") for r in table_rows(app, "#roles-table")))
        assert "Deleted role spare" in notified(app)
    assert {r.name for r in await core.rbac.list_roles(admin)} == {"super-admin", "operator", "viewer", "busy"}


async def test_rename_keeps_form_on_duplicate_name(core: Core, admin: Actor) -> None:
    await core.rbac.create_role(admin, "alpha", "first")
    async with roles_screen(core, admin) as (app, pilot):
        await cursor_to(pilot, "alpha")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, RoleForm))
        form = app.screen
        form.query_one("#name").value = "viewer"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "already exists" in text_of(form.query_one("#error", Static)))
        form.query_one("#name").value = "alpha2"  # type: ignore[attr-defined]
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, RolesScreen)
                and any(r.startswith("alpha2 |") for r in table_rows(app, "#roles-table"))
            ),
        )


async def test_viewer_sees_roles_read_only(core: Core, admin: Actor) -> None:
    viewer = await add_user(core, admin, "vera", "viewer")
    async with roles_screen(core, viewer) as (app, pilot):
        assert not {"n", "e", "s", "D"} & set(app.screen.active_bindings)
        await cursor_to(pilot, "operator")
        tree = app.screen.query_one(PermissionTree)
        tree.focus()
        tree.move_cursor(tree.node_for("jobs.cancel"))
        await pilot.press("space")
        await wait_for(pilot, lambda: "You may not edit roles" in notified(app))
        assert "jobs.cancel" in tree.checked


async def test_filter_narrows_the_list_and_esc_clears_then_goes_back(core: Core, admin: Actor) -> None:
    await core.rbac.create_role(admin, "auditor", "Reads the audit log")
    async with roles_screen(core, admin) as (app, pilot):
        screen = app.screen
        assert len(table_rows(app, "#roles-table")) == 4
        await pilot.press("slash", *"audit")
        await wait_for(pilot, lambda: [r.split(" |")[0] for r in table_rows(app, "#roles-table")] == ["auditor"])
        assert "auditor: Reads the audit log" in text_of(
            screen.query_one("#role-note", Static)
        )  # the one shown is selected
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(table_rows(app, "#roles-table")) == 4)
        assert app.screen is screen and screen.query_one(DataTable).has_focus
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
