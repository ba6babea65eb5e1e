"""``labtui services list``: the lab's services and their scripts; ``labtui services
stop-all --as USER --confirm``: CloudLab's Stop all (every instance, no service filter), a
job like ``jobs stop``'s (``--follow`` prints its output; exit 0 when it completed)."""

from __future__ import annotations

import argparse
import json
import sys

from labtui.cli.context import CliContext
from labtui.cli.jobs import _see_through
from labtui.cli.output import print_table
from labtui.core.actor import Actor
from labtui.core.errors import ValidationError
from labtui.core.instances import STOP_ALL_PHRASE


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("services", help="the lab's services")
    services = p.add_subparsers(dest="services_command", metavar="ACTION", required=True)
    list_p = services.add_parser("list", help="services with their scripts")
    list_p.add_argument("--json", action="store_true")
    list_p.add_argument("--as", dest="as_user", metavar="USER", help="check this user's permission")
    list_p.set_defaults(handler=list_services)
    stop_p = services.add_parser(
        "stop-all", help="stop every instance of the lab (the lab's stop-instances.yaml, no service filter)"
    )
    stop_p.add_argument("--as", dest="as_user", required=True, metavar="USER", help="act as this labtui user")
    stop_p.add_argument(
        "--confirm", action="store_true", help="yes, stop every instance (the TUI asks for 'stop all' typed)"
    )
    stop_p.add_argument("--follow", "-f", action="store_true", help="print the output as it arrives")
    stop_p.set_defaults(handler=stop_all)


async def list_services(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    actor = await ctx.actor(args.as_user) if args.as_user else Actor.system("cli")
    services = await core.services.list(actor)
    if args.json:
        print(json.dumps([s.as_json() for s in services], indent=2))
        return 0
    print_table(
        ("name", "scripts", "deployed"),
        [(s.name, ", ".join(x.name for x in s.scripts), "yes" if s.active_deployment else "") for s in services],
    )
    for s in services:
        for warning in s.warnings:
            print(f"warning: {s.name}: {warning}")
    return 0


async def stop_all(ctx: CliContext, args: argparse.Namespace) -> int:
    if not args.confirm:
        raise ValidationError("stop-all stops every instance of the lab: add --confirm to go ahead", "confirm")
    core = await ctx.core()
    actor = await ctx.actor(args.as_user)
    job = await core.instances.stop_all(actor, STOP_ALL_PHRASE)
    print(f"queued job {job.id}: stop all", file=sys.stderr)
    return await _see_through(core, job, args.follow)
