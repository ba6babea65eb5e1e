"""``labtui jobs``: run, stop, list, show, follow and cancel jobs from scripts and pipes.

``jobs run`` queues the job and, when no worker is alive in any other labtui process, runs
a worker in this process for just that job, so the command works with or without
``labtui serve``. Exit codes: 0 the job completed, 1 it did not, 2 bad usage or input.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from typing import Any

from labtui.cli.context import CliContext
from labtui.cli.output import print_table
from labtui.core.actor import Actor
from labtui.core.db.jobs import COMPLETED, STATUSES
from labtui.core.errors import ValidationError
from labtui.core.jobs import JobInfo
from labtui.core.jobs.worker import JobWorker
from labtui.core.runtime import Core

_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]")
CLI_READER = "cli"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("jobs", help="run, follow and cancel service jobs")
    jobs = p.add_subparsers(dest="jobs_command", metavar="ACTION", required=True)

    run_p = jobs.add_parser("run", help="queue a service's script (default: deploy)")
    run_p.add_argument("service")
    run_p.add_argument("script", nargs="?", default="deploy")
    run_p.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        metavar="K=V",
        help="an input of the script; repeat a key for a list",
    )
    _as_required(run_p)
    run_p.add_argument("--follow", "-f", action="store_true", help="print the output as it arrives")
    run_p.set_defaults(handler=run)

    stop_p = jobs.add_parser("stop", help="stop a service (its stop.yml, else the lab's stop playbooks)")
    stop_p.add_argument("service")
    _as_required(stop_p)
    stop_p.add_argument("--follow", "-f", action="store_true", help="print the output as it arrives")
    stop_p.set_defaults(handler=stop)

    list_p = jobs.add_parser("list", help="jobs, newest first")
    list_p.add_argument("--status", choices=STATUSES)
    list_p.add_argument("--service")
    list_p.add_argument("--limit", type=int, default=50)
    list_p.add_argument("--json", action="store_true")
    _as_optional(list_p)
    list_p.set_defaults(handler=list_jobs)

    show_p = jobs.add_parser("show", help="one job with its output")
    show_p.add_argument("id")
    show_p.add_argument("--json", action="store_true")
    _as_optional(show_p)
    show_p.set_defaults(handler=show)

    follow_p = jobs.add_parser("follow", help="print a job's output as it arrives; exit with its result")
    follow_p.add_argument("id")
    _as_optional(follow_p)
    follow_p.set_defaults(handler=follow)

    cancel_p = jobs.add_parser("cancel", help="cancel a queued or running job")
    cancel_p.add_argument("id")
    _as_required(cancel_p)
    cancel_p.set_defaults(handler=cancel)


def _as_required(p: argparse.ArgumentParser) -> None:
    p.add_argument("--as", dest="as_user", required=True, metavar="USER", help="act as this labtui user")


def _as_optional(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--as",
        dest="as_user",
        metavar="USER",
        help="see what this user may see (default: everything; you own the data dir)",
    )


async def _reader(ctx: CliContext, args: argparse.Namespace) -> Actor:
    if getattr(args, "as_user", None):
        return await ctx.actor(args.as_user)
    await ctx.core()
    return Actor.system(CLI_READER)


def parse_inputs(pairs: list[str]) -> dict[str, Any]:
    """``K=V`` pairs; a key given more than once becomes a list."""
    inputs: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        key = key.strip()
        if not sep or not key:
            raise ValidationError(f"--input takes KEY=VALUE, got '{pair}'", "input")
        if key in inputs:
            current = inputs[key]
            inputs[key] = [*current, value] if isinstance(current, list) else [current, value]
        else:
            inputs[key] = value
    return inputs


def _print_lines(lines: list[str]) -> None:
    out = sys.stdout
    text = "\n".join(lines) + "\n"
    if not out.isatty():
        text = _ANSI.sub("", text)
    out.write(text)
    out.flush()


async def follow_output(core: Core, actor: Actor, job_id: str) -> JobInfo:
    async for batch in core.jobs.follow(actor, job_id):
        _print_lines([line.line for line in batch])
    return await core.jobs.get(actor, job_id)


def _summary(job: JobInfo) -> str:
    extra = f", exit code {job.exit_code}" if job.exit_code not in (None, 0) else ""
    dep = f", deployment {job.deployment_id}" if job.deployment_id else ""
    return f"job {job.id} {job.status}{extra}{dep}"


async def _see_through(core: Core, job: JobInfo, follow_it: bool) -> int:
    """Follow or wait for a job just queued, running it here if no worker is alive elsewhere."""
    reader = Actor.system(CLI_READER)
    local: JobWorker | None = None
    if not await core.jobs.workers_alive():
        local = JobWorker(core.jobs, only=[job.id])
        await local.start()
    elif not follow_it:
        print(job.id)
        return 0
    try:
        if follow_it:
            final = await follow_output(core, reader, job.id)
        else:
            print(job.id)
            final = await core.jobs.wait(reader, job.id)
    finally:
        if local is not None:
            # Interrupted (Ctrl-C): the job this command runs is cancelled, not left behind.
            await local.stop(requeue=False)
    print(_summary(final), file=sys.stderr)
    return 0 if final.status == COMPLETED else 1


async def run(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    actor = await ctx.actor(args.as_user)
    job = await core.jobs.run_script(actor, args.service, args.script, parse_inputs(args.input))
    print(f"queued job {job.id}: {job.service} {job.script}", file=sys.stderr)
    return await _see_through(core, job, args.follow)


async def stop(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    actor = await ctx.actor(args.as_user)
    job = await core.jobs.stop(actor, args.service)
    print(f"queued job {job.id}: stop {job.service}", file=sys.stderr)
    return await _see_through(core, job, args.follow)


def _fmt_time(job: JobInfo) -> str:
    return job.created_at.strftime("%Y-%m-%d %H:%M:%S")


async def list_jobs(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    actor = await _reader(ctx, args)
    jobs = await core.jobs.list(actor, status=args.status, service=args.service, limit=args.limit)
    if args.json:
        print(json.dumps([j.as_json() for j in jobs], indent=2))
        return 0
    print_table(
        ("id", "service", "script", "status", "user", "created (utc)", "deployment"),
        [
            (j.id, j.service, j.script or j.action, j.status, j.username, _fmt_time(j), j.deployment_id or "")
            for j in jobs
        ],
    )
    return 0


async def show(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    actor = await _reader(ctx, args)
    job = await core.jobs.get(actor, args.id)
    lines: list[str] = []
    after = 0
    while True:
        batch = await core.jobs.output(actor, args.id, after, 10000)
        if not batch:
            break
        lines.extend(b.line for b in batch)
        after = batch[-1].seq
    if args.json:
        print(json.dumps({**job.as_json(), "output": lines}, indent=2))
        return 0
    for key, value in job.as_json().items():
        if value not in (None, {}, ""):
            print(f"{key + ':':<18}{value}")
    print()
    if lines:
        _print_lines(lines)
    return 0


async def follow(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    actor = await _reader(ctx, args)
    final = await follow_output(core, actor, args.id)
    print(_summary(final), file=sys.stderr)
    return 0 if final.status == COMPLETED else 1


async def cancel(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    actor = await ctx.actor(args.as_user)
    job = await core.jobs.cancel(actor, args.id)
    if job.is_final:
        print(f"job {job.id} {job.status}")
    else:
        print(f"job {job.id}: cancel requested (its worker ends it within seconds)")
    return 0
