"""The files browser and the outputs screen driven by keys: upload, edit with .backup, delete,
a new file, a path that leaves the folder refused on screen; credentials masked until `v`."""

from __future__ import annotations

from pathlib import Path

from textual.widgets import Input, Static, TextArea

from labtui.core.actor import Actor
from labtui.core.audit import AuditFilter
from labtui.core.outputs import MASK
from labtui.core.runtime import Core
from labtui.tui.screens.configs import PromptScreen
from labtui.tui.screens.files import FileEditorScreen, FilesScreen, UploadForm
from labtui.tui.screens.outputs import OutputsScreen
from tests.conftest import add_user
from tests.tui.conftest import paste, table_rows, toasts, wait_for
from tests.tui.host import host

OUTPUTS = """outputs:
  - {name: url, type: url, label: Web UI, value: "http://hello.lab/"}
  - {name: admin_password, type: credential, label: Admin Password, credential_type: password, username: admin, value: s3cret-XYZ}
"""


def greet(core: Core) -> Path:
    return core.services.root / "greet"


async def select(pilot, app, path: str) -> None:  # type: ignore[no-untyped-def]
    """Move the table cursor to ``path`` with the arrow keys."""
    rows = [r.split(" | ")[0] for r in table_rows(app)]
    steps = rows.index(path) - app.screen.query_one("#files").cursor_row
    await pilot.press(*(["down"] * steps if steps > 0 else ["up"] * -steps))


def head(app: object) -> str:
    return str(app.screen.query_one("#head", Static).render())  # type: ignore[attr-defined]


async def test_upload_edit_delete_new_and_refusal(core: Core, admin: Actor, tmp_path: Path) -> None:
    (greet(core) / "outputs" / "result.txt").write_text("done\n")
    src = tmp_path / "users.csv"
    src.write_text("alice\n")
    app = await host(core, admin, FilesScreen("greet"))
    async with app.run_test(size=(110, 34), notifications=True) as pilot:
        await wait_for(pilot, lambda: any(r.startswith("outputs/result.txt | 5 B") for r in table_rows(app)))

        # upload into the selected row's folder
        await select(pilot, app, "outputs/result.txt")
        await pilot.press("u")
        await wait_for(pilot, lambda: isinstance(app.screen, UploadForm))
        await paste(pilot, str(src))
        await pilot.press("enter")
        assert app.screen.query_one("#folder", Input).value == "outputs"
        await pilot.press("enter")
        await wait_for(pilot, lambda: "Uploaded outputs/users.csv (6 B)" in toasts(app))
        await wait_for(pilot, lambda: "outputs/users.csv | 6 B" in " ".join(table_rows(app)))
        assert (greet(core) / "outputs" / "users.csv").read_text() == "alice\n"

        # open the uploaded file (the cursor is on it), edit, save: the old content is the .backup
        await pilot.press("enter")
        await wait_for(
            pilot, lambda: isinstance(app.screen, FileEditorScreen) and app.screen.query_one(TextArea).text == "alice\n"
        )
        editor = app.screen.query_one(TextArea)
        editor.move_cursor(editor.document.end)
        await pilot.press("b", "o", "b", "enter")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Saved outputs/users.csv" in toasts(app))
        assert (greet(core) / "outputs" / "users.csv").read_text() == "alice\nbob\n"
        assert (greet(core) / "outputs" / "users.csv.backup").read_text() == "alice\n"
        await pilot.press("escape")
        await wait_for(
            pilot,
            lambda: isinstance(app.screen, FilesScreen) and "outputs/users.csv.backup" in " ".join(table_rows(app)),
        )

        # delete with confirm: a .backup stays
        await select(pilot, app, "outputs/users.csv")
        await pilot.press("d")
        await pilot.press("y")
        await wait_for(pilot, lambda: "Deleted outputs/users.csv; kept as outputs/users.csv.backup" in toasts(app))
        assert not (greet(core) / "outputs" / "users.csv").exists()
        assert (greet(core) / "outputs" / "users.csv.backup").read_text() == "alice\nbob\n"

        # a new file under the selected folder
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen))
        assert app.screen.query_one(Input).value == "outputs/"
        await paste(pilot, "notes.txt")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, FileEditorScreen) and "new file" in head(app))
        await pilot.press("h", "i")
        await pilot.press("ctrl+s")
        await wait_for(pilot, lambda: "Saved outputs/notes.txt" in toasts(app))
        assert (greet(core) / "outputs" / "notes.txt").read_text() == "hi"
        await pilot.press("escape")

        # a path that climbs out is refused on screen, and nothing is written
        await wait_for(pilot, lambda: isinstance(app.screen, FilesScreen))
        await pilot.press("n")
        await wait_for(pilot, lambda: isinstance(app.screen, PromptScreen))
        await paste(pilot, "../../evil.sh")
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, FileEditorScreen))
        await pilot.press("x", "ctrl+s")
        await wait_for(pilot, lambda: "Refused 'outputs/../../evil.sh'" in toasts(app))
        assert not (core.services.root / "evil.sh").exists()
    refused = await core.audit.page(admin, AuditFilter(action="service.path_refused"))
    assert refused[0].detail["path"] == "outputs/../../evil.sh"


async def test_viewer_cannot_change_files(core: Core, admin: Actor) -> None:
    (greet(core) / "inputs" / "a.txt").write_text("a\n")
    viewer = await add_user(core, admin, "viewer1", "viewer")
    app = await host(core, viewer, FilesScreen("greet"))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await wait_for(pilot, lambda: any(r.startswith("inputs/a.txt") for r in table_rows(app)))
        await select(pilot, app, "inputs/a.txt")
        await pilot.press("d", "u", "n")
        await pilot.pause()
        assert isinstance(app.screen, FilesScreen)  # the actions are disabled
        await pilot.press("enter")
        await wait_for(pilot, lambda: isinstance(app.screen, FileEditorScreen) and "read-only" in head(app))
        assert app.screen.query_one(TextArea).read_only


async def test_outputs_masked_until_revealed(core: Core, admin: Actor) -> None:
    (core.services.root / "hello" / "outputs" / "service_outputs.yaml").write_text(OUTPUTS)
    app = await host(core, admin, OutputsScreen("hello"))
    async with app.run_test(size=(100, 30), notifications=True) as pilot:
        await wait_for(pilot, lambda: len(table_rows(app)) == 2)
        rows = table_rows(app)
        assert rows[0] == "Web UI | url | http://hello.lab/ | "
        assert rows[1] == f"Admin Password | credential (password) | {MASK} | admin"
        await pilot.press("down", "v")
        await wait_for(pilot, lambda: "s3cret-XYZ" in table_rows(app)[1])
        await pilot.press("v")
        await wait_for(pilot, lambda: MASK in table_rows(app)[1])
    reveals = await core.audit.page(admin, AuditFilter(action="service.output.reveal"))
    assert len(reveals) == 1 and reveals[0].detail["output"] == "admin_password"


async def test_outputs_empty(core: Core, admin: Actor) -> None:
    app = await host(core, admin, OutputsScreen("greet"))
    async with app.run_test(size=(100, 30)) as pilot:
        await wait_for(pilot, lambda: app.screen.query_one("#empty").has_class("-shown"))
        assert table_rows(app) == []
