"""``labtui audit list``: the audit log, newest first (as labtui itself: whoever runs the CLI
owns the data dir)."""

from __future__ import annotations

import argparse
import json

from labtui.cli.context import CliContext
from labtui.cli.output import print_json, print_table
from labtui.core.actor import Actor
from labtui.core.audit import AuditFilter


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    audit = sub.add_parser("audit", help="read the audit log")
    cmds = audit.add_subparsers(dest="audit_command", metavar="COMMAND", required=True)
    p = cmds.add_parser("list", help="newest first")
    p.add_argument("--limit", type=int, default=50)
    p.add_argument("--user", default="", help="only this user's records")
    p.add_argument("--action", default="", help="only this action (a trailing * matches a prefix)")
    p.add_argument("--text", default="", help="free text in target, detail, action, user or origin")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=list_records)


async def list_records(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core(start=False)
    rows = await core.audit.page(
        Actor.system("cli"), AuditFilter(args.user, args.action, args.text), limit=max(1, args.limit)
    )
    if args.json:
        print_json([r.as_json() for r in rows])
        return 0
    print_table(
        ("id", "time (utc)", "user", "action", "target", "origin", "detail"),
        [
            (
                r.id,
                r.created_at.strftime("%Y-%m-%d %H:%M:%S"),
                r.username,
                r.action,
                r.target,
                r.origin,
                json.dumps(r.detail, sort_keys=True) if r.detail else "",
            )
            for r in rows
        ],
    )
    return 0
