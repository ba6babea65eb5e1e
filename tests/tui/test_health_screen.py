"""The health screen and a check's history on the real LabApp, a real Core on a lab whose
health files point at local servers, and real poller ticks (called directly, as the core
tests do): what the screen shows, live, and what each role is offered."""

from __future__ import annotations

import asyncio
import gc
import socket
import weakref
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Input, Sparkline, Static

from labtui.core.actor import Actor
from labtui.core.config import Config, HealthConfig, LabConfig
from labtui.core.health import LEASE_NAME, HealthPoller
from labtui.core.leases import Lease
from labtui.core.runtime import Core
from labtui.testing.clock import ManualTicks
from labtui.testing.fakes.http_target import HttpTarget
from labtui.tui.app import LabApp
from labtui.tui.screens.dashboard import DashboardScreen
from labtui.tui.screens.health import _SNAPSHOTS, HealthFilter, HealthScreen, sparkline
from labtui.tui.screens.health_history import HealthHistoryScreen
from labtui.tui.screens.health_shared import SilenceForm
from labtui.tui.widgets.confirm import ConfirmScreen
from tests.conftest import ADMIN_PASSWORD, MakeCore, add_user
from tests.tui.conftest import table_rows, text_of, wait_for

SIZE = (130, 36)


@pytest.fixture(autouse=True)
def quick_refresh(monkeypatch: pytest.MonkeyPatch) -> None:
    """Refresh within a fraction of a second (the poller's listener wakes the screen anyway)."""
    monkeypatch.setattr(HealthScreen, "MIN_GAP_SECONDS", 0.05)
    monkeypatch.setattr(HealthScreen, "REFRESH_SECONDS", 0.3)
    monkeypatch.setattr(HealthScreen, "STATS_SECONDS", 0.3)
    monkeypatch.setattr(HealthHistoryScreen, "REFRESH_SECONDS", 0.3)


@pytest.fixture
def web() -> Iterator[HttpTarget]:
    target = HttpTarget().start()
    yield target
    target.stop()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


def write(lab: Path, rel: str, text: str) -> None:
    path = lab / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


async def lab_admin(make_core: MakeCore, lab: Path) -> tuple[Core, Actor]:
    core = await make_core(Config(lab=LabConfig(checkout=str(lab)), health=HealthConfig(tick_seconds=1)))
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    return core, (await core.auth.login("admin", ADMIN_PASSWORD)).actor


def poller(core: Core) -> HealthPoller:
    return core.health.poller(Lease(core.db, LEASE_NAME, seconds=30, holder="test"), jitter=0, clock=ManualTicks())


async def tick(p: HealthPoller) -> None:
    assert isinstance(p.clock, ManualTicks)
    p.clock.advance(0.12)  # the checks' interval is 0.1 s: all due again
    await p.tick()


@asynccontextmanager
async def health_screen(core: Core, actor: Actor) -> AsyncIterator[tuple[LabApp, Pilot[None]]]:
    app = LabApp(core, actor=actor)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert app.open_screen("health")
        await wait_for(pilot, lambda: isinstance(app.screen, HealthScreen) and app.screen.loaded)
        yield app, pilot


def row(app: LabApp, key: str) -> str:
    service, check = key.split("/")
    return next(r for r in table_rows(app) if r.startswith(f"{service} | {check} |"))


def notified(app: LabApp) -> str:
    return "\n".join(str(n.message) for n in app._notifications)


async def test_statuses_live_filter_and_history_with_the_transition(
    make_core: MakeCore, tmp_path: Path, web: HttpTarget
) -> None:
    listening = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    open_port = listening.sockets[0].getsockname()[1]
    lab = tmp_path / "lab"
    write(
        lab,
        "health/site.yaml",
        (
            "interval: 0.1\n"
            "checks:\n"
            f"  - {{name: web, type: http, url: '{web.url}', timeout: 2}}\n"
            f"  - {{name: db, type: tcp, host: 127.0.0.1, port: {open_port}}}\n"
        ),
    )
    core, admin = await lab_admin(make_core, lab)
    p = poller(core)
    try:
        async with health_screen(core, admin) as (app, pilot):
            assert row(app, "site/web").startswith("site | web | http | unknown | — | —")
            await p.tick()
            await wait_for(pilot, lambda: "| healthy |" in row(app, "site/web"))
            assert "| healthy |" in row(app, "site/db")
            assert "2 healthy" in text_of(app.screen.query_one("#summary", Static))

            web.stop()
            await tick(p)
            await wait_for(pilot, lambda: "| unhealthy |" in row(app, "site/web"))
            assert table_rows(app)[0].startswith("site | web | http | unhealthy")  # problems first
            assert "site/web: healthy → unhealthy" in notified(app)
            # Uptime and sparklines come with the next read of the results.
            await wait_for(pilot, lambda: "| 50.0% | 50.0% |" in row(app, "site/web"))
            assert "| 100% | 100% |" in row(app, "site/db")
            assert "█" in row(app, "site/db")  # the sparkline of its latencies

            await pilot.press("slash")
            assert app.screen.query_one("#filter", Input).has_focus
            await pilot.press(*"status:unhealthy")
            await wait_for(pilot, lambda: len(table_rows(app)) == 1)
            assert table_rows(app)[0].startswith("site | web |")
            await pilot.press("enter")  # back to the table
            await pilot.press("enter")  # open the selected check's history
            await wait_for(pilot, lambda: isinstance(app.screen, HealthHistoryScreen) and app.screen.loaded)
            history = app.screen
            results = table_rows(app, "#results")
            assert len(results) == 2
            assert (
                " | unhealthy | unhealthy | " in results[0] and " | healthy | healthy | " in results[1]
            )  # newest first
            assert "| 200 |" in results[1]
            transitions = table_rows(app, "#transitions")
            assert [t.split(" | ")[1] for t in transitions] == ["healthy → unhealthy", "unknown → healthy"]
            assert "site/web" in text_of(history.query_one("#head", Static))
            assert "unhealthy since" in text_of(history.query_one("#head", Static))
            assert "2 results" in text_of(history.query_one("#plot-caption", Static))
            assert len(history.query_one("#plot", Sparkline).data or []) == 2

            web.start()  # back up: the history shows it while open
            await tick(p)
            await wait_for(pilot, lambda: table_rows(app, "#transitions")[0].endswith("unhealthy → healthy"))
            await pilot.press("escape")
            assert isinstance(app.screen, HealthScreen)
            await pilot.press("escape")  # clears the filter first
            await wait_for(pilot, lambda: len(table_rows(app)) == 2)
            assert not app.screen.query_one("#filter", Input).has_class("-shown")
    finally:
        listening.close()


async def test_silence_from_the_form_shows_on_the_row_and_lifts(
    make_core: MakeCore, tmp_path: Path, web: HttpTarget
) -> None:
    lab = tmp_path / "lab"
    write(
        lab, "services/shop/health.yaml", f"interval: 0.1\nchecks:\n  - {{name: web, type: http, url: '{web.url}'}}\n"
    )
    core, admin = await lab_admin(make_core, lab)
    await poller(core).tick()
    async with health_screen(core, admin) as (app, pilot):
        assert row(app, "shop/web").endswith("| ")  # not silenced
        assert app.screen.active_bindings["m"].binding.description == "Silence"
        await pilot.press("m")
        await wait_for(pilot, lambda: isinstance(app.screen, SilenceForm))
        await pilot.press("3")  # 4 hours
        await pilot.press("tab")
        await pilot.press(*"db migration")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HealthScreen) and not row(app, "shop/web").endswith("| "))
        silences = await core.health.silences(admin)
        assert [(s.check, s.reason, round((s.until - s.created_at).total_seconds() / 3600)) for s in silences] == [
            ("web", "db migration", 4)
        ]
        assert row(app, "shop/web").endswith(f"{silences[0].until:%H:%M}")
        assert "1 silenced" in text_of(app.screen.query_one("#summary", Static))
        assert app.screen.active_bindings["m"].binding.description == "Unsilence"

        await pilot.press("m")  # on a silenced check: lift it, after asking
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: isinstance(app.screen, HealthScreen) and row(app, "shop/web").endswith("| "))
        assert await core.health.silences(admin) == []
        assert "silence lifted" in notified(app)


async def test_check_now_and_reload_report_in_notifications(
    make_core: MakeCore, tmp_path: Path, web: HttpTarget
) -> None:
    lab = tmp_path / "lab"
    write(lab, "health/site.yaml", f"checks:\n  - {{name: web, type: http, url: '{web.url}'}}\n")
    core, admin = await lab_admin(make_core, lab)
    async with health_screen(core, admin) as (app, pilot):
        await pilot.press("c")
        await wait_for(pilot, lambda: "site/web: healthy (" in notified(app))
        assert "HTTP 200" in notified(app) and "not stored" in notified(app)
        assert "| unknown |" in row(app, "site/web")  # check now stores nothing

        write(
            lab,
            "health/edge.yaml",
            (
                f"checks:\n  - {{name: port, type: tcp, host: 127.0.0.1, port: {closed_port()}}}\n"
                "  - {name: bad, type: smoke}\n"
            ),
        )
        await pilot.press("R")
        await wait_for(pilot, lambda: "Reloaded:" in notified(app))
        message = notified(app)
        assert "2 service(s) with health checks; 1 added, 0 changed, 0 removed" in message
        assert "+ edge/port" in message
        assert "health/edge.yaml" in message and "unknown type 'smoke'" in message
        await wait_for(pilot, lambda: any(r.startswith("edge | port | tcp | unknown") for r in table_rows(app)))


async def test_viewer_sees_statuses_without_manage_keys(make_core: MakeCore, tmp_path: Path, web: HttpTarget) -> None:
    lab = tmp_path / "lab"
    write(lab, "health/site.yaml", f"checks:\n  - {{name: web, type: http, url: '{web.url}'}}\n")
    core, admin = await lab_admin(make_core, lab)
    await poller(core).tick()
    watcher = await add_user(core, admin, "watcher", "viewer")
    async with health_screen(core, watcher) as (app, pilot):
        assert "| healthy |" in row(app, "site/web")
        bindings = app.screen.active_bindings
        assert "enter" in bindings and not {"c", "m", "M", "R"} & set(bindings)
        await pilot.press("R", "c", "m")
        await pilot.pause(0.2)
        assert isinstance(app.screen, HealthScreen)
        assert "Reloaded" not in notified(app) and "Check now" not in notified(app)
        assert await core.health.silences(admin) == []
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, HealthHistoryScreen) and app.screen.loaded)
        assert not {"c", "m"} & set(app.screen.active_bindings)
        assert len(table_rows(app, "#results")) == 1


async def test_window_keeps_the_table_small_and_the_filter_reaches_the_rest(
    make_core: MakeCore, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(HealthScreen, "WINDOW", 5)
    lab = tmp_path / "lab"
    checks = "".join(f"  - {{name: c{i}, type: tcp, host: 127.0.0.1, port: {1000 + i}}}\n" for i in range(12))
    write(lab, "health/many.yaml", f"checks:\n{checks}")
    core, admin = await lab_admin(make_core, lab)
    async with health_screen(core, admin) as (app, pilot):
        assert len(table_rows(app)) == 5
        more = app.screen.query_one("#more", Static)
        assert "Showing 5 of 12 matching checks — refine the filter" in text_of(more)
        await pilot.press("slash", *"c11")
        await wait_for(pilot, lambda: [r.split(" | ")[1] for r in table_rows(app)] == ["c11"])
        assert not more.has_class("-shown")
        await pilot.press("escape")
        await wait_for(pilot, lambda: len(table_rows(app)) == 5)
        await pilot.press("o")  # by service: definition order
        await wait_for(pilot, lambda: [r.split(" | ")[1] for r in table_rows(app)] == ["c0", "c1", "c2", "c3", "c4"])
        assert "by service" in text_of(app.screen.query_one("#summary", Static))


async def test_services_screen_and_dashboard_show_health(make_core: MakeCore, tmp_path: Path, web: HttpTarget) -> None:
    lab = tmp_path / "lab"
    write(lab, "services/shop/deploy.sh", "#!/bin/bash\necho deploy\n")
    write(
        lab,
        "services/shop/health.yaml",
        (
            f"checks:\n  - {{name: web, type: http, url: '{web.url}'}}\n"
            f"  - {{name: port, type: tcp, host: 127.0.0.1, port: {closed_port()}}}\n"
        ),
    )
    write(lab, "services/blog/deploy.sh", "#!/bin/bash\necho deploy\n")
    core, admin = await lab_admin(make_core, lab)
    await poller(core).tick()
    app = LabApp(core, actor=admin)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(
            pilot,
            lambda: (
                isinstance(app.screen, DashboardScreen)
                and "Health" in text_of(app.screen.query_one("#dash-counts", Static))
            ),
        )
        assert "Health 1 service: 0 healthy · 0 unhealthy · 1 degraded · 0 unknown" in text_of(
            app.screen.query_one("#dash-counts", Static)
        )
        assert app.open_screen("services")
        await wait_for(pilot, lambda: any(r.startswith("shop |") and r.endswith("degraded") for r in table_rows(app)))
        assert next(r for r in table_rows(app) if r.startswith("blog |")).endswith("| —")


def test_filter_and_sparkline_rules() -> None:
    f = HealthFilter.parse("status:down service:Shop type:ssh web")
    assert (f.status, f.service, f.type, f.words) == ("unhealthy", "shop", "ssh_command", ("web",))
    assert HealthFilter.parse("").empty and HealthFilter.parse("is:silenced").silenced
    assert sparkline([1.0, 2.0, 4.0, 8.0]) == "▂▃▅█"
    assert sparkline([None, 5.0, 5.0]) == "·██"
    assert sparkline([None]) == "·" and sparkline([]) == ""
    assert len(sparkline([float(i) for i in range(40)])) == 12


async def test_a_closed_health_screen_is_freed(make_core: MakeCore, tmp_path: Path, web: HttpTarget) -> None:
    """Its theme subscription once held every visit in memory (10,000 statuses each on a big lab)."""
    lab = tmp_path / "lab"
    write(lab, "health/site.yaml", f"checks:\n  - {{name: web, type: http, url: '{web.url}'}}\n")
    core, admin = await lab_admin(make_core, lab)
    async with health_screen(core, admin) as (app, pilot):
        opened = weakref.ref(app.screen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        for _ in range(20):  # its refresh worker winds down
            gc.collect()
            if opened() is None:
                break
            await pilot.pause(0.05)
        assert opened() is None


async def test_a_cold_open_shows_the_first_page_then_the_whole_window(
    make_core: MakeCore, tmp_path: Path, web: HttpTarget, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Nothing read before in the process: the first frame shows the problems-first page and
    the lab's counts (read without every status), then every status arrives and the window
    grows under the same rows without moving the cursor."""
    monkeypatch.setattr(HealthScreen, "WINDOW", 50)
    lab = tmp_path / "lab"
    port = closed_port()
    checks = "".join(
        f"  - {{name: c{i:02d}, type: tcp, host: 127.0.0.1, port: {web.port if i % 3 else port}}}\n" for i in range(60)
    )
    write(lab, "health/many.yaml", f"interval: 0.1\nchecks:\n{checks}")
    core, admin = await lab_admin(make_core, lab)
    await poller(core).tick()
    gate = asyncio.Event()
    full_read = HealthScreen.load

    async def held_load(screen: HealthScreen) -> None:
        await gate.wait()
        await full_read(screen)

    monkeypatch.setattr(HealthScreen, "load", held_load)
    app = LabApp(core, actor=admin)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        _SNAPSHOTS.clear()  # as if nothing had read the statuses in this process
        assert app.open_screen("health")
        await wait_for(pilot, lambda: isinstance(app.screen, HealthScreen) and app.screen.page is not None)
        screen = app.screen
        assert isinstance(screen, HealthScreen) and not screen.loaded
        summary = text_of(screen.query_one("#summary", Static))
        assert "60 checks in 1 service  40 healthy  20 unhealthy" in summary
        first = table_rows(app)
        assert len(first) == SIZE[1]  # a page: as many rows as the terminal has lines
        assert [r.split(" | ")[1] for r in first[:3]] == ["c00", "c03", "c06"]  # problems first
        assert all("unhealthy" in r for r in first[:20]) and all("healthy" in r for r in first[20:])
        assert "Showing 36 of 60 matching checks" in text_of(screen.query_one("#more", Static))
        await pilot.press("down", "down")

        gate.set()
        await wait_for(pilot, lambda: screen.loaded and len(table_rows(app)) == 50)
        same_checks = [r.split(" | ")[:4] for r in first]  # (sparklines and uptime may have come too)
        assert [r.split(" | ")[:4] for r in table_rows(app)[: len(first)]] == same_checks
        assert screen.page is None and screen.query_one(DataTable).cursor_row == 2
        assert "Showing 50 of 60 matching checks" in text_of(screen.query_one("#more", Static))
