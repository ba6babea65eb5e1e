"""Jobs imported from CloudLab's legacy JSON file show in the jobs screen, and their log
shows the output CloudLab stored."""

from __future__ import annotations

import asyncio
from pathlib import Path

from textual.widgets import DataTable, Static

from labtui.core.actor import Actor
from labtui.core.importer import ImportRequest, import_cloudlab
from labtui.core.runtime import Core
from labtui.tui.screens.job_log import JobLogScreen
from labtui.tui.screens.jobs import JobsScreen
from labtui.tui.widgets.log_view import LogView
from tests.cloudlab_fixtures import build_json
from tests.tui.host import host


async def wait_for(predicate, pilot, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while not predicate():
        assert loop.time() < end, "timed out waiting for the screen"
        await pilot.pause(0.05)


async def test_imported_jobs_show_with_their_output(core: Core, tmp_path: Path) -> None:
    built = build_json(tmp_path / "database.json")
    await import_cloudlab(core, Actor.system("cli"), ImportRequest(json_path=built.path))
    alice = (await core.auth.login("alice", built.passwords["alice"])).actor
    app = await host(core, alice, JobsScreen())
    async with app.run_test(size=(120, 30)) as pilot:
        table = app.screen.query_one(DataTable)
        await wait_for(lambda: table.row_count == 3, pilot)
        rows = {table.get_row_at(i)[0]: table.get_row_at(i) for i in range(table.row_count)}
        assert set(rows) == set(built.jobs)
        failed = rows["a0000001"]
        assert (failed[1], failed[2], failed[3], failed[7]) == ("hello", "deploy", "failed", "dep-1")
        assert rows["a0000000"][3] == "completed" and rows["a0000000"][6] == "30s"

        table.move_cursor(row=list(rows).index("a0000001"))
        await pilot.press("enter")
        await wait_for(lambda: isinstance(app.screen, JobLogScreen), pilot)
        view = app.screen.query_one(LogView)
        await wait_for(lambda: view.row_count >= len(built.jobs["a0000001"]), pilot)
        assert view.visible_text()[: len(built.jobs["a0000001"])] == built.jobs["a0000001"]
        summary = str(app.screen.query_one("#summary", Static).render())
        assert "failed" in summary
