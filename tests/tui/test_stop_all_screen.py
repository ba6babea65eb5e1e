"""Stop all from the services screen: S asks for 'stop all' typed, refuses anything else,
then queues the stop-all job and opens its log (the demo lab's real stop playbook, with no
service filter); the key is not offered to someone without system.stop_all."""

from __future__ import annotations

from sqlalchemy import select
from textual.widgets import DataTable, Static
from textual.widgets._footer import FooterKey

from labtui.core.actor import Actor
from labtui.core.db.jobs import Job
from labtui.core.runtime import Core
from labtui.core.workers import start_workers
from labtui.tui.screens.instances import TypeLabelScreen
from labtui.tui.screens.job_log import JobLogScreen
from labtui.tui.screens.services import ServicesScreen
from labtui.tui.widgets.log_view import LogView
from tests.conftest import add_user
from tests.tui.conftest import SIZE, paste, text_of, wait_for
from tests.tui.host import host


async def jobs_of(core: Core) -> list[tuple[str, str, str]]:
    return await core.db.run(lambda s: [(j.service, j.action, j.username) for j in s.scalars(select(Job))])


def footer(app: object) -> dict[str, str]:
    return {k.description: k.key for k in app.screen.query(FooterKey)}  # type: ignore[attr-defined]


async def test_stop_all_needs_the_phrase_typed_then_runs_without_a_filter(core: Core, admin: Actor) -> None:
    workers = await start_workers(core)
    try:
        app = await host(core, admin, ServicesScreen())
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count >= 4)
            assert footer(app).get("Stop all") == "S"
            await pilot.press("S")
            await wait_for(pilot, lambda: isinstance(app.screen, TypeLabelScreen))
            assert "Type 'stop all' to confirm" in text_of(app.screen.query_one("#message", Static))
            await paste(pilot, "stop")
            await pilot.press("enter")
            await wait_for(
                pilot,
                lambda: (
                    "Type exactly 'stop all' to stop every instance" in text_of(app.screen.query_one("#error", Static))
                ),
            )
            assert await jobs_of(core) == []
            await pilot.press("escape")  # cancelled: nothing queued
            await wait_for(pilot, lambda: isinstance(app.screen, ServicesScreen))
            assert await jobs_of(core) == []

            await pilot.press("S")
            await wait_for(pilot, lambda: isinstance(app.screen, TypeLabelScreen))
            await paste(pilot, "stop all")
            await pilot.press("enter")
            await wait_for(pilot, lambda: isinstance(app.screen, JobLogScreen))
            assert await jobs_of(core) == [("all", "stop_all", "admin")]

            def log_text() -> str:
                return "\n".join(app.screen.query_one(LogView).visible_text())

            await wait_for(pilot, lambda: "Demo lab: stopping instances of every service" in log_text(), timeout=60)
            assert "--- Stopping all instances ---" in log_text()
    finally:
        await workers.stop()


async def test_stop_all_is_not_offered_without_the_permission(core: Core, admin: Actor) -> None:
    operator = await add_user(core, admin, "olga", "operator")
    app = await host(core, operator, ServicesScreen())
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one(DataTable).row_count >= 4)
        assert "Stop all" not in footer(app) and footer(app).get("Deploy") == "d"
        await pilot.press("S")
        await pilot.pause()
        assert isinstance(app.screen, ServicesScreen)
        assert not any(isinstance(s, TypeLabelScreen) for s in app.screen_stack)
        assert await jobs_of(core) == []
