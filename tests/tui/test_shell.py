"""The shell around the screens: the global keys, the command bar, the palette, help,
quitting, logging out, permissions in menus, and a session revoked elsewhere."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from textual.command import CommandPalette
from textual.widgets import Input, OptionList

from labtui.core.runtime import Core
from labtui.tui import registry
from labtui.tui.app import LabApp
from labtui.tui.screens.audit import AuditScreen
from labtui.tui.screens.dashboard import DashboardScreen
from labtui.tui.screens.help import HelpScreen
from labtui.tui.screens.login import LoginScreen
from labtui.tui.widgets.command_bar import CommandBar
from labtui.tui.widgets.confirm import ConfirmScreen
from tests.conftest import ADMIN_PASSWORD, add_user
from tests.tui.conftest import SIZE, screen_text, signed_in, text_of, toasts, wait_for

CHECKOUT = Path(__file__).resolve().parents[2]


def menu_items(app: LabApp) -> list[str]:
    menu = app.screen.query_one("#dash-menu", OptionList)
    return [str(menu.get_option_at_index(i).prompt) for i in range(menu.option_count)]


async def test_operator_sees_no_user_or_role_management(admin_core: Core, admin_actor) -> None:  # type: ignore[no-untyped-def]
    await add_user(admin_core, await admin_actor(), "oscar", "operator", password="oscar-pass-1")
    app = LabApp(admin_core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await signed_in(pilot, "oscar", "oscar-pass-1")
        items = "\n".join(menu_items(app))
        assert "Profile" in items
        assert "Users" not in items and "Roles" not in items and "Audit" not in items
        assert "system.audit_log" in screen_text(app)  # says why recent activity is missing
        assert "Users " not in text_of(app.screen.query_one("#dash-counts"))
        await pilot.press("colon", *"users", "enter")
        await wait_for(pilot, lambda: "You may not open Users" in toasts(app))
        assert "users.view" in toasts(app)
        assert isinstance(app.screen, DashboardScreen)
        # The palette offers the same screens: no Users, no Roles.
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await wait_for(pilot, lambda: "Open Profile" in palette_text(app))
        assert "Open Users" not in palette_text(app) and "Open Roles" not in palette_text(app)
        await pilot.press("escape")
    # and core refuses anyway
    from labtui.core.errors import PermissionDenied

    oscar = (await admin_core.auth.login("oscar", "oscar-pass-1")).actor
    with pytest.raises(PermissionDenied):
        await admin_core.users.list(oscar)


def palette_text(app: LabApp) -> str:
    options = app.screen.query_one(OptionList)
    return "\n".join(str(options.get_option_at_index(i).prompt) for i in range(options.option_count))


async def test_command_bar_goes_to_screens_and_refuses_unknown_names(admin_core: Core) -> None:
    app = LabApp(admin_core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await signed_in(pilot, "admin", ADMIN_PASSWORD)
        await pilot.press("colon")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandBar))
        await pilot.press("a", "u", "tab")  # Tab completes "au" to "audit"
        assert app.screen.query_one(Input).value == "audit"
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen))
        await pilot.press("colon", *"nosuch", "enter")
        await wait_for(pilot, lambda: "No screen named 'nosuch'" in toasts(app))
        assert isinstance(app.screen, AuditScreen)
        await pilot.press("escape")  # back
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await pilot.press("escape")  # the dashboard is the bottom: stays
        await pilot.pause()
        assert isinstance(app.screen, DashboardScreen)


async def test_dashboard_menu_and_palette_open_screens(admin_core: Core) -> None:
    app = LabApp(admin_core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await signed_in(pilot, "admin", ADMIN_PASSWORD)
        items = "\n".join(menu_items(app))
        for title in ("Users", "Roles", "Audit log", "Profile"):
            assert title in items
        menu = app.screen.query_one("#dash-menu", OptionList)
        menu.highlighted = [o.id for o in menu.options].index("audit")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        await pilot.press("ctrl+p")
        await wait_for(pilot, lambda: isinstance(app.screen, CommandPalette))
        await pilot.press(*"audit")
        await wait_for(pilot, lambda: "Open Audit log" in palette_text(app))
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen))


async def test_a_screen_that_cannot_load_is_a_notification(admin_core: Core, monkeypatch: pytest.MonkeyPatch) -> None:
    broken = registry.ScreenEntry("broken", "Broken", "never written", "labtui.tui.screens.no_such_module:Nope")
    monkeypatch.setattr(registry, "SCREENS", (*registry.SCREENS, broken))
    app = LabApp(admin_core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await signed_in(pilot, "admin", ADMIN_PASSWORD)
        await pilot.press("colon", *"broken", "enter")
        await wait_for(pilot, lambda: "The Broken screen is not available" in toasts(app))
        assert isinstance(app.screen, DashboardScreen)


async def test_help_lists_keys_screen_help_and_screens(admin_core: Core) -> None:
    app = LabApp(admin_core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await signed_in(pilot, "admin", ADMIN_PASSWORD)
        await pilot.press("colon", *"audit", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen))
        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        shown = screen_text(app)
        assert "Every state change and every login attempt" in shown  # the screen's SCREEN_HELP
        assert "Older" in text_of(app.screen.query_one("#screen-keys"))  # its own keys
        everywhere = text_of(app.screen.query_one("#global-keys"))
        for key in (":", "/", "?", "q", "esc", "enter", "^p"):
            assert f"\n{key} " in f"\n{everywhere}", key
        assert ":users" in text_of(app.screen.query_one("#screens"))
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen))


async def test_q_asks_before_quitting_and_quitting_ends_the_session(admin_core: Core) -> None:
    app = LabApp(admin_core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await signed_in(pilot, "admin", ADMIN_PASSWORD)
        actor = app.actor
        assert actor is not None
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        assert "Quit labtui?" in screen_text(app)
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert app.is_running
        await pilot.press("q")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
        await pilot.press("y")
        await wait_for(pilot, lambda: not app.is_running)
    assert not await admin_core.auth.session_alive(actor)


async def test_logout_returns_to_login_and_hides_global_keys(admin_core: Core) -> None:
    app = LabApp(admin_core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await signed_in(pilot, "admin", ADMIN_PASSWORD)
        actor = app.actor
        await pilot.press("colon", *"audit", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, AuditScreen))
        await pilot.press("ctrl+l")
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen) and "Logged out" in toasts(app))
        assert len(app.screen_stack) == 2  # nothing of the old session is left behind
        assert app.actor is None and app.permissions == frozenset()
        assert app.screen.query_one("#username", Input).value == "admin"
        await pilot.press("question_mark")  # typed into the password field, not help
        await pilot.pause()
        assert isinstance(app.screen, LoginScreen)
        assert app.screen.query_one("#password", Input).value == "?"
    assert actor is not None and not await admin_core.auth.session_alive(actor)


async def test_session_revoked_elsewhere_returns_to_login(admin_core: Core) -> None:
    app = LabApp(admin_core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await signed_in(pilot, "admin", ADMIN_PASSWORD)
        assert app.actor is not None
        await admin_core.auth.logout(app.actor)  # e.g. revoked from another session's profile
        app.check_session()  # what the 30-second timer does
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
        await wait_for(pilot, lambda: "Your session has ended" in toasts(app))
        assert app.actor is None


async def test_looks_right_at_80x24_and_200x60(admin_core: Core) -> None:
    """The dashboard's parts are all on screen at the smallest and a large size."""
    for size in ((80, 24), (200, 60)):
        app = LabApp(admin_core)
        async with app.run_test(size=size, notifications=True) as pilot:
            await signed_in(pilot, "admin", ADMIN_PASSWORD)
            await wait_for(pilot, lambda app=app: len(app.screen.query_one("#dash-recent").rows) > 0)
            for selector in ("#whoami", "#dash-menu", "#dash-counts", "#dash-recent", "Footer"):
                region = app.screen.query_one(selector).region
                assert region.width > 0 and region.height > 0, (size, selector)
                assert region.right <= size[0] and region.bottom <= size[1], (size, selector)


def svg_text(svg: str) -> str:
    """The text an SVG screenshot shows, line by line (for a failure's message)."""
    import html
    import re

    return "\n".join(html.unescape(t) for t in re.findall(r">([^<]*)</text>", svg))


def test_an_installed_labtui_makes_every_screenshot(tmp_path: Path) -> None:
    """``labtui screenshots DIR`` from a plain (non-editable) install of this checkout makes
    every picture ``screenshots/`` holds, on its own throw-away data dir (the configured one is
    untouched): the scenes and the fakes they need ship in the package."""
    source = tmp_path / "source"  # pip builds in the tree: build it in a copy, not the checkout
    shutil.copytree(
        CHECKOUT, source, ignore=shutil.ignore_patterns(".*", "build", "*.egg-info", "__pycache__", "screenshots")
    )
    installed = tmp_path / "installed"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(installed), str(source)],
        check=True,
        capture_output=True,
        timeout=300,
    )
    env = {**os.environ, "PYTHONPATH": str(installed)}
    env.pop("LABTUI_HOME", None)
    home = tmp_path / "home"

    def labtui(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "labtui", "--home", str(home), *args],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=600,
        )

    where = subprocess.run(
        [sys.executable, "-c", "import labtui; print(labtui.__file__)"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert where.stdout.startswith(str(installed)), where
    made = labtui("screenshots", str(tmp_path / "shots"), "--size", "100x30")
    assert made.returncode == 0, made.stderr
    written = {p.name: p.read_text() for p in (tmp_path / "shots").iterdir()}
    assert set(written) == {p.name for p in (CHECKOUT / "screenshots").glob("*.svg")}
    for name, svg in written.items():
        assert svg.startswith("<svg") and "labtui" in svg, name
        assert "pw-Admin-123" not in svg, name  # the password typed on the login shot is masked
    assert "super-admin" in written["dashboard.svg"], svg_text(written["dashboard.svg"])
    # The newest of the records the pictures are made with (older ones may be pushed off the
    # bottom of a 30-line screen by what the lab's background work records meanwhile).
    assert "role.create" in written["audit.svg"], svg_text(written["audit.svg"])
    # The terminal pane ran real commands on the fake SSH server's shell.
    assert "hello&#160;from&#160;web-1" in written["terminal.svg"]  # the SVG's spaces are &#160;
    assert not home.exists()
    bad = labtui("screenshots", str(tmp_path / "x"), "--size", "wide")
    assert bad.returncode == 2 and "Traceback" not in bad.stderr, bad.stderr
