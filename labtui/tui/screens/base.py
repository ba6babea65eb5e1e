"""What every labtui screen shares: access to core and the actor, permission checks, and
running core calls in workers with errors shown as notifications (never a traceback)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from textual import events, on
from textual.binding import Binding
from textual.screen import Screen

from labtui.core.errors import LabtuiError
from labtui.tui.actions import ScreenAction

if TYPE_CHECKING:
    from labtui.core.actor import Actor
    from labtui.core.runtime import Core
    from labtui.tui.app import LabApp

T = TypeVar("T")
log = logging.getLogger("labtui.tui")


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class LabScreen(Screen[Any]):
    """Base of the main screens. Subclasses set ``SCREEN_HELP`` (shown by ``?``; not
    Textual's own ``HELP``, which its help panel renders as markdown) and declare what they
    let you do in ``ACTIONS`` (:mod:`labtui.tui.actions`): the bindings, the permission
    check, the palette entries and the ``?`` lines all come from there.

    Global keys (``:`` ``/`` ``?`` ``ctrl+p`` ``q`` Esc) are bound on the app; a screen that
    supports filtering implements :meth:`action_filter`.
    """

    SCREEN_HELP: ClassVar[str] = ""
    ACTIONS: ClassVar[tuple[ScreenAction, ...]] = ()
    _declared_by_name: ClassVar[dict[str, ScreenAction]] = {}
    SCREEN_ID: ClassVar[str] = ""
    """The prefix of this screen's binding ids in ``tui.keymap``; by default the class name
    without ``Screen``, in snake case (``ServiceDetailScreen`` -> ``service_detail``)."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        # Before Textual's own __init_subclass__, which merges the classes' BINDINGS.
        if "ACTIONS" in cls.__dict__:
            if not cls.__dict__.get("SCREEN_ID"):
                cls.SCREEN_ID = _snake(cls.__name__.removesuffix("Screen"))
            cls.BINDINGS = [*(a.binding(cls.SCREEN_ID) for a in cls.ACTIONS), *cls.__dict__.get("BINDINGS", [])]
        # By name, once per class: check_action asks on every refresh of the footer.
        cls._declared_by_name = {}
        for declared in cls.declared_actions():
            cls._declared_by_name.setdefault(declared.action, declared)
        super().__init_subclass__(**kwargs)

    @classmethod
    def declared_actions(cls) -> list[ScreenAction]:
        """Every ``ACTIONS`` entry of this class and its bases, base classes first."""
        return [a for klass in reversed(cls.__mro__) for a in klass.__dict__.get("ACTIONS", ())]

    def declared(self, action: str) -> ScreenAction | None:
        return self._declared_by_name.get(action)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """A declared action needs its permission; then :meth:`action_state` decides."""
        declared = self.declared(action)
        if declared is not None and declared.permission and not self.can(declared.permission):
            return False
        return self.action_state(action)

    def action_state(self, action: str) -> bool | None:
        """Whether ``action`` fits what is selected now: True offers it, None shows it
        disabled, False hides it. Screens whose keys follow the selection override this."""
        return True

    @classmethod
    def binding_id_of(cls, action: ScreenAction) -> str:
        """The id of ``action``'s binding: by the class that declares it, so an action
        inherited from a base (the editors' ``ctrl+s``) keeps the base's id."""
        owner = next((k for k in cls.__mro__ if action in k.__dict__.get("ACTIONS", ())), cls)
        return action.binding_id(owner.__dict__.get("SCREEN_ID") or cls.SCREEN_ID)

    @on(events.Mount)
    def _keep_unmoved_siblings_on_their_key(self) -> None:
        """Two actions may share a key (``d`` deactivates or activates, whichever fits):
        Textual's keymap takes the key from both when it moves one, so the other is kept on
        it by name."""
        keymap = self.lab.keymap
        actions = self.declared_actions()
        kept: dict[str, str] = {}
        for moved in actions:
            if self.binding_id_of(moved) not in keymap:
                continue
            for sibling in actions:
                sibling_id = self.binding_id_of(sibling)
                if sibling is not moved and sibling.key == moved.key and sibling_id not in keymap:
                    kept[sibling_id] = sibling.key
        if kept:
            keymap.update(kept)
            self.app.update_keymap(kept)

    def key_of(self, action: ScreenAction) -> str:
        """The key ``action`` is on for this user (``tui.keymap`` applied), for display."""
        keys = self.lab.keymap.get(self.binding_id_of(action), action.key)
        return ", ".join(self.app.get_key_display(Binding(k.strip(), "")) for k in keys.split(","))

    @property
    def lab(self) -> LabApp:
        return self.app  # type: ignore[return-value]

    @property
    def core(self) -> Core:
        return self.lab.core

    @property
    def actor(self) -> Actor:
        assert self.lab.actor is not None, "screen opened before login"
        return self.lab.actor

    def can(self, permission: str) -> bool:
        """Whether the actor holds ``permission`` (from the app's cached set)."""
        return self.lab.can(permission)

    async def call(self, fn: Callable[[], Awaitable[T]], *, success: str | None = None) -> T | None:
        """Await a core call; a :class:`LabtuiError` becomes an error notification and None."""
        result: T | None = None
        try:
            result = await fn()
        except LabtuiError as exc:
            self.notify(str(exc), severity="error", timeout=8, markup=False)
        except (SQLAlchemyError, OSError) as exc:  # e.g. a locked or vanished database
            log.exception("core call failed")
            self.notify(
                f"{type(exc).__name__}: {exc} (details in labtui.log)", severity="error", timeout=10, markup=False
            )
        else:
            if success:
                self.notify(success, markup=False)
        if self._closing or self._closed or self._pruning:
            # The screen was closed while core worked (the outcome is told all the same):
            # end the worker quietly, before it touches widgets that are already gone.
            raise asyncio.CancelledError
        return result

    def palette_commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        """``(name, help, callback)`` of this screen's actions for the ``ctrl+p`` palette
        (shown beside the screens and log out / quit): the declared actions with a palette
        name that the actor may do now."""
        return [
            (a.palette, f"{a.help} ({self.key_of(a)})", getattr(self, f"action_{a.action}"))
            for a in self.declared_actions()
            if a.palette and self.check_action(a.action, ()) is not False
        ]

    def action_filter(self) -> None:
        """``/``: screens with a table override this to focus their filter input."""
        self.notify("Nothing to filter here", timeout=2)
