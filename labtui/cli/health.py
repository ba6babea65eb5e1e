"""``labtui health``: status (for scripts: exit 0 only when all is healthy), check, history,
reload, silence and unsilence.

Without ``--as`` the command acts as labtui itself (whoever runs it owns the data dir); with
``--as USER`` core checks that user's ``health.view`` / ``health.manage``.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import sys
from collections.abc import Sequence

from labtui.cli.context import CliContext
from labtui.cli.output import print_table
from labtui.core.actor import Actor
from labtui.core.db.base import utcnow
from labtui.core.db.health import HEALTHY
from labtui.core.errors import ValidationError
from labtui.core.health import Problem, split_key

CLI_ACTOR = "cli"
_DURATION = re.compile(r"(\d+)\s*([smhd])")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("health", help="health checks: status, history, check now, reload")
    health = p.add_subparsers(dest="health_command", metavar="ACTION", required=True)

    status_p = health.add_parser("status", help="every check's status; exit 0 only if all services are healthy")
    status_p.add_argument("service", nargs="?", help="only this service")
    status_p.add_argument("--json", action="store_true")
    _as(status_p)
    status_p.set_defaults(handler=status)

    check_p = health.add_parser("check", help="run one check now and print its result (not stored)")
    check_p.add_argument("check", metavar="SERVICE/CHECK")
    check_p.add_argument("--json", action="store_true")
    _as(check_p)
    check_p.set_defaults(handler=check_now)

    hist_p = health.add_parser("history", help="a service's results, newest first")
    hist_p.add_argument("service")
    hist_p.add_argument("--check", help="only this check")
    hist_p.add_argument("--hours", type=float, default=24, help="how far back (default 24)")
    hist_p.add_argument("--limit", type=int, default=100, help="at most this many rows (default 100)")
    hist_p.add_argument("--transitions", action="store_true", help="only the results that changed the status")
    hist_p.add_argument("--json", action="store_true")
    _as(hist_p)
    hist_p.set_defaults(handler=history)

    reload_p = health.add_parser("reload", help="re-read the lab's health files and say what changed")
    reload_p.add_argument("--json", action="store_true")
    _as(reload_p)
    reload_p.set_defaults(handler=reload)

    silence_p = health.add_parser("silence", help="no emails for a check for a while (maintenance)")
    silence_p.add_argument("check", metavar="SERVICE/CHECK")
    silence_p.add_argument("--for", dest="duration", required=True, metavar="DURATION", help="e.g. 30m, 2h, 1d")
    silence_p.add_argument("--reason", default="")
    _as(silence_p)
    silence_p.set_defaults(handler=silence)

    unsilence_p = health.add_parser("unsilence", help="end a check's silence now")
    unsilence_p.add_argument("check", metavar="SERVICE/CHECK")
    _as(unsilence_p)
    unsilence_p.set_defaults(handler=unsilence)


def _as(p: argparse.ArgumentParser) -> None:
    p.add_argument("--as", dest="as_user", metavar="USER", help="act as this labtui user (default: labtui itself)")


async def _actor(ctx: CliContext, args: argparse.Namespace) -> Actor:
    if args.as_user:
        return await ctx.actor(args.as_user)
    await ctx.core()
    return Actor.system(CLI_ACTOR)


def _ms(value: float | None) -> str:
    if value is None:
        return ""
    return f"{value:.1f} ms" if value < 10 else f"{value:.0f} ms"


def _when(value: dt.datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S")


def _problems(problems: Sequence[Problem], label: str = "problem") -> None:
    for p in problems:
        print(f"{label}: {p}", file=sys.stderr)


def parse_duration(text: str) -> dt.timedelta:
    """``90s``, ``30m``, ``2h``, ``1d``, or combinations like ``1h30m``."""
    compact = text.replace(" ", "").lower()
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts) != compact:
        raise ValidationError(f"Give a duration like 30m, 2h or 1d, not '{text}'", "duration")
    seconds = sum(int(n) * _UNITS[u] for n, u in parts)
    if seconds <= 0:
        raise ValidationError("The duration must be longer than zero", "duration")
    return dt.timedelta(seconds=seconds)


async def status(ctx: CliContext, args: argparse.Namespace) -> int:
    actor = await _actor(ctx, args)
    core = await ctx.core()
    services = await core.health.status(actor, args.service)
    defs = core.health.definitions
    healthy = all(s.status == HEALTHY for s in services)
    if args.json:
        print(
            json.dumps(
                {
                    "healthy": healthy,
                    "services": [s.as_json() for s in services],
                    "problems": [str(p) for p in defs.problems],
                },
                indent=2,
            )
        )
        return 0 if healthy else 1
    _problems(defs.problems)
    if not services:
        print("No health checks defined (services/<name>/health.yaml or health/*.yaml in the lab).")
        return 0
    rows: list[tuple[str, ...]] = []
    for svc in services:
        rows.append((svc.name, "", "", svc.status.upper(), "", "", "", ""))
        for c in svc.checks:
            state = c.status + (" (silenced)" if c.silenced_until else "")
            rows.append(("", c.name, c.type, state, _when(c.since), _ms(c.latency_ms), c.target, (c.error or "")[:80]))
    print_table(("service", "check", "type", "status", "since", "latency", "target", "error"), rows)
    return 0 if healthy else 1


async def check_now(ctx: CliContext, args: argparse.Namespace) -> int:
    service, name = split_key(args.check)
    actor = await _actor(ctx, args)
    core = await ctx.core()
    result = await core.health.check_now(actor, service, name)
    if args.json:
        print(json.dumps({"service": service, "check": name, **result.as_json()}, indent=2))
    else:
        line = f"{service}/{name}: {result.status}"
        details = [
            x
            for x in (result.target, _ms(result.latency_ms), f"HTTP {result.status_code}" if result.status_code else "")
            if x
        ]
        if details:
            line += f" ({', '.join(details)})"
        print(line)
        if result.error:
            print(f"  {result.error}")
    return 0 if result.status == HEALTHY else 1


async def history(ctx: CliContext, args: argparse.Namespace) -> int:
    actor = await _actor(ctx, args)
    core = await ctx.core()
    rows = await core.health.history(
        actor, args.service, args.check, hours=args.hours, limit=args.limit, transitions_only=args.transitions
    )
    if args.json:
        print(json.dumps([r.as_json() for r in rows], indent=2))
        return 0
    if not rows:
        print(f"No results for {args.service}{'/' + args.check if args.check else ''} in the last {args.hours:g} h.")
        return 0
    table: list[tuple[str, ...]] = []
    for r in rows:
        change = f"{r.previous_status} -> {r.status}" if r.is_transition else r.status
        table.append(
            (
                _when(r.checked_at),
                r.check,
                change,
                r.outcome,
                _ms(r.latency_ms),
                str(r.status_code or ""),
                (r.error or "")[:80],
            )
        )
    print_table(("time", "check", "status", "result", "latency", "code", "error"), table)
    return 0


async def reload(ctx: CliContext, args: argparse.Namespace) -> int:
    actor = await _actor(ctx, args)
    core = await ctx.core()
    report = await core.health.reload(actor)
    if args.json:
        print(json.dumps(report.as_json(), indent=2))
        return 1 if report.problems else 0
    print(
        f"{report.count} service(s) with health checks; "
        f"{len(report.added)} added, {len(report.changed)} changed, {len(report.removed)} removed"
    )
    for label, keys in (("added", report.added), ("changed", report.changed), ("removed", report.removed)):
        for key in keys:
            print(f"  {label}: {key}")
    _problems(report.warnings, "warning")
    _problems(report.problems)
    return 1 if report.problems else 0


async def silence(ctx: CliContext, args: argparse.Namespace) -> int:
    service, name = split_key(args.check)
    until = utcnow() + parse_duration(args.duration)
    actor = await _actor(ctx, args)
    core = await ctx.core()
    info = await core.health.silence(actor, service, name, until, args.reason)
    print(f"{service}/{name} silenced until {_when(info.until)} UTC")
    return 0


async def unsilence(ctx: CliContext, args: argparse.Namespace) -> int:
    service, name = split_key(args.check)
    actor = await _actor(ctx, args)
    core = await ctx.core()
    await core.health.unsilence(actor, service, name)
    print(f"{service}/{name}: silence ended")
    return 0
