"""``tui.keymap`` in the config rebinds a screen's key: the new key does the action, the old
one no longer does, and the footer, ``?`` help and the palette all show the new key."""

from __future__ import annotations

from textual.widgets._footer import FooterKey

from labtui.core.config import Config, TuiConfig
from labtui.tui.app import LabApp
from labtui.tui.screens.dashboard import DashboardScreen
from labtui.tui.screens.help import HelpScreen
from labtui.tui.screens.user_forms import InviteForm
from labtui.tui.screens.users import UsersScreen
from tests.conftest import ADMIN_PASSWORD, MakeCore
from tests.tui.conftest import SIZE, text_of, wait_for


def footer_keys(app: LabApp) -> dict[str, str]:
    """Footer description -> the key it shows."""
    return {k.description: k.key for k in app.screen.query(FooterKey)}


async def test_a_keymap_in_the_config_rebinds_a_screen_key_everywhere_it_is_shown(make_core: MakeCore) -> None:
    core = await make_core(Config(tui=TuiConfig(keymap={"users.invite": "n"})))
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    admin = (await core.auth.login("admin", ADMIN_PASSWORD)).actor
    app = LabApp(core, actor=admin)
    async with app.run_test(size=SIZE) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen))
        assert app.open_screen("users")
        await wait_for(pilot, lambda: isinstance(app.screen, UsersScreen) and app.screen.loaded)
        users = app.screen
        assert isinstance(users, UsersScreen)
        await wait_for(pilot, lambda: footer_keys(app).get("Invite") == "n")
        assert footer_keys(app)["Roles"] == "r"  # keys not in the keymap stay where they were

        await pilot.press("i")  # the old key does nothing now
        await pilot.pause()
        assert app.screen is users
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, InviteForm))
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is users)

        await pilot.press("question_mark")
        await wait_for(pilot, lambda: isinstance(app.screen, HelpScreen))
        keys = text_of(app.screen.query_one("#screen-keys"))
        assert "\nn " in f"\n{keys}" and "Invite a user by email" in keys, keys
        assert "\ni " not in f"\n{keys}", keys
        await pilot.press("escape")
        await wait_for(pilot, lambda: app.screen is users)

        invite = next(c for c in users.palette_commands() if c[0] == "Invite a user")
        assert invite[1].endswith("(n)"), invite
