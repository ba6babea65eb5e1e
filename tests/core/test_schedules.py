"""Schedule definitions (validation, time zones, next run, permissions, audit) and firing:
inventory actions and system tasks as jobs, bursts without double fires, run history."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from collections.abc import Iterator

import pytest
from sqlalchemy import select

from labtui.core.actor import Actor
from labtui.core.db.base import utcnow
from labtui.core.db.jobs import Job
from labtui.core.db.models import AuditRecord
from labtui.core.db.schedules import ScheduledJob
from labtui.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from labtui.core.jobs.worker import JobWorker
from labtui.core.runtime import Core
from labtui.core.scheduler import Scheduler
from labtui.core.schedules import ScheduleSpec
from labtui.core.system_tasks import Say, system_tasks
from tests.conftest import add_user


async def test_create_computes_next_run_in_zone_and_lists_by_next_run(core: Core, admin: Actor) -> None:
    hourly = await core.schedules.create(admin, ScheduleSpec("hourly", "0 * * * *", service="hello"))
    berlin = await core.schedules.create(
        admin, ScheduleSpec("berlin-9", "0 9 * * *", service="hello", tz="Europe/Berlin")
    )
    assert hourly.next_run_at and hourly.next_run_at.minute == 0
    assert (
        berlin.next_run_at and berlin.next_run_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin")).hour == 9
    )
    await core.schedules.create(admin, ScheduleSpec("leap-day", "0 0 29 2 *", service="hello"))
    names = [s.name for s in await core.schedules.list(admin)]
    assert names[0] in ("hourly", "berlin-9") and names[-1] == "leap-day"
    disabled = await core.schedules.set_enabled(admin, "hourly", False)
    assert disabled.next_run_at is None
    assert [s.name for s in await core.schedules.list(admin)][-1] == "hourly"  # disabled ones last


async def test_bad_cron_and_duplicate_name_are_refused(core: Core, admin: Actor) -> None:
    with pytest.raises(ValidationError, match="out of range"):
        await core.schedules.create(admin, ScheduleSpec("x", "61 * * * *", service="hello"))
    await core.schedules.create(admin, ScheduleSpec("x", "* * * * *", service="hello"))
    with pytest.raises(Conflict):
        await core.schedules.create(admin, ScheduleSpec("x", "* * * * *", service="hello"))
    with pytest.raises(ValidationError, match="needs a service"):
        await core.schedules.create(admin, ScheduleSpec("y", "* * * * *", service=None))


async def test_viewer_can_list_but_not_create_and_delete_is_audited(core: Core, admin: Actor) -> None:
    viewer = await add_user(core, admin, "watcher", "viewer")
    await core.schedules.create(admin, ScheduleSpec("nightly", "0 3 * * *", service="hello", inputs={"name": "x"}))
    assert [s.name for s in await core.schedules.list(viewer)] == ["nightly"]
    with pytest.raises(PermissionDenied):
        await core.schedules.create(viewer, ScheduleSpec("mine", "0 3 * * *", service="hello"))
    await core.schedules.delete(admin, "nightly")
    with pytest.raises(NotFound):
        await core.schedules.get(admin, "nightly")
    actions = [r.action for r in await core.audit.page(admin)]
    assert "schedule.create" in actions and "schedule.delete" in actions


# -- firing: inventory actions, system tasks, bursts -------------------------------------------


async def _echo_task(core: Core, actor: Actor, say: Say) -> None:
    """A test task that calls core as the job's user (so RBAC applies) and says so."""
    await say(f"running as {actor.username}")
    await say(f"{len(await core.schedules.list(actor))} schedule(s) visible")


async def _slow_task(core: Core, actor: Actor, say: Say) -> None:
    await say("waiting")
    await asyncio.Event().wait()  # until cancelled


async def _failing_task(core: Core, actor: Actor, say: Say) -> None:
    await say("about to fail")
    raise RuntimeError("the upstream API said no")


@pytest.fixture
def test_tasks() -> Iterator[None]:
    system_tasks.register("test_echo", _echo_task, "Say who runs it")
    system_tasks.register("test_fail", _failing_task, "Fail on purpose")
    system_tasks.register("test_slow", _slow_task, "Take a minute")
    yield
    for name in ("test_echo", "test_fail", "test_slow", "test_vanishing"):
        system_tasks._tasks.pop(name, None)  # the registry has no removal API


async def make_due(core: Core, *names: str) -> None:
    def q(s):  # type: ignore[no-untyped-def]
        for row in s.scalars(select(ScheduledJob).where(ScheduledJob.name.in_(names))):
            row.next_run_at = utcnow() - dt.timedelta(seconds=1)

    await core.db.run(q)


async def jobs_of(core: Core, schedule_id: int) -> list[Job]:
    return await core.db.run(lambda s: list(s.scalars(select(Job).where(Job.schedule_id == schedule_id))))


async def test_inventory_action_schedule_fires_as_its_creator(core: Core, admin: Actor, worker: JobWorker) -> None:
    net = await core.inventory.create(admin, "network", {"name": "lan", "cidr": "10.0.0.0/24"})
    made = await core.schedules.create(
        admin,
        ScheduleSpec(
            "describe-lan",
            "0 * * * *",
            job_type="inventory_action",
            type_slug="network",
            action="describe",
            object_id=net.id,
        ),
    )
    assert made.target == f"network.describe #{net.id}"
    await make_due(core, "describe-lan")
    [firing] = await Scheduler(core.db, core.jobs).fire_due()
    assert firing.outcome == "queued"
    job = await core.jobs.wait(admin, firing.job_id or "", timeout=60)
    assert (job.status, job.action, job.type_slug, job.object_id, job.schedule_id, job.username) == (
        "completed",
        "inventory",
        "network",
        net.id,
        made.id,
        "scheduler:describe-lan",
    )
    text = "\n".join(line.line for line in await core.jobs.output(admin, job.id))
    assert "Network lan is 10.0.0.0/24" in text
    again = await core.schedules.get(admin, made.id)
    # The firing queued the job; its Last now reads as the job ended (it stayed "queued").
    assert (
        again.last_job_id == job.id
        and again.last_status == "completed"
        and again.next_run_at
        and again.next_run_at > utcnow()
    )


async def test_system_task_schedule_fires_and_its_lines_are_the_output(
    core: Core, admin: Actor, worker: JobWorker, test_tasks: None
) -> None:
    ok = await core.schedules.create(
        admin, ScheduleSpec("echo", "0 * * * *", job_type="system_task", system_task="test_echo")
    )
    bad = await core.schedules.create(
        admin, ScheduleSpec("fail", "0 * * * *", job_type="system_task", system_task="test_fail")
    )
    await make_due(core, "echo", "fail")
    firings = await Scheduler(core.db, core.jobs).fire_due()
    assert sorted(f.outcome for f in firings) == ["queued", "queued"]
    [echo_job] = await jobs_of(core, ok.id)
    [fail_job] = await jobs_of(core, bad.id)
    done = await core.jobs.wait(admin, echo_job.id, timeout=15)
    lines = [line.line for line in await core.jobs.output(admin, echo_job.id)]
    assert (done.status, done.service, done.action, done.script) == ("completed", "system", "system_task", "test_echo")
    assert lines[1:] == ["running as scheduler:echo", "2 schedule(s) visible"]
    failed = await core.jobs.wait(admin, fail_job.id, timeout=15)
    lines = [line.line for line in await core.jobs.output(admin, fail_job.id)]
    assert failed.status == "failed"
    assert lines[1:] == ["about to fail", "[ERROR: the upstream API said no]"]


async def test_unknown_system_task_queues_nothing_and_records_the_error(
    core: Core, admin: Actor, test_tasks: None
) -> None:
    system_tasks.register("test_vanishing", _echo_task, "Registered, then gone")
    made = await core.schedules.create(
        admin, ScheduleSpec("gone", "0 * * * *", job_type="system_task", system_task="test_vanishing")
    )
    system_tasks._tasks.pop("test_vanishing")  # e.g. the feature was removed
    await make_due(core, "gone")
    [firing] = await Scheduler(core.db, core.jobs).fire_due()
    assert firing.outcome == "error" and "Unknown system task 'test_vanishing'" in firing.detail
    assert await jobs_of(core, made.id) == []
    after = await core.schedules.get(admin, made.id)
    assert after.last_status == "error" and after.last_job_id is None
    assert after.next_run_at and after.next_run_at > utcnow()  # moves on; no retry every tick
    errors = await core.db.run(
        lambda s: list(s.scalars(select(AuditRecord).where(AuditRecord.action == "schedule.error")))
    )
    assert [e.target for e in errors] == [f"schedules/{made.id}"] and "test_vanishing" in errors[0].detail
    with pytest.raises(ValidationError, match="System task must be one of"):
        await core.schedules.create(
            admin, ScheduleSpec("nope", "0 * * * *", job_type="system_task", system_task="nope")
        )


async def test_burst_fires_each_once_even_with_two_schedulers(core: Core, admin: Actor) -> None:
    names = [f"b{i:03d}" for i in range(60)]
    for name in names:
        await core.schedules.create(
            admin, ScheduleSpec(name, "* * * * *", service="greet", script="greet", inputs={"name": name})
        )
    # One whose input is no longer valid and one whose creator may not deploy: refused, recorded, the rest queued.
    await core.schedules.create(admin, ScheduleSpec("broken-input", "* * * * *", service="greet", script="greet"))
    viewer = await add_user(core, admin, "watcher", "viewer")
    await core.db.run(
        lambda s: s.add(
            ScheduledJob(
                name="viewer-made",
                job_type="service_script",
                service_name="greet",
                script_name="deploy",
                cron_expression="* * * * *",
                created_by=viewer.user_id,
                next_run_at=utcnow(),
            )
        )
    )
    await make_due(core, *names, "broken-input", "viewer-made")
    a, b = Scheduler(core.db, core.jobs), Scheduler(core.db, core.jobs)
    first, second = await asyncio.gather(a.fire_due(), b.fire_due())
    firings = first + second
    assert sorted(f.schedule for f in firings) == sorted([*names, "broken-input", "viewer-made"])  # each once
    outcome = {f.schedule: f for f in firings}
    assert {outcome[n].outcome for n in names} == {"queued"}
    assert (
        outcome["broken-input"].outcome == "error" and "Missing required input: name" in outcome["broken-input"].detail
    )
    assert outcome["viewer-made"].outcome == "error" and "services.deploy" in outcome["viewer-made"].detail
    jobs = await core.db.run(lambda s: list(s.scalars(select(Job))))
    assert len(jobs) == len(names) and {j.username for j in jobs} == {f"scheduler:{n}" for n in names}
    assert sorted(json.loads(j.inputs)["name"] for j in jobs) == names
    # A second look in the same second finds nothing due.
    assert await a.fire_due() == []


async def test_history_lists_a_schedules_runs_newest_first_for_who_may_see_them(core: Core, admin: Actor) -> None:
    made = await core.schedules.create(
        admin, ScheduleSpec("greeter", "0 3 * * *", service="greet", script="greet", inputs={"name": "x"})
    )
    first = await core.jobs.run_script(admin, "greet", "greet", {"name": "1"}, schedule_id=made.id)
    second = await core.jobs.run_script(admin, "greet", "greet", {"name": "2"}, schedule_id=made.id)
    await core.jobs.run_script(admin, "greet", "greet", {"name": "other"})
    assert [j.id for j in await core.jobs.for_schedule(admin, made.id)] == [second.id, first.id]
    operator = await add_user(core, admin, "olga", "operator")  # jobs.view_all
    assert [j.id for j in await core.jobs.for_schedule(operator, made.id)] == [second.id, first.id]
    viewer = await add_user(core, admin, "watcher", "viewer")  # jobs.view_own: only their own
    assert await core.jobs.for_schedule(viewer, made.id) == []
    await core.rbac.create_role(admin, "empty", permissions=set())
    stranger = await add_user(core, admin, "stranger", "empty")
    with pytest.raises(PermissionDenied):
        await core.jobs.for_schedule(stranger, made.id)


async def test_system_task_jobs_cancel_and_refuse_unknown_names(
    core: Core, admin: Actor, worker: JobWorker, test_tasks: None
) -> None:
    with pytest.raises(ValidationError, match="Unknown system task 'nope'"):
        await core.jobs.run_system_task(admin, "nope")
    job = await core.jobs.run_system_task(admin, "test_slow")
    assert (job.status, job.username, job.script) == ("queued", "admin", "test_slow")
    for _ in range(100):
        if [line.line for line in await core.jobs.output(admin, job.id)][1:] == ["waiting"]:
            break
        await asyncio.sleep(0.05)
    await core.jobs.cancel(admin, job.id)
    done = await core.jobs.wait(admin, job.id, timeout=10)
    assert done.status == "cancelled"
    assert [line.line for line in await core.jobs.output(admin, job.id)][-1] == "[CANCELLED]"


async def test_a_schedules_last_status_follows_its_job_to_cancelled(
    core: Core, admin: Actor, worker: JobWorker
) -> None:
    made = await core.schedules.create(admin, ScheduleSpec("slowly", "0 * * * *", service="slow"))
    await make_due(core, "slowly")
    [firing] = await Scheduler(core.db, core.jobs).fire_due()
    assert firing.outcome == "queued" and firing.job_id is not None
    assert (await core.schedules.get(admin, made.id)).last_status in ("queued", "running")
    await core.jobs.cancel(admin, firing.job_id)
    assert (await core.jobs.wait(admin, firing.job_id, timeout=30)).status == "cancelled"
    assert (await core.schedules.get(admin, made.id)).last_status == "cancelled"
    [listed] = [s for s in await core.schedules.list(admin) if s.name == "slowly"]
    assert listed.last_status == "cancelled"
