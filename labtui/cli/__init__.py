"""The ``labtui`` command: global options, then a subcommand (default ``tui``).

Each subcommand lives in its own module with a ``register(subparsers)`` function; the
handlers are thin async functions over core. Exit codes: 0 ok, 1 failure, 2 bad usage,
bad config or unusable storage. Whatever goes wrong is one line on stderr, never a
traceback; an error nobody foresaw is a bug, so its traceback goes to labtui.log
(docs/errors.md).
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sqlite3
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError, StatementError

from labtui.cli.context import CliContext, Handler
from labtui.core.errors import ConfigError, LabtuiError, StartupError, StorageError, ValidationError
from labtui.core.runtime import setup_logging

#: Subcommand modules, in the order ``labtui --help`` lists them.
COMMAND_MODULES = (
    "tui",
    "serve",
    "shell",
    "init",
    "users",
    "audit",
    "services",
    "jobs",
    "schedules",
    "configs",
    "vault",
    "health",
    "inventory",
    "instances",
    "dns",
    "import_cloudlab",
    "screenshots",
)


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
    except (ValidationError, StorageError) as exc:
        print(f"labtui: {exc}", file=sys.stderr)
        return 2
    except LabtuiError as exc:
        print(f"labtui: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # the last resort: one line, and a bug logged
        return _last_resort(ctx, exc)


async def _run(handler: Handler, ctx: CliContext, args: argparse.Namespace) -> int:
    try:
        return await handler(ctx, args)
    finally:
        await ctx.aclose()


# -- the last resort -----------------------------------------------------------------------

#: SQLite's words for a file that is not (or no longer) a database.
_NOT_A_DATABASE = ("file is not a database", "database disk image is malformed")
#: SQLite's words for a database that is there but cannot be used right now.
_UNUSABLE_DATABASE = (
    "attempt to write a readonly database",
    "unable to open database file",
    "disk i/o error",
    "database or disk is full",
    "database is locked",
)


def _last_resort(ctx: CliContext, exc: Exception) -> int:
    """A storage problem the code did not catch at its source is still one line and exit 2;
    anything else is a bug: its traceback goes to the log and one line points there."""
    logger = _logger(ctx)
    known = _storage_problem(ctx, exc)
    if known is not None:
        if logger is not None:
            logger.error("%s (%s)", known, _describe(exc))
        print(f"labtui: {known}", file=sys.stderr)
        return 2
    if logger is None:  # nowhere to keep it: the traceback is the only record, so show it
        traceback.print_exception(exc, file=sys.stderr)
        return 1
    logger.error("internal error:\n%s", _traceback(exc))
    print(f"labtui: internal error ({exc.__class__.__name__}); the traceback is in {ctx.paths.log}", file=sys.stderr)
    return 1


def _logger(ctx: CliContext) -> logging.Logger | None:
    """labtui's logger writing to labtui.log, or None when the log cannot be opened (then
    nothing is logged: an unconfigured logger would print to stderr itself)."""
    try:
        setup_logging(ctx.paths)
    except OSError:
        return None
    return logging.getLogger("labtui")


def _storage_problem(ctx: CliContext, exc: Exception) -> str | None:
    """One line for an unusable database or data dir, or None when ``exc`` is neither."""
    orig = exc.orig if isinstance(exc, DBAPIError) else exc
    if isinstance(orig, sqlite3.Error):
        reason = str(orig)
        if any(words in reason.lower() for words in _NOT_A_DATABASE):
            return f"{_database(ctx)} is not a labtui database (or is corrupt): {reason}"
        if any(words in reason.lower() for words in _UNUSABLE_DATABASE):
            return f"cannot use the database {_database(ctx)}: {reason}"
        return None
    if isinstance(exc, OSError) and exc.filename is not None:
        path = Path(str(exc.filename))
        home = ctx.paths.home
        if path == home or path.is_relative_to(home):
            return f"data dir {home}: {path}: {exc.strerror}"
    return None


def _database(ctx: CliContext) -> str:
    """The database's file (or its URL without the password) for a message."""
    url = ctx.config.database.url or f"sqlite:///{ctx.paths.database}"
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite" and parsed.database:
        return parsed.database
    return parsed.render_as_string(hide_password=True)


def _describe(exc: BaseException) -> str:
    """The exception in a line for the log: for SQL errors the driver's words only, because
    SQLAlchemy's own text carries the statement's parameters (a password hash, a token)."""
    if isinstance(exc, StatementError) and exc.orig is not None:
        return f"{exc.__class__.__name__}: {exc.orig.__class__.__name__}: {exc.orig}"
    return f"{exc.__class__.__name__}: {exc}"


def _traceback(exc: BaseException) -> str:
    """Python's traceback layout, causes first, with each exception told by :func:`_describe`."""
    chain: list[BaseException] = []
    current: BaseException | None = exc
    while current is not None and current not in chain:
        chain.append(current)
        current = current.__cause__ or (None if current.__suppress_context__ else current.__context__)
    parts = []
    for one in reversed(chain):
        frames = "".join(traceback.format_tb(one.__traceback__))
        parts.append(f"Traceback (most recent call last):\n{frames}{_describe(one)}")
    return "\n\nwhich led to:\n\n".join(parts)


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
