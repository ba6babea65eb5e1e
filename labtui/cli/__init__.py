"""The ``labtui`` command: global options, then a subcommand (default ``tui``).

Each subcommand lives in its own module with a ``register(subparsers)`` function; the
handlers are thin async functions over core. Exit codes: 0 ok, 1 failure, 2 bad usage.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from collections.abc import Sequence

from labtui.cli.context import CliContext, Handler
from labtui.core.errors import ConfigError, LabtuiError, StartupError, ValidationError

#: Subcommand modules, in the order ``labtui --help`` lists them.
COMMAND_MODULES = ("tui", "serve", "shell", "init", "users", "audit", "services", "jobs", "schedules", "configs", "vault", "health", "inventory", "instances", "dns", "import_cloudlab", "screenshots")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="labtui",
        description="A keyboard-driven operations console for a small infrastructure lab.",
    )
    parser.add_argument("--home", help="data dir (default $LABTUI_HOME or ~/.local/share/labtui)")
    parser.add_argument("--config", help="config file (default $LABTUI_HOME/config.yaml, else the demo lab)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    import importlib

    for name in COMMAND_MODULES:
        importlib.import_module(f"labtui.cli.{name.replace('-', '_')}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        args = parser.parse_args([*(argv or sys.argv[1:]), "tui"])
    handler: Handler = args.handler
    ctx = CliContext(home=args.home, config_path=args.config)
    try:
        return asyncio.run(_run(handler, ctx, args))
    except ConfigError as exc:
        print(f"labtui: bad config: {exc}", file=sys.stderr)
        return 2
    except StartupError as exc:
        print(f"labtui: startup failed: {exc}", file=sys.stderr)
        return 2
    except ValidationError as exc:
        print(f"labtui: {exc}", file=sys.stderr)
        return 2
    except LabtuiError as exc:
        print(f"labtui: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


async def _run(handler: Handler, ctx: CliContext, args: argparse.Namespace) -> int:
    try:
        return await handler(ctx, args)
    finally:
        await ctx.aclose()


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
