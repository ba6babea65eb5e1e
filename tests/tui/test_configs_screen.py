"""The config editor driven by keys: edit, save with a note, an invalid save refused, history
with diffs between any two versions, restore as a new version; and the way in from the
service detail screen of the real app (where `q` typed in the editor must not quit)."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Static, TextArea

from labtui.core.actor import Actor
from labtui.core.files import human_size
from labtui.core.runtime import Core
from labtui.tui.screens.configs import (
    ConfigEditorScreen,
    ConfigHistoryScreen,
    ConfigsScreen,
    PromptScreen,
    yaml_language,
)
from tests.conftest import add_user
from tests.tui.conftest import (
    ADMIN_PASSWORD,
    screen_text,
    signed_in,
    table_rows,
    toasts,
    wait_for,
)
from tests.tui.host import host


def config_file(core: Core) -> Path:
    return core.services.root / "hello" / "config.yaml"


def head(app: object) -> str:
    return str(app.screen.query_one("#head", Static).render())  # type: ignore[attr-defined]


async def type_text(pilot, text: str) -> None:  # type: ignore[no-untyped-def]
    for ch in text:
        await pilot.press({"\n": "enter", " ": "space", ":": "colon", "[": "left_square_bracket"}.get(ch, ch))


async def test_edit_save_invalid_history_diff_restore(core: Core, admin: Actor) -> None:
    original = config_file(core).read_text()
    app = await host(core, admin, ConfigsScreen("hello"))
    async with app.run_test(size=(110, 36), notifications=True) as pilot:
        await wait_for(pilot, lambda: any(r.startswith("config.yaml | yes") for r in table_rows(app)))
        size = human_size(len(original.encode()))
        assert f"config.yaml | yes | {size} | 1 | v1" in table_rows(app)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfigEditorScreen) and "v1" in head(app))
        editor = app.screen.query_one("#editor", TextArea)
        assert editor.text == original
        assert editor.language == yaml_language()

        # edit and save with a note
        editor.move_cursor(editor.document.end)
        await type_text(pilot, "debug: true\n")
        assert "modified" in head(app)
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen))
        await type_text(pilot, "turn on debug")
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Saved config.yaml as version 2" in toasts(app))
        assert config_file(core).read_text() == original + "debug: true\n"
        assert "v2" in head(app) and "modified" not in head(app)

        # invalid YAML: refused with the reason, nothing written, no note asked
        await type_text(pilot, "bad: [x\n")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Not saved" in screen_text(app))
        assert "not valid YAML" in str(app.screen.query_one("#error", Static).render())
        assert not isinstance(app.screen, PromptScreen)
        assert config_file(core).read_text() == original + "debug: true\n"
        await pilot.press("ctrl+r")
        await pilot.press("y")
        await wait_for(pilot, lambda: editor.text == original + "debug: true\n")
        assert "Not saved" not in screen_text(app)

        # history: the diff of the highlighted version, then any two
        await pilot.press("ctrl+t")
        await wait_for(
            pilot, lambda: isinstance(app.screen, ConfigHistoryScreen) and "Diff v1 → v2" in screen_text(app)
        )
        rows = table_rows(app)
        assert rows[0].startswith("v2 |") and "admin | local" in rows[0] and rows[0].endswith("turn on debug")
        assert rows[1].startswith("v1 |") and "system | startup" in rows[1]
        diff = str(app.screen.query_one("#diff", Static).render())
        assert "--- v1\n+++ v2\n" in diff and "+debug: true" in diff
        await pilot.press("down")
        await wait_for(pilot, lambda: "Diff (empty) → v1" in screen_text(app))
        await pilot.press("m", "up")
        await wait_for(pilot, lambda: "Diff v1 → v2" in screen_text(app) and "base marked" in screen_text(app))

        # restore v1 as a new version
        await pilot.press("down", "r")
        await pilot.press("y")
        await wait_for(pilot, lambda: "Restored v1 as version 3" in toasts(app))
        await wait_for(pilot, lambda: table_rows(app)[0].startswith("v3 |"))
        assert "restore of v1" in table_rows(app)[0]
        assert config_file(core).read_text() == original
        await pilot.press("escape")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfigEditorScreen) and "v3" in head(app))
        assert app.screen.query_one("#editor", TextArea).text == original

        # leaving with unsaved changes asks first
        app.screen.query_one("#editor", TextArea).focus()
        await type_text(pilot, "x")
        await pilot.press("escape")
        await wait_for(pilot, lambda: "without saving" in screen_text(app))
        await pilot.press("y")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, ConfigsScreen) and f"config.yaml | yes | {size} | 3 | v3" in table_rows(app),
        )


async def test_viewer_sees_read_only_editor(core: Core, admin: Actor) -> None:
    viewer = await add_user(core, admin, "viewer1", "viewer")
    app = await host(core, viewer, ConfigEditorScreen("hello", "config.yaml"))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await wait_for(pilot, lambda: "read-only" in head(app))
        editor = app.screen.query_one("#editor", TextArea)
        assert editor.read_only
        await pilot.press("ctrl+s")
        await pilot.pause()
        assert not isinstance(app.screen, PromptScreen)
        assert config_file(core).read_text() == editor.text


async def test_from_service_detail_in_the_real_app(app_for, admin_core: Core) -> None:  # type: ignore[no-untyped-def]
    from labtui.tui.screens.services import ServiceDetailScreen

    app = app_for()
    async with app.run_test(size=(110, 36), notifications=True) as pilot:
        await signed_in(pilot, "admin", ADMIN_PASSWORD)
        app.push_screen(ServiceDetailScreen("hello"))
        await wait_for(pilot, lambda: isinstance(app.screen, ServiceDetailScreen))
        await pilot.press("c")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfigsScreen) and len(table_rows(app)) == 4)
        await pilot.press("down", "enter")
        await wait_for(pilot, lambda: isinstance(app.screen, ConfigEditorScreen) and "v1" in head(app))
        editor = app.screen.query_one("#editor", TextArea)
        editor.move_cursor(editor.document.end)
        await type_text(pilot, "quiet: q\n")  # q, :, / and ? are text here, not app keys
        await pilot.press("question_mark", "slash")
        assert editor.text.endswith("quiet: q\n?/")
        assert isinstance(app.screen, ConfigEditorScreen)
