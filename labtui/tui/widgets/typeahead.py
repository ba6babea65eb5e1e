"""An Input that keeps typeahead in order across Tab.

Over a slow SSH link a person's keys arrive in one burst ("admin<Tab>secret<Enter>").
Textual forwards the whole burst to the widget focused when it arrived and applies the Tab
binding only afterwards, so the password would land — visible — in the username field.
This Input moves focus on Tab itself, and hands keys that reach it after focus moved on to
the widget that has focus now.
"""

from __future__ import annotations

from textual import events
from textual.widgets import Input


class TypeaheadInput(Input):
    async def _on_key(self, event: events.Key) -> None:
        focused = self.screen.focused
        if focused is not None and focused is not self:
            event.stop()
            event.prevent_default()
            focused.post_message(events.Key(event.key, event.character))
            return
        if event.key in ("tab", "shift+tab"):
            event.stop()
            event.prevent_default()
            if event.key == "tab":
                self.screen.focus_next()
            else:
                self.screen.focus_previous()
            return
        await super()._on_key(event)
