"""``labtui users``: accounts from scripts (create-admin, create, list, reset-password, invite).

Whoever runs these owns the data dir, so they act as labtui itself (recorded as ``cli`` in
the audit log) — except ``invite``, which acts ``--as`` an admin so roles and audit name them.
"""

from __future__ import annotations

import argparse

from labtui.cli.context import CliContext, read_password
from labtui.cli.output import print_json, print_table
from labtui.core.actor import Actor

CLI = Actor.system("cli")


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    users = sub.add_parser("users", help="manage accounts")
    cmds = users.add_subparsers(dest="users_command", metavar="COMMAND", required=True)

    p = cmds.add_parser("create-admin", help="create an active super-admin")
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(handler=create_admin)

    p = cmds.add_parser("create", help="create an active user with roles")
    p.add_argument("name")
    p.add_argument("--role", action="append", default=[], help="a role to give (repeatable)")
    p.add_argument("--email")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(handler=create)

    p = cmds.add_parser("list", help="list accounts")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=list_users)

    p = cmds.add_parser("reset-password", help="set a user's password (prompts twice)")
    p.add_argument("name")
    p.add_argument("--password-stdin", action="store_true", help="read the password from standard input")
    p.set_defaults(handler=reset_password)

    keys = cmds.add_parser("keys", help="SSH login keys of a user")
    key_cmds = keys.add_subparsers(dest="keys_command", metavar="COMMAND", required=True)
    p = key_cmds.add_parser("add", help="register a public key (a .pub file)")
    p.add_argument("name")
    p.add_argument("pubkey_file")
    p.set_defaults(handler=keys_add)
    p = key_cmds.add_parser("list", help="a user's keys")
    p.add_argument("name")
    p.add_argument("--json", action="store_true")
    p.set_defaults(handler=keys_list)
    p = key_cmds.add_parser("remove", help="remove a key by its fingerprint")
    p.add_argument("name")
    p.add_argument("fingerprint")
    p.set_defaults(handler=keys_remove)

    p = cmds.add_parser("authorized-keys", help="authorized_keys lines for OpenSSH's login-shell mode")
    p.set_defaults(handler=authorized_keys)

    p = cmds.add_parser("invite", help="invite a user by email")
    p.add_argument("name")
    p.add_argument("--email", required=True)
    p.add_argument("--role", action="append", default=[])
    p.add_argument("--as", dest="as_user", required=True, metavar="ADMIN", help="the admin who invites")
    p.set_defaults(handler=invite)


async def create_admin(ctx: CliContext, args: argparse.Namespace) -> int:
    password = read_password(args)
    core = await ctx.core()
    await core.auth.create_admin(args.name, password)
    print(f"created super-admin '{args.name}'")
    return 0


async def create(ctx: CliContext, args: argparse.Namespace) -> int:
    password = read_password(args)
    core = await ctx.core()
    await core.users.create(CLI, args.name, password, roles=args.role, email=args.email)
    print(f"created user '{args.name}' ({', '.join(args.role) or 'no roles'})")
    return 0


async def list_users(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    users = await core.users.list(CLI)
    if args.json:
        print_json([u.as_json() for u in users])
        return 0
    print_table(
        ("username", "status", "roles", "email", "last login"),
        [
            (
                u.username,
                u.status,
                ", ".join(u.roles),
                u.email or "",
                u.last_login_at.strftime("%Y-%m-%d %H:%M") if u.last_login_at else "never",
            )
            for u in users
        ],
    )
    return 0


async def reset_password(ctx: CliContext, args: argparse.Namespace) -> int:
    password = read_password(args)
    core = await ctx.core()
    await core.auth.set_password_cli(args.name, password)
    print(f"password of '{args.name}' changed; their sessions are signed out")
    return 0


async def invite(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    actor = await ctx.actor(args.as_user)
    delivery = await core.users.invite(actor, args.name, args.email, roles=args.role)
    print(delivery.message)
    if delivery.token:
        # Shown once, to the admin at the terminal; it is stored only as a digest.
        print(f"invitation token: {delivery.token}")
    return 0


async def authorized_keys(ctx: CliContext, args: argparse.Namespace) -> int:
    """One line per registered key, forcing ``labtui shell --user NAME`` with ``restrict,pty``:
    one system account on the bastion then serves everyone through the system's sshd."""
    import shlex
    import sys

    core = await ctx.core(start=False)
    # A key two accounts hold is left out (and logged): sshd would pick the first line's.
    rows = await core.login_keys.authorized(CLI)
    base = [sys.executable, "-m", "labtui", "--home", str(ctx.paths.home)]
    if core.config.source is not None:
        base += ["--config", str(core.config.source)]
    for username, key in rows:
        command = shlex.join([*base, "shell", "--user", username])
        key_type, blob = (key or "").split()[:2]
        print(f'restrict,pty,command="{command}" {key_type} {blob} labtui:{username}')
    return 0


async def keys_add(ctx: CliContext, args: argparse.Namespace) -> int:
    from pathlib import Path

    from labtui.core.errors import ValidationError

    try:
        text = Path(args.pubkey_file).read_text()
    except OSError as exc:
        raise ValidationError(f"Cannot read {args.pubkey_file}: {exc.strerror}", "pubkey_file") from None
    core = await ctx.core(start=False)
    key = await core.login_keys.add(CLI, args.name, text)
    print(f"added {key.key_type} {key.fingerprint} for '{args.name}'")
    return 0


async def keys_list(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core(start=False)
    keys = await core.login_keys.list(CLI, args.name)
    if args.json:
        print_json([k.as_json() for k in keys])
    else:
        print_table(
            ("fingerprint", "type", "comment", "added"),
            [(k.fingerprint, k.key_type, k.comment, k.created_at.strftime("%Y-%m-%d")) for k in keys],
        )
    return 0


async def keys_remove(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core(start=False)
    await core.login_keys.remove(CLI, args.name, args.fingerprint)
    print(f"removed {args.fingerprint} from '{args.name}'")
    return 0
