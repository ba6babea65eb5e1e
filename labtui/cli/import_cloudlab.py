"""``labtui import-cloudlab``: import a CloudLab installation (its legacy ``database.json``
and/or its ``cloudlab.db``), printing what was created, updated and skipped per table."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labtui.cli.context import CliContext
from labtui.cli.output import print_json, print_table
from labtui.core.actor import Actor
from labtui.core.importer import ImportRequest, import_cloudlab
from labtui.core.importer.report import ImportReport


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "import-cloudlab",
        help="import CloudLab's users, roles, jobs, schedules, inventory and history",
        description="Import CloudLab's legacy database.json and/or its cloudlab.db into labtui, in one "
        "transaction. Re-running is safe: records are matched by their natural keys, and what changed in "
        "labtui since the last import stays unless CloudLab changed it too.",
    )
    p.add_argument("--json", dest="json_path", metavar="PATH", help="CloudLab's legacy database.json")
    p.add_argument("--db", dest="db_path", metavar="PATH", help="CloudLab's SQLite database (cloudlab.db)")
    p.add_argument("--dry-run", action="store_true", help="show what would change, and change nothing")
    p.add_argument(
        "--overwrite", action="store_true", help="replace labtui's records that conflict (same username, other account)"
    )
    p.add_argument(
        "--as", dest="as_user", metavar="USER", help="act as this user (a super-admin); default labtui itself"
    )
    p.add_argument("--json-report", action="store_true", help="print the report as JSON")
    p.set_defaults(handler=run)


def print_report(report: ImportReport) -> None:
    title = "Dry run: nothing was written. Would import" if report.dry_run else "Imported"
    print(f"{title} from {', '.join(report.sources)}")
    rows = report.rows()
    if rows:
        print_table(("table", "created", "updated", "skipped"), rows)
    else:
        print("Nothing to import.")
    for warning in report.warnings:
        print(f"warning: {warning}")


async def run(ctx: CliContext, args: argparse.Namespace) -> int:
    if not args.json_path and not args.db_path:
        print("labtui: import-cloudlab: name a source with --json PATH and/or --db PATH", file=sys.stderr)
        return 2
    core = await ctx.core()
    actor = await ctx.actor(args.as_user) if args.as_user else Actor.system("cli")
    request = ImportRequest(
        json_path=Path(args.json_path).expanduser() if args.json_path else None,
        db_path=Path(args.db_path).expanduser() if args.db_path else None,
        dry_run=args.dry_run,
        overwrite=args.overwrite,
    )
    report = await import_cloudlab(core, actor, request)
    if args.json_report:
        print_json(report.as_json())
    else:
        print_report(report)
    return 0
