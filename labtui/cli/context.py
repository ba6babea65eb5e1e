"""What a CLI handler gets: lazily built paths, config and a started :class:`Core`."""

from __future__ import annotations

import argparse
import getpass
import sys
import tempfile
from collections.abc import Awaitable, Callable
from pathlib import Path

from sqlalchemy import select

from labtui.core.actor import Actor
from labtui.core.config import Config
from labtui.core.db.models import User
from labtui.core.errors import LabtuiError, StorageError, ValidationError
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

    async def core(self, *, start: bool = True, full: bool = False) -> Core:
        """The core for a CLI command: the lab as the last start left it (the startup
        sequence runs only if none completed yet). ``full``: a start of ``serve`` or the
        TUI, which runs the whole sequence. ``start=False`` only opens the database."""
        if self._core is None:
            config = self.config  # a bad config is reported before the data dir is touched
            check_data_dir(self.paths.home)
            try:
                setup_logging(self.paths, config.log.level)
            except OSError as exc:
                raise StorageError(f"data dir {self.paths.home}: cannot write {exc.filename}: {exc.strerror}") from None
            self._core = Core(config, self.paths)
            if not start:
                self._core.db.create_schema()
                return self._core
            if full:
                await self._core.start()
            else:
                await self._core.attach()
            for problem in self._core.startup_report:
                print(f"labtui: warning: {problem}", file=sys.stderr)
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


def check_data_dir(home: Path) -> None:
    """The data dir exists (made if missing) and takes a new file, else a :class:`StorageError`
    naming it: a read-only mount or a file in its place is one line, not a traceback from
    wherever the first write happens to be (docs/errors.md)."""
    try:
        home.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise StorageError(f"data dir {home}: not a folder (a file is in its place)") from None
    except OSError as exc:
        raise StorageError(f"data dir {home}: cannot create it: {exc.strerror}") from None
    try:
        # A real write, not os.access: access() answers for root as if every mode allowed it.
        with tempfile.TemporaryFile(dir=home):
            pass
    except OSError as exc:
        raise StorageError(f"data dir {home}: cannot write in it: {exc.strerror}") from None


def read_stdin_text(what: str, *, line: bool, field: str | None = None) -> str:
    """Standard input as UTF-8, decoded strictly (one line, or all of it).

    Python reads stdin with ``surrogateescape`` under a UTF-8 locale, so stray bytes would
    become lone surrogates that fail far away (hashing, the database) with a traceback; here
    they are refused at once. The message never echoes the input: it may be a password.
    """
    buffer = getattr(sys.stdin, "buffer", None)
    if buffer is None:  # stdin replaced by a text stream (no bytes to check): trust it
        return sys.stdin.readline() if line else sys.stdin.read()
    raw = buffer.readline() if line else buffer.read()
    try:
        return bytes(raw).decode("utf-8")
    except UnicodeDecodeError:
        raise ValidationError(f"{what}: standard input is not UTF-8 text", field) from None


def read_password(args: argparse.Namespace, prompt: str = "New password: ") -> str:
    """From stdin with ``--password-stdin`` (one line), else prompted twice."""
    if getattr(args, "password_stdin", False):
        line = read_stdin_text("--password-stdin", line=True, field="password")
        if not line:
            raise ValidationError("--password-stdin: nothing on standard input", "password")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise ValidationError("No terminal to prompt on: use --password-stdin", "password")
    try:
        first = getpass.getpass(prompt)
        again = getpass.getpass("Again: ")
    except UnicodeDecodeError:
        raise ValidationError("The password typed is not UTF-8 text", "password") from None
    if again != first:
        raise ValidationError("The two passwords differ", "password")
    return first
