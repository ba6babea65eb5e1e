"""A log pane for job output that stays fast on millions of lines.

Built on the Line API: only the visible lines are fetched from the :class:`LineSource`,
parsed for ANSI colour and rendered, so memory and work are bounded by the screen, not by
the log. The whole log stays in the source (the database for jobs).

Behaviour: follows the tail while the view is at the bottom; scrolling up stops following
and ``End`` resumes. A search needle highlights matches (``n``/``N`` jump between them);
filter mode shows only the matching lines.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding
from textual.cache import LRUCache
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

#: Longer lines are cut when drawn (the stored line is untouched).
MAX_DRAWN = 2000


class LineSource(Protocol):
    """Random access to a log's lines, by index from 0."""

    def __len__(self) -> int: ...

    def get(self, start: int, stop: int) -> Sequence[str]:
        """Lines ``start`` to ``stop - 1`` (fewer at the end)."""
        ...

    def find(self, needle: str, start: int, forward: bool) -> int | None:
        """Index of the next line from ``start`` (inclusive) containing ``needle``, any case."""
        ...

    def matching(self, needle: str) -> list[int]:
        """Indexes of every line containing ``needle``, any case."""
        ...


class ListLineSource:
    """A :class:`LineSource` over a Python list (tests, small logs)."""

    def __init__(self, lines: list[str] | None = None) -> None:
        self.lines = lines if lines is not None else []

    def __len__(self) -> int:
        return len(self.lines)

    def get(self, start: int, stop: int) -> Sequence[str]:
        return self.lines[start:stop]

    def find(self, needle: str, start: int, forward: bool) -> int | None:
        low = needle.lower()
        indexes = range(start, len(self.lines)) if forward else range(start, -1, -1)
        return next((i for i in indexes if low in self.lines[i].lower()), None)

    def matching(self, needle: str) -> list[int]:
        low = needle.lower()
        return [i for i, line in enumerate(self.lines) if low in line.lower()]


class LogView(ScrollView, can_focus=True):
    """Shows a :class:`LineSource`; call :meth:`source_changed` when it grows (not ScrollView.refresh_lines, which repaints lines)."""

    DEFAULT_CSS = """
    LogView {
        background: $surface;
        overflow: auto scroll;
    }
    LogView:focus { background-tint: $foreground 5%; }
    LogView > .log-view--match { background: $warning 60%; color: $text; }
    LogView > .log-view--current { background: $accent; color: $text; text-style: bold; }
    """

    COMPONENT_CLASSES = {"log-view--match", "log-view--current"}

    BINDINGS = [
        Binding("end", "follow", "Follow", show=True),
        Binding("home", "top", "Top", show=False),
        Binding("n", "next_match", "Next", show=False),
        Binding("N", "previous_match", "Prev", show=False),
    ]

    follow: reactive[bool] = reactive(True)
    """True while the view sticks to the newest line."""
    needle: reactive[str] = reactive("")
    """The search text; matches are highlighted."""
    filtered: reactive[bool] = reactive(False)
    """Show only the lines containing ``needle``."""

    class FollowChanged(Message):
        """Posted when following the tail starts or stops."""

        def __init__(self, following: bool) -> None:
            super().__init__()
            self.following = following

    def __init__(
        self, source: LineSource, *, name: str | None = None, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.source = source
        self._rows: list[int] | None = None  # source indexes shown in filter mode
        self._cache: LRUCache[tuple[int, str], Strip] = LRUCache(512)
        self._width = 0
        self._current: int | None = None  # source index of the current search match
        self._programmatic = False

    # -- size and data -------------------------------------------------------------------

    @property
    def row_count(self) -> int:
        return len(self._rows) if self._rows is not None else len(self.source)

    def _index_of_row(self, row: int) -> int:
        return self._rows[row] if self._rows is not None else row

    def source_changed(self) -> None:
        """The source changed (usually grew): resize, and follow the tail if following."""
        if self.filtered and self.needle:
            self._rows = self.source.matching(self.needle)
        self.virtual_size = Size(max(self._width, self.size.width), self.row_count)
        if self.follow:
            self._move_to(self.max_scroll_y if self.row_count > self.size.height else 0)
            self.scroll_end(animate=False, immediate=True, x_axis=False)
        self.refresh()

    def reset(self, source: LineSource) -> None:
        self.source = source
        self._cache.clear()
        self._rows = None
        self.source_changed()

    # -- following -----------------------------------------------------------------------

    def _move_to(self, y: float) -> None:
        self._programmatic = True
        try:
            self.scroll_to(y=y, animate=False, immediate=True)
        finally:
            self._programmatic = False

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self._programmatic:
            return
        if new_value < old_value and new_value < self.max_scroll_y:
            self.follow = False
        elif new_value >= self.max_scroll_y and self.row_count > 0:
            self.follow = True

    def watch_follow(self, following: bool) -> None:
        self.post_message(self.FollowChanged(following))

    def action_follow(self) -> None:
        self.follow = True
        self.scroll_end(animate=False, immediate=True, x_axis=False)

    def action_top(self) -> None:
        self.follow = False
        self._move_to(0)

    # -- search and filter ---------------------------------------------------------------

    def watch_needle(self) -> None:
        self._cache.clear()
        self._current = None
        if self.filtered:
            self._apply_filter()
        self.refresh()

    def watch_filtered(self) -> None:
        self._apply_filter()

    def _apply_filter(self) -> None:
        self._rows = self.source.matching(self.needle) if self.filtered and self.needle else None
        self._cache.clear()
        self.virtual_size = Size(max(self._width, self.size.width), self.row_count)
        self._move_to(0 if not self.follow else self.max_scroll_y)
        self.refresh()

    def jump(self, forward: bool = True) -> bool:
        """Move to the next (or previous) match; False if there is none."""
        if not self.needle:
            return False
        top = int(self.scroll_y)
        if self._current is not None:
            start = self._current + (1 if forward else -1)
        else:
            start = self._index_of_row(min(top, max(self.row_count - 1, 0))) if self.row_count else 0
        found = self.source.find(self.needle, max(start, 0), forward) if start >= 0 else None
        if found is None:
            return False
        self._current = found
        self._cache.clear()
        row = self._rows.index(found) if self._rows is not None else found
        self.follow = False
        self._move_to(max(0, row - self.size.height // 2))
        self.refresh()
        return True

    def action_next_match(self) -> None:
        if not self.jump(True):
            self.notify("No more matches", timeout=2)

    def action_previous_match(self) -> None:
        if not self.jump(False):
            self.notify("No earlier match", timeout=2)

    # -- rendering -----------------------------------------------------------------------

    def visible_text(self) -> list[str]:
        """The plain text of the lines on screen (for tests and screen readers)."""
        top = int(self.scroll_y)
        rows = range(top, min(top + self.size.height, self.row_count))
        return [Text.from_ansi(self.source.get(i, i + 1)[0]).plain for i in map(self._index_of_row, rows)]

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        row = scroll_y + y
        width = self.size.width
        style = self.rich_style
        if row >= self.row_count:
            return Strip.blank(width, style)
        index = self._index_of_row(row)
        key = (index, self.needle if index != self._current else f"\0{self.needle}")
        strip = self._cache.get(key)
        if strip is None:
            lines = self.source.get(index, index + 1)
            strip = self._render_text(lines[0] if lines else "", index, style)
            self._cache[key] = strip
            if strip.cell_length > self._width:
                self._width = strip.cell_length
                self.virtual_size = Size(self._width, self.row_count)
        return strip.crop_extend(scroll_x, scroll_x + width, style).apply_offsets(scroll_x, row)

    def _render_text(self, raw: str, index: int, base: Style) -> Strip:
        raw = raw[:MAX_DRAWN]
        if raw.isprintable():  # no escape sequences, tabs or other controls: most lines
            if not self.needle:
                return Strip([Segment(raw, base)], cell_len(raw))
            text = Text(raw, no_wrap=True, end="")
        else:
            text = Text.from_ansi(raw.expandtabs(), no_wrap=True, end="")
        if self.needle:
            name = "log-view--current" if index == self._current else "log-view--match"
            text.highlight_words([self.needle], self.get_component_rich_style(name), case_sensitive=False)
        text.stylize_before(base)
        segments = list(text.render(self.app.console))
        return Strip(segments, text.cell_len)
