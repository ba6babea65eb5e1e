"""A screen's actions, each declared once.

A :class:`ScreenAction` names the key, the ``action_`` method, the footer title, the help
line and the permission of one thing a screen lets you do. :class:`~labtui.tui.screens.base.LabScreen`
turns its ``ACTIONS`` into the screen's key bindings (each with an id, so ``tui.keymap`` in
the config can rebind it), its permission check (``check_action``), its ``ctrl+p`` palette
entries and its lines in ``?`` help; a screen writes none of those by hand. Core checks the
permission again: hiding a key is for the user, not for security.
"""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


@dataclass(frozen=True)
class ScreenAction:
    key: str
    """The default key (Textual's names, e.g. ``x``, ``ctrl+s``); ``tui.keymap`` may rebind it."""
    action: str
    """The screen method is ``action_<action>``."""
    title: str
    """The footer's label."""
    help: str
    """One line: the footer's tooltip, the ``?`` help and the palette's description."""
    permission: str | None = None
    """Needed for the key to be offered at all (core refuses anyway)."""
    palette: str | None = None
    """The palette's command name; None keeps the action out of the palette."""
    show: bool = True
    """Shown in the footer (hidden keys still work and are listed in ``?`` help)."""

    def binding_id(self, screen_id: str) -> str:
        """The id ``tui.keymap`` rebinds it by: ``<screen>.<action>``, e.g. ``jobs.cancel_job``."""
        return f"{screen_id}.{self.action}"

    def binding(self, screen_id: str) -> Binding:
        return Binding(
            self.key, self.action, self.title, show=self.show, tooltip=self.help, id=self.binding_id(screen_id)
        )
