"""The instances screen against a fake Vultr on 127.0.0.1: the list with its cache age, r
refresh (and a refused one that keeps the list), halt after a confirm, destroy only with
the label typed, the costs panel, Enter to the server object, and a viewer refused."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from sqlalchemy import select
from textual.widgets import Input, Static

from labtui.core.actor import Actor
from labtui.core.config import Config, VultrConfig
from labtui.core.db.models import AuditRecord
from labtui.core.runtime import Core
from labtui.testing.fakes.vultr import DEFAULT_KEY, FakeVultr
from labtui.tui.screens.instances import InstancesScreen, TypeLabelScreen
from labtui.tui.widgets.confirm import ConfirmScreen
from tests.conftest import ADMIN_PASSWORD, MakeCore, add_user
from tests.tui.conftest import SIZE, paste, table_rows, text_of, toasts, wait_for
from tests.tui.host import ScreenHost, host


@pytest.fixture
def fake() -> Iterator[FakeVultr]:
    with FakeVultr(max_per_page=4) as f:
        f.add_instances(10)
        yield f


@pytest.fixture
async def vcore(make_core: MakeCore, fake: FakeVultr) -> Core:
    core = await make_core(Config(vultr=VultrConfig(base_url=fake.base_url, api_key=DEFAULT_KEY)))
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    return core


@pytest.fixture
async def admin(vcore: Core) -> Actor:
    return (await vcore.auth.login("admin", ADMIN_PASSWORD)).actor


def title(app: ScreenHost) -> str:
    return text_of(app.screen.query_one("#title", Static))


def row_of(app: ScreenHost, hostname: str) -> str:
    return next(r for r in table_rows(app) if f"| {hostname} |" in r)


async def test_list_shows_instances_and_r_refreshes(vcore: Core, admin: Actor, fake: FakeVultr) -> None:
    app = await host(vcore, admin, InstancesScreen())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: "never refreshed" in title(app))
        assert table_rows(app) == []
        await pilot.press("r")
        await wait_for(pilot, lambda: len(table_rows(app)) == 10)
        assert re.search(r"10 cached · refreshed \d+s ago", title(app))
        assert (
            row_of(app, "host-00001")
            == "lab-00001 | host-00001 | ams | vc2-1c-2gb | 10.0.0.1 | running | svc-1 | $10.00"
        )
        await wait_for(pilot, lambda: "server: 10 added" in " ".join(toasts(app).split()))
        fake.add_instances(2, start=10)
        fake.fail(429, times=10, retry_after="0")
        await pilot.press("r")
        await wait_for(pilot, lambda: "rate limit (HTTP 429)" in " ".join(toasts(app).split()))
        assert "cached list of 10 instances" in " ".join(toasts(app).split()) and len(table_rows(app)) == 10
        fake.clear_failures()
        await pilot.press("r")
        await wait_for(pilot, lambda: len(table_rows(app)) == 12)
        # The filter (LabApp's `/`) narrows by any column.
        app.screen.action_filter()
        await paste(pilot, "lab-00011")
        await wait_for(pilot, lambda: len(table_rows(app)) == 1)


async def test_halt_asks_then_hits_vultr_and_cancel_does_nothing(vcore: Core, admin: Actor, fake: FakeVultr) -> None:
    await vcore.instances.refresh(admin)
    app = await host(vcore, admin, InstancesScreen())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: len(table_rows(app)) == 10)
        await pilot.press("down", "down")  # host-00002
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Halt lab-00002 (host-00002, mel)?" in text_of(app.screen.query_one("#message", Static))
        await pilot.press("y")
        await wait_for(pilot, lambda: "| stopped |" in row_of(app, "host-00002"))
        assert fake.calls("POST", "/halt") == ["/v2/instances/00000000-0000-0000-0000-000000000003/halt"]
        await wait_for(pilot, lambda: "lab-00002: halted" in toasts(app))
        await pilot.press("b")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, InstancesScreen))
        assert fake.calls("POST", "/reboot") == []


async def test_destroy_needs_the_label_typed(vcore: Core, admin: Actor, fake: FakeVultr) -> None:
    await vcore.instances.refresh(admin)
    app = await host(vcore, admin, InstancesScreen())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: len(table_rows(app)) == 10)
        await pilot.press("down")  # host-00001
        await pilot.press("D")
        await wait_for(pilot, lambda: isinstance(app.screen, TypeLabelScreen))
        await paste(pilot, "host-00001")  # the hostname is not the label
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Type exactly 'lab-00001'" in text_of(app.screen.query_one("#error", Static)))
        assert fake.calls("DELETE") == []
        app.screen.query_one("#typed", Input).value = ""
        await paste(pilot, "lab-00001")
        await pilot.press("enter")
        await wait_for(pilot, lambda: len(table_rows(app)) == 9)
        assert fake.calls("DELETE") == ["/v2/instances/00000000-0000-0000-0000-000000000002"]
        await wait_for(pilot, lambda: "Destroyed lab-00001" in toasts(app))
        assert not any("host-00001" in r for r in table_rows(app))


async def test_costs_panel_and_enter_opens_the_server_object(vcore: Core, admin: Actor) -> None:
    from labtui.tui.screens.inventory_detail import ObjectDetailScreen

    await vcore.instances.refresh(admin)
    app = await host(vcore, admin, InstancesScreen())
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await wait_for(pilot, lambda: len(table_rows(app)) == 10)
        await pilot.press("c")

        def costs() -> str:
            return text_of(app.screen.query_one("#costs", Static))

        await wait_for(pilot, lambda: "Monthly cost $133.00 for 10 instances" in costs())
        assert "By tag" in costs() and "By region" in costs() and "svc-0" in costs() and "ewr" in costs()
        await pilot.press("c")
        await wait_for(pilot, lambda: not app.screen.query_one("#costs").has_class("-shown"))
        await pilot.press("down", "down", "down", "enter")  # host-00003
        await wait_for(pilot, lambda: isinstance(app.screen, ObjectDetailScreen))
        assert "host-00003" in text_of(app.screen.query_one("#head", Static))


async def test_viewer_cannot_halt_refused_in_core_and_audited(vcore: Core, admin: Actor, fake: FakeVultr) -> None:
    await vcore.instances.refresh(admin)
    viewer = await add_user(vcore, admin, "vera", "viewer")
    app = await host(vcore, viewer, InstancesScreen())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: len(table_rows(app)) == 10)
        await pilot.press("h")
        await wait_for(pilot, lambda: "needs 'instances.stop'" in " ".join(toasts(app).split()))
        assert isinstance(app.screen, InstancesScreen)
    # A screen whose idea of the permissions is out of date (a role changed meanwhile):
    # the TUI asks, core refuses and audits, nothing reaches Vultr.
    stale = ScreenHost(vcore, viewer, frozenset({"instances.view", "instances.stop"}), InstancesScreen())
    async with stale.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: len(table_rows(stale)) == 10)
        await pilot.press("h")
        await wait_for(pilot, lambda: isinstance(stale.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: "Permission denied: you need 'instances.stop'" in " ".join(toasts(stale).split()))
    assert fake.calls("POST") == []
    denied = await vcore.db.run(
        lambda s: [
            (r.username, json.loads(r.detail)["permission"])
            for r in s.scalars(select(AuditRecord).where(AuditRecord.action == "permission.denied"))
        ]
    )
    assert denied == [("vera", "instances.stop")]


async def test_p_points_a_dns_name_at_the_instance(make_core: MakeCore, fake: FakeVultr) -> None:
    from labtui.core.config import CloudflareConfig
    from labtui.testing.fakes.cloudflare import DEFAULT_TOKEN, ZONE_ID, FakeCloudflare
    from labtui.tui.screens.dns import DnsRecordForm

    with FakeCloudflare() as cloudflare:
        cloudflare.add_record("A", "host-00003", "192.0.2.99")  # an old address: moved, not doubled
        core = await make_core(
            Config(
                vultr=VultrConfig(base_url=fake.base_url, api_key=DEFAULT_KEY),
                cloudflare=CloudflareConfig(base_url=cloudflare.base_url, api_token=DEFAULT_TOKEN, zone_id=ZONE_ID),
            )
        )
        await core.auth.create_admin("admin", ADMIN_PASSWORD)
        admin = (await core.auth.login("admin", ADMIN_PASSWORD)).actor
        await core.instances.refresh(admin)
        app = await host(core, admin, InstancesScreen())
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await wait_for(pilot, lambda: len(table_rows(app)) == 10)
            screen = app.screen
            assert isinstance(screen, InstancesScreen)
            screen.table.move_cursor(row=next(i for i, r in enumerate(table_rows(app)) if "| host-00003 |" in r))
            chosen = screen.selected()
            assert chosen is not None
            await pilot.press("p")
            await wait_for(pilot, lambda: isinstance(app.screen, DnsRecordForm))
            await pilot.press("ctrl+s")
            await wait_for(pilot, lambda: isinstance(app.screen, InstancesScreen))
            await wait_for(pilot, lambda: f"DNS now points at {chosen.ip}" in toasts(app))
            assert [r["content"] for r in cloudflare.find("host-00003", "A")] == [chosen.ip]
