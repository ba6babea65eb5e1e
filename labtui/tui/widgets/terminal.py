"""TerminalPane: a terminal emulator widget showing a remote shell.

The emulator is bittty (through textual-tty's ``Monitor``, which draws a bittty board as
Textual strips): colours (16/256/truecolor), cursor, alternate screen, mouse modes and
bracketed paste come from it. textual-tty's own ``Terminal`` widget runs a local child on
a PTY; here the board is fed by a :class:`RemoteSession` instead (core's
``RemoteShell`` over asyncssh), and this widget adds what a remote pane needs:

- **Keys.** Every key goes to the remote side while the pane has focus, including the
  keys Textual binds with priority (``ctrl+p`` palette, ``ctrl+q`` quit) and the app's own
  (``q``, ``:``, Esc, ...): :meth:`check_consume_key` tells Textual the pane consumes
  them, which drops them from every ancestor's binding map (the mechanism ``Input`` uses),
  and ``on_key`` stops the rest. Only :data:`LEAVE_KEYS` (``ctrl+]``, or F12) and the
  scrollback keys (shift+PageUp/PageDown) stay with labtui. Hosts must not bind those,
  nor rely on any other key reaching them while a pane has focus. Keys typed while the
  connection opens are held and sent once the shell is there (typeahead).
- **Output** is parsed in slices under a time budget per turn of the event loop
  (:data:`FEED_BUDGET`), so a 10 MB burst streams instead of freezing the UI; the screen is
  repainted by the monitor's 60 Hz tick from dirty rows, never per chunk. Back-pressure is
  natural: while the pane is parsing it does not read, so the SSH window closes and the
  remote side waits.
- **Scrollback**: lines scrolled off the top of the primary screen are kept
  (:data:`SCROLLBACK_LINES`); shift+PageUp/PageDown or the mouse wheel browse them, any
  forwarded key returns to the live screen.
"""

from __future__ import annotations

import asyncio
import codecs
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable
from functools import partial
from itertools import groupby, takewhile
from operator import is_, itemgetter
from typing import TYPE_CHECKING, ClassVar, Protocol

from bittty import TerminalCaps, constants
from bittty.devices.modes import MouseProtocol
from rich.segment import Segment
from rich.style import Style as RichStyle
from textual import events
from textual.binding import Binding, BindingType
from textual.keys import key_to_character
from textual.message import Message
from textual.strip import Strip
from textual_tty.monitor import Monitor, MonitorChrome

from labtui.core.errors import LabtuiError

if TYPE_CHECKING:
    from textual.worker import Worker

log = logging.getLogger("labtui.tui.terminal")

#: Keys that leave the pane instead of reaching the remote side (shown in the footer).
LEAVE_KEYS = ("ctrl+right_square_bracket", "f12")
SCROLL_KEYS = ("shift+pageup", "shift+pagedown")
SCROLLBACK_LINES = 5000
#: At most this long parsing output before the event loop gets a turn (paint, keys, timers).
FEED_BUDGET = 0.010
#: Characters parsed between two looks at the clock.
FEED_SLICE = 2048
READ_SIZE = 65536


class RemoteSession(Protocol):
    """What the pane needs of a remote shell (core's ``RemoteShell`` is one)."""

    @property
    def exit_status(self) -> int | None: ...

    async def read(self, size: int = ...) -> bytes: ...

    def write(self, data: bytes) -> None: ...

    def resize(self, cols: int, rows: int) -> None: ...

    async def close(self, reason: str = ...) -> None: ...


#: Opens a session for a terminal of ``cols`` × ``rows``.
Opener = Callable[[int, int], Awaitable[RemoteSession]]

_MODIFIERS = {
    frozenset(): constants.KEY_MOD_NONE,
    frozenset({"shift"}): constants.KEY_MOD_SHIFT,
    frozenset({"alt"}): constants.KEY_MOD_ALT,
    frozenset({"shift", "alt"}): constants.KEY_MOD_SHIFT_ALT,
    frozenset({"ctrl"}): constants.KEY_MOD_CTRL,
    frozenset({"shift", "ctrl"}): constants.KEY_MOD_SHIFT_CTRL,
    frozenset({"alt", "ctrl"}): constants.KEY_MOD_ALT_CTRL,
    frozenset({"shift", "alt", "ctrl"}): constants.KEY_MOD_SHIFT_ALT_CTRL,
}

#: Keys with a fixed encoding (Textual's names; Pilot sends Enter without a character).
_FIXED = {
    "enter": "\r",
    "tab": "\t",
    "shift+tab": "\x1b[Z",
    "escape": "\x1b",
    "space": " ",
    "ctrl+@": "\x00",
    "ctrl+space": "\x00",
    "ctrl+backslash": "\x1c",
    "ctrl+right_square_bracket": "\x1d",
    "ctrl+circumflex_accent": "\x1e",
    "ctrl+underscore": "\x1f",
    "ctrl+minus": "\x1f",
    "ctrl+j": "\n",
    "ctrl+m": "\r",
    "ctrl+i": "\t",
    "ctrl+left_square_bracket": "\x1b",
}

_CURSOR_NAV = frozenset({"up", "down", "left", "right", "home", "end", "pageup", "pagedown", "insert", "delete"})


def _split(key: str) -> tuple[frozenset[str], str]:
    *mods, base = key.split("+")
    if not base and mods:  # "ctrl++" style keys: the base was the plus sign
        base = "+"
        mods = mods[:-1]
    return frozenset("alt" if m == "meta" else m for m in mods), base


_style_of, _char_of = itemgetter(0), itemgetter(1)


def _compact(row: list[tuple[object, str]], blank: object) -> tuple[tuple[str, object], ...]:
    """A row of cells as ``(text, style)`` runs, trailing ``blank`` cells dropped.

    C-speed throughout (``groupby`` compares the shared style objects by identity first)."""
    end = len(row) - len(list(takewhile(partial(is_, blank), reversed(row)))) if blank is not None else len(row)
    return tuple([("".join(map(_char_of, cells)), style) for style, cells in groupby(row[:end], _style_of)])


class _Cable:
    """The board's host port plugged into the session: replies and keys go out as UTF-8.

    While connecting, keys are held (typeahead, as ``ssh`` does) and sent once the shell
    is open; without a session they are dropped."""

    closed = False

    def __init__(self) -> None:
        self.session: RemoteSession | None = None
        self.holding = False
        self._held: list[bytes] = []

    def plug(self, session: RemoteSession | None) -> None:
        self.session, self.holding = session, False
        held, self._held = b"".join(self._held), []
        if session is not None and held:
            session.write(held)

    def write(self, data: str) -> None:
        self.write_bytes(data.encode("utf-8", "replace"))

    def write_bytes(self, data: bytes) -> None:
        if not data:
            return
        if self.session is not None:
            self.session.write(data)
        elif self.holding:
            self._held.append(data)

    def flush(self) -> None:
        """Writes are not buffered here (asyncssh buffers per channel)."""


class _PaneChrome(MonitorChrome):
    """The board's side effects that matter to a remote pane."""

    widget: TerminalPane

    def on_bell(self) -> None:
        if self.widget.has_focus:
            self.widget.app.bell()

    def on_title(self, title: str, icon_title: str) -> None:
        self.widget.post_message(TerminalPane.TitleChanged(self.widget, title))

    def on_mouse_capture(self, mode: str) -> None:
        self.widget.mouse_capture = mode


class TerminalPane(Monitor):
    """A remote shell in a pane. ``TerminalPane(opener, label=...)``: ``opener(cols, rows)``
    returns the session once the pane knows its size; errors show inside the pane."""

    DEFAULT_CSS = """
    TerminalPane {
        width: 1fr;
        height: 1fr;
        background: #000000;
        color: #e8e8e8;
    }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            ",".join(LEAVE_KEYS),
            "leave",
            "Leave terminal",
            key_display="^]",
            priority=True,
            tooltip="Give the keyboard back to labtui (the terminal stays open)",
        ),
        Binding("shift+pageup", "scroll_back", "Scrollback", key_display="⇧PgUp", priority=True),
        Binding("shift+pagedown", "scroll_forward", "Scroll forward", show=False, priority=True),
    ]

    can_focus = True
    CHROME = _PaneChrome

    class Connected(Message):
        """The remote shell is open."""

        def __init__(self, pane: TerminalPane) -> None:
            super().__init__()
            self.pane = pane

    class Closed(Message):
        """The session ended (``error`` is set when it never opened or was refused)."""

        def __init__(self, pane: TerminalPane, exit_status: int | None, error: str | None) -> None:
            super().__init__()
            self.pane, self.exit_status, self.error = pane, exit_status, error

    class Left(Message):
        """The user pressed the leave key: the host decides where focus goes."""

        def __init__(self, pane: TerminalPane) -> None:
            super().__init__()
            self.pane = pane

    class TitleChanged(Message):
        """The remote program set the window title (OSC 0/2)."""

        def __init__(self, pane: TerminalPane, title: str) -> None:
            super().__init__()
            self.pane, self.title = pane, title

    def __init__(
        self,
        opener: Opener,
        *,
        label: str,
        scrollback: int = SCROLLBACK_LINES,
        name: str | None = None,
        id: str | None = None,
        classes: str | None = None,
    ) -> None:
        super().__init__(size=(80, 24), name=name, id=id, classes=classes)
        self.label = label
        self._opener = opener
        self._cable = _Cable()
        self.board.host.attach(self._cable)
        self.session: RemoteSession | None = None
        #: ``off`` or what the remote program tracks (``basic``/``button``/``any``).
        self.mouse_capture = "off"
        self.state = "new"  # new → connecting → open → closed
        self._worker: Worker[None] | None = None
        self._history: deque[tuple[tuple[str, object], ...]] = deque(maxlen=max(scrollback, 0))
        self._offset = 0  # lines scrolled back from the live screen
        self._install_scrollback()

    # -- lifecycle ---------------------------------------------------------------------------

    def on_mount(self) -> None:
        super().on_mount()
        self._chrome.set_caps(TerminalCaps(color_depth="truecolor", background=(0, 0, 0)))

    def on_resize(self, event: events.Resize) -> None:
        cols, rows = event.size.width, event.size.height
        if cols <= 0 or rows <= 0:
            return
        if (cols, rows) != (self.board.width, self.board.height):
            self.board.resize(cols, rows)
            if self.session is not None:
                self.session.resize(cols, rows)
        if self.state == "new":
            self.connect()

    async def on_unmount(self) -> None:
        """Removed (tab closed, screen left, app quitting): end the session here, awaited,
        so its disconnect is audited even when the app is shutting down."""
        session = self.session
        if session is not None:
            try:
                await asyncio.wait_for(session.close("closed by user"), 5)
            except Exception:  # shutting down either way; the log has it
                log.warning("closing the terminal to %s failed", self.label, exc_info=True)

    def connect(self) -> None:
        """Open the session (again, after it closed)."""
        if self.state in ("connecting", "open"):
            return
        self.state = "connecting"
        self._cable.holding = True
        self._worker = self.run_worker(self._run(), group="terminal", exclusive=True)

    async def disconnect(self, reason: str = "closed by user") -> None:
        """Close the session (audited by core) and stop reading."""
        session = self.session
        if session is not None:
            await session.close(reason)

    async def _run(self) -> None:
        self._status(f"Connecting to {self.label}…", dim=True)
        try:
            session = await self._opener(self.board.width, self.board.height)
        except LabtuiError as exc:
            self._cable.plug(None)
            self._ended(None, str(exc))
            return
        except Exception as exc:  # never a traceback on screen; the log has it
            self._cable.plug(None)
            log.exception("opening a terminal to %s failed", self.label)
            self._ended(None, f"{type(exc).__name__}: {exc}")
            return
        self.session = session
        self.state = "open"
        self._cable.plug(session)  # keys typed while connecting go first
        if (self.size.width, self.size.height) != (self.board.width, self.board.height) and self.size.width > 0:
            self.board.resize(self.size.width, self.size.height)
        session.resize(self.board.width, self.board.height)
        self.post_message(self.Connected(self))
        self.refresh_bindings()
        reason = "remote closed"
        try:
            await self._pump(session)
        except asyncio.CancelledError:
            reason = "closed by user"
            raise
        finally:
            self._cable.plug(None)
            await asyncio.shield(session.close(reason))
            self._ended(session.exit_status, None)

    async def _pump(self, session: RemoteSession) -> None:
        """Read and parse under a time budget: the event loop gets a turn every FEED_BUDGET."""
        decoder = codecs.getincrementaldecoder("utf-8")("replace")
        feed = self.board.parser.feed
        clock = time.perf_counter
        turn_started = clock()
        while True:
            data = await session.read(READ_SIZE)
            if not data:
                break
            text = decoder.decode(data)
            for start in range(0, len(text), FEED_SLICE):
                feed(text[start : start + FEED_SLICE])
                self._dirty = True
                if clock() - turn_started > FEED_BUDGET:
                    await asyncio.sleep(0)
                    turn_started = clock()
            # Mark the changed rows now rather than at the next 60 Hz tick: an echo reaches
            # the screen one frame sooner. (Textual still paints at most once a frame.)
            self._tick()
        tail = decoder.decode(b"", final=True)
        if tail:
            feed(tail)
            self._dirty = True

    def _ended(self, exit_status: int | None, error: str | None) -> None:
        self.state = "closed"
        self.session = None
        if not self.is_attached:  # the pane was removed: nobody to tell
            return
        if error:
            self._status(error, error=True)
        else:
            code = "" if exit_status in (None, 0) else f" (exit status {exit_status})"
            self._status(f"Connection to {self.label} closed{code}.", dim=True)
        self.post_message(self.Closed(self, exit_status, error))
        self.refresh_bindings()

    def _status(self, text: str, *, dim: bool = False, error: bool = False) -> None:
        """A line of labtui's own in the pane (reset first, so remote modes cannot hide it)."""
        style = "\x1b[1;31m" if error else "\x1b[2m" if dim else ""
        text = "".join(c for c in text if c.isprintable())  # a server's words carry no escapes
        prefix = "\r\n" if self.board.cursor.x else ""
        self.board.parser.feed(f"\x1b[?1049l\x1b[0m{prefix}{style}{text}\x1b[0m\r\n")
        self._dirty = True

    # -- keys ----------------------------------------------------------------------------------

    def check_consume_key(self, key: str, character: str | None) -> bool:
        """While connecting or open, every key but the pane's own belongs to the remote side."""
        return self.state in ("connecting", "open") and key not in LEAVE_KEYS and key not in SCROLL_KEYS

    def on_key(self, event: events.Key) -> None:
        if self.state not in ("connecting", "open"):
            return  # closed: labtui's keys (Esc back, ...) work again
        if self._send_key(event.key, event.character):
            event.stop()
            event.prevent_default()
            self._to_live()

    def _send_key(self, key: str, character: str | None) -> bool:
        """Encode one Textual key for the remote side; False for a key nothing sends."""
        board = self.board
        fixed = _FIXED.get(key)
        if fixed is not None:
            board.input(fixed)
            return True
        mods, base = _split(key)
        modifier = _MODIFIERS.get(mods - {"super", "hyper"}, constants.KEY_MOD_NONE)
        if len(base) > 1 and base[0] == "f" and base[1:].isdigit():
            board.input_fkey(int(base[1:]), modifier)
            return True
        if base in _CURSOR_NAV:
            board.input_key(base, modifier)  # knows application cursor mode and modifiers
            return True
        prefix = "\x1b" if "alt" in mods else ""
        if base == "backspace":
            board.keyboard.input(prefix + ("\x08" if "ctrl" in mods else "\x7f"))
            return True
        if base in ("enter", "tab", "escape", "space"):
            board.keyboard.input(prefix + _FIXED[base])
            return True
        if "ctrl" in mods and len(base) == 1 and base.isalpha():
            board.keyboard.input(prefix + chr(ord(base.lower()) & 0x1F))
            return True
        if character is None and mods <= {"alt", "shift"}:
            # Pilot (and some terminals) send alt+x without the character: derive it.
            character = key_to_character(base)
            if character is not None and "shift" in mods:
                character = character.upper()
        if character and character.isprintable():
            board.keyboard.input(prefix + character)
            return True
        if character and len(character) == 1 and ord(character) < 0x20:
            board.keyboard.input(prefix + character)
            return True
        return False

    def on_paste(self, event: events.Paste) -> None:
        if self.state in ("connecting", "open"):
            self.board.input_paste(event.text)  # bracketed when the remote side asked for it
            self._to_live()
            event.stop()

    def action_leave(self) -> None:
        self.post_message(self.Left(self))

    def on_terminal_pane_left(self, event: TerminalPane.Left) -> None:
        """Default when no host handles it: move focus on, or drop it."""
        if event.pane is not self:
            return
        self.screen.focus_next()
        if self.screen.focused is self:
            self.screen.set_focus(None)

    def on_focus(self) -> None:
        self.board.display.focus_in()
        self._refresh_cursor_row()

    def on_blur(self) -> None:
        self.board.display.focus_out()
        self._refresh_cursor_row()

    def _cursor_shown(self) -> bool:
        return super()._cursor_shown() and self.has_focus and self._offset == 0

    # -- mouse ---------------------------------------------------------------------------------

    @property
    def _tracking(self) -> bool:
        return self.state == "open" and self.board.modes.mouse_protocol is not MouseProtocol.OFF

    @property
    def allow_select(self) -> bool:
        """Local text selection only while the remote program does not track the mouse."""
        return not self._tracking

    def _mouse(self, event: events.MouseEvent, button: int, kind: str) -> None:
        mods = {name for name, on in (("shift", event.shift), ("meta", event.meta), ("ctrl", event.ctrl)) if on}
        self.board.input_mouse(event.offset.x + 1, event.offset.y + 1, button, kind, mods)
        event.stop()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        if self._tracking:
            self._mouse(
                event,
                {2: constants.MOUSE_BUTTON_MIDDLE, 3: constants.MOUSE_BUTTON_RIGHT}.get(
                    event.button, constants.MOUSE_BUTTON_LEFT
                ),
                "press",
            )

    def on_mouse_up(self, event: events.MouseUp) -> None:
        if self._tracking:
            self._mouse(
                event,
                {2: constants.MOUSE_BUTTON_MIDDLE, 3: constants.MOUSE_BUTTON_RIGHT}.get(
                    event.button, constants.MOUSE_BUTTON_LEFT
                ),
                "release",
            )

    def on_mouse_move(self, event: events.MouseMove) -> None:
        if self._tracking:
            self._mouse(event, constants.MOUSE_BUTTON_MOVEMENT, "move")

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._wheel(event, constants.MOUSE_BUTTON_WHEEL_UP, "up")

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        self._wheel(event, constants.MOUSE_BUTTON_WHEEL_DOWN, "down")

    def _wheel(self, event: events.MouseEvent, button: int, arrow: str) -> None:
        """The remote program's if it tracks the mouse; arrows in a full-screen program
        that asked for them; else the scrollback."""
        if self._tracking:
            self._mouse(event, button, "press")
        elif self.state == "open" and self.board.blitter.in_alt_screen:
            if self.board.modes.alternate_scroll_mode:
                for _ in range(3):
                    self.board.input_key(arrow)
            event.stop()
        else:
            self._scroll_by(3 if arrow == "up" else -3)
            event.stop()

    # -- scrollback ----------------------------------------------------------------------------

    def _install_scrollback(self) -> None:
        """Keep the rows a full-width scroll pushes off the top of the primary screen.

        Rows are kept compact, as ``((text, style), ...)`` runs without the trailing blank
        cells: a kept row of cells would be a hundred objects for the garbage collector to
        walk, and full collections over a full scrollback stalled the event loop for
        50-100 ms at a time during bursts."""
        blitter = self.board.blitter
        original = blitter.scroll
        history = self._history
        board = self.board

        def scroll(lines: int) -> None:
            if (
                lines > 0
                and history.maxlen
                and not blitter.in_alt_screen
                and blitter.scroll_top == 0
                and blitter.left_margin == 0
                and blitter.right_margin == board.width - 1
            ):
                page = blitter.current_buffer
                empty = page._empty_cell  # the shared never-written cell (a private, stable attribute)
                for row in page.grid[: min(lines, blitter.scroll_bottom + 1)]:
                    history.append(_compact(row, empty))
                if self._offset:
                    self._offset = min(self._offset + lines, len(history))
            original(lines)

        blitter.scroll = scroll

    @property
    def scrollback_lines(self) -> int:
        return len(self._history)

    @property
    def scroll_offset(self) -> int:
        """How many lines the view is scrolled back (0: the live screen)."""
        return self._offset

    def action_scroll_back(self) -> None:
        self._scroll_by(max(self.size.height - 1, 1))

    def action_scroll_forward(self) -> None:
        self._scroll_by(-max(self.size.height - 1, 1))

    def _scroll_by(self, lines: int) -> None:
        offset = max(0, min(self._offset + lines, len(self._history)))
        if offset != self._offset:
            self._offset = offset
            self.refresh()

    def _to_live(self) -> None:
        if self._offset:
            self._offset = 0
            self.refresh()

    def _tick(self) -> None:
        if self._offset and self._dirty and not self._sync:
            self.refresh()  # rows move under a scrolled-back view
        super()._tick()

    # -- rendering -----------------------------------------------------------------------------

    def render_line(self, y: int) -> Strip:
        if not self._offset:
            return super().render_line(y)
        width = self.size.width
        history = self._history
        index = len(history) - self._offset + y
        if index < len(history):
            strip = Strip([Segment(text, self._to_rich(style)) for text, style in history[index]])
            strip = strip.adjust_cell_length(width)
        else:
            page = self.board.blitter.current_buffer
            grid_y = index - len(history)
            if grid_y >= page.height:
                return Strip.blank(width)
            strip = Strip([Segment(text, self._to_rich(style)) for text, style in _compact(page.grid[grid_y], None)])
            strip = strip.adjust_cell_length(width)
        if y == 0:
            marker = f" scrollback -{self._offset} "
            if len(marker) < width:
                head = strip.crop(0, width - len(marker))
                strip = Strip.join([head, Strip([Segment(marker, RichStyle(reverse=True))])])
        return strip

    def screen_text(self) -> str:
        """What the live screen shows, as plain text (tests, screenshots, copy)."""
        return self.board.capture_text()
