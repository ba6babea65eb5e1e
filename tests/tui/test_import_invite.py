"""A person invited in CloudLab, who has not accepted yet, accepts in labtui with the token
CloudLab mailed: the login screen's "I have an invitation" takes it (docs/cloudlab.md,
"Importing CloudLab's data")."""

from __future__ import annotations

from pathlib import Path

from labtui.core.actor import Actor
from labtui.core.importer import ImportRequest, import_cloudlab
from labtui.tui.app import LabApp
from labtui.tui.screens.dashboard import DashboardScreen
from labtui.tui.screens.login import LoginScreen
from labtui.tui.screens.redeem import InvitationScreen
from tests.cloudlab_fixtures import EXPIRED_INVITE, PENDING_INVITE, build_sqlite
from tests.conftest import MakeCore
from tests.tui.conftest import SIZE, fill, screen_text, text_of, wait_for


async def test_cloudlabs_mailed_invitation_token_is_accepted_on_the_login_screen(
    make_core: MakeCore, tmp_path: Path
) -> None:
    core = await make_core()
    db = tmp_path / "cloudlab.db"
    build_sqlite(db)
    await import_cloudlab(core, Actor.system("cli"), ImportRequest(db_path=db))
    app = LabApp(core)
    async with app.run_test(size=SIZE, notifications=True) as pilot:
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, InvitationScreen))
        await fill(pilot, EXPIRED_INVITE, "frank-pass-1234", "frank-pass-1234")
        await wait_for(pilot, lambda: "not valid" in text_of(app.screen.query_one("#error")))
        assert isinstance(app.screen, InvitationScreen)
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, LoginScreen))
        await pilot.press("f2")
        await wait_for(pilot, lambda: isinstance(app.screen, InvitationScreen))
        await fill(pilot, PENDING_INVITE, "frank-pass-1234", "frank-pass-1234")
        await wait_for(pilot, lambda: isinstance(app.screen, DashboardScreen) and "roles: ops" in screen_text(app))
        assert app.actor is not None and app.actor.username == "frank"
        assert PENDING_INVITE not in screen_text(app)
    assert (await core.auth.login("frank", "frank-pass-1234")).actor.username == "frank"
