"""A service's config files: the list, a YAML editor, and the version history with diffs and
restore. Core refuses invalid YAML, oversize saves and anything outside the four allowed
files; the screens show the reason and keep the person's text.

Keys: list — Enter edit, h history. Editor — ctrl+s save (asks for a note), ctrl+t history,
ctrl+g changes since opened, ctrl+r reload. History — moving the cursor diffs the version
against the one before it (or against a base marked with m), v views it, r restores it as
a new version.
"""

from __future__ import annotations

from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical, VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import DataTable, Input, Static

from labtui.core.configs import ConfigFileInfo, VersionInfo, check_yaml, unified_diff
from labtui.core.errors import LabtuiError
from labtui.core.files import human_size
from labtui.core.permissions_catalog import Perm
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.base import LabScreen
from labtui.tui.screens.editor_base import (
    LoadedText,
    TextEditorScreen,
    code_editor,
    yaml_language,
)
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable

VIEW, EDIT = Perm.SERVICES_CONFIG_VIEW, Perm.SERVICES_CONFIG_EDIT
#: Re-exported: the editor helpers lived here before editor_base.
__all__ = ["ConfigEditorScreen", "ConfigHistoryScreen", "ConfigsScreen", "PromptScreen", "code_editor", "yaml_language"]


def diff_content(text: str) -> Content:
    """A unified diff, coloured with theme variables (added, removed, hunk headers)."""
    if not text:
        return Content("The two versions are identical.")
    parts: list[tuple[str, str] | str] = []
    for line in text.splitlines(keepends=True):
        if line.startswith(("+++", "---")):
            parts.append((line, "bold"))
        elif line.startswith("@@"):
            parts.append((line, "$text-accent"))
        elif line.startswith("+"):
            parts.append((line, "$text-success"))
        elif line.startswith("-"):
            parts.append((line, "$text-error"))
        else:
            parts.append(line)
    return Content.assemble(*parts)


def when(v: VersionInfo) -> str:
    return v.created_at.strftime("%Y-%m-%d %H:%M:%S")


class PromptScreen(ModalScreen[str | None]):
    """One line of text: Enter returns it (possibly empty), Esc returns None."""

    DEFAULT_CSS = """
    PromptScreen { align: center middle; }
    PromptScreen > Vertical { width: 70; max-width: 100%; height: auto; border: thick $accent; background: $surface; padding: 1 2; }
    PromptScreen #question { margin-bottom: 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, question: str, value: str = "", placeholder: str = "") -> None:
        super().__init__()
        self.question, self.value, self.placeholder = question, value, placeholder

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.question, id="question", markup=False)
            # a pre-filled value (a folder prefix) is extended, not replaced, by what is typed
            yield Input(self.value, placeholder=self.placeholder, id="answer", select_on_focus=False)

    def on_mount(self) -> None:
        self.query_one(Input).focus()

    @on(Input.Submitted)
    def _done(self, event: Input.Submitted) -> None:
        self.dismiss(event.value)

    def action_cancel(self) -> None:
        self.dismiss(None)


class TextViewScreen(ModalScreen[None]):
    """Read-only text (a stored version) in the editor's look."""

    DEFAULT_CSS = """
    TextViewScreen { align: center middle; }
    TextViewScreen > Vertical { width: 95%; height: 90%; border: thick $accent; background: $surface; }
    TextViewScreen #title { padding: 0 1; background: $boost; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    def __init__(self, title: str, text: str, language: str | None) -> None:
        super().__init__()
        self.title_text, self.text, self.language = title, text, language

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, id="title", markup=False)
            yield code_editor(self.text, language=self.language, read_only=True, id="view")
        yield LabFooter()

    def action_close(self) -> None:
        self.dismiss(None)


class ConfigsScreen(LabScreen):
    SCREEN_HELP = (
        "The service's config files (instance.yaml, config.yaml, scripts.yaml, outputs.yaml). "
        "Enter edits one, h shows its versions. Every save is a version; 50 are kept per file."
    )

    DEFAULT_CSS = """
    ConfigsScreen #head { padding: 0 1; background: $boost; }
    """

    ACTIONS = (
        ScreenAction("enter", "edit", "Edit", "Edit the selected file"),
        ScreenAction("h", "history", "History", "The selected file's versions, with diffs and restore"),
        ScreenAction("r", "reload", "Reload", "Read the list of files again"),
    )
    #: Navigation, not an action.
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Back", show=False)]

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service
        self.files: list[ConfigFileInfo] = []

    def compose(self) -> ComposeResult:
        yield Static(f"Configs of {self.service}", id="head", markup=False)
        table: DataTable[str] = LabTable(cursor_type="row", zebra_stripes=True, id="files")
        table.add_columns("File", "On disk", "Size", "Versions", "Latest")
        yield table
        yield LabFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.load()

    def on_screen_resume(self) -> None:
        self.load()

    @work(exclusive=True, group="configs-load")
    async def load(self) -> None:
        files = await self.call(lambda: self.core.configs.list(self.actor, self.service))
        if files is None:
            return
        self.files = files
        table = self.query_one(DataTable)
        row = table.cursor_row
        table.clear()
        for f in files:
            table.add_row(
                f.filename,
                "yes" if f.exists else "—",
                human_size(f.size) if f.exists else "",
                str(f.versions),
                f"v{f.latest_version}" if f.latest_version else "—",
                key=f.filename,
            )
        table.move_cursor(row=min(row, max(table.row_count - 1, 0)))

    def selected(self) -> ConfigFileInfo | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        name = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((f for f in self.files if f.filename == name), None)

    @on(DataTable.RowSelected)
    def action_edit(self) -> None:
        f = self.selected()
        if f is None:
            return
        if not f.exists and not self.can(EDIT):
            self.notify(f"{self.service} has no {f.filename}", timeout=4)
            return
        self.app.push_screen(ConfigEditorScreen(self.service, f.filename, exists=f.exists))

    def action_history(self) -> None:
        f = self.selected()
        if f is not None:
            self.app.push_screen(ConfigHistoryScreen(self.service, f.filename))

    def action_reload(self) -> None:
        self.load()

    def action_close(self) -> None:
        self.app.pop_screen()


class ConfigEditorScreen(TextEditorScreen):
    SCREEN_HELP = (
        "Edit a config file. ctrl+s saves (after a YAML check; you are asked for a note), "
        "ctrl+g shows your changes, ctrl+t the version history, ctrl+r reloads the file. "
        "Esc goes back (asking first if there are unsaved changes)."
    )

    ACTIONS = (
        ScreenAction("ctrl+g", "changes", "Changes", "Your unsaved changes, as a diff"),
        ScreenAction("ctrl+t", "history", "History", "The file's versions, with diffs and restore"),
    )

    def __init__(self, service: str, filename: str, *, exists: bool = True) -> None:
        super().__init__(service, filename, new=not exists)
        self.version: int | None = None

    @property
    def filename(self) -> str:
        return self.path

    def may_edit(self) -> bool:
        return self.can(EDIT)

    def language(self) -> str | None:
        return yaml_language()

    async def read(self) -> LoadedText:
        current = await self.core.configs.read(self.actor, self.service, self.filename)
        self.version = current.version
        return LoadedText(current.text, current.sha256)

    def state_bits(self) -> list[str]:
        if self.new:
            state = "new file"
        elif self.version is not None:
            state = f"v{self.version}"
        else:
            state = "changed outside labtui (saved as a version on your next save)"
        return [state, human_size(len(self.editor.text.encode()))]

    def can_reload(self) -> bool:
        return True

    def before_reload(self) -> None:
        self.new = False  # a file created elsewhere meanwhile is read

    @work(exclusive=True, group="editor-save")
    async def action_save(self) -> None:
        if not self.editable:
            return
        text = self.editor.text
        try:
            check_yaml(text, self.filename)
        except LabtuiError as exc:
            self.show_error(f"Not saved: {exc}")
            return
        note = await self.app.push_screen_wait(
            PromptScreen(
                f"Save {self.filename}: a note for this version (optional), Enter saves",
                placeholder="what changed and why",
            )
        )
        if note is None:
            return
        try:
            version = await self.core.configs.save(
                self.actor, self.service, self.filename, text, note.strip(), base_hash=self.loaded_hash
            )
        except LabtuiError as exc:
            self.show_error(f"Not saved: {exc}")
            return
        self.version = version.number
        self.saved(text, version.sha256)
        self.notify(f"Saved {self.filename} as version {version.number}", markup=False)

    def action_changes(self) -> None:
        diff = unified_diff(self.loaded, self.editor.text, f"{self.filename} (saved)", f"{self.filename} (editor)")
        self.app.push_screen(DiffScreen(f"Unsaved changes to {self.service}/{self.filename}", diff))

    def action_history(self) -> None:
        def back(restored: object) -> None:
            if not restored:
                return
            if self.dirty:
                self.notify("A version was restored: ctrl+r reloads it (your unsaved edits would be lost)", timeout=8)
            else:
                self.load()

        self.app.push_screen(ConfigHistoryScreen(self.service, self.filename), back)


class DiffScreen(ModalScreen[None]):
    """A coloured unified diff."""

    DEFAULT_CSS = """
    DiffScreen { align: center middle; }
    DiffScreen > Vertical { width: 95%; height: 90%; border: thick $accent; background: $surface; }
    DiffScreen #title { padding: 0 1; background: $boost; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close")]

    def __init__(self, title: str, diff: str) -> None:
        super().__init__()
        self.title_text, self.diff = title, diff

    def compose(self) -> ComposeResult:
        with Vertical():
            yield Static(self.title_text, id="title", markup=False)
            with VerticalScroll():
                yield Static(diff_content(self.diff), id="diff")
        yield LabFooter()

    def action_close(self) -> None:
        self.dismiss(None)


class ConfigHistoryScreen(LabScreen):
    SCREEN_HELP = (
        "Versions of a config file, newest first. The pane below shows what the selected version "
        "changed; m marks a version as the base so the pane compares any two. v views a version, "
        "r restores it (as a new version, written to disk)."
    )

    DEFAULT_CSS = """
    ConfigHistoryScreen #head { padding: 0 1; background: $boost; }
    ConfigHistoryScreen #versions { height: 2fr; }
    ConfigHistoryScreen #compare { padding: 0 1; background: $boost; height: 1; }
    ConfigHistoryScreen #diff-pane { height: 3fr; }
    """

    ACTIONS = (
        ScreenAction(
            "m", "mark", "Mark base", "Mark the selected version as the base the diff compares with (m again clears it)"
        ),
        ScreenAction("v", "view", "View", "View the selected version"),
        ScreenAction(
            "r", "restore", "Restore", "Restore the selected version, as a new version written to disk (asks first)"
        ),
    )
    #: Navigation, not an action.
    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Back", show=False)]

    def __init__(self, service: str, filename: str) -> None:
        super().__init__()
        self.service, self.filename = service, filename
        self.versions: list[VersionInfo] = []
        self.base: int | None = None
        self.restored = False

    def compose(self) -> ComposeResult:
        yield Static(f"History of {self.service}/{self.filename}", id="head", markup=False)
        table: DataTable[str] = LabTable(cursor_type="row", zebra_stripes=True, id="versions")
        table.add_columns("Version", "Saved (UTC)", "By", "From", "Size", "Note")
        yield table
        yield Static("", id="compare", markup=False)
        with VerticalScroll(id="diff-pane"):
            yield Static("", id="diff")
        yield LabFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.load()

    def action_state(self, action: str) -> bool | None:
        if action == "restore" and not self.can(EDIT):
            return None  # shown disabled, not hidden
        return True

    @work(exclusive=True, group="history-load")
    async def load(self) -> None:
        versions = await self.call(lambda: self.core.configs.versions(self.actor, self.service, self.filename))
        if versions is None:
            return
        self.versions = versions
        table = self.query_one(DataTable)
        table.clear()
        for v in versions:
            origin = v.origin if v.restored_from is None else f"{v.origin}, restore of v{v.restored_from}"
            table.add_row(f"v{v.number}", when(v), v.author, origin, human_size(v.size), v.note, key=str(v.number))
        if not versions:
            self.query_one("#compare", Static).update("No versions yet.")

    def selected(self) -> int | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        return int(str(table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value))

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self.show_diff()

    @work(exclusive=True, group="history-diff")
    async def show_diff(self) -> None:
        number = self.selected()
        if number is None:
            return
        base = self.base if self.base is not None and self.base != number else None
        diff = await self.call(lambda: self.core.configs.diff(self.actor, self.service, self.filename, number, base))
        if diff is None:
            return
        start = f"v{diff.from_version}" if diff.from_version is not None else "(empty)"
        marked = "  ·  base marked with m" if base is not None else "  ·  m marks a base to compare any two"
        self.query_one("#compare", Static).update(f"Diff {start} → v{diff.to_version}{marked}")
        self.query_one("#diff", Static).update(diff_content(diff.text))

    def action_mark(self) -> None:
        number = self.selected()
        if number is None:
            return
        self.base = None if self.base == number else number
        self.notify(f"Base for diffs: v{self.base}" if self.base is not None else "Base cleared", timeout=3)
        self.show_diff()

    @work(group="history-action")
    async def action_view(self) -> None:
        number = self.selected()
        if number is None:
            return
        text = await self.call(lambda: self.core.configs.content(self.actor, self.service, self.filename, number))
        if text is not None:
            self.app.push_screen(TextViewScreen(f"{self.service}/{self.filename} v{number}", text, yaml_language()))

    @work(group="history-action")
    async def action_restore(self) -> None:
        from labtui.tui.widgets.confirm import ConfirmScreen

        number = self.selected()
        if number is None:
            return
        question = f"Restore {self.filename} to version {number}? It is written to disk as a new version."
        if not await self.app.push_screen_wait(ConfirmScreen(question, "Restore", variant="warning")):
            return
        new = await self.call(lambda: self.core.configs.restore(self.actor, self.service, self.filename, number))
        if new is None:
            return
        self.restored = True
        self.notify(f"Restored v{number} as version {new.number}", markup=False)
        self.load()

    def action_close(self) -> None:
        self.dismiss(self.restored)
