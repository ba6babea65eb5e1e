"""``labtui shell``: labtui for one person an SSH server authenticated.

- ``--handoff-fd N``: started by ``labtui serve --ssh``. The server writes one JSON line
  to the inherited pipe N — what this session is (``tui``, ``exec`` of a CLI command, or the
  restricted ``join``), the SSH peer address and, except for ``join``, a single-use token
  that takes over the session the server opened, and the server's configuration as it
  resolved it (this process's environment is built from scratch, so ``${ENV}`` secrets
  could not be resolved again). Nothing of it is in argv (world-readable) or the
  environment (spoofable). docs/ssh.md.
- ``--user NAME``: the login-shell mode. OpenSSH authenticated the key and the forced
  command in ``authorized_keys`` names the user; the origin comes from ``SSH_CONNECTION``.

SIGTERM (the server shutting down, or an idle session) quits the TUI the way ``q`` does:
the session is logged out and the terminal restored.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import signal
from typing import Any

from sqlalchemy import select

from labtui.cli.context import CliContext
from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.config import Config
from labtui.core.db.models import User
from labtui.core.errors import AuthError
from labtui.core.runtime import Core
from labtui.ssh.handoff import config_from_data


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("shell", help="the TUI for a user authenticated by SSH")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="login-shell mode: the user OpenSSH authenticated")
    who.add_argument("--handoff-fd", type=int, help=argparse.SUPPRESS)
    p.set_defaults(handler=run)


def _ssh_origin() -> str:
    parts = os.environ.get("SSH_CONNECTION", "").split()
    return parts[0] if parts else "local"


def read_handoff(fd: int) -> dict[str, Any]:
    with os.fdopen(fd, "r") as pipe:
        data = json.loads(pipe.read() or "{}")
    if not isinstance(data, dict):
        raise AuthError("Bad hand-over from the SSH server")
    return data


def prepare(core: Core) -> None:
    """What a session needs of the startup the server already ran: the inventory types
    (kept in memory), read without writing anything."""
    from labtui.core.startup import load_types_readonly

    load_types_readonly(core)


class HandoffContext(CliContext):
    """A session's context: the configuration is the one the SSH server handed over."""

    def __init__(self, home: str | None, config_path: str | None, config: Config) -> None:
        super().__init__(home, config_path)
        self._config = config


async def run(ctx: CliContext, args: argparse.Namespace) -> int:
    if args.handoff_fd is None:
        return await _login_shell(ctx, args.user)
    handoff = read_handoff(args.handoff_fd)
    origin = str(handoff.get("origin") or "unknown")
    mode = handoff.get("mode", "tui")
    config = config_from_data(handoff["config"]) if "config" in handoff else ctx.config
    if mode == "exec":
        return await _exec(args, handoff, origin, config)
    session = HandoffContext(args.home, args.config, config)
    try:
        core = await session.core(start=False)
        prepare(core)
        if mode == "join":
            from labtui.tui.join import JoinApp

            join = JoinApp(core, origin=origin, connect_hint=str(handoff.get("connect_hint", "")))
            _quit_on_sigterm(join.exit)
            await join.run_async()
            return 0
        login = await core.auth.redeem_handoff(str(handoff.get("token", "")), origin=origin)
        return await _tui(core, login.actor)
    finally:
        await session.aclose()


async def _login_shell(ctx: CliContext, username: str) -> int:
    core = await ctx.core(start=False)
    prepare(core)
    origin = _ssh_origin()
    user = await core.db.run(lambda s: s.scalar(select(User).where(User.username == username)))
    if user is None or not user.is_active:
        raise AuthError(f"No active user named '{username}'")
    login = await core.auth.open_session_for(user.id, origin)
    await core.db.run(lambda s: audit.record(s, login.actor, "login", f"users/{user.username}", {"method": "openssh"}))
    return await _tui(core, login.actor)


async def _tui(core: Core, actor: Actor) -> int:
    from labtui.tui.app import LabApp

    app = LabApp(core, actor=actor, origin=actor.origin)
    _quit_on_sigterm(lambda: app.run_worker(app.action_quit(), group="quit", exclusive=True))
    await app.run_async()
    return app.return_code or 0


def _quit_on_sigterm(quit_app: Any) -> None:
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, quit_app)


class SshCommandContext(HandoffContext):
    """The CLI context of a command run over SSH: the acting user is the one whose
    hand-over token this process redeems (with the SSH peer as origin), and the database
    is opened without re-running the startup the server already ran."""

    def __init__(self, home: str | None, config_path: str | None, config: Config, token: str, origin: str) -> None:
        super().__init__(home, config_path, config)
        self._token, self._origin = token, origin
        self._actor: Actor | None = None

    async def core(self, *, start: bool = True, full: bool = False) -> Core:
        first = self._core is None
        core = await super().core(start=False)
        if first:
            prepare(core)
        return core

    async def actor(self, username: str) -> Actor:
        if self._actor is None:
            core = await self.core()
            self._actor = (await core.auth.redeem_handoff(self._token, origin=self._origin)).actor
        if username != self._actor.username:
            raise AuthError("Over SSH a command acts only as the user who connected")
        return self._actor


async def _exec(args: argparse.Namespace, handoff: dict[str, Any], origin: str, config: Config) -> int:
    from labtui.cli import build_parser
    from labtui.ssh.commands import parse_as

    words = [str(w) for w in handoff.get("argv", [])]
    command_args = parse_as(build_parser(), words, str(handoff.get("username", "")))
    sub = SshCommandContext(args.home, args.config, config, str(handoff.get("token", "")), origin)
    try:  # a LabtuiError goes up to labtui.cli.main, which prints it and sets the status
        return int(await command_args.handler(sub, command_args))
    finally:
        await sub.aclose()
