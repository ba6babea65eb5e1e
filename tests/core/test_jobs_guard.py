"""No job process outlives its node: ``labtui serve`` killed by SIGKILL while a job's script
has detached children (``setsid``, a double fork with ``nohup``) leaves none of them alive,
nor does a node killed with its guard once the next one starts, nor a cancel (docs/jobs.md)."""

from __future__ import annotations

import asyncio
import os
import signal
from pathlib import Path

import psutil

from labtui.core.actor import Actor
from labtui.core.jobs.worker import JobWorker
from labtui.core.runtime import Core
from tests.conftest import ADMIN_PASSWORD, MakeCore
from tests.core.test_jobs_cli import start_serve, wait_for

DETACHING = """\
#!/usr/bin/env bash
# Children that leave the script's session and process tree every way a deploy might.
setsid sleep 600 &
( nohup sleep 601 >/dev/null 2>&1 & ) &
setsid bash -c 'sleep 602 & sleep 603' >/dev/null 2>&1 < /dev/null &
echo "DETACHED"
sleep 604
"""


def job_processes(job_id: str) -> list[psutil.Process]:
    """Every live process of the job, wherever it was re-parented (found by its environment)."""
    found = []
    for p in psutil.process_iter():
        try:
            if p.status() != psutil.STATUS_ZOMBIE and p.environ().get("LABTUI_JOB_ID") == job_id:
                found.append(p)
        except psutil.Error:
            continue
    return found


def kill_all(procs: list[psutil.Process]) -> None:
    for p in procs:
        try:
            p.kill()
        except psutil.Error:
            pass


def add_detacher(core: Core) -> None:
    service = core.lab_dir / "services" / "detacher"
    service.mkdir(parents=True)
    (service / "deploy.sh").write_text(DETACHING)


async def queue_detaching_job(make_core: MakeCore) -> tuple[Core, str]:
    core = await make_core()
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    admin: Actor = (await core.auth.login("admin", ADMIN_PASSWORD)).actor
    add_detacher(core)
    return core, (await core.jobs.run_script(admin, "detacher")).id


def sleeps(procs: list[psutil.Process]) -> set[str]:
    names = set()
    for p in procs:
        try:
            if p.name() == "sleep":
                names.add(p.cmdline()[-1])
        except psutil.Error:
            continue
    return names


def outside_tree(pid: int, procs: list[psutil.Process]) -> list[psutil.Process]:
    """The processes of ``procs`` that are no descendant of ``pid`` (a kill of its tree misses them)."""
    tree = {p.pid for p in psutil.Process(pid).children(recursive=True)}
    return [p for p in procs if p.pid not in tree]


def guard_of(pid: int) -> psutil.Process:
    """The live guard process of worker process ``pid``."""
    guards = []
    for p in psutil.Process(pid).children():
        try:
            if p.status() != psutil.STATUS_ZOMBIE and "guard.py" in " ".join(p.cmdline()):
                guards.append(p)
        except psutil.Error:
            continue
    [guard] = guards
    return guard


def wait_gone(p: psutil.Process) -> None:
    """Until ``p`` has exited (a zombie of a parent that is not this test counts)."""
    wait_for(lambda: not p.is_running() or p.status() == psutil.STATUS_ZOMBIE, timeout=10)


def running_detached(job_id: str, serve_pid: int) -> list[psutil.Process]:
    """Wait for all five sleeps; check the script really detached some of them."""
    wait_for(lambda: sleeps(job_processes(job_id)) == {"600", "601", "602", "603", "604"}, timeout=60)
    procs = job_processes(job_id)
    assert sleeps(outside_tree(serve_pid, procs)) == {"601"}  # the double fork: re-parented
    assert len({os.getsid(p.pid) for p in procs}) >= 3  # setsid'd away from the script's session
    return procs


async def test_kill_9_of_serve_leaves_no_job_process(make_core: MakeCore, tmp_path: Path) -> None:
    _, job_id = await queue_detaching_job(make_core)
    serve = start_serve(tmp_path / "home")
    try:
        running_detached(job_id, serve.pid)
        serve.send_signal(signal.SIGKILL)
        serve.wait(timeout=10)
        wait_for(lambda: not job_processes(job_id), timeout=10)
    finally:
        if serve.poll() is None:
            serve.kill()
        leftovers = job_processes(job_id)
        kill_all(leftovers)
    assert not leftovers


async def test_a_node_killed_with_its_guard_is_swept_by_the_next(make_core: MakeCore, tmp_path: Path) -> None:
    core, job_id = await queue_detaching_job(make_core)
    serve = start_serve(tmp_path / "home")
    later = None
    try:
        running_detached(job_id, serve.pid)
        guard = guard_of(serve.pid)
        guard.kill()  # nothing is left to notice the node's death
        wait_gone(guard)
        serve.send_signal(signal.SIGKILL)
        serve.wait(timeout=10)
        assert sleeps(job_processes(job_id)) == {"600", "601", "602", "603", "604"}

        later = start_serve(tmp_path / "home")
        wait_for(lambda: not job_processes(job_id), timeout=30)
        nodes = core.paths.home / "job-nodes"
        wait_for(lambda: not list(nodes.iterdir()), timeout=10)  # the dead node is forgotten
    finally:
        for p in (serve, later):
            if p is not None and p.poll() is None:
                p.kill()
        leftovers = job_processes(job_id)
        kill_all(leftovers)
    assert not leftovers


async def test_a_killed_guard_is_started_again_for_the_next_job(make_core: MakeCore, tmp_path: Path) -> None:
    core = await make_core()
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    admin = (await core.auth.login("admin", ADMIN_PASSWORD)).actor
    add_detacher(core)
    quick = core.lab_dir / "services" / "quick"
    quick.mkdir()
    (quick / "deploy.sh").write_text("echo quick\n")
    serve = start_serve(tmp_path / "home")
    job_id = ""
    try:
        first = await core.jobs.run_script(admin, "quick")
        assert (await core.jobs.wait(admin, first.id, timeout=60)).status == "completed"
        old = guard_of(serve.pid)
        old.kill()
        wait_gone(old)
        job_id = (await core.jobs.run_script(admin, "detacher")).id
        running_detached(job_id, serve.pid)
        assert guard_of(serve.pid).pid != old.pid
        serve.send_signal(signal.SIGKILL)
        serve.wait(timeout=10)
        wait_for(lambda: not job_processes(job_id), timeout=10)
    finally:
        if serve.poll() is None:
            serve.kill()
        leftovers = job_processes(job_id) if job_id else []
        kill_all(leftovers)
    assert not leftovers


async def test_cancel_kills_the_children_that_left_the_tree(core: Core, admin: Actor) -> None:
    add_detacher(core)
    worker = JobWorker(core.jobs)
    await worker.start()
    try:
        job = await core.jobs.run_script(admin, "detacher")
        await asyncio.to_thread(running_detached, job.id, os.getpid())
        await core.jobs.cancel(admin, job.id)
        assert (await core.jobs.wait(admin, job.id, timeout=30)).status == "cancelled"
        # Gone with the job, not only once the worker stops.
        left = [p.cmdline() for p in job_processes(job.id)]
    finally:
        kill_all(job_processes(job.id))
        await worker.stop(requeue=False)
    assert left == []
