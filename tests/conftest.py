"""Shared fixtures: a started Core on a temporary data dir (real SQLite file), and users.

Area-specific fixtures live in the test modules of that area.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path

import pytest

from labtui.core.actor import Actor
from labtui.core.config import Config
from labtui.core.jobs.worker import JobWorker
from labtui.core.runtime import Core, Paths

# Tests never read the developer's own data dir or config.
os.environ.pop("LABTUI_HOME", None)

ADMIN_PASSWORD = "pw-Admin-123"


@pytest.fixture(autouse=True)
def fast_argon2(monkeypatch: pytest.MonkeyPatch) -> None:
    """Still argon2id, with the cheapest parameters: the suite hashes hundreds of passwords.
    (Subprocess tests of the CLI use the real parameters.)"""
    from argon2 import PasswordHasher

    from labtui.core import passwords

    monkeypatch.setattr(passwords, "_hasher", PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1))


MakeCore = Callable[..., Awaitable[Core]]


@pytest.fixture
async def make_core(tmp_path: Path) -> AsyncIterator[MakeCore]:
    """Build and start Cores on ``tmp_path/home`` (several may share it, like processes)."""
    made: list[Core] = []

    async def make(config: Config | None = None, **kwargs: object) -> Core:
        core = Core(config or Config(), Paths(tmp_path / "home"), **kwargs)  # type: ignore[arg-type]
        await core.start()
        made.append(core)
        return core

    yield make
    for core in made:
        await core.aclose()


@pytest.fixture
async def core(make_core: MakeCore) -> Core:
    return await make_core()


@pytest.fixture
async def admin(core: Core) -> Actor:
    """A logged-in super-admin named ``admin``."""
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    return (await core.auth.login("admin", ADMIN_PASSWORD)).actor


@pytest.fixture
async def worker(core: Core) -> AsyncIterator[JobWorker]:
    """A job worker on ``core``, stopped (its jobs not requeued) after the test."""
    w = JobWorker(core.jobs)
    await w.start()
    yield w
    await w.stop(requeue=False)


async def job_lines(core: Core, actor: Actor, job_id: str) -> list[str]:
    """Every output line of a job, in order."""
    return [line.line for line in await core.jobs.output(actor, job_id, 0, 200000)]


def demo_lab_copy(lab: Path, service: str, files: dict[str, str]) -> Path:
    """A copy of the bundled demo lab at ``lab`` with one more service: ``files`` by name
    (``*.sh`` made executable). Returns the service's folder."""
    with resources.as_file(resources.files("labtui") / "demo") as demo:
        shutil.copytree(demo, lab)
    folder = lab / "services" / service
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
        if name.endswith(".sh"):
            (folder / name).chmod(0o755)
    return folder


async def add_user(core: Core, admin: Actor, name: str, role: str, password: str = "password-123") -> Actor:
    """An active user with one role, logged in."""
    await core.users.create(admin, name, password, roles=[role])
    return (await core.auth.login(name, password)).actor
