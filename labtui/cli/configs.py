"""``labtui configs``: a service's config files and their versions from scripts and pipes.

``show`` prints a file (or a stored version), ``save`` stores standard input or a file as a
new version (refused with the reason, exit 2, if it is not valid YAML or over 100 KB),
``history`` lists versions, ``diff`` prints a unified diff, ``restore`` makes an old version
current again as a new one. The same core calls, checks and audit records as the TUI.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from labtui.cli.context import CliContext, read_stdin_text
from labtui.cli.output import print_table
from labtui.core.actor import Actor
from labtui.core.configs import CONFIG_FILES
from labtui.core.errors import ValidationError

CLI_READER = "cli"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("configs", help="service config files and their versions")
    cmds = p.add_subparsers(dest="configs_command", metavar="ACTION", required=True)

    lst = cmds.add_parser("list", help="a service's config files")
    lst.add_argument("service")
    lst.add_argument("--json", action="store_true")
    _as(lst, required=False)
    lst.set_defaults(handler=list_files)

    show = cmds.add_parser("show", help="print a config file (or one of its versions)")
    _file_args(show)
    show.add_argument("--version", "-v", type=int, metavar="N")
    _as(show, required=False)
    show.set_defaults(handler=show_file)

    save = cmds.add_parser("save", help="save new content as a version (from a file, or - for stdin)")
    _file_args(save)
    save.add_argument("source", help="file with the new content, or - for standard input")
    save.add_argument("--note", "-m", default="")
    _as(save, required=True)
    save.set_defaults(handler=save_file)

    hist = cmds.add_parser("history", help="versions of a config file, newest first")
    _file_args(hist)
    hist.add_argument("--json", action="store_true")
    _as(hist, required=False)
    hist.set_defaults(handler=history)

    diff = cmds.add_parser("diff", help="unified diff between two versions")
    _file_args(diff)
    diff.add_argument("to", type=int, metavar="N", help="the newer version")
    diff.add_argument("--from", dest="base", type=int, metavar="M", help="the older one (default: the one before N)")
    _as(diff, required=False)
    diff.set_defaults(handler=show_diff)

    rest = cmds.add_parser("restore", help="make an old version current (as a new version)")
    _file_args(rest)
    rest.add_argument("version", type=int, metavar="N")
    rest.add_argument("--note", "-m", default="")
    _as(rest, required=True)
    rest.set_defaults(handler=restore)


def _file_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("service")
    p.add_argument("file", metavar="FILE", help=" | ".join(CONFIG_FILES))


def _as(p: argparse.ArgumentParser, *, required: bool) -> None:
    p.add_argument("--as", dest="as_user", required=required, metavar="USER", help="act as this labtui user")


async def _actor(ctx: CliContext, args: argparse.Namespace) -> Actor:
    if args.as_user:
        return await ctx.actor(args.as_user)
    await ctx.core()
    return Actor.system(CLI_READER)


async def list_files(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    files = await core.configs.list(await _actor(ctx, args), args.service)
    if args.json:
        print(json.dumps([f.as_json() for f in files], indent=2))
        return 0
    print_table(
        ("file", "on disk", "size", "versions", "latest"),
        [
            (f.filename, "yes" if f.exists else "no", f.size if f.exists else "", f.versions, f.latest_version or "")
            for f in files
        ],
    )
    return 0


async def show_file(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    actor = await _actor(ctx, args)
    if args.version is not None:
        text = await core.configs.content(actor, args.service, args.file, args.version)
    else:
        text = (await core.configs.read(actor, args.service, args.file)).text
    sys.stdout.write(text)
    return 0


async def save_file(ctx: CliContext, args: argparse.Namespace) -> int:
    if args.source == "-":
        content = read_stdin_text("configs save -", line=False, field="content")
    else:
        try:
            content = Path(args.source).expanduser().read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValidationError(f"Cannot read {args.source}: {exc}", "source") from None
    core = await ctx.core()
    actor = await ctx.actor(args.as_user)
    version = await core.configs.save(actor, args.service, args.file, content, args.note)
    print(
        f"{args.service}/{args.file}: saved as version {version.number} ({version.size} bytes, sha256 {version.sha256[:12]})"
    )
    return 0


async def history(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    versions = await core.configs.versions(await _actor(ctx, args), args.service, args.file)
    if args.json:
        print(json.dumps([v.as_json() for v in versions], indent=2))
        return 0
    print_table(
        ("version", "saved (utc)", "by", "from", "size", "sha256", "note"),
        [
            (v.number, v.created_at.strftime("%Y-%m-%d %H:%M:%S"), v.author, v.origin, v.size, v.sha256[:12], v.note)
            for v in versions
        ],
    )
    return 0


async def show_diff(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    diff = await core.configs.diff(await _actor(ctx, args), args.service, args.file, args.to, args.base)
    sys.stdout.write(diff.text)
    return 0


async def restore(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    actor = await ctx.actor(args.as_user)
    version = await core.configs.restore(actor, args.service, args.file, args.version, args.note)
    print(f"{args.service}/{args.file}: version {args.version} restored as version {version.number}")
    return 0
