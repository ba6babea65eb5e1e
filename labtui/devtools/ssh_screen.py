"""labtui as an SSH user sees it: a terminal emulator (bittty) fed by an asyncssh client.

:class:`TerminalScreen` turns a session's output into screen text (tests read it) and into
an SVG (rich); :func:`screenshot` connects to a running ``labtui serve --ssh``, waits for
some text, optionally types keys, and writes the SVG::

    asyncio.run(screenshot("127.0.0.1", 2222, "admin", Path("ssh.svg"), password="..."))
"""

from __future__ import annotations

import asyncio
import codecs
import io
from collections.abc import Sequence
from pathlib import Path

import asyncssh
from bittty import Board
from rich.console import Console
from rich.text import Text

TERM = "xterm-256color"


class TerminalScreen:
    """A headless terminal of ``cols`` x ``rows``."""

    def __init__(self, cols: int = 100, rows: int = 30) -> None:
        self.cols, self.rows = cols, rows
        self.board = Board(width=cols, height=rows)
        self._decode = codecs.getincrementaldecoder("utf-8")("replace").decode

    def feed(self, data: bytes) -> None:
        self.board.parser.feed(self._decode(data))

    def text(self) -> str:
        return self.board.capture_text()

    def resize(self, cols: int, rows: int) -> None:
        self.cols, self.rows = cols, rows
        self.board.resize(cols, rows)

    def svg(self, title: str = "labtui over ssh") -> str:
        console = Console(record=True, width=self.cols, file=io.StringIO(), color_system="truecolor")
        for line in self.board.capture_pane().split("\n"):
            console.print(Text.from_ansi(line, no_wrap=True, end=""), overflow="crop", no_wrap=True, soft_wrap=False)
        return console.export_svg(title=title)


async def read_until(
    proc: asyncssh.SSHClientProcess[bytes], screen: TerminalScreen, text: str, timeout: float = 30.0
) -> str:
    """Feed the session's output to ``screen`` until ``text`` is on it; returns the screen.
    Raises :class:`TimeoutError` (with the last screen) if it never shows."""
    loop = asyncio.get_running_loop()
    end = loop.time() + timeout
    while text not in (current := screen.text()):
        left = end - loop.time()
        if left <= 0:
            raise TimeoutError(f"{text!r} never appeared on the screen:\n{current}")
        try:
            chunk = await asyncio.wait_for(proc.stdout.read(65536), left)
        except TimeoutError:
            continue
        if not chunk:
            if proc.stdout.at_eof():
                raise TimeoutError(f"the session ended before {text!r} appeared:\n{current}")
            continue
        screen.feed(chunk)
    return current


async def settle(proc: asyncssh.SSHClientProcess[bytes], screen: TerminalScreen, quiet: float = 0.5) -> None:
    """Read until the session has drawn nothing for ``quiet`` seconds."""
    while True:
        try:
            chunk = await asyncio.wait_for(proc.stdout.read(65536), quiet)
        except TimeoutError:
            return
        if not chunk:
            return
        screen.feed(chunk)


async def screenshot(
    host: str,
    port: int,
    username: str,
    path: Path,
    *,
    password: str | None = None,
    client_keys: Sequence[str | asyncssh.SSHKey] | None = None,
    size: tuple[int, int] = (110, 32),
    wait_for: str = "",
    keys: Sequence[tuple[bytes, str]] = (),
    title: str = "labtui over ssh",
) -> str:
    """Log in over SSH, wait for ``wait_for`` (default: the signed-in header), send each
    ``(keys, text to wait for)`` in turn, then write the screen as SVG to ``path``.
    Returns the screen text. Host keys are not checked: for a server you just started."""
    screen = TerminalScreen(*size)
    async with asyncssh.connect(
        host,
        port,
        username=username,
        password=password,
        client_keys=client_keys,
        known_hosts=None,
    ) as conn:
        proc = await conn.create_process(term_type=TERM, term_size=size, encoding=None)
        await read_until(proc, screen, wait_for or f"{username} · roles")
        for typed, expected in keys:
            proc.stdin.write(typed)
            await read_until(proc, screen, expected)
        await settle(proc, screen)
        path.write_text(screen.svg(title))
        proc.close()
    return screen.text()
