"""The audit screen: newest first, keyset pages, the filter bar, a record's detail."""

from __future__ import annotations

import json

import pytest
from textual.widgets import DataTable, Input

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.audit import AuditFilter
from labtui.core.errors import AuthError
from labtui.core.runtime import Core
from labtui.tui.app import LabApp
from labtui.tui.screens.audit import AuditScreen, describe_filter, parse_filter
from labtui.tui.widgets.audit_detail import AuditDetail
from tests.conftest import ADMIN_PASSWORD
from tests.tui.conftest import (
    SIZE,
    fill,
    signed_in,
    table_rows,
    text_of,
    toasts,
    wait_for,
)


def test_filter_tokens() -> None:
    assert parse_filter("user:alice action:login.failed from ssh") == AuditFilter("alice", "login.failed", "from ssh")
    assert parse_filter('a:login* "two words"') == AuditFilter("", "login*", "two words")
    assert parse_filter('unbalanced "quote') == AuditFilter("", "", 'unbalanced "quote')
    assert parse_filter("") == AuditFilter()
    assert describe_filter(AuditFilter("bob", "user.*", "x")) == "user:bob action:user.* x"


async def open_audit(pilot, app: LabApp) -> AuditScreen:  # type: ignore[no-untyped-def]
    await signed_in(pilot, "admin", ADMIN_PASSWORD)
    await pilot.press("colon", *"audit", "enter")
    await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen) and app.screen.query_one(DataTable).row_count > 0)
    return app.screen  # type: ignore[return-value]


async def test_audit_shows_the_login_newest_first(admin_core: Core) -> None:
    with pytest.raises(AuthError):
        await admin_core.auth.login("admin", "wrong-password")
    app = LabApp(admin_core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await open_audit(pilot, app)
        rows = table_rows(app)
        assert " | admin | login | users/admin | local" in rows[0]  # the newest: this login
        assert any("| login.failed | users/admin" in r for r in rows[1:])
        # The oldest last: the first start's inventory sync, then the admin's creation.
        assert [r.split(" | ")[2] for r in rows[-2:]] == ["user.create_admin", "inventory.sync"]
        assert "Page 1" in text_of(app.screen.query_one("#status"))


async def test_filter_bar_narrows_and_esc_clears(admin_core: Core) -> None:
    for _ in range(2):
        with pytest.raises(AuthError):
            await admin_core.auth.login("admin", "wrong-password")
    app = LabApp(admin_core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_audit(pilot, app)
        everything = len(table_rows(app))
        await pilot.press("slash")
        assert app.focused is screen.query_one("#filter", Input)
        await fill(pilot, "action:login.failed")
        await wait_for(pilot, lambda: len(table_rows(app)) == 2)
        assert all("| login.failed |" in r for r in table_rows(app))
        assert "filter: action:login.failed" in text_of(screen.query_one("#status"))
        assert isinstance(app.focused, DataTable)
        await pilot.press("slash")
        screen.query_one("#filter", Input).value = "user:nobody"
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(table_rows(app)) == 0)
        assert "no records match the filter" in text_of(screen.query_one("#status"))
        await pilot.press("escape")  # clears the filter, stays on the screen
        await wait_for(pilot, lambda: len(table_rows(app)) == everything)
        assert isinstance(app.screen, AuditScreen)
        assert "filter" not in text_of(screen.query_one("#status"))


async def test_pages_older_and_newer(admin_core: Core) -> None:
    def add(s):  # type: ignore[no-untyped-def]
        for i in range(120):
            audit.record(s, Actor.system("seeder"), "test.event", f"things/{i:03d}", {"n": i})

    await admin_core.db.run(add)
    app = LabApp(admin_core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_audit(pilot, app)
        first = table_rows(app)
        assert len(first) == AuditScreen.PAGE_SIZE
        assert "| login |" in first[0]
        await pilot.press("n")
        await wait_for(pilot, lambda: "Page 2" in text_of(screen.query_one("#status")))
        second = table_rows(app)
        assert len(second) == AuditScreen.PAGE_SIZE and not set(first) & set(second)
        assert "things/070" in second[0]  # keyset: continues right below page 1
        await pilot.press("n")
        await wait_for(pilot, lambda: "Page 3" in text_of(screen.query_one("#status")))
        assert "oldest reached" in text_of(screen.query_one("#status"))
        assert [r.split(" | ")[2] for r in table_rows(app)[-2:]] == ["user.create_admin", "inventory.sync"]
        await pilot.press("n")
        await wait_for(pilot, lambda: "No older records" in toasts(app))
        await pilot.press("p", "p")
        await wait_for(pilot, lambda: "Page 1" in text_of(screen.query_one("#status")))
        assert table_rows(app) == first


async def test_enter_opens_the_full_record(admin_core: Core, admin_actor) -> None:  # type: ignore[no-untyped-def]
    admin = await admin_actor()
    await admin_core.users.invite(admin, "dora", "dora@example.org", roles=["viewer"])
    app = LabApp(admin_core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        screen = await open_audit(pilot, app)
        await pilot.press("slash")
        await fill(pilot, "action:user.invite")
        await wait_for(pilot, lambda: len(table_rows(app)) == 1)
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditDetail))
        shown = text_of(app.screen.query_one("#json"))
        assert json.loads(shown) == {"email": "dora@example.org", "roles": ["viewer"]}
        assert "users/dora" in text_of(app.screen.query_one("#fields"))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is screen)
