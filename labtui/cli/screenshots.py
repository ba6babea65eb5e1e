"""``labtui screenshots [DIR]``: SVGs of the main screens from the demo lab (default
``screenshots/``). Uses its own throw-away data dir; the configured one is not touched."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from labtui.cli.context import CliContext


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("screenshots", help="write SVG screenshots of the main screens (demo lab)")
    p.add_argument("dir", nargs="?", default="screenshots", help="output folder (default: screenshots)")
    p.add_argument("--size", default="120x36", help="terminal size WIDTHxHEIGHT (default 120x36)")
    p.set_defaults(handler=run)


def _size(text: str) -> tuple[int, int]:
    width, sep, height = text.lower().partition("x")
    if not sep or not width.isdigit() or not height.isdigit() or int(width) < 40 or int(height) < 12:
        raise argparse.ArgumentTypeError(f"--size: expected WIDTHxHEIGHT of at least 40x12, got {text!r}")
    return int(width), int(height)


async def run(ctx: CliContext, args: argparse.Namespace) -> int:
    from labtui.devtools.screenshots import take_screenshots

    try:
        size = _size(args.size)
    except argparse.ArgumentTypeError as exc:
        print(f"labtui: {exc}", file=sys.stderr)
        return 2
    written = await take_screenshots(
        Path(args.dir), size=size, on_skip=lambda message: print(f"skipped {message}", file=sys.stderr)
    )
    for path in written:
        print(path)
    return 0 if written else 1
