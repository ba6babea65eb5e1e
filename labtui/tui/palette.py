"""The ``ctrl+p`` palette's labtui commands: every registry screen this user may open, the
current screen's own commands (``LabScreen.palette_commands``), log out and quit.

Built from the same registry as the ``:`` bar, ``?`` help and the dashboard menu, so a
screen the user may not open is in none of them.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import TYPE_CHECKING, Any

from textual.command import DiscoveryHit, Hit, Hits, Provider

if TYPE_CHECKING:
    from labtui.tui.app import LabApp

Command = tuple[str, str, Callable[[], Any]]


class LabCommands(Provider):
    """The only palette provider of LabApp, so the order is ours: screens, this screen's
    actions, log out, quit, then Textual's commands. Before login only Textual's."""

    def commands(self) -> list[Command]:
        """labtui's commands first, then Textual's own (theme, keys, screenshot)."""
        app: LabApp = self.app  # type: ignore[assignment]
        textual_commands: list[Command] = [
            (c.title, c.help, c.callback) for c in app.get_system_commands(self.screen) if c.discover
        ]
        if getattr(app, "actor", None) is None:
            return textual_commands
        out: list[Command] = [
            (f"Open {e.title}", f":{e.name} — {e.description}", partial(app.open_screen, e.name))
            for e in app.allowed_screens()
        ]
        extra = getattr(self.screen, "palette_commands", None)
        if callable(extra):
            out.extend(extra())
        out.append(("Log out", "End this session and return to the login screen (ctrl+l)", app.action_logout))
        out.append(("Quit", "Quit labtui (asks first)", app.action_quit_confirm))
        return out + textual_commands

    async def discover(self) -> Hits:
        for name, help_text, callback in self.commands():
            yield DiscoveryHit(name, callback, help=help_text)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help_text, callback in self.commands():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, text=name, help=help_text)
