"""LabApp: the shell every screen lives in — start-up (setup or login), the signed-in actor
and their permissions, the global keys (docs/tui.md), and moving between screens.

Screens reach core through the app (``app.core``) and act as ``app.actor``; which screens a
user may open comes from :mod:`labtui.tui.registry`, the one table behind the ``:`` bar,
the palette, ``?`` help and the dashboard menu. Core checks every permission again.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any, ClassVar

from textual import work
from textual.app import App, SystemCommand
from textual.binding import Binding, BindingType
from textual.screen import Screen

from labtui.core.errors import LabtuiError
from labtui.heap import freeze_once
from labtui.tui import frames, registry
from labtui.tui.palette import LabCommands

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from textual.command import Provider
    from textual.timer import Timer

    from labtui.core.actor import Actor
    from labtui.core.runtime import Core

log = logging.getLogger("labtui.tui")

#: When the heap is frozen after start (labtui/heap.py).
FREEZE_AFTER_SECONDS = 1.5

#: Actions that need someone signed in (hidden from the footer before that).
SIGNED_IN_ACTIONS = frozenset({"command_bar", "filter", "help", "back", "quit_confirm", "logout"})


class LabApp(App[None]):
    """``LabApp(core)`` shows setup or login first; ``LabApp(core, actor=...)`` starts signed
    in (the SSH server passes the identity it authenticated). That actor must carry a session
    (from ``Auth.login`` or ``Auth.open_session_for``): the periodic check signs out an actor
    whose session is missing, revoked or expired. ``origin`` is recorded with every login."""

    TITLE = "labtui"
    CSS_PATH = "tcss/labtui.tcss"
    COMMANDS: ClassVar[set[type[Provider] | Callable[[], type[Provider]]]] = {LabCommands}

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "colon",
            "command_bar",
            "Go to",
            key_display=":",
            tooltip="Command bar: type a screen name, Enter goes there (Tab completes)",
        ),
        Binding("slash", "filter", "Filter", key_display="/", tooltip="Filter the current table; Esc clears"),
        Binding("question_mark", "help", "Help", key_display="?", tooltip="Help for this screen"),
        Binding("escape", "back", "Back", show=False, tooltip="Back to the previous screen"),
        Binding("ctrl+l", "logout", "Log out", show=False, tooltip="Log out and return to the login screen"),
        Binding("q", "quit_confirm", "Quit", tooltip="Quit labtui (asks first)"),
    ]

    SESSION_CHECK_SECONDS: ClassVar[float] = 30.0
    """How often the session is checked (revoked elsewhere → back to login) and the
    permissions re-read (a role changed by an admin applies without a restart)."""

    def __init__(self, core: Core, *, actor: Actor | None = None, origin: str = "local") -> None:
        frames.install()
        super().__init__()
        self.core = core
        self.origin = origin
        self.actor: Actor | None = None
        self.permissions: frozenset[str] = frozenset()
        self._initial_actor = actor
        self._session_timer: Timer | None = None
        #: ``tui.keymap``: binding id -> keys (Textual applies it; ``?`` help shows it).
        self.keymap: dict[str, str] = dict(core.config.tui.keymap)
        self.set_keymap(self.keymap)

    def on_mount(self) -> None:
        if self._initial_actor is not None:
            self.sign_in(self._initial_actor)
        else:
            self.show_start()
        # A moment after start, once the first screen is up (a collection before it would
        # delay it): by then the process holds what it keeps for its life.
        self.set_timer(FREEZE_AFTER_SECONDS, freeze_once)

    @work(exclusive=True, group="session")
    async def show_start(self) -> None:
        """The setup screen while no user exists, else the login screen."""
        try:
            first_run = await self.core.auth.setup_needed()
        except LabtuiError as exc:
            self.notify(str(exc), severity="error", timeout=10, markup=False)
            first_run = False
        if first_run:
            from labtui.tui.screens.setup import SetupScreen

            await self._replace_all(SetupScreen())
        else:
            from labtui.tui.screens.login import LoginScreen

            await self._replace_all(LoginScreen())

    # -- the signed-in user ----------------------------------------------------------------

    def can(self, codename: str) -> bool:
        """Whether the actor holds ``codename`` (``*`` holds everything)."""
        return "*" in self.permissions or codename in self.permissions

    def allowed_screens(self) -> list[registry.ScreenEntry]:
        """Registry screens this user may open, in registry order."""
        if self.actor is None:
            return []
        return [e for e in registry.SCREENS if e.permission is None or self.can(e.permission)]

    @work(exclusive=True, group="session")
    async def sign_in(self, actor: Actor, *, welcome: str | None = None) -> None:
        """After a login, setup or token redemption: load permissions, show the dashboard."""
        try:
            permissions = await self.core.rbac.my_permissions(actor)
        except LabtuiError as exc:
            self.notify(str(exc), severity="error", timeout=10, markup=False)
            return
        self.actor, self.permissions = actor, permissions
        self.sub_title = actor.username
        if self._session_timer is not None:
            self._session_timer.stop()
        self._session_timer = self.set_interval(self.SESSION_CHECK_SECONDS, self.check_session)
        from labtui.tui.screens.dashboard import DashboardScreen

        await self._replace_all(DashboardScreen())
        if welcome:
            self.notify(welcome, markup=False)

    async def signed_out(self, message: str, severity: str = "information") -> None:
        """Return to the login screen, then forget the actor.

        The actor is kept until the old screens are gone, so a screen woken up on the way
        out (a resume reloading its data) still has one.
        """
        from labtui.tui.screens.login import LoginScreen

        name = self.actor.username if self.actor else ""
        if self._session_timer is not None:
            self._session_timer.stop()
            self._session_timer = None
        await self._replace_all(LoginScreen(name))
        self.actor, self.permissions = None, frozenset()
        self.sub_title = ""
        self.notify(message, severity=severity, markup=False)  # type: ignore[arg-type]

    @work(exclusive=True, group="session-check")
    async def check_session(self) -> None:
        """Revoked (logout elsewhere, password change, deactivation) or expired → login."""
        actor = self.actor
        if actor is None:
            return
        try:
            alive = await self.core.auth.session_alive(actor)
            permissions = await self.core.rbac.my_permissions(actor) if alive else frozenset()
        except Exception:  # a transient database problem: try again at the next tick
            log.warning("session check failed", exc_info=True)
            return
        if self.actor is not actor:
            return
        if not alive:
            await self.signed_out("Your session has ended (signed out elsewhere or expired): sign in again", "warning")
        elif permissions != self.permissions:
            self.permissions = permissions
            self.refresh_bindings()

    # -- moving between screens ------------------------------------------------------------

    async def _replace_all(self, screen: Screen[Any]) -> None:
        """Make ``screen`` the only screen above the app's blank base screen.

        Called from app workers only (awaiting the removal of a screen from inside that
        screen's own handler would wait on itself)."""
        while len(self.screen_stack) > 2:
            await self.pop_screen()
        if len(self.screen_stack) == 2:
            await self.switch_screen(screen)
        else:
            await self.push_screen(screen)

    def open_screen(self, name: str) -> bool:
        """Go to a registry screen by name or alias; refuse (with a notification) an unknown
        name, a missing permission, or a screen that cannot be loaded. An already open
        screen is returned to rather than opened twice, so the stack stays short."""
        if self.actor is None:
            return False
        entry = registry.find(name)
        if entry is None:
            self.notify(f"No screen named '{name}': press ? for the list", severity="warning", markup=False)
            return False
        if entry.permission and not self.can(entry.permission):
            self.notify(
                f"You may not open {entry.title}: it needs '{entry.permission}'", severity="error", markup=False
            )
            return False
        try:
            cls = entry.load()
        except ModuleNotFoundError as exc:
            log.warning("cannot load screen %s: %s", entry.target, exc)
            self.notify(f"The {entry.title} screen is not available: {exc}", severity="error", markup=False)
            return False
        except Exception as exc:  # a broken screen module must not end the app
            log.exception("cannot load screen %s", entry.target)
            self.notify(f"The {entry.title} screen is not available: {exc}", severity="error", markup=False)
            return False
        for index, open_screen in enumerate(self.screen_stack):
            if type(open_screen) is cls:
                while len(self.screen_stack) > index + 1:
                    self.pop_screen()
                return True
        try:
            screen = cls()
        except Exception as exc:
            log.exception("cannot build screen %s", entry.target)
            self.notify(f"The {entry.title} screen failed to open: {exc}", severity="error", markup=False)
            return False
        self.push_screen(screen)
        return True

    # -- global keys -----------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in SIGNED_IN_ACTIONS and self.actor is None:
            return False
        if action == "filter":
            return self._screen_filters(self.screen)
        return True

    @staticmethod
    def _screen_filters(screen: Screen[object]) -> bool:
        """Whether ``/`` does something here (LabScreen's default only says it doesn't)."""
        from labtui.tui.screens.base import LabScreen

        handler = getattr(type(screen), "action_filter", None)
        return handler is not None and handler is not LabScreen.action_filter

    def action_command_bar(self) -> None:
        from labtui.tui.widgets.command_bar import CommandBar

        names = [e.name for e in self.allowed_screens()] + ["logout", "quit"]
        self.push_screen(CommandBar(names), self._command_entered)

    def _command_entered(self, text: str | None) -> None:
        if not text:
            return
        word = text.lstrip(":").strip().lower()
        if word in ("q", "quit", "exit"):
            self.action_quit_confirm()
        elif word == "logout":
            self.action_logout()
        else:
            self.open_screen(word)

    def action_filter(self) -> None:
        handler = getattr(self.screen, "action_filter", None)
        if callable(handler):
            handler()
        else:
            self.notify("Nothing to filter here", timeout=2)

    async def action_back(self) -> None:
        """Esc: back to the previous screen; the dashboard is the bottom."""
        self.go_back()

    def go_back(self) -> None:
        """Pop the current screen unless it is the dashboard (the bottom)."""
        if len(self.screen_stack) > 2:
            self.pop_screen()

    def action_help(self) -> None:
        from labtui.tui.screens.help import HelpScreen

        screen = self.screen
        entry = self._entry_of(screen)
        global_keys = [
            (self.get_key_display(b), b.tooltip or b.description) for b in Binding.make_bindings(self.BINDINGS)
        ]
        global_keys.insert(3, ("enter", "Open the selected row"))
        global_keys.append(
            (
                self.get_key_display(Binding(self.COMMAND_PALETTE_BINDING, "")),
                "Command palette: every screen and action you may use",
            )
        )
        screen_keys = [
            (self.get_key_display(b), b.tooltip or b.description) for b in self._own_bindings(screen, self.keymap)
        ]
        self.push_screen(
            HelpScreen(
                entry.title if entry else type(screen).__name__.removesuffix("Screen"),
                getattr(screen, "SCREEN_HELP", ""),
                global_keys,
                screen_keys,
                self.allowed_screens(),
            )
        )

    @staticmethod
    def _own_bindings(screen: Screen[object], keymap: dict[str, str]) -> list[Binding]:
        """The bindings a screen class declares (not Textual's focus/copy keys), in order,
        on the keys ``keymap`` moved them to."""
        found: dict[str, Binding] = {}
        for cls in reversed(type(screen).__mro__):
            if not issubclass(cls, Screen) or cls.__module__.startswith("textual."):
                continue
            for declared in Binding.make_bindings(cls.__dict__.get("BINDINGS", [])):
                moved = keymap.get(declared.id or "")
                keys = Binding.make_bindings([dataclasses.replace(declared, key=moved)]) if moved else [declared]
                for b in keys:
                    if b.description and screen.check_action(b.action, ()) is not False:
                        found[b.key] = b
        return list(found.values())

    @staticmethod
    def _entry_of(screen: Screen[object]) -> registry.ScreenEntry | None:
        target = f"{type(screen).__module__}:{type(screen).__name__}"
        return next((e for e in registry.SCREENS if e.target == target), None)

    def action_quit_confirm(self) -> None:
        from labtui.tui.widgets.confirm import ConfirmScreen

        def done(yes: bool | None) -> None:
            if yes:
                self.run_worker(self.action_quit(), group="quit", exclusive=True)

        self.push_screen(ConfirmScreen("Quit labtui?", "Quit", variant="primary"), done)

    async def action_quit(self) -> None:
        """Every way out (``q``, ctrl+q, the palette) ends the session first."""
        actor = self.actor
        if actor is not None:
            try:
                await self.core.auth.logout(actor)
            except LabtuiError:
                log.warning("logout on quit failed", exc_info=True)
        self.exit()

    @work(exclusive=True, group="session")
    async def action_logout(self) -> None:
        actor = self.actor
        if actor is None:
            return
        try:
            await self.core.auth.logout(actor)
        except LabtuiError as exc:
            self.notify(str(exc), severity="error", markup=False)
        await self.signed_out("Logged out")

    def get_system_commands(self, screen: Screen[object]) -> Iterable[SystemCommand]:
        """Textual's theme/keys/screenshot commands; our own Quit (which asks) replaces its."""
        for command in super().get_system_commands(screen):
            if command.title != "Quit":
                yield command
