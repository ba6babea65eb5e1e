"""A minimal host App for testing one screen: the parts of LabApp a screen relies on."""

from __future__ import annotations

from textual.app import App
from textual.screen import Screen

from labtui.core.actor import Actor
from labtui.core.runtime import Core
from labtui.tui import frames


class ScreenHost(App[None]):
    def __init__(self, core: Core, actor: Actor, permissions: frozenset[str], screen: Screen[object]) -> None:
        frames.install()
        super().__init__()
        self.core, self.actor, self.permissions = core, actor, permissions
        self.keymap = dict(core.config.tui.keymap)
        self.set_keymap(self.keymap)
        self._first = screen

    def can(self, permission: str) -> bool:
        return "*" in self.permissions or permission in self.permissions

    def on_mount(self) -> None:
        self.push_screen(self._first)


async def host(core: Core, actor: Actor, screen: Screen[object]) -> ScreenHost:
    return ScreenHost(core, actor, await core.rbac.my_permissions(actor), screen)
