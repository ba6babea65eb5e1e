"""What an SSH session's child process runs, for the SSH server's fork server.

The fork server (:mod:`labtui.ssh.forkserver`) is told this module's name by ``labtui serve``
and knows nothing else of the CLI: the SSH layer sits below it (docs/architecture.md).
:func:`preload` runs once in the fork server; :func:`run` in each forked session.
"""

from __future__ import annotations

import importlib

#: What every session imports, loaded once before the first fork.
PRELOAD = (
    "labtui.cli.shell",
    "labtui.core.runtime",
    "labtui.core.db.models",
    "labtui.tui.join",
    "labtui.tui.app",
    "labtui.tui.screens.dashboard",
    "textual.drivers.linux_driver",
)


def preload() -> None:
    from labtui.cli import build_parser

    for name in PRELOAD:
        importlib.import_module(name)
    build_parser()  # imports every command module


def run(argv: list[str]) -> int:
    from labtui.cli import main

    return main(argv)
