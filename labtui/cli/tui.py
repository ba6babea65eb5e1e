"""``labtui tui`` (the default): the TUI, with this process's job workers and (under its
lease) the scheduler running beside it, as docs/architecture.md describes for a local ``labtui``."""

from __future__ import annotations

import argparse

from labtui.cli.context import CliContext


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tui", help="start the TUI (the default)")
    p.add_argument("--no-workers", action="store_true", help="do not run jobs or schedules in this process")
    p.set_defaults(handler=run)


async def run(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core(full=True)  # a start: the startup actions and the pull run here
    from labtui.core.workers import start_workers
    from labtui.tui.app import LabApp

    workers = None if args.no_workers else await start_workers(core, scheduler=True)
    try:
        app = LabApp(core)
        await app.run_async()
    finally:
        if workers is not None:
            await workers.stop()
    return app.return_code or 0
