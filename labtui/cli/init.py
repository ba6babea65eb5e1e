"""``labtui init``: write the commented config (every key, its default and what it does)."""

from __future__ import annotations

import argparse
import sys

from labtui.cli.context import CliContext
from labtui.core.config import render_example


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("init", help="write a commented config.yaml into the data dir")
    p.add_argument("--force", action="store_true", help="overwrite an existing config.yaml")
    p.set_defaults(handler=run)


async def run(ctx: CliContext, args: argparse.Namespace) -> int:
    target = ctx.paths.config
    if target.exists() and not args.force:
        print(f"labtui: {target} exists; use --force to overwrite it", file=sys.stderr)
        return 1
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_example())
    print(f"wrote {target}")
    return 0
