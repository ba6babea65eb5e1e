"""What every labtui screen shares: access to core and the actor, permission checks, and
running core calls in workers with errors shown as notifications (never a traceback)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, ClassVar, TypeVar

from sqlalchemy.exc import SQLAlchemyError
from textual.screen import Screen

from labtui.core.errors import LabtuiError

if TYPE_CHECKING:
    from labtui.core.actor import Actor
    from labtui.core.runtime import Core
    from labtui.tui.app import LabApp

T = TypeVar("T")
log = logging.getLogger("labtui.tui")


class LabScreen(Screen[Any]):
    """Base of the main screens. Subclasses set ``SCREEN_HELP`` (shown by ``?``; not
    Textual's own ``HELP``, which its help panel renders as markdown) and ``BINDINGS``.

    Global keys (``:`` ``/`` ``?`` ``ctrl+p`` ``q`` Esc) are bound on the app; a screen that
    supports filtering implements :meth:`action_filter`.
    """

    SCREEN_HELP: ClassVar[str] = ""

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
            self.notify(f"{type(exc).__name__}: {exc} (details in labtui.log)", severity="error", timeout=10, markup=False)
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
        (shown beside the screens and log out / quit). Include only what the actor may do."""
        return []

    def action_filter(self) -> None:
        """``/``: screens with a table override this to focus their filter input."""
        self.notify("Nothing to filter here", timeout=2)
