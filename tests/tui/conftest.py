"""TUI fixtures: a LabApp on a real Core (tmp data dir), and helpers that read what the
screen shows — widget text, the visible notifications — and wait for the app to get there."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import pytest
from textual.pilot import Pilot
from textual.widgets import DataTable, Static
from textual.widgets._toast import Toast

from labtui.core.actor import Actor
from labtui.core.runtime import Core
from labtui.tui.app import LabApp
from tests.conftest import ADMIN_PASSWORD, MakeCore

SIZE = (100, 32)


async def wait_for(pilot: Pilot[object], predicate: Callable[[], object], timeout: float = 5.0) -> None:
    """Let the app run until ``predicate()`` holds (workers, screen switches, repaints)."""
    deadline = time.monotonic() + timeout
    while True:
        await pilot.pause()
        try:
            if predicate():
                return
        except Exception:
            pass
        if time.monotonic() > deadline:
            raise AssertionError(
                f"timed out waiting; screen is {type(pilot.app.screen).__name__}:\n{screen_text(pilot.app)}"
            )
        await asyncio.sleep(0.02)


async def paste(pilot: Pilot[object], text: str) -> None:
    """Paste into the focused input, as a terminal does (one event, not a key per char)."""
    from textual import events

    focused = pilot.app.focused
    assert focused is not None, "nothing focused to paste into"
    focused.post_message(events.Paste(text))
    await pilot.pause()


def text_of(widget: Static) -> str:
    return str(widget.render())


def screen_text(app: object) -> str:
    """The text of every Static and table row on the current screen, in DOM order."""
    screen = app.screen  # type: ignore[attr-defined]
    parts: list[str] = []
    for widget in screen.query("*"):
        if isinstance(widget, DataTable):
            parts += [" | ".join(str(c) for c in widget.get_row_at(i)) for i in range(widget.row_count)]
        elif isinstance(widget, Static) and widget.display and not isinstance(widget, Toast):
            parts.append(str(widget.render()))
    return "\n".join(parts)


def toasts(app: object) -> str:
    """The notifications on screen now."""
    return "\n".join(str(t.render()) for t in app.screen.query(Toast))  # type: ignore[attr-defined]


def table_rows(app: object, selector: str = "DataTable") -> list[str]:
    table = app.screen.query_one(selector, DataTable)  # type: ignore[attr-defined]
    return [" | ".join(str(c) for c in table.get_row_at(i)) for i in range(table.row_count)]


async def fill(pilot: Pilot[object], *values: str) -> None:
    """Fill a form from the focused field on: paste a value, Tab to the next, Enter at the end."""
    for index, value in enumerate(values):
        if index:
            await pilot.press("tab")
        await paste(pilot, value)
    await pilot.press("enter")


async def sign_in(pilot: Pilot[object], username: str, password: str) -> None:
    """The login form as a person uses it: username, Tab, password, Enter."""
    from labtui.tui.screens.login import LoginScreen

    await wait_for(pilot, lambda: isinstance(pilot.app.screen, LoginScreen))
    await pilot.click("#username")
    await fill(pilot, username, password)


async def signed_in(pilot: Pilot[object], username: str, password: str) -> None:
    from labtui.tui.screens.dashboard import DashboardScreen

    await sign_in(pilot, username, password)
    await wait_for(pilot, lambda: isinstance(pilot.app.screen, DashboardScreen) and "roles:" in screen_text(pilot.app))


@pytest.fixture
async def admin_core(make_core: MakeCore) -> Core:
    """A started core whose only account is the super-admin ``admin``."""
    core = await make_core()
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    return core


@pytest.fixture
def admin_actor(admin_core: Core) -> Callable[[], asyncio.Future[Actor]]:
    async def get() -> Actor:
        return (await admin_core.auth.login("admin", ADMIN_PASSWORD)).actor

    return get  # type: ignore[return-value]


@pytest.fixture
def app_for(admin_core: Core) -> Callable[..., LabApp]:
    def make(**kwargs: object) -> LabApp:
        return LabApp(admin_core, **kwargs)  # type: ignore[arg-type]

    return make
