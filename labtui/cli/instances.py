"""``labtui instances``: the cached Vultr instances, a refresh from Vultr, and costs.

``list`` and ``costs`` read the cache (acting as ``--as USER`` when given, else as labtui
itself: whoever runs the CLI owns the data dir); ``refresh`` asks Vultr as ``--as USER``,
who needs ``instances.refresh`` (``--costs`` also refreshes plan costs: ``costs.refresh``).
A failed refresh exits 1 and says which cached list is kept.
"""

from __future__ import annotations

import argparse
import datetime as dt

from labtui.cli.context import CliContext
from labtui.cli.output import print_json, print_table
from labtui.core.actor import Actor
from labtui.core.db.base import utcnow


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("instances", help="cloud instances from Vultr: list, refresh, costs")
    cmds = p.add_subparsers(dest="instances_command", metavar="ACTION", required=True)

    list_p = cmds.add_parser("list", help="the cached instances and the cache's age")
    _as(list_p, required=False)
    list_p.add_argument("--json", action="store_true")
    list_p.set_defaults(handler=list_instances)

    refresh_p = cmds.add_parser("refresh", help="ask Vultr now; the cache, vultr.yml and server objects follow")
    _as(refresh_p, required=True)
    refresh_p.add_argument("--costs", action="store_true", help="also refresh the plans' monthly costs")
    refresh_p.set_defaults(handler=refresh)

    costs_p = cmds.add_parser("costs", help="monthly cost by tag and by region")
    _as(costs_p, required=False)
    costs_p.add_argument("--json", action="store_true")
    costs_p.set_defaults(handler=costs)


def _as(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument("--as", dest="as_user", required=required, metavar="USER", help="act as this labtui user")


async def _actor(ctx: CliContext, args: argparse.Namespace) -> Actor:
    return await ctx.actor(args.as_user) if args.as_user else Actor.system("cli")


def age_text(age: dt.timedelta | None) -> str:
    """``3m ago``-style age of the cache; ``never refreshed`` without one."""
    if age is None:
        return "never refreshed"
    seconds = max(0, int(age.total_seconds()))
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds // size}{unit} ago"
    return f"{seconds}s ago"


def money(value: float | None) -> str:
    return "?" if value is None else f"${value:,.2f}"


async def list_instances(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    listed = await core.instances.list(await _actor(ctx, args))
    if args.json:
        print_json(
            {
                "cache_time": listed.cache_time.isoformat() if listed.cache_time else None,
                "instances": [i.as_json() for i in listed.instances],
            }
        )
        return 0
    print_table(
        ("label", "hostname", "region", "plan", "ip", "power", "tags", "monthly"),
        [
            (i.label, i.hostname, i.region, i.plan, i.ip, i.power_status, " ".join(i.tags), money(i.monthly_cost))
            for i in listed.instances
        ],
    )
    when = f"{listed.cache_time:%Y-%m-%d %H:%M} UTC, " if listed.cache_time else ""
    print(f"({len(listed.instances)} cached; {when}{age_text(listed.age(utcnow()))})")
    return 0


async def refresh(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    actor = await ctx.actor(args.as_user)
    result = await core.instances.refresh(actor)
    print(result.summary())
    for warning in result.warnings:
        print(f"warning: {warning}")
    if args.costs:
        print(f"{await core.instances.refresh_costs(actor)} plans cached")
    return 0


async def costs(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    report = await core.instances.costs(await _actor(ctx, args))
    if args.json:
        print_json(report.as_json())
        return 0
    print(
        f"Total: {money(report.total)} a month for {len(report.instances)} instances"
        + ("" if report.plans else " (no plan costs cached: run `labtui instances refresh --costs`)")
    )
    for title, groups in (("tag", report.by_tag), ("region", report.by_region)):
        print()
        print_table((title, "instances", "monthly"), [(g.name, g.count, money(g.monthly_cost)) for g in groups])
    return 0
