"""The inventory screens on the real LabApp and Core (demo lab types): what a viewer sees is
what the access order allows, filters, the generated forms (a required-field error shown on
the field), edit, delete, secrets revealed with an audit, tags, and an ACL deny that hides
an object from a viewer."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from sqlalchemy import select
from textual.pilot import Pilot
from textual.widgets import (
    DataTable,
    Input,
    OptionList,
    Select,
    SelectionList,
    Static,
    TabbedContent,
)

from labtui.core.actor import Actor
from labtui.core.db.models import AuditRecord
from labtui.core.errors import NotFound
from labtui.core.runtime import Core
from labtui.core.workers import start_workers
from labtui.tui.app import LabApp
from labtui.tui.screens.dashboard import DashboardScreen
from labtui.tui.screens.inventory import InventoryScreen
from labtui.tui.screens.inventory_acl import AclScreen, RuleForm
from labtui.tui.screens.inventory_actions import PickerScreen
from labtui.tui.screens.inventory_detail import ObjectDetailScreen
from labtui.tui.screens.inventory_forms import ObjectForm
from labtui.tui.screens.inventory_tags import ObjectTagsForm, TagForm, TagsScreen
from labtui.tui.screens.job_log import JobLogScreen
from labtui.tui.screens.run_form import RunScriptForm
from labtui.tui.screens.user_forms import SecretScreen
from labtui.tui.widgets.confirm import ConfirmScreen
from labtui.tui.widgets.log_view import LogView
from tests.conftest import add_user
from tests.tui.conftest import paste, screen_text, table_rows, text_of, wait_for

SIZE = (120, 36)


@asynccontextmanager
async def inventory(core: Core, actor: Actor, type_slug: str = "network") -> AsyncIterator[tuple[LabApp, Pilot[None]]]:
    """LabApp signed in as ``actor`` on the inventory (opened by name), with ``type_slug``
    chosen in the sidebar by the arrow keys and its first page shown."""
    app = LabApp(core, actor=actor)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert app.open_screen("inv")
        await wait_for(pilot, lambda: isinstance(app.screen, InventoryScreen) and app.screen.loaded)
        await choose_type(pilot, type_slug)
        yield app, pilot


def screen(app: LabApp) -> InventoryScreen:
    assert isinstance(app.screen, InventoryScreen)
    return app.screen


async def choose_type(pilot: Pilot[None], slug: str) -> None:
    app: Any = pilot.app
    types = app.screen.query_one("#types", OptionList)
    types.focus()
    ids = [o.id for o in types.options]
    target = ids.index(slug)
    while types.highlighted != target:
        await pilot.press("down" if (types.highlighted or 0) < target else "up")
    await pilot.press("enter")
    await wait_for(pilot, lambda: app.screen.type_slug == slug and app.screen.loaded and app.screen.items is not None)
    await wait_for(pilot, lambda: not app.screen.workers or all(w.is_finished for w in app.screen.workers))


def names(app: LabApp) -> list[str]:
    """First column of the objects table."""
    return [r.split(" | ")[0] for r in table_rows(app, "#objects")]


def sidebar(app: LabApp) -> list[str]:
    return [" ".join(str(o.prompt).split()) for o in app.screen.query_one("#types", OptionList).options]


async def cursor_to(pilot: Pilot[None], name: str) -> None:
    table = pilot.app.screen.query_one("#objects", DataTable)
    table.focus()
    target = names(pilot.app).index(name)  # type: ignore[arg-type]
    while table.cursor_row != target:
        await pilot.press("down" if table.cursor_row < target else "up")


async def focus(pilot: Pilot[None], selector: str) -> None:
    pilot.app.screen.query_one(selector).focus()
    await pilot.pause()


def notified(app: LabApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


async def audit(core: Core, action: str) -> list[AuditRecord]:
    return await core.db.run(lambda s: list(s.scalars(select(AuditRecord).where(AuditRecord.action == action))))


async def networks(core: Core, admin: Actor) -> dict[str, int]:
    ids = {}
    for name, cidr in (("lan", "10.0.0.0/24"), ("wan", "192.0.2.0/24"), ("dmz", "10.9.0.0/24")):
        ids[name] = (await core.inventory.create(admin, "network", {"name": name, "cidr": cidr})).id
    return ids


async def test_viewer_sees_what_the_access_order_allows_and_super_admin_sees_all(core: Core, admin: Actor) -> None:
    ids = await networks(core, admin)
    await core.inventory.acl.set_entry(admin, ids["dmz"], "viewer", "view", "deny")
    # A role with no inventory permission at all, allowed one object by its ACL.
    await core.rbac.create_role(admin, "guest", permissions=set())
    guest = await add_user(core, admin, "gus", "guest")
    await core.inventory.acl.set_entry(admin, ids["wan"], "guest", "view", "allow")
    vera = await add_user(core, admin, "vera", "viewer")

    async with inventory(core, admin) as (app, _):
        assert names(app) == ["dmz", "wan", "lan"]  # newest first
        assert "Network 3" in sidebar(app)
        assert "3 objects" in text_of(app.screen.query_one("#status", Static))
    async with inventory(core, vera) as (app, _):
        expected = [o.title for o in (await core.inventory.list(vera, type="network")).items]
        assert names(app) == expected == ["wan", "lan"]
        assert "Network 2" in sidebar(app)
        assert "2 objects" in text_of(app.screen.query_one("#status", Static))
        # A viewer is offered no change.
        assert not {"n", "e", "D", "a"} & set(app.screen.active_bindings)
    async with inventory(core, guest) as (app, _):
        # Only the type it may see something of, counted as it sees it.
        assert sidebar(app) == ["All types 1", "Network 1"]
        assert names(app) == ["wan"]


async def test_filter_by_text_and_tag(core: Core, admin: Actor) -> None:
    await core.inventory.tags.create(admin, "prod", "#e8984a")
    ids = await networks(core, admin)
    await core.inventory.tags.tag(admin, ids["lan"], ["prod"])
    async with inventory(core, admin) as (app, pilot):
        await pilot.press("slash")
        assert app.focused is app.screen.query_one("#filter", Input)
        await paste(pilot, "10.")
        await wait_for(pilot, lambda: names(app) == ["dmz", "lan"])
        await pilot.press("ctrl+u")
        await paste(pilot, "tag:prod")
        await wait_for(pilot, lambda: names(app) == ["lan"])
        assert "prod" in table_rows(app, "#objects")[0]
        assert "filter: tag:prod" in text_of(app.screen.query_one("#status", Static))
        await pilot.press("ctrl+u")
        await paste(pilot, "tag:nosuchtag")
        await wait_for(
            pilot, lambda: names(app) == [] and "0 objects" in text_of(app.screen.query_one("#status", Static))
        )
        await pilot.press("escape")  # clears the filter
        await wait_for(pilot, lambda: names(app) == ["dmz", "wan", "lan"])


async def test_create_shows_required_field_error_then_saves(core: Core, admin: Actor) -> None:
    async with inventory(core, admin) as (app, pilot):
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, ObjectForm))
        assert app.focused is app.screen.query_one("#field-name", Input)
        await paste(pilot, "lab")
        await pilot.press("ctrl+s")
        error = app.screen.query_one("#error-cidr", Static)
        await wait_for(pilot, lambda: "Missing required field: cidr" in text_of(error) and error.display)
        assert app.focused is app.screen.query_one("#field-cidr", Input)  # the form went to the field
        await paste(pilot, "10.20.0.0/16")
        await focus(pilot, "#field-vlan")
        await paste(pilot, "twelve")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "must be a whole number" in text_of(app.screen.query_one("#error-vlan", Static)))
        assert not app.screen.query_one("#error-cidr", Static).display  # the earlier error cleared
        await pilot.press("ctrl+u")
        await paste(pilot, "12")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, InventoryScreen) and names(app) == ["lab"])
        assert table_rows(app, "#objects")[0].startswith("lab | 10.20.0.0/16 | 12 |  | no")
        assert "Network lab created" in notified(app)
    listed = (await core.inventory.list(admin, type="network")).items
    assert [(o.title, o.data["vlan"]) for o in listed] == [("lab", 12)]


async def test_edit_and_delete_with_confirm(core: Core, admin: Actor) -> None:
    ids = await networks(core, admin)
    async with inventory(core, admin) as (app, pilot):
        await cursor_to(pilot, "wan")
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, ObjectForm))
        assert app.screen.query_one("#field-cidr", Input).value == "192.0.2.0/24"
        await focus(pilot, "#field-gateway")
        await paste(pilot, "192.0.2.1")
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: isinstance(app.screen, InventoryScreen) and "192.0.2.1" in table_rows(app, "#objects")[1]
        )
        assert (await core.inventory.get(admin, ids["wan"])).data["gateway"] == "192.0.2.1"
        # Delete asks first; No keeps the object.
        await cursor_to(pilot, "dmz")
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, InventoryScreen))
        assert "dmz" in names(app)
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Delete Network 'dmz'?" in screen_text(app)
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, InventoryScreen) and names(app) == ["wan", "lan"])
        assert "Network 2" in sidebar(app)
    with pytest.raises(NotFound):
        await core.inventory.get(admin, ids["dmz"])


async def test_secret_shown_as_set_and_revealed_with_audit(core: Core, admin: Actor) -> None:
    await core.inventory.create(admin, "credential", {"name": "db", "username": "root", "secret": "hunter2-XYZ"})
    async with inventory(core, admin, "credential") as (app, pilot):
        assert names(app) == ["db"]
        assert "hunter2" not in screen_text(app)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ObjectDetailScreen) and app.screen.loaded)
        fields = table_rows(app, "#fields")
        assert "Secret | set — v reveals" in fields and "Username | root" in fields
        assert "hunter2" not in screen_text(app)
        await pilot.press("v")
        await wait_for(pilot, lambda: isinstance(app.screen, SecretScreen))
        assert "hunter2-XYZ" in text_of(app.screen.query_one("#secret", Static))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ObjectDetailScreen))
        assert "hunter2" not in screen_text(app) and "hunter2" not in notified(app)
    reveals = await audit(core, "inventory.secret.reveal")
    assert [(r.username, json.loads(r.detail)) for r in reveals] == [("admin", {"field": "secret"})]


async def test_detail_lists_tags_acl_and_related_objects(core: Core, admin: Actor) -> None:
    await core.inventory.tags.create(admin, "edge", "#3366ff")
    web = await core.inventory.create(admin, "server", {"hostname": "web1", "ip_address": "192.0.2.10"}, tags=["edge"])
    await core.inventory.create(
        admin, "deployment", {"service_name": "hello", "hostname": "web1", "deployment_id": "d-1"}
    )
    await core.inventory.acl.set_entry(admin, web.id, "viewer", "edit", "allow")
    app = LabApp(core, actor=admin)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        app.push_screen(ObjectDetailScreen(web.id))
        await wait_for(pilot, lambda: isinstance(app.screen, ObjectDetailScreen) and app.screen.loaded)
        text = screen_text(app)
        assert "Server web1" in text and "edge" in text_of(app.screen.query_one("#tags", Static))
        assert table_rows(app, "#acl") == ["viewer | edit | allow"]
        assert table_rows(app, "#related") == ["Deployment | hello | "]
        assert "No jobs yet." in text
        assert {"e", "D", "t", "a", "s"} <= set(app.screen.active_bindings)
        # Enter on the related row opens that object.
        app.screen.query_one("#related", DataTable).focus()
        await pilot.press("enter")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ObjectDetailScreen) and app.screen.object_id != web.id and app.screen.loaded,
        )
        assert "Deployment hello" in screen_text(app)


async def test_tags_assign_from_the_list(core: Core, admin: Actor) -> None:
    await core.inventory.tags.create(admin, "prod", "#e8984a")
    await core.inventory.tags.create(admin, "staging")
    ids = await networks(core, admin)
    async with inventory(core, admin) as (app, pilot):
        await cursor_to(pilot, "lan")
        await pilot.press("t")
        await wait_for(pilot, lambda: isinstance(app.screen, ObjectTagsForm))
        tags = app.screen.query_one(SelectionList)
        assert app.focused is tags
        await pilot.press("space")  # prod, the first
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: isinstance(app.screen, InventoryScreen) and "prod" in table_rows(app, "#objects")[2]
        )
        assert "Tags of lan: +prod" in notified(app)
    assert [t.name for t in (await core.inventory.get(admin, ids["lan"])).tags] == ["prod"]
    assert len(await audit(core, "inventory.object.tag")) == 1


async def choose(pilot: Pilot[None], selector: str, value: str) -> None:
    """Pick ``value`` in a Select the way a person does: open it, arrow to it, Enter."""
    widget = pilot.app.screen.query_one(selector, Select)
    widget.focus()
    await pilot.press("enter")
    for _ in range(20):
        if widget.value == value:
            break
        await pilot.press("down")
        await pilot.press("enter")
        if widget.value == value:
            break
        await pilot.press("enter")
    assert widget.value == value


async def test_acl_deny_entry_hides_the_object_from_that_viewer(core: Core, admin: Actor) -> None:
    await networks(core, admin)
    vera = await add_user(core, admin, "vera", "viewer")
    async with inventory(core, admin) as (app, pilot):
        await cursor_to(pilot, "lan")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AclScreen) and app.screen.loaded)
        assert table_rows(app, "#entries") == []
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, RuleForm))
        await choose(pilot, "#role", "viewer")
        assert app.screen.query_one("#permission", Select).value == "view"
        await choose(pilot, "#effect", "deny")
        await pilot.press("ctrl+s")
        await wait_for(
            pilot, lambda: isinstance(app.screen, AclScreen) and table_rows(app, "#entries") == ["viewer | view | deny"]
        )
    async with inventory(core, vera) as (app, _):
        assert names(app) == ["dmz", "wan"]
        assert "Network 2" in sidebar(app)


def log_text(app: LabApp) -> str:
    return "\n".join(app.screen.query_one(LogView).visible_text())


async def test_action_picker_runs_script_actions_and_the_log_shows_their_output(core: Core, admin: Actor) -> None:
    workers = await start_workers(core)
    try:
        async with inventory(core, admin, "service") as (app, pilot):
            await cursor_to(pilot, "greet")
            greet = screen(app).selected()
            assert greet is not None
            # A destructive action asks first; No runs nothing.
            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen))
            offered = [str(o.prompt) for o in app.screen.query_one(OptionList).options]
            assert [line.split("  ")[0] for line in offered] == ["Deploy", "Run script", "Stop"]
            assert "destructive" in offered[2]
            await pilot.press("down", "down", "enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
            assert "Stop every instance of this service?" in screen_text(app)
            await pilot.press("n")
            await wait_for(pilot, lambda: isinstance(app.screen, InventoryScreen))
            assert await core.jobs.list(admin) == []
            # A script action: its output streams in the job's log.
            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen))
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, JobLogScreen))
            await wait_for(pilot, lambda: "greet deployed on" in log_text(app), timeout=30)
            [job] = await core.jobs.list(admin)
            assert (job.action, job.script, job.object_id) == ("inventory", "deploy", greet.id)
            # dynamic_scripts: choose the script, fill its inputs, watch it run.
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, InventoryScreen))
            await pilot.press("x")
            await wait_for(pilot, lambda: isinstance(app.screen, PickerScreen))
            await pilot.press("down", "enter")
            await wait_for(
                pilot, lambda: isinstance(app.screen, PickerScreen) and "which script" in app.screen.title_text
            )
            await pilot.press("down", "enter")  # greet, after the default deploy
            await wait_for(pilot, lambda: isinstance(app.screen, RunScriptForm))
            await paste(pilot, "Ada")
            await pilot.press("ctrl+s")
            await wait_for(
                pilot, lambda: isinstance(app.screen, JobLogScreen) and "Hello, Ada!" in log_text(app), timeout=30
            )
            # The object's detail lists both jobs.
            await pilot.press("escape")
            await wait_for(pilot, lambda: isinstance(app.screen, InventoryScreen))
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, ObjectDetailScreen) and app.screen.loaded)
            jobs = table_rows(app, "#jobs")
            assert [r.split(" | ")[1:3] for r in jobs] == [["greet", "action run_script"], ["greet", "action deploy"]]
    finally:
        await workers.stop()


async def test_tag_management_create_recolour_delete(core: Core, admin: Actor) -> None:
    ids = await networks(core, admin)
    async with inventory(core, admin) as (app, pilot):
        await pilot.press("T")
        await wait_for(pilot, lambda: isinstance(app.screen, TagsScreen))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, TagForm))
        await paste(pilot, "prod")
        await pilot.press("tab")
        await paste(pilot, "orange")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "A colour is written #rrggbb" in text_of(app.screen.query_one("#error", Static)))
        await pilot.press("ctrl+u")
        await paste(pilot, "#E8984A")
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, TagsScreen) and table_rows(app) == ["■ prod | #e8984a | 0"]
        )
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, TagForm))
        await pilot.press("tab", "ctrl+u")
        await paste(pilot, "#3366ff")
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, TagsScreen) and table_rows(app) == ["■ prod | #3366ff | 0"]
        )
        await core.inventory.tags.tag(admin, ids["lan"], ["prod"])
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, TagsScreen) and table_rows(app) == [])
        assert "Tag prod deleted (it was on 1 object)" in notified(app)
    assert [a.action for a in await audit(core, "inventory.tag.update")] == ["inventory.tag.update"]


async def test_tag_grant_lets_a_role_see_tagged_objects(core: Core, admin: Actor) -> None:
    await core.inventory.tags.create(admin, "shared")
    ids = await networks(core, admin)
    await core.inventory.tags.tag(admin, ids["wan"], ["shared"])
    await core.rbac.create_role(admin, "partner", permissions=set())
    partner = await add_user(core, admin, "pat", "partner")
    assert (await core.inventory.list(partner)).items == []
    async with inventory(core, admin) as (app, pilot):
        await cursor_to(pilot, "wan")
        await pilot.press("a")
        await wait_for(pilot, lambda: isinstance(app.screen, AclScreen) and app.screen.loaded)
        app.screen.query_one(TabbedContent).active = "grants-tab"
        await pilot.pause()
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, RuleForm))
        await choose(pilot, "#role", "partner")
        await choose(pilot, "#tag", "shared")
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, AclScreen) and table_rows(app, "#grants") == ["shared | partner | view | yes"]
            ),
        )
    async with inventory(core, partner) as (app, _):
        assert names(app) == ["wan"]
