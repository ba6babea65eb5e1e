"""``tui.keymap`` in the config rebinds a screen's key: the new key does the action, the old
one no longer does, and the footer, ``?`` help and the palette all show the new key. And
every screen's keys are declared as actions (ScreenAction), none written by hand."""

from __future__ import annotations

import importlib
import pkgutil
from collections import Counter

from textual.binding import Binding
from textual.pilot import Pilot
from textual.widgets import DataTable
from textual.widgets._footer import FooterKey

import labtui.tui.screens
from labtui.core.actor import Actor
from labtui.core.config import Config, TuiConfig
from labtui.core.runtime import Core
from labtui.tui import registry
from labtui.tui.app import LabApp
from labtui.tui.screens.base import LabScreen
from labtui.tui.screens.configs import ConfigEditorScreen
from labtui.tui.screens.dashboard import DashboardScreen
from labtui.tui.screens.editor_base import TextEditorScreen
from labtui.tui.screens.files import FileEditorScreen
from labtui.tui.screens.help import HelpScreen
from labtui.tui.screens.jobs import JobsScreen
from labtui.tui.screens.user_forms import InviteForm
from labtui.tui.screens.users import UsersScreen
from labtui.tui.widgets.confirm import ConfirmScreen
from tests.conftest import ADMIN_PASSWORD, MakeCore
from tests.tui.conftest import SIZE, text_of, wait_for


def footer_keys(app: LabApp) -> dict[str, str]:
    """Footer description -> the key it shows."""
    return {k.description: k.key for k in app.screen.query(FooterKey)}


async def admin_with_keymap(make_core: MakeCore, keymap: dict[str, str]) -> tuple[Core, Actor]:
    core = await make_core(Config(tui=TuiConfig(keymap=keymap)))
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    return core, (await core.auth.login("admin", ADMIN_PASSWORD)).actor


async def only_the_new_key_opens(pilot: Pilot[None], app: LabApp, old: str, new: str, opens: type, close: str) -> None:
    """``old`` does nothing on the current screen now; ``new`` opens ``opens``, which ``close``
    dismisses again."""
    screen = app.screen
    await pilot.press(old)
    await pilot.pause()
    assert app.screen is screen
    await pilot.press(new)
    await wait_for(pilot, lambda: isinstance(app.screen, opens))
    await pilot.press(close)
    await wait_for(pilot, lambda: app.screen is screen)


async def screen_keys_in_help(pilot: Pilot[None], app: LabApp) -> str:
    """``?`` on the current screen: its own keys as help lists them (then back)."""
    screen = app.screen
    await pilot.press("question_mark")
    await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
    keys = text_of(app.screen.query_one("#screen-keys"))
    await pilot.press("escape")
    await wait_for(pilot, lambda: app.screen is screen)
    return f"\n{keys}"


async def test_a_keymap_in_the_config_rebinds_a_screen_key_everywhere_it_is_shown(make_core: MakeCore) -> None:
    core, admin = await admin_with_keymap(make_core, {"users.invite": "n"})
    app = LabApp(core, actor=admin)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert app.open_screen("users")
        await wait_for(pilot, lambda: isinstance(app.screen, UsersScreen) and app.screen.loaded)
        users = app.screen
        assert isinstance(users, UsersScreen)
        await wait_for(pilot, lambda: footer_keys(app).get("Invite") == "n")
        assert footer_keys(app)["Roles"] == "r"  # keys not in the keymap stay where they were

        await only_the_new_key_opens(pilot, app, "i", "n", InviteForm, "escape")

        keys = await screen_keys_in_help(pilot, app)
        assert "\nn " in keys and "Invite a user by email" in keys and "\ni " not in keys, keys

        invite = next(c for c in users.palette_commands() if c[0] == "Invite a user")
        assert invite[1].endswith("(n)"), invite


async def test_a_keymap_rebinds_the_jobs_screen_cancel_too(make_core: MakeCore) -> None:
    core, admin = await admin_with_keymap(make_core, {"jobs.cancel_job": "k"})
    await core.jobs.run_script(admin, "hello")  # no worker runs here: it stays queued, so it can be cancelled
    app = LabApp(core, actor=admin)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert app.open_screen("jobs")
        await wait_for(
            pilot, lambda: isinstance(app.screen, JobsScreen) and app.screen.query_one(DataTable).row_count == 1
        )
        jobs = app.screen
        assert isinstance(jobs, JobsScreen)
        await wait_for(pilot, lambda: footer_keys(app).get("Cancel") == "k")

        await only_the_new_key_opens(pilot, app, "x", "k", ConfirmScreen, "n")

        keys = await screen_keys_in_help(pilot, app)
        assert "\nk " in keys and "Cancel the selected job" in keys and "\nx " not in keys, keys


def test_an_inherited_action_keeps_the_id_of_the_class_that_declares_it() -> None:
    """The editors' ctrl+s is TextEditorScreen's: one keymap entry rebinds it in both, and
    each editor looks its key up under that id."""
    save = next(a for a in TextEditorScreen.ACTIONS if a.action == "save")
    for editor in (ConfigEditorScreen, FileEditorScreen):
        assert editor.binding_id_of(save) == "editor.save"
    changes = next(a for a in ConfigEditorScreen.ACTIONS if a.action == "changes")
    assert ConfigEditorScreen.binding_id_of(changes) == "config_editor.changes"


#: Keys a screen may bind by hand, with a description (so ``?`` help lists them).
NAVIGATION_KEYS = {
    "escape": "the app's Back: a screen only refines it (close its filter or search first, ask "
    "before leaving unsaved work); not an action of the screen to rebind",
}
#: LabScreens left with hand-written bindings, and why.
LEFT_AS_BINDINGS: dict[str, str] = {}
#: LabScreens whose palette adds entries that are not plain actions, and which.
PALETTE_OVERRIDES = {
    "InventoryScreen": '"New <type>": its name says which type is chosen',
    "ProfileScreen": '"Change my password" opens a tab: no key does',
}


def lab_screens() -> list[type[LabScreen]]:
    """Every LabScreen subclass: the registry's screens and every screen module's (the
    screens opened from others, the bases they share)."""
    for entry in registry.SCREENS:
        assert issubclass(entry.load(), LabScreen), entry
    for module in pkgutil.iter_modules(labtui.tui.screens.__path__):
        importlib.import_module(f"labtui.tui.screens.{module.name}")
    found: list[type[LabScreen]] = []
    todo: list[type[LabScreen]] = [LabScreen]
    while todo:
        for sub in todo.pop().__subclasses__():
            if sub not in found and sub.__module__.startswith("labtui."):
                found.append(sub)
                todo.append(sub)
    return found


def test_every_lab_screen_declares_its_keys_as_actions() -> None:
    screens = lab_screens()
    assert {e.load() for e in registry.SCREENS} <= set(screens)
    for cls in screens:
        if cls.__name__ in LEFT_AS_BINDINGS:
            continue
        ids = {cls.binding_id_of(a) for a in cls.declared_actions()}
        for b in Binding.make_bindings(cls.__dict__.get("BINDINGS", [])):
            if b.description and b.key not in NAVIGATION_KEYS:
                assert b.id in ids, f"{cls.__name__}: {b.key} {b.action!r} is bound by hand, not declared in ACTIONS"
        assert "NEEDS" not in cls.__dict__, f"{cls.__name__}: permissions belong to its ScreenActions"
        assert "check_action" not in cls.__dict__, f"{cls.__name__}: what the selection allows goes in action_state"
        if "palette_commands" in cls.__dict__:
            assert cls.__name__ in PALETTE_OVERRIDES, f"{cls.__name__}: its palette entries come from ACTIONS"
        actions = Counter(a.action for a in cls.declared_actions())
        assert all(n == 1 for n in actions.values()), f"{cls.__name__} declares an action twice: {actions}"
    owners = Counter(cls.SCREEN_ID for cls in screens if "ACTIONS" in cls.__dict__)
    assert all(n == 1 for n in owners.values()), (
        f"two screens share a SCREEN_ID (their binding ids would clash): {owners}"
    )


async def test_moving_one_of_two_actions_on_a_key_leaves_the_other_there(make_core: MakeCore) -> None:
    """``d`` deactivates or activates, whichever fits; moving activate to ``A`` keeps
    deactivate on ``d`` (Textual's keymap alone would take ``d`` from both)."""
    core, admin = await admin_with_keymap(make_core, {"users.activate": "A"})
    await core.users.create(admin, "bob", "password-123", roles=["viewer"])
    app = LabApp(core, actor=admin)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert app.open_screen("users")
        await wait_for(pilot, lambda: isinstance(app.screen, UsersScreen) and app.screen.loaded)
        users = app.screen
        assert isinstance(users, UsersScreen)
        table = users.query_one(DataTable)
        table.move_cursor(row=[str(table.get_row_at(i)[0]) for i in range(table.row_count)].index("bob"))
        await wait_for(pilot, lambda: footer_keys(app).get("Deactivate") == "d")
        await pilot.press("d")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfirmScreen))
