"""Services and jobs screens: deploy from the TUI and watch the log stream live, in this
process and in a second one sharing the database."""

from __future__ import annotations

import asyncio

from textual.widgets import DataTable, Input, Static

from labtui.core.actor import Actor
from labtui.core.runtime import Core
from labtui.core.workers import start_workers
from labtui.tui.screens.job_log import JobLogScreen
from labtui.tui.screens.jobs import JobsScreen
from labtui.tui.screens.run_form import RunScriptForm
from labtui.tui.screens.services import ServiceDetailScreen, ServicesScreen
from labtui.tui.widgets.log_view import LogView
from tests.conftest import MakeCore
from tests.tui.host import host


async def wait_for(predicate, pilot, timeout: float = 30.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "timed out waiting for the screen"
        await pilot.pause(0.1)


def summary(app) -> str:  # type: ignore[no-untyped-def]
    return str(app.screen.query_one("#summary", Static).render())


async def test_deploy_from_services_screen_streams_the_log(core: Core, admin: Actor) -> None:
    workers = await start_workers(core)
    try:
        app = await host(core, admin, ServicesScreen())
        async with app.run_test(size=(120, 36)) as pilot:
            await wait_for(lambda: app.screen.query_one(DataTable).row_count >= 4, pilot)
            table = app.screen.query_one(DataTable)
            names = [table.get_row_at(i)[0] for i in range(table.row_count)]
            assert {"hello", "slow", "noisy", "broken", "greet"} <= set(names)
            table.move_cursor(row=names.index("hello"))
            await pilot.press("d")
            await wait_for(lambda: isinstance(app.screen, JobLogScreen), pilot)
            await wait_for(lambda: "completed" in summary(app), pilot, timeout=60)
            text = "\n".join(app.screen.query_one(LogView).visible_text())
            assert "PLAY RECAP" in text
            assert "deployment" in summary(app)
            await pilot.press("escape")
            await wait_for(lambda: isinstance(app.screen, ServicesScreen), pilot)
            await pilot.press("r")  # the last job of each service, read again

            def last_jobs() -> dict[str, str]:
                table = app.screen.query_one(DataTable)
                return {str(table.get_row_at(i)[0]): str(table.get_row_at(i)[2]) for i in range(table.row_count)}

            await wait_for(lambda: last_jobs().get("hello", "").startswith("completed"), pilot)
            assert last_jobs()["hello"].endswith("by admin") and last_jobs()["slow"] == "—"
    finally:
        await workers.stop()


async def test_script_form_refuses_missing_input_then_runs(core: Core, admin: Actor) -> None:
    workers = await start_workers(core)
    try:
        app = await host(core, admin, ServiceDetailScreen("greet"))
        async with app.run_test(size=(120, 40)) as pilot:
            await wait_for(lambda: app.screen.query_one("#scripts", DataTable).row_count >= 2, pilot)
            table = app.screen.query_one("#scripts", DataTable)
            names = [table.get_row_at(i)[0] for i in range(table.row_count)]
            table.move_cursor(row=names.index("greet"))
            await pilot.press("x")
            await wait_for(lambda: isinstance(app.screen, RunScriptForm), pilot)
            form = app.screen
            await pilot.press("ctrl+s")
            error = form.query_one("#err-name", Static)
            await wait_for(lambda: "Missing required input: name" in str(error.render()), pilot)
            assert app.screen is form
            form.query_one("#in-name", Input).value = "Ada"
            await pilot.press("ctrl+s")
            await wait_for(lambda: isinstance(app.screen, JobLogScreen), pilot)
            await wait_for(lambda: "completed" in summary(app), pilot, timeout=30)
            assert any("Ada" in line for line in app.screen.query_one(LogView).visible_text())
    finally:
        await workers.stop()


async def test_job_started_in_one_process_streams_in_another(make_core: MakeCore, admin: Actor) -> None:
    runner = await make_core()  # the same data dir: a second "process" that runs the job
    watcher = await make_core()
    job = await runner.jobs.run_script(admin, "noisy")
    app = await host(watcher, admin, JobsScreen())
    async with app.run_test(size=(120, 30)) as pilot:
        await wait_for(lambda: app.screen.query_one(DataTable).row_count >= 1, pilot)
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, JobLogScreen), pilot)
        view = app.screen.query_one(LogView)
        workers = await start_workers(runner)  # the job starts only now, while we watch
        try:
            sizes: set[int] = set()
            while "completed" not in summary(app):
                sizes.add(view.row_count)
                await pilot.pause(0.05)
            await wait_for(lambda: view.row_count >= 100_001, pilot)
        finally:
            await workers.stop()
        assert len(sizes) > 3, f"the pane grew in steps while {job.id} ran: {sorted(sizes)}"
        assert view.visible_text()[-2:] == ["noisy line 100000 of 100000", "noisy done"]


async def test_jobs_filter_narrows_and_esc_clears_then_goes_back(core: Core, admin: Actor) -> None:
    await core.jobs.run_script(admin, "hello")
    await core.jobs.run_script(admin, "greet", "greet", {"name": "Ada"})
    app = await host(core, admin, JobsScreen())
    async with app.run_test(size=(120, 30)) as pilot:
        screen = app.screen
        await wait_for(lambda: screen.query_one(DataTable).row_count == 2, pilot)
        screen.action_filter()
        await pilot.pause()
        assert screen.query_one("#filter", Input).has_focus
        await pilot.press(*"service:greet")
        await wait_for(lambda: screen.query_one(DataTable).row_count == 1, pilot)
        assert screen.query_one(DataTable).get_row_at(0)[1] == "greet"
        await pilot.press("escape")
        await wait_for(lambda: screen.query_one(DataTable).row_count == 2, pilot)
        assert screen.query_one(DataTable).has_focus and app.screen is screen
        await pilot.press("escape")
        await pilot.pause()
        assert app.screen is not screen
