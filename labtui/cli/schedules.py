"""``labtui schedules``: add, list, preview, enable, disable and remove cron schedules.

Schedules are addressed by name. ``add`` checks what it can before anything is stored — the
cron expression and zone, that the service and script exist, the inputs by type — and
exits 2 with the reason otherwise (CloudLab accepted a schedule that failed at every run).
``preview`` needs no data dir: it only computes fire times.
"""

from __future__ import annotations

import argparse
import json

from labtui.cli.context import CliContext
from labtui.cli.jobs import parse_inputs
from labtui.cli.output import print_table
from labtui.core import cron
from labtui.core.actor import Actor
from labtui.core.errors import NotFound, ValidationError
from labtui.core.schedules import ScheduleInfo, ScheduleSpec
from labtui.core.services import validate_inputs

CLI_READER = "cli"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("schedules", help="recurring jobs on cron, in any time zone")
    cmds = p.add_subparsers(dest="schedules_command", metavar="ACTION", required=True)

    add = cmds.add_parser("add", help="schedule a service's script")
    add.add_argument("name")
    add.add_argument("--cron", required=True, metavar="EXPR", help="5 fields: minute hour day month weekday")
    add.add_argument("--service", required=True)
    add.add_argument("--script", default="deploy")
    add.add_argument(
        "--input",
        "-i",
        action="append",
        default=[],
        metavar="K=V",
        help="an input of the script; repeat a key for a list",
    )
    add.add_argument("--tz", default="UTC", metavar="ZONE", help="time zone the cron fields are read in (default UTC)")
    add.add_argument("--description", default="")
    add.add_argument("--disabled", action="store_true", help="create it disabled")
    add.add_argument(
        "--run-while-running", action="store_true", help="fire even while the previous job still runs (default: skip)"
    )
    add.add_argument(
        "--misfire-grace",
        type=int,
        default=300,
        metavar="SECONDS",
        help="a run missed while no scheduler ran still fires within this (default 300)",
    )
    _as(add, required=True)
    add.set_defaults(handler=add_schedule)

    lst = cmds.add_parser("list", help="schedules, the next to fire first")
    lst.add_argument("--json", action="store_true")
    _as(lst, required=False)
    lst.set_defaults(handler=list_schedules)

    pre = cmds.add_parser("preview", help="the next fire times of a cron expression")
    pre.add_argument("expression")
    pre.add_argument("--tz", default="UTC", metavar="ZONE")
    pre.add_argument("--count", "-n", type=int, default=5, metavar="N")
    pre.add_argument("--json", action="store_true")
    pre.set_defaults(handler=preview)

    for name, help_text, enabled in (("enable", "enable a schedule", True), ("disable", "disable a schedule", False)):
        cmd = cmds.add_parser(name, help=help_text)
        cmd.add_argument("name")
        _as(cmd, required=True)
        cmd.set_defaults(handler=set_enabled, enabled=enabled)

    rm = cmds.add_parser("remove", help="delete a schedule")
    rm.add_argument("name")
    _as(rm, required=True)
    rm.set_defaults(handler=remove)


def _as(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument("--as", dest="as_user", required=required, metavar="USER", help="act as this labtui user")


def _fmt(info: ScheduleInfo, when: object) -> str:
    import datetime as dt

    if not isinstance(when, dt.datetime):
        return "—"
    return when.astimezone(cron.zone(info.tz)).strftime("%Y-%m-%d %H:%M %Z")


async def add_schedule(ctx: CliContext, args: argparse.Namespace) -> int:
    expr = cron.validate(args.cron, args.tz)  # fail fast, before the data dir is opened
    inputs = parse_inputs(args.input)
    core = await ctx.core()
    actor = await ctx.actor(args.as_user)
    try:
        service = core.services.load(args.service)
    except NotFound as exc:
        raise ValidationError(f"{exc} (services: {', '.join(core.services.names()) or 'none'})", "service") from None
    script = service.script(args.script)
    values = validate_inputs(args.service, script, inputs)
    spec = ScheduleSpec(
        name=args.name,
        cron=expr,
        service=args.service,
        script=args.script,
        inputs=values,
        tz=args.tz,
        enabled=not args.disabled,
        skip_if_running=not args.run_while_running,
        misfire_grace_seconds=args.misfire_grace,
        description=args.description,
    )
    info = await core.schedules.create(actor, spec)
    print(
        f"schedule {info.name} added: {info.target} at '{info.cron}' ({info.tz}); next run {_fmt(info, info.next_run_at)}"
    )
    return 0


async def list_schedules(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    actor = await ctx.actor(args.as_user) if args.as_user else Actor.system(CLI_READER)
    rows = await core.schedules.list(actor)
    if args.json:
        print(json.dumps([r.as_json() for r in rows], indent=2))
        return 0
    print_table(
        ("name", "target", "cron", "tz", "enabled", "next run", "last run", "last status", "last job"),
        [
            (
                r.name,
                r.target,
                r.cron,
                r.tz,
                "yes" if r.enabled else "no",
                _fmt(r, r.next_run_at),
                _fmt(r, r.last_run_at),
                r.last_status or "",
                r.last_job_id or "",
            )
            for r in rows
        ],
    )
    return 0


async def preview(ctx: CliContext, args: argparse.Namespace) -> int:
    times = cron.preview(args.expression, args.tz, args.count)
    if args.json:
        print(json.dumps([t.isoformat() for t in times]))
        return 0
    for t in times:
        print(t.strftime("%a %Y-%m-%d %H:%M %Z"))
    return 0


async def set_enabled(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    actor = await ctx.actor(args.as_user)
    info = await core.schedules.set_enabled(actor, args.name, args.enabled)
    state = f"enabled, next run {_fmt(info, info.next_run_at)}" if info.enabled else "disabled"
    print(f"schedule {info.name} {state}")
    return 0


async def remove(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    actor = await ctx.actor(args.as_user)
    await core.schedules.delete(actor, args.name)
    print(f"schedule {args.name} removed")
    return 0
