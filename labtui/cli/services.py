"""``labtui services list``: the lab's services and their scripts."""

from __future__ import annotations

import argparse
import json

from labtui.cli.context import CliContext
from labtui.cli.output import print_table
from labtui.core.actor import Actor


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("services", help="the lab's services")
    services = p.add_subparsers(dest="services_command", metavar="ACTION", required=True)
    list_p = services.add_parser("list", help="services with their scripts")
    list_p.add_argument("--json", action="store_true")
    list_p.add_argument("--as", dest="as_user", metavar="USER", help="check this user's permission")
    list_p.set_defaults(handler=list_services)


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
