"""``labtui tui`` (the default): start the TUI on the configured lab."""

from __future__ import annotations

import argparse

from labtui.cli.context import CliContext


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("tui", help="start the TUI (the default)")
    p.set_defaults(handler=run)


async def run(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    from labtui.tui.app import LabApp

    app = LabApp(core)
    await app.run_async()
    return app.return_code or 0
