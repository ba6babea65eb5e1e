"""What a CLI handler gets: lazily built paths, config and a started :class:`Core`."""

from __future__ import annotations

import argparse
import getpass
import sys
from collections.abc import Awaitable, Callable

from sqlalchemy import select

from labtui.core.actor import Actor
from labtui.core.config import Config
from labtui.core.db.models import User
from labtui.core.errors import LabtuiError, ValidationError
from labtui.core.runtime import Core, Paths, resolve_config, resolve_home, setup_logging


class CliContext:
    def __init__(self, home: str | None, config_path: str | None) -> None:
        self.paths = Paths(resolve_home(home))
        self._config_path = config_path
        self._config: Config | None = None
        self._core: Core | None = None

    @property
    def config(self) -> Config:
        if self._config is None:
            self._config = resolve_config(self.paths, self._config_path)
        return self._config

    async def core(self, *, start: bool = True) -> Core:
        """The core, with the startup sequence run once (``start=False`` only opens the db)."""
        if self._core is None:
            setup_logging(self.paths, self.config.log.level)
            self._core = Core(self.config, self.paths)
            if start:
                await self._core.start()
                for problem in self._core.startup_report:
                    print(f"labtui: warning: {problem}", file=sys.stderr)
            else:
                self._core.db.create_schema()
        return self._core

    async def actor(self, username: str) -> Actor:
        """``--as USER``: whoever runs the CLI owns the data dir, so the name is trusted,
        but the user must exist and be active, and core still checks their permissions."""
        core = await self.core()
        user = await core.db.run(lambda s: s.scalar(select(User).where(User.username == username)))
        if user is None or not user.is_active:
            raise LabtuiError(f"No active user named '{username}'")
        return Actor(user.id, user.username, "local")

    async def aclose(self) -> None:
        if self._core is not None:
            await self._core.aclose()


Handler = Callable[[CliContext, argparse.Namespace], Awaitable[int]]


def read_password(args: argparse.Namespace, prompt: str = "New password: ") -> str:
    """From stdin with ``--password-stdin`` (one line), else prompted twice."""
    if getattr(args, "password_stdin", False):
        line = sys.stdin.readline()
        if not line:
            raise ValidationError("--password-stdin: nothing on standard input", "password")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ValidationError("No terminal to prompt on: use --password-stdin", "password")
    first = getpass.getpass(prompt)
    if getpass.getpass("Again: ") != first:
        raise ValidationError("The two passwords differ", "password")
    return first
