"""The key bar at the bottom of every screen: Textual's Footer, rebuilt only when what it
shows changed.

Textual's Footer recomposes (removes every key widget, makes and styles new ones, lays them
out) on each ``refresh_bindings()``. Screens whose keys depend on the selection call that
on every cursor move, every filter keystroke and every refresh of their rows, and almost
always nothing it shows has changed: on the health screen the rebuilds took more of the
event loop than the rows did. The bindings are compared first (Textual 8.2.8's
``Footer.bindings_changed``; textual is pinned <9, and ``tests/tui/test_footer.py`` fails if
the key bar stops following a change).
"""

from __future__ import annotations

from typing import Any

from textual.screen import Screen
from textual.widgets import Footer


class LabFooter(Footer):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        #: The bindings (with enabled and tooltip) the keys were last built from.
        self._built_from: tuple[object, ...] | None = None

    def bindings_changed(self, screen: Screen[Any]) -> None:
        # Footer.bindings_changed, with the recompose made conditional. The bindings are
        # compared after the refresh, when Footer.compose would read them: screens answer
        # ``check_action`` from widgets that may not be mounted before.
        self._bindings_ready = True
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self.call_after_refresh(self._recompose_if_changed)

    async def _recompose_if_changed(self) -> None:
        if not self.is_attached:
            return
        shown = tuple(
            (binding, enabled, tooltip) for _node, binding, enabled, tooltip in self.screen.active_bindings.values()
        )
        if shown != self._built_from:
            self._built_from = shown
            await self.recompose()
