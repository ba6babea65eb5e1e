"""Terminals: one or several remote shells in tabs, full screen.

Opened from an inventory host (``s``) with :func:`open_terminal`, which adds a tab to an
open terminal screen rather than stacking another. While a terminal has focus every key
goes to the remote shell; ``ctrl+]`` (or F12) gives the keyboard back to labtui: the tab
bar takes focus, ←/→ switch tabs, Enter returns to the terminal, ``x`` closes the tab,
``r`` reconnects a closed one and Esc leaves the screen (closing its terminals). A screen
that wants a terminal in a split composes a :class:`TerminalPane` with :func:`opener_for`.
"""

from __future__ import annotations

from itertools import count
from typing import TYPE_CHECKING

from textual import on
from textual.app import ComposeResult
from textual.css.query import NoMatches
from textual.widgets import Static, TabbedContent, TabPane, Tabs

from labtui.core.sshclient import SshTarget, SshTerminals
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.base import LabScreen
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.terminal import Opener, RemoteSession, TerminalPane

if TYPE_CHECKING:
    from textual.app import App

    from labtui.core.actor import Actor
    from labtui.core.runtime import Core

_ids = count(1)


def terminals_of(core: Core) -> SshTerminals:
    """Core's terminal service (``core.ssh_terminals`` once the runtime builds one)."""
    service = getattr(core, "ssh_terminals", None)
    if service is None:
        service = SshTerminals(core.db, core.rbac, lambda: core.services.root)
    return service


def opener_for(core: Core, actor: Actor, target: SshTarget | str, *, user: str | None = None) -> Opener:
    """What a :class:`TerminalPane` calls with its size: an explicit target (an inventory
    object's fields), or a host name resolved from the services' ``temp_inventory.yaml``."""
    service = terminals_of(core)

    async def open_session(cols: int, rows: int) -> RemoteSession:
        if isinstance(target, SshTarget):
            return await service.open(actor, target.as_user(user), cols=cols, rows=rows)
        return await service.open_host(actor, target, user=user, cols=cols, rows=rows)

    return open_session


def label_of(target: SshTarget | str, user: str | None = None) -> str:
    if isinstance(target, SshTarget):
        return target.as_user(user).label
    return f"{user}@{target}" if user else target


class TerminalScreen(LabScreen):
    SCREEN_HELP = (
        "Remote shells on your lab's hosts, one tab each. While a terminal has focus every "
        "key goes to the remote shell (ctrl+p and ctrl+q too). ctrl+] or F12 gives the "
        "keyboard back: then ←/→ switch tabs, Enter returns to the terminal, x closes the "
        "tab, r reconnects a closed one, Esc leaves (closing every terminal here). "
        "shift+PgUp/PgDn or the mouse wheel scroll back. Host keys are trusted the first "
        "time and a changed key is refused; connections are audited, keystrokes are not."
    )

    ACTIONS = (
        ScreenAction("enter,i", "focus_terminal", "Terminal", "Give the keyboard to the terminal"),
        ScreenAction("x", "close_tab", "Close tab", "Disconnect and close this tab"),
        ScreenAction("r", "reconnect", "Reconnect", "Connect this tab again"),
    )

    DEFAULT_CSS = """
    TerminalScreen TabbedContent { height: 1fr; }
    TerminalScreen TabPane { padding: 0; height: 1fr; }
    TerminalScreen ContentSwitcher { height: 1fr; }
    """

    def __init__(self, targets: list[SshTarget | str] | None = None, *, user: str | None = None) -> None:
        super().__init__()
        self._initial = [(t, user) for t in targets or []]

    def compose(self) -> ComposeResult:
        yield Static("Terminals", id="title", classes="screen-title")
        yield TabbedContent(id="terminals")
        yield LabFooter()

    async def on_mount(self) -> None:
        for target, user in self._initial:
            await self.add_terminal(target, user=user)

    # -- tabs ------------------------------------------------------------------------------------

    async def add_terminal(self, target: SshTarget | str, *, user: str | None = None) -> TerminalPane:
        """Open a terminal to ``target`` in a new tab and give it the keyboard."""
        number = next(_ids)
        label = label_of(target, user)
        pane = TerminalPane(opener_for(self.core, self.actor, target, user=user), label=label, id=f"term-{number}")
        tabs = self.query_one(TabbedContent)
        await tabs.add_pane(TabPane(label, pane, id=f"tab-{number}"))
        tabs.active = f"tab-{number}"
        pane.focus()
        return pane

    @property
    def panes(self) -> list[TerminalPane]:
        return list(self.query(TerminalPane))

    @property
    def active_pane(self) -> TerminalPane | None:
        try:
            tabs = self.query_one(TabbedContent)
        except NoMatches:
            return None
        if not tabs.active:
            return None
        try:
            return tabs.get_pane(tabs.active).query_one(TerminalPane)
        except NoMatches:
            return None

    # -- events ----------------------------------------------------------------------------------

    @on(TerminalPane.Left)
    def _left(self, event: TerminalPane.Left) -> None:
        """Leaving a terminal focuses the tab bar, so the footer shows this screen's keys."""
        event.stop()
        try:
            self.query_one(Tabs).focus()
        except NoMatches:
            self.set_focus(None)

    @on(TerminalPane.Closed)
    def _pane_closed(self, event: TerminalPane.Closed) -> None:
        if event.error:
            self.notify(event.error, severity="error", timeout=12, markup=False)
        self.refresh_bindings()

    @on(TabbedContent.TabActivated)
    def _tab_activated(self, event: TabbedContent.TabActivated) -> None:
        self.refresh_bindings()

    def action_state(self, action: str) -> bool | None:
        pane = self.active_pane
        if action in ("focus_terminal", "close_tab"):
            return pane is not None
        if action == "reconnect":
            return pane is not None and pane.state == "closed"
        return True

    # -- actions ---------------------------------------------------------------------------------

    def action_focus_terminal(self) -> None:
        pane = self.active_pane
        if pane is not None:
            pane.focus()

    def action_reconnect(self) -> None:
        pane = self.active_pane
        if pane is not None and pane.state == "closed":
            pane.connect()
            pane.focus()

    async def action_close_tab(self) -> None:
        tabs = self.query_one(TabbedContent)
        pane = self.active_pane
        if pane is None or not tabs.active:
            return
        await pane.disconnect()
        await tabs.remove_pane(tabs.active)
        if not self.panes:
            self.dismiss()
            return
        self.query_one(Tabs).focus()


async def open_terminal(app: App[object], target: SshTarget | str, *, user: str | None = None) -> None:
    """Open a terminal tab: on the terminal screen if one is open (returning to it), else on
    a new one. ``target`` is an explicit :class:`SshTarget` or a host name to resolve."""
    for index, screen in enumerate(app.screen_stack):
        if isinstance(screen, TerminalScreen):
            while len(app.screen_stack) > index + 1:
                await app.pop_screen()
            await screen.add_terminal(target, user=user)
            return
    await app.push_screen(TerminalScreen([target], user=user))
