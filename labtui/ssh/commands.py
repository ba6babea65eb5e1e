"""Which labtui CLI subcommands a user may run over SSH (``ssh -p PORT host jobs list``).

The command runs as the SSH user: the server appends ``--as USER`` and the child refuses a
parse that ends up acting as anyone else. The few subcommands that act as no one (they
take no ``--as``: :data:`NO_ACTOR_COMMANDS`) run as they are; any other one without
``--as`` is refused, so a new command cannot run over SSH unchecked by mistake. Only
subcommands whose every action goes through core's permission checks with that actor are
offered; the ones that read or write files on the server (``configs save FILE``), manage
the installation (``users``, ``vault``, ``init``, ``serve``, imports) or start the TUI are
not.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shlex

from labtui.core.errors import ValidationError

#: Top-level subcommands offered over SSH.
ALLOWED_COMMANDS = ("services", "jobs", "schedules", "configs", "inventory", "health", "instances", "dns")
#: Subcommands without ``--as`` offered over SSH: they read nothing a user's permissions guard.
NO_ACTOR_COMMANDS = (("inventory", "types"), ("schedules", "preview"))
#: Longest command line accepted (it travels to the child through a pipe).
MAX_COMMAND_BYTES = 16384


def split_command(command: str) -> list[str]:
    """The SSH exec request as an argument list (never run by a shell), checked against
    :data:`ALLOWED_COMMANDS`. A leading ``labtui`` is allowed (``ssh host labtui jobs list``)."""
    if len(command.encode()) > MAX_COMMAND_BYTES:
        raise ValidationError("That command is too long", "command")
    try:
        words = shlex.split(command)
    except ValueError as exc:
        raise ValidationError(f"Cannot read that command: {exc}", "command") from None
    if words[:1] == ["labtui"]:
        words = words[1:]
    if not words or words[0] not in ALLOWED_COMMANDS:
        raise ValidationError(
            f"Over SSH labtui runs only these commands: {', '.join(ALLOWED_COMMANDS)} "
            "(e.g. `jobs list --json`); without a command it opens the TUI (use ssh -t)",
            "command",
        )
    return words


def summary(words: list[str]) -> str:
    """What the audit records of a command: its subcommand words, never its values."""
    return " ".join(words[:2]) if len(words) > 1 and not words[1].startswith("-") else words[0]


def parse_as(parser: argparse.ArgumentParser, words: list[str], username: str) -> argparse.Namespace:
    """Parse ``words`` acting as ``username``; refuse anything that would act as another
    user, read a server file, or is not an allowed command. Usage errors raise
    :class:`ValidationError` carrying argparse's message."""
    split_command(shlex.join(words))
    if tuple(w for w in words if not w.startswith("-"))[:2] in NO_ACTOR_COMMANDS:
        args = _parse(parser, words)
        if hasattr(args, "as_user"):  # such a command grew --as: it must get the SSH user
            raise ValidationError(f"`{summary(words)}` cannot be run over SSH", "command")
    else:
        args = _parse(parser, [*words, "--as", username])
        if getattr(args, "as_user", None) != username:
            raise ValidationError(f"`{summary(words)}` cannot be run over SSH", "command")
    if args.command not in ALLOWED_COMMANDS:
        raise ValidationError(f"`{summary(words)}` cannot be run over SSH", "command")
    if getattr(args, "source", "-") != "-" and args.command == "configs":
        raise ValidationError("Over SSH, `configs save` reads the new content from standard input: use -", "source")
    return args


def _parse(parser: argparse.ArgumentParser, words: list[str]) -> argparse.Namespace:
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            return parser.parse_args(words)
    except SystemExit as exc:
        if exc.code == 0:  # --help printed its text
            raise
        message = err.getvalue().strip().splitlines()
        raise ValidationError(message[-1] if message else "bad usage", "command") from None
