"""The DNS screen against a fake Cloudflare: the records table, `/` filter, a new record through
the form, edit, delete after confirming, and Cloudflare's refusals as notifications."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from textual.containers import VerticalScroll
from textual.widgets import Input, Select

from labtui.core.actor import Actor
from labtui.core.runtime import Core
from labtui.testing.fakes.cloudflare import ZONE_NAME, FakeCloudflare
from labtui.tui.app import LabApp
from labtui.tui.screens.dns import DnsRecordForm, DnsScreen
from labtui.tui.widgets.confirm import ConfirmScreen
from tests.conftest import ADMIN_PASSWORD, MakeCore, add_user
from tests.core.test_dns import dns_config
from tests.tui.conftest import (
    paste,
    screen_text,
    signed_in,
    table_rows,
    toasts,
    wait_for,
)
from tests.tui.host import host

SIZE = (110, 36)


@pytest.fixture
def fake() -> Iterator[FakeCloudflare]:
    with FakeCloudflare() as server:
        server.add_record("A", "www", "192.0.2.10")
        server.add_record("TXT", "@", "v=spf1 -all")
        server.add_record("CNAME", "docs", "www.lab.example.com", ttl=300)
        yield server


@pytest.fixture
async def dns_core(make_core: MakeCore, fake: FakeCloudflare) -> Core:
    core = await make_core(dns_config(fake))
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    return core


@pytest.fixture
async def admin(dns_core: Core) -> Actor:
    return (await dns_core.auth.login("admin", ADMIN_PASSWORD)).actor


async def test_lists_filters_and_creates_through_the_form(dns_core: Core, fake: FakeCloudflare) -> None:
    app = LabApp(dns_core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await signed_in(pilot, "admin", ADMIN_PASSWORD)
        await pilot.press("colon", *"dns", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, DnsScreen) and len(table_rows(app)) == 3)
        assert table_rows(app) == [
            f"TXT | {ZONE_NAME} | v=spf1 -all | auto | no",
            f"CNAME | docs.{ZONE_NAME} | www.lab.example.com | 300 | no",
            f"A | www.{ZONE_NAME} | 192.0.2.10 | auto | no",
        ]
        assert f"zone {ZONE_NAME} · 3 records" in screen_text(app)

        await pilot.press("slash")
        await paste(pilot, "cname")
        await wait_for(pilot, lambda: len(table_rows(app)) == 1)
        assert table_rows(app)[0].startswith("CNAME | docs.")
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(table_rows(app)) == 3)

        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, DnsRecordForm))
        form = app.screen
        await paste(pilot, "api")  # the name field has focus
        await pilot.press("tab")
        await paste(pilot, "not-an-ip")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "An A record points at an IPv4 address" in screen_text(app))
        assert isinstance(app.screen, DnsRecordForm) and not fake.find("api")  # refused before the API

        form.query_one("#content", Input).value = "192.0.2.20"
        form.query_one("#ttl", Input).value = "600"
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, DnsScreen) and len(table_rows(app)) == 4)
        assert f"A | api.{ZONE_NAME} | 192.0.2.20 | 600 | no" in table_rows(app)
        assert fake.find("api", "A")[0]["ttl"] == 600
        assert "Saved A api." in toasts(app)


async def test_edit_and_delete_with_confirm(dns_core: Core, admin: Actor, fake: FakeCloudflare) -> None:
    app = await host(dns_core, admin, DnsScreen())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: len(table_rows(app)) == 3)
        await pilot.press("down", "down")  # www, the last row
        await pilot.press("e")
        await wait_for(pilot, lambda: isinstance(app.screen, DnsRecordForm))
        assert app.screen.query_one("#name", Input).value == f"www.{ZONE_NAME}"
        app.screen.query_one("#content", Input).value = "192.0.2.99"
        await pilot.press("ctrl+s")
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, DnsScreen) and f"A | www.{ZONE_NAME} | 192.0.2.99 | auto | no" in table_rows(app)
            ),
        )
        assert [r["content"] for r in fake.find("www")] == ["192.0.2.99"]

        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert f"Delete the A record www.{ZONE_NAME} → 192.0.2.99?" in screen_text(app)
        await pilot.press("n")  # changed my mind
        await wait_for(pilot, lambda: isinstance(app.screen, DnsScreen))
        assert fake.find("www")
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: len(table_rows(app)) == 2)
        assert fake.find("www") == [] and f"Deleted A www.{ZONE_NAME}" in toasts(app)


async def test_cloudflare_refusal_shows_as_notification_and_on_the_form(
    dns_core: Core, admin: Actor, fake: FakeCloudflare
) -> None:
    app = await host(dns_core, admin, DnsScreen())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: len(table_rows(app)) == 3)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, DnsRecordForm))
        form = app.screen
        form.query_one("#type", Select).value = "CNAME"
        form.query_one("#name", Input).value = "www"
        form.query_one("#content", Input).value = "elsewhere.example.org"
        await pilot.press("ctrl+s")
        expected = "A, AAAA, or CNAME record with that host already exists. (81053)"
        await wait_for(pilot, lambda: expected in toasts(app))
        assert isinstance(app.screen, DnsRecordForm) and expected in screen_text(app)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DnsScreen))

        fake.fail_status = 503
        await pilot.press("r")
        await wait_for(pilot, lambda: "Cloudflare failed with HTTP 503" in toasts(app))
        assert "Cloudflare failed with HTTP 503" in screen_text(app)  # the title says so too


async def test_point_mode_updates_instead_of_duplicating(dns_core: Core, admin: Actor, fake: FakeCloudflare) -> None:
    """What the instances screen opens: the form prefilled with a name and the instance's IP."""
    app = await host(dns_core, admin, DnsScreen())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: len(table_rows(app)) == 3)
        app.push_screen(DnsRecordForm(name="www", content="198.51.100.5"))
        await wait_for(pilot, lambda: isinstance(app.screen, DnsRecordForm))
        assert app.screen.query_one(VerticalScroll).border_title == "Point a name at an address"
        assert "An existing record of this name and type is updated" in screen_text(app)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, DnsScreen))
        assert [r["content"] for r in fake.find("www", "A")] == ["198.51.100.5"]


async def test_viewer_sees_records_but_may_not_change_them(dns_core: Core, admin: Actor, fake: FakeCloudflare) -> None:
    viewer = await add_user(dns_core, admin, "vera", "viewer")
    app = await host(dns_core, viewer, DnsScreen())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: len(table_rows(app)) == 3)
        await pilot.press("n")
        await wait_for(pilot, lambda: "Changing DNS needs 'system.settings.edit'" in toasts(app))
        assert isinstance(app.screen, DnsScreen)
        await pilot.press("D")
        await pilot.pause()
        assert isinstance(app.screen, DnsScreen) and len(fake.records[fake.zone_id]) == 3


async def test_not_configured_says_which_key(admin_core: Core, admin_actor) -> None:  # type: ignore[no-untyped-def]
    app = await host(admin_core, await admin_actor(), DnsScreen())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: "DNS is not configured (cloudflare.api_token" in toasts(app))
        assert "DNS · DNS is not configured (cloudflare.api_token is empty in the config)" in screen_text(app)
        assert table_rows(app) == []
