"""A service's ``inputs/`` and ``outputs/`` folders: list, view, edit, create, upload from a
local path, and delete (the file is kept as ``<file>.backup``). Core enforces the folders,
the 100 KB limit and the path rules and audits refusals; the screens show the reasons.

Keys: Enter open (edit when allowed), n new file, u upload, d delete, r reload. In the
editor: ctrl+s save, ctrl+r reload, Esc back (asking first if there are unsaved changes).
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Grid, Vertical
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Label, Static

from labtui.core.files import FileEntry, human_size
from labtui.core.permissions_catalog import Perm
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.base import LabScreen
from labtui.tui.screens.configs import PromptScreen
from labtui.tui.screens.editor_base import LoadedText, TextEditorScreen
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable

VIEW, EDIT = Perm.SERVICES_FILES_VIEW, Perm.SERVICES_FILES_EDIT


class UploadForm(ModalScreen[tuple[str, str] | None]):
    """Asks for a local file and the folder to put it in; Enter on the folder uploads."""

    DEFAULT_CSS = """
    UploadForm { align: center middle; }
    UploadForm > Vertical { width: 80; max-width: 100%; height: auto; border: thick $accent; background: $surface; padding: 1 2; }
    UploadForm Grid { grid-size: 2; grid-columns: 14 1fr; grid-rows: 3; height: auto; }
    UploadForm Label { padding-top: 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, service: str, folder: str = "inputs") -> None:
        super().__init__()
        self.service, self.folder = service, folder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(f"Upload a file of this machine into {self.service}'s folder (100 KB at most)", markup=False)
            with Grid():
                yield Label("Local file")
                yield Input(placeholder="~/path/to/file", id="source")
                yield Label("Into folder")
                yield Input(self.folder, placeholder="inputs or outputs", id="folder")

    def on_mount(self) -> None:
        self.query_one("#source", Input).focus()

    @on(Input.Submitted, "#source")
    def _next(self) -> None:
        self.query_one("#folder", Input).focus()

    @on(Input.Submitted, "#folder")
    def _done(self) -> None:
        source = self.query_one("#source", Input).value.strip()
        if not source:
            self.query_one("#source", Input).focus()
            return
        self.dismiss((source, self.query_one("#folder", Input).value.strip() or "inputs"))

    def action_cancel(self) -> None:
        self.dismiss(None)


class FilesScreen(LabScreen):
    SCREEN_HELP = (
        "Files in the service's inputs/ and outputs/ folders (nothing else can be reached). "
        "Enter opens a file, n creates one, u uploads a file of this machine, d deletes "
        "(a copy stays as .backup). Files are limited to 100 KB."
    )

    DEFAULT_CSS = """
    FilesScreen #head { padding: 0 1; background: $boost; }
    """

    ACTIONS = (
        ScreenAction("n", "new", "New", "Create a file under inputs/ or outputs/"),
        ScreenAction("u", "upload", "Upload", "Upload a file of this machine"),
        ScreenAction("d", "delete", "Delete", "Delete the selected file (asks first; a copy stays as .backup)"),
        ScreenAction("r", "reload", "Reload", "Read the list of files again"),
    )
    #: Navigation, not an action.
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Back", show=False)]

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self.entries: list[FileEntry] = []

    def compose(self) -> ComposeResult:
        yield Static(f"Files of {self.service}: inputs/ and outputs/", id="head", markup=False)
        table: DataTable[str] = LabTable(cursor_type="row", zebra_stripes=True, id="files")
        table.add_columns("Path", "Size", "Modified (UTC)")
        yield table
        yield LabFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.load()

    def on_screen_resume(self) -> None:
        self.load()

    def action_state(self, action: str) -> bool | None:
        if action in ("new", "upload", "delete") and not self.can(EDIT):
            return None  # shown disabled, not hidden
        return True

    @work(exclusive=True, group="files-load")
    async def load(self, select: str | None = None) -> None:
        entries = await self.call(lambda: self.core.files.list(self.actor, self.service))
        if entries is None:
            return
        self.entries = entries
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for e in entries:
            table.add_row(e.path, human_size(e.size), e.modified.strftime("%Y-%m-%d %H:%M:%S"), key=e.path)
        if select is not None and select in [e.path for e in entries]:
            row = [e.path for e in entries].index(select)
        table.move_cursor(row=min(row, max(table.row_count - 1, 0)))
        self.query_one("#head", Static).update(
            f"Files of {self.service}: inputs/ and outputs/  ·  {len(entries)} file{'s' if len(entries) != 1 else ''}"
        )

    def selected(self) -> str | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value)

    @on(DataTable.RowSelected)
    def _open(self) -> None:
        path = self.selected()
        if path:
            self.app.push_screen(FileEditorScreen(self.service, path))

    @work(group="files-action")
    async def action_new(self) -> None:
        folder = (self.selected() or "inputs/").split("/", 1)[0]
        path = await self.app.push_screen_wait(
            PromptScreen("New file: its path, under inputs/ or outputs/", f"{folder}/", "inputs/notes.txt")
        )
        if path and path.strip():
            self.app.push_screen(FileEditorScreen(self.service, path.strip(), new=True))

    @work(group="files-action")
    async def action_upload(self) -> None:
        folder = (self.selected() or "inputs/").split("/", 1)[0]
        answer = await self.app.push_screen_wait(UploadForm(self.service, folder))
        if answer is None:
            return
        source, dest = answer
        entry = await self.call(lambda: self.core.files.upload(self.actor, self.service, source, dest))
        if entry is not None:
            self.notify(f"Uploaded {entry.path} ({human_size(entry.size)})", markup=False)
            self.load(entry.path)

    @work(group="files-action")
    async def action_delete(self) -> None:
        from labtui.tui.widgets.confirm import ConfirmScreen

        path = self.selected()
        if path is None:
            return
        if not await self.app.push_screen_wait(
            ConfirmScreen(f"Delete {path}? A copy is kept as {path}.backup.", "Delete")
        ):
            return
        backup = await self.call(lambda: self.core.files.delete(self.actor, self.service, path))
        if backup is not None:
            self.notify(f"Deleted {path}; kept as {backup}", markup=False)
            self.load()

    def action_reload(self) -> None:
        self.load()

    def action_close(self) -> None:
        self.app.pop_screen()


class FileEditorScreen(TextEditorScreen):
    SCREEN_HELP = (
        "One file of inputs/ or outputs/. ctrl+s saves (the old content is kept as .backup), "
        "ctrl+r reloads, Esc goes back (asking first if there are unsaved changes). Files that "
        "are not UTF-8 text, and users without services.files.edit, get a read-only view."
    )

    def may_edit(self) -> bool:
        return self.can(EDIT)

    async def read(self) -> LoadedText:
        content = await self.core.files.read(self.actor, self.service, self.path)
        return LoadedText(content.text, content.sha256, editable=content.editable)

    def read_failed(self) -> None:
        self.app.pop_screen()

    @work(exclusive=True, group="editor-save")
    async def action_save(self) -> None:
        if not self.editable:
            return
        text = self.editor.text
        saved = await self.call(
            lambda: self.core.files.write(self.actor, self.service, self.path, text, base_hash=self.loaded_hash)
        )
        if saved is None:
            return
        self.saved(text, saved.sha256)
        self.notify(f"Saved {self.path} ({human_size(saved.size)})", markup=False)
