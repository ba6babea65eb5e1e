"""Schedule definitions: validation, time zones, next run, permissions and audit."""

from __future__ import annotations

import datetime as dt

import pytest

from labtui.core.actor import Actor
from labtui.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from labtui.core.runtime import Core
from labtui.core.schedules import ScheduleSpec
from tests.conftest import add_user


async def test_create_computes_next_run_in_zone_and_lists_by_next_run(core: Core, admin: Actor) -> None:
    hourly = await core.schedules.create(admin, ScheduleSpec("hourly", "0 * * * *", service="hello"))
    berlin = await core.schedules.create(admin, ScheduleSpec("berlin-9", "0 9 * * *", service="hello", tz="Europe/Berlin"))
    assert hourly.next_run_at and hourly.next_run_at.minute == 0
    assert berlin.next_run_at and berlin.next_run_at.astimezone(__import__("zoneinfo").ZoneInfo("Europe/Berlin")).hour == 9
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
