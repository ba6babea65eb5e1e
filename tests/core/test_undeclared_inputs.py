"""Inputs a script does not declare reach it as ``INPUT_*``, as CloudLab exported every given
input; an imported CloudLab schedule carrying one is reported by the import and fires green."""

from __future__ import annotations

import datetime as dt
import json
import sqlite3
from pathlib import Path

from labtui.core.actor import Actor
from labtui.core.config import Config, LabConfig
from labtui.core.importer.run import ImportRequest, import_cloudlab
from labtui.core.runtime import Core
from labtui.core.scheduler import Scheduler
from labtui.core.workers import start_workers
from tests.cloudlab_fixtures import build_sqlite
from tests.conftest import ADMIN_PASSWORD, MakeCore, demo_lab_copy, job_lines

LEGACY_DEPLOY = """#!/bin/bash
echo "extra=${INPUT_LEGACY_EXTRA:-unset} env=${INPUT_ENV:-unset}"
"""


async def legacy_lab(make_core: MakeCore, tmp_path: Path) -> tuple[Core, Actor]:
    """The demo lab plus ``legacy``, whose deploy (declaring no inputs) prints two of them."""
    lab = tmp_path / "lab"
    demo_lab_copy(lab, "legacy", {"deploy.sh": LEGACY_DEPLOY})
    core = await make_core(Config(lab=LabConfig(checkout=str(lab))))
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    return core, (await core.auth.login("admin", ADMIN_PASSWORD)).actor


async def output_of(core: Core, actor: Actor, job_id: str) -> str:
    return "\n".join(await job_lines(core, actor, job_id))


async def test_an_undeclared_input_reaches_the_script(make_core: MakeCore, tmp_path: Path) -> None:
    core, admin = await legacy_lab(make_core, tmp_path)
    workers = await start_workers(core)
    try:
        job = await core.jobs.run_script(admin, "legacy", "deploy", {"legacy_extra": "kept", "env": "prod"})
        done = await core.jobs.wait(admin, job.id, timeout=60)
        assert done.status == "completed"
        output = await output_of(core, admin, job.id)
        assert "extra=kept env=prod" in output
        assert output.startswith("--- Running deploy.sh for legacy ---\n$ bash ")  # CloudLab's header
    finally:
        await workers.stop()


async def test_an_imported_schedule_with_an_undeclared_input_is_reported_and_fires_green(
    make_core: MakeCore, tmp_path: Path
) -> None:
    core, admin = await legacy_lab(make_core, tmp_path)
    source = tmp_path / "cloudlab.db"
    build_sqlite(source)
    with sqlite3.connect(source) as conn:  # CloudLab's schedule, for this lab's service
        conn.execute(
            "UPDATE scheduled_jobs SET service_name = 'legacy', inputs = ? WHERE name = 'nightly web deploy'",
            (json.dumps({"legacy_extra": "from-cloudlab"}),),
        )
    report = await import_cloudlab(core, Actor.system("test"), ImportRequest(db_path=source))
    warned = [w for w in report.warnings if "nightly web deploy" in w]
    assert warned and "legacy_extra" in warned[0] and "INPUT_" in warned[0], report.warnings

    schedule = await core.schedules.get(admin, "nightly web deploy")
    assert schedule.next_run_at is not None
    workers = await start_workers(core)
    try:
        firings = await Scheduler(core.db, core.jobs).fire_due(schedule.next_run_at + dt.timedelta(seconds=1))
        [firing] = [f for f in firings if f.schedule == "nightly web deploy"]
        assert firing.outcome == "queued" and firing.job_id is not None, firing
        done = await core.jobs.wait(admin, firing.job_id, timeout=60)
        assert done.status == "completed"
        assert "extra=from-cloudlab env=unset" in await output_of(core, admin, firing.job_id)
        # The schedule's Last reads as its job ended (it stayed "queued" forever).
        assert (await core.schedules.get(admin, "nightly web deploy")).last_status == "completed"
    finally:
        await workers.stop()
