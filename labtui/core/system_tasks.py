"""System tasks: in-process work a schedule (or a person) can start as a job.

CloudLab had two, ``refresh_instances`` and ``refresh_costs``. Each feature registers its own
task here, and the job queue runs a task like any job: it gets a job row, its progress lines
are the job's output (so they stream in the log pane), and an exception fails the job with
its message. A task checks the acting user's permission itself, through the core service it
calls, so starting it as a job cannot bypass RBAC::

    from labtui.core.system_tasks import system_tasks

    async def refresh_instances(core: Core, actor: Actor, say: Say) -> None:
        result = await core.instances.refresh(actor)
        await say(f"{result.count} instances cached")

    system_tasks.register("refresh_instances", refresh_instances, "Refresh cloud instances from Vultr")
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from labtui.core.actor import Actor
    from labtui.core.runtime import Core

#: Appends one line to the running job's output.
Say = Callable[[str], Awaitable[None]]
SystemTaskFn = Callable[["Core", "Actor", Say], Awaitable[None]]


@dataclass(frozen=True)
class SystemTask:
    name: str
    fn: SystemTaskFn
    description: str


class SystemTaskRegistry:
    """Task name -> task. One process-wide instance, :data:`system_tasks`."""

    def __init__(self) -> None:
        self._tasks: dict[str, SystemTask] = {}

    def register(self, name: str, fn: SystemTaskFn, description: str) -> None:
        self._tasks[name] = SystemTask(name, fn, description)

    def get(self, name: str) -> SystemTask | None:
        return self._tasks.get(name)

    def names(self) -> list[str]:
        return sorted(self._tasks)


system_tasks = SystemTaskRegistry()
