"""Which labtui CLI subcommands a user may run over SSH (``ssh -p PORT host jobs list``).

The command runs as the SSH user: the server appends ``--as USER`` and the child refuses a
parse that ends up acting as anyone else. Only subcommands whose every action goes through
core's permission checks with that actor are offered; the ones that read or write files on
the server (``configs save FILE``), manage the installation (``users``, ``vault``, ``init``,
``serve``, imports) or start the TUI are not.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import shlex

from labtui.core.errors import ValidationError

#: Top-level subcommands offered over SSH.
ALLOWED_COMMANDS = ("services", "jobs", "schedules", "configs", "inventory", "health", "instances", "dns")
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
    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            args = parser.parse_args([*words, "--as", username])
    except SystemExit as exc:
        if exc.code == 0:  # --help printed its text
            raise
        message = err.getvalue().strip().splitlines()
        raise ValidationError(message[-1] if message else "bad usage", "command") from None
    if getattr(args, "as_user", None) != username or args.command not in ALLOWED_COMMANDS:
        raise ValidationError(f"`{summary(words)}` cannot be run over SSH", "command")
    if getattr(args, "source", "-") != "-" and args.command == "configs":
        raise ValidationError("Over SSH, `configs save` reads the new content from standard input: use -", "source")
    return args
