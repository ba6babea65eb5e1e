"""The schedules screen: create through the form (cron checked as you type), toggle, delete."""

from __future__ import annotations

from textual.widgets import DataTable, Input, Static

from labtui.core.actor import Actor
from labtui.core.runtime import Core
from labtui.tui.screens.schedule_form import ScheduleForm
from labtui.tui.screens.schedules import SchedulesScreen
from tests.tui.host import host


def table_text(screen: SchedulesScreen) -> str:
    table = screen.query_one(DataTable)
    return "\n".join(" | ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count))


async def test_create_through_form_with_live_cron_feedback(core: Core, admin: Actor) -> None:
    app = await host(core, admin, SchedulesScreen())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, ScheduleForm)
        form.query_one("#name", Input).value = "nightly"
        form.query_one("#service", Input).value = "hello"
        form.query_one("#cron", Input).value = "61 * * * *"
        await pilot.pause()
        assert "out of range" in str(form.query_one("#preview", Static).render())
        form.query_one("#cron", Input).value = "*/15 9-17 * * 1-5"
        form.query_one("#tz", Input).value = "Europe/Berlin"
        await pilot.pause()
        preview = str(form.query_one("#preview", Static).render())
        assert preview.startswith("Next runs:") and preview.count("CET") + preview.count("CEST") == 5
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert isinstance(app.screen, SchedulesScreen)
        assert "nightly | hello/deploy | */15 9-17 * * 1-5 | Europe/Berlin" in table_text(app.screen)


async def test_duplicate_name_stays_on_form_and_toggle_disables(core: Core, admin: Actor) -> None:
    from labtui.core.schedules import ScheduleSpec

    await core.schedules.create(admin, ScheduleSpec("tick", "* * * * *", service="hello"))
    app = await host(core, admin, SchedulesScreen())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        form.query_one("#name", Input).value = "tick"
        form.query_one("#service", Input).value = "hello"
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert app.screen is form
        assert "exists already" in str(form.query_one("#error", Static).render())
        await pilot.press("escape")
        await pilot.pause()
        screen = app.screen
        assert isinstance(screen, SchedulesScreen)
        assert "| yes" in table_text(screen)
        await pilot.press("t")
        await pilot.pause(0.3)
        assert "tick | hello/deploy | * * * * * | UTC | — | — | — | no" in table_text(screen)


async def test_run_now_queues_the_job_and_opens_its_log(core: Core, admin: Actor) -> None:
    from labtui.core.schedules import ScheduleSpec
    from labtui.tui.screens.job_log import JobLogScreen

    made = await core.schedules.create(
        admin, ScheduleSpec("greet-ada", "0 3 * * *", service="greet", script="greet", inputs={"name": "Ada"})
    )
    app = await host(core, admin, SchedulesScreen())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("g")
        for _ in range(50):
            if isinstance(app.screen, JobLogScreen):
                break
            await pilot.pause(0.1)
        assert isinstance(app.screen, JobLogScreen)
        job = await core.jobs.get(admin, app.screen.job_id)
        assert (job.service, job.script, job.schedule_id, job.username) == ("greet", "greet", made.id, "admin")
        assert job.inputs["name"] == "Ada"  # the schedule's inputs (plus the script's defaults)


async def test_history_lists_runs_newest_first_and_enter_opens_the_log(core: Core, admin: Actor) -> None:
    from labtui.core.schedules import ScheduleSpec
    from labtui.tui.screens.job_log import JobLogScreen
    from labtui.tui.screens.schedule_history import ScheduleHistoryScreen

    made = await core.schedules.create(
        admin, ScheduleSpec("greeter", "0 3 * * *", service="greet", script="greet", inputs={"name": "x"})
    )
    older = await core.jobs.run_script(admin, "greet", "greet", {"name": "1"}, schedule_id=made.id)
    newer = await core.jobs.run_script(admin, "greet", "greet", {"name": "2"}, schedule_id=made.id)
    await core.jobs.run_script(admin, "greet", "greet", {"name": "not scheduled"})
    app = await host(core, admin, SchedulesScreen())
    async with app.run_test(size=(120, 40)) as pilot:
        await pilot.pause()
        await pilot.press("h")
        for _ in range(50):
            if isinstance(app.screen, ScheduleHistoryScreen) and app.screen.table.row_count:
                break
            await pilot.pause(0.05)
        screen = app.screen
        assert isinstance(screen, ScheduleHistoryScreen)
        rows = [screen.table.get_row_at(i) for i in range(screen.table.row_count)]
        assert [r[0] for r in rows] == [newer.id, older.id]
        assert [(r[1], r[2], r[3], r[4]) for r in rows] == [("not started", "queued", "—", "admin")] * 2
        assert "Runs of greeter" in str(screen.query_one("#title", Static).render())
        await pilot.press("enter")
        for _ in range(50):
            if isinstance(app.screen, JobLogScreen):
                break
            await pilot.pause(0.05)
        assert isinstance(app.screen, JobLogScreen) and app.screen.job_id == newer.id


async def test_form_creates_an_inventory_action_schedule(core: Core, admin: Actor) -> None:
    from textual.widgets import Select

    net = await core.inventory.create(admin, "network", {"name": "lan", "cidr": "10.0.0.0/24"})
    app = await host(core, admin, SchedulesScreen())
    async with app.run_test(size=(120, 50)) as pilot:
        await pilot.pause()
        await pilot.press("n")
        await pilot.pause()
        form = app.screen
        assert isinstance(form, ScheduleForm)
        assert form.query_one("#service", Input).display and not form.query_one("#object_id", Input).display
        form.query_one("#name", Input).value = "describe-lan"
        form.query_one("#job_type", Select).value = "inventory_action"
        await pilot.pause()
        assert not form.query_one("#service", Input).display and form.query_one("#object_id", Input).display
        form.query_one("#type_slug", Select).value = "network"
        await pilot.pause()
        form.query_one("#action", Select).value = "describe"
        form.query_one("#object_id", Input).value = "abc"
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert app.screen is form and "object id (a number)" in str(form.query_one("#error", Static).render())
        form.query_one("#object_id", Input).value = str(net.id)
        await pilot.press("ctrl+s")
        await pilot.pause(0.3)
        assert isinstance(app.screen, SchedulesScreen)
        assert f"describe-lan | network.describe #{net.id} | 0 3 * * * | UTC" in table_text(app.screen)
    saved = await core.schedules.get(admin, "describe-lan")
    assert (saved.job_type, saved.type_slug, saved.action, saved.object_id, saved.service) == (
        "inventory_action",
        "network",
        "describe",
        net.id,
        None,
    )


async def test_form_offers_system_tasks_from_the_registry(core: Core, admin: Actor) -> None:
    from textual.widgets import Select

    from labtui.core.system_tasks import system_tasks

    async def nothing(core: Core, actor: Actor, say: object) -> None:
        return None

    system_tasks.register("test_tidy", nothing, "Tidy up")  # type: ignore[arg-type]
    try:
        app = await host(core, admin, SchedulesScreen())
        async with app.run_test(size=(120, 50)) as pilot:
            await pilot.pause()
            await pilot.press("n")
            await pilot.pause()
            form = app.screen
            assert isinstance(form, ScheduleForm)
            form.query_one("#name", Input).value = "tidy"
            form.query_one("#job_type", Select).value = "system_task"
            await pilot.pause()
            task = form.query_one("#system_task", Select)
            assert task.display and not form.query_one("#inputs", Input).display
            assert "test_tidy" in [value for _, value in task._options]
            task.value = "test_tidy"
            await pilot.press("ctrl+s")
            await pilot.pause(0.3)
            assert isinstance(app.screen, SchedulesScreen)
            assert "tidy | task test_tidy" in table_text(app.screen)
    finally:
        system_tasks._tasks.pop("test_tidy", None)  # the registry has no removal API
