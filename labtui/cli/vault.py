"""``labtui vault``: set the Ansible vault password (kept 0600 under the data dir)."""

from __future__ import annotations

import argparse

from labtui.cli.context import CliContext, read_password
from labtui.core.actor import Actor


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("vault", help="the Ansible vault password jobs use")
    vault = p.add_subparsers(dest="vault_command", metavar="ACTION", required=True)
    set_p = vault.add_parser("set", help="set the vault password (prompted, or one line on stdin)")
    set_p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    set_p.add_argument("--as", dest="as_user", metavar="USER", help="act as this labtui user (audited as them)")
    set_p.set_defaults(handler=set_password)
    status_p = vault.add_parser("status", help="whether a vault password is set")
    status_p.set_defaults(handler=status)


async def set_password(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    actor = await ctx.actor(args.as_user) if args.as_user else Actor.system("cli")
    password = read_password(args, "Vault password: ")
    await core.vault.set(actor, password)
    print(f"vault password saved ({core.vault.path}, readable only by you)")
    return 0


async def status(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    print("vault password: set" if core.vault.is_set() else "vault password: not set")
    return 0
