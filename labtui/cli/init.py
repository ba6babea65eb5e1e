"""``labtui init``: write the commented config (every key, its default and what it does),
and the secrets key it points at (docs/secrets.md).

The data dir is made 0700, the config and the key 0600: the config may hold passwords
inline, and the key opens every secret value in the database. An existing key file is
kept, never replaced (what it sealed would be lost).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labtui.cli.context import CliContext
from labtui.core.config import render_example
from labtui.core.secretbox import KEY_FILE, create_key_file, parse_key, private_dir, write_private


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("init", help="write a commented config.yaml and a secrets key into the data dir")
    p.add_argument("--force", action="store_true", help="overwrite an existing config.yaml (an existing key is kept)")
    p.add_argument(
        "--key-file",
        metavar="PATH",
        help=f"where the secrets key lives (default $LABTUI_HOME/{KEY_FILE}; better outside the data dir and its backups)",
    )
    p.set_defaults(handler=run)


async def run(ctx: CliContext, args: argparse.Namespace) -> int:
    target = ctx.paths.config
    if target.exists() and not args.force:
        print(f"labtui: {target} exists; use --force to overwrite it", file=sys.stderr)
        return 1
    private_dir(ctx.paths.home)
    key_file = Path(args.key_file).expanduser().absolute() if args.key_file else ctx.paths.home / KEY_FILE
    made = create_key_file(key_file)
    parse_key(key_file.read_text(encoding="ascii"), str(key_file))  # an existing file must be a key
    write_private(target, render_example({"secrets.key": f"${{file:{key_file}}}"}))
    print(f"wrote {target}")
    print(f"{'made' if made else 'kept'} secrets key {key_file} (0600): back it up apart from the database")
    return 0
