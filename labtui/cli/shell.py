"""``labtui shell``: the TUI for one already-authenticated person.

- ``--handoff-fd N``: started by ``labtui serve --ssh``; reads a single-use token (and the
  SSH peer address) from the inherited pipe N and takes over the session the server opened.
- ``--user NAME``: the login-shell mode. OpenSSH authenticated the key and the forced
  command in ``authorized_keys`` names the user; the origin comes from ``SSH_CONNECTION``.
"""

from __future__ import annotations

import argparse
import os

from sqlalchemy import select

from labtui.cli.context import CliContext
from labtui.core import audit
from labtui.core.db.models import User
from labtui.core.errors import AuthError


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("shell", help="the TUI for a user authenticated by SSH")
    who = p.add_mutually_exclusive_group(required=True)
    who.add_argument("--user", help="login-shell mode: the user OpenSSH authenticated")
    who.add_argument("--handoff-fd", type=int, help=argparse.SUPPRESS)
    p.set_defaults(handler=run)


def _ssh_origin() -> str:
    parts = os.environ.get("SSH_CONNECTION", "").split()
    return parts[0] if parts else "local"


async def run(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core(start=False)
    if args.handoff_fd is not None:
        with os.fdopen(args.handoff_fd, "r") as pipe:
            token, _, origin = pipe.read().partition("\n")
        login = await core.auth.redeem_handoff(token.strip(), origin=origin.strip() or "unknown")
    else:
        origin = _ssh_origin()
        user = await core.db.run(lambda s: s.scalar(select(User).where(User.username == args.user)))
        if user is None or not user.is_active:
            raise AuthError(f"No active user named '{args.user}'")
        login = await core.auth.open_session_for(user.id, origin)
        await core.db.run(lambda s: audit.record(s, login.actor, "login", f"users/{user.username}", {"method": "openssh"}))
    from labtui.tui.app import LabApp

    app = LabApp(core, actor=login.actor, origin=login.actor.origin)
    await app.run_async()
    return app.return_code or 0
