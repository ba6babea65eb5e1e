"""One text editor for a service's files: the config editor (versioned YAML) and the
inputs/outputs file editor are both a :class:`TextEditorScreen`.

The base holds what they share: a head line (the file, its state and size, ``modified``,
``read-only``), an error line, a code editor (highlighted YAML when tree-sitter is
installed), reading the file in a worker, ``ctrl+r`` reload and Esc back (both asking first
when there are unsaved changes). Subclasses say how to read the file and what their head
line adds, and implement saving (the two save flows differ: a config asks for a version note
after a YAML check; a file is written as it is).
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from typing import ClassVar

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.widgets import Static, TextArea

from labtui.core.files import human_size
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.base import LabScreen
from labtui.tui.widgets.footer import LabFooter


def yaml_language() -> str | None:
    """ "yaml" when tree-sitter and its YAML grammar are installed (highlighting), else None."""
    if importlib.util.find_spec("tree_sitter") and importlib.util.find_spec("tree_sitter_yaml"):
        return "yaml"
    return None


def code_editor(text: str, *, language: str | None, read_only: bool = False, id: str | None = None) -> TextArea:
    """A code-editor TextArea, highlighted when the language is available, plain otherwise."""
    try:
        return TextArea.code_editor(text, language=language, read_only=read_only, id=id)
    except Exception:  # LanguageDoesNotExist and parser errors: plain text
        return TextArea.code_editor(text, language=None, read_only=read_only, id=id)


@dataclass(frozen=True)
class LoadedText:
    """What :meth:`TextEditorScreen.read` found on disk."""

    text: str
    sha256: str | None
    #: False for content that cannot be edited as text (the editor becomes read-only).
    editable: bool = True


class TextEditorScreen(LabScreen):
    """A file of ``service`` in a code editor. Subclasses implement :meth:`read`,
    :meth:`may_edit` and ``action_save``, and may extend :meth:`state_bits`."""

    DEFAULT_CSS = """
    TextEditorScreen #head { padding: 0 1; background: $boost; }
    TextEditorScreen #error { display: none; color: $text-error; padding: 0 1; height: auto; }
    TextEditorScreen #error.-shown { display: block; }
    TextEditorScreen TextArea { height: 1fr; }
    """

    SCREEN_ID = "editor"
    ACTIONS = (
        ScreenAction("ctrl+s", "save", "Save", "Save the file"),
        ScreenAction("ctrl+r", "reload", "Reload", "Read the file again (asks first if there are unsaved changes)"),
    )
    BINDINGS: ClassVar[list[BindingType]] = [
        # Navigation, not an action; priority: the code editor would otherwise take Esc to move focus
        Binding("escape", "close", "Back", show=False, priority=True),
    ]

    def __init__(self, service: str, path: str, *, new: bool = False) -> None:
        super().__init__()
        #: The service and the file's path inside its folder (as the head line shows it).
        self.service, self.path = service, path
        #: Not on disk yet: nothing to read, the first save creates it.
        self.new = new
        #: The text as last read or saved (what "modified" compares with) and its hash (the
        #: save is refused if the file changed on disk since).
        self.loaded = ""
        self.loaded_hash: str | None = None
        self.editable = False

    # -- what subclasses say -----------------------------------------------------------------

    async def read(self) -> LoadedText:
        """Read the file through core (errors are shown by :meth:`LabScreen.call`)."""
        raise NotImplementedError

    def may_edit(self) -> bool:
        """Whether the actor may save this file (else the editor is read-only)."""
        return False

    def language(self) -> str | None:
        return yaml_language() if self.path.endswith((".yaml", ".yml")) else None

    def state_bits(self) -> list[str]:
        """The head line's parts after the file's name (before modified / read-only)."""
        return ["new file" if self.new else human_size(len(self.editor.text.encode()))]

    def read_failed(self) -> None:
        """The file could not be read (the reason is already notified)."""

    def can_reload(self) -> bool:
        return not self.new

    def before_reload(self) -> None:
        """Called when ctrl+r goes ahead, before the file is read again."""

    # -- the screen --------------------------------------------------------------------------

    def compose(self) -> ComposeResult:
        self.editable = self.may_edit()
        yield Static(f"{self.service}/{self.path}", id="head", markup=False)
        yield Static("", id="error", markup=False)
        yield code_editor("", language=self.language(), read_only=not self.editable, id="editor")
        yield LabFooter()

    def on_mount(self) -> None:
        self.load()

    @property
    def editor(self) -> TextArea:
        return self.query_one("#editor", TextArea)

    @property
    def dirty(self) -> bool:
        return self.editor.text != self.loaded

    def action_state(self, action: str) -> bool | None:
        if action == "save" and not self.editable:
            return None  # shown disabled
        return True

    @work(exclusive=True, group="editor-load")
    async def load(self) -> None:
        if not self.new:
            found = await self.call(self.read)
            if found is None:
                self.read_failed()
                return
            self.loaded, self.loaded_hash = found.text, found.sha256
            if not found.editable:
                self.editable = False
                self.editor.read_only = True
        self.editor.load_text(self.loaded)
        self.editor.focus()
        self.show_head()

    def show_head(self) -> None:
        bits = [f"{self.service}/{self.path}", *self.state_bits()]
        if self.dirty:
            bits.append("modified")
        if not self.editable:
            bits.append("read-only")
        self.query_one("#head", Static).update("  ·  ".join(bits))
        self.refresh_bindings()

    @on(TextArea.Changed, "#editor")
    def _changed(self) -> None:
        self.show_head()

    def show_error(self, message: str | None) -> None:
        box = self.query_one("#error", Static)
        box.update(message or "")
        box.set_class(bool(message), "-shown")

    def saved(self, text: str, sha256: str) -> None:
        """A subclass's save went through: ``text`` is what is on disk now."""
        self.show_error(None)
        self.loaded, self.loaded_hash, self.new = text, sha256, False
        self.show_head()

    # -- actions -----------------------------------------------------------------------------

    @work(group="editor-action")
    async def action_reload(self) -> None:
        """Read the file again, asking first when that would lose unsaved changes."""
        from labtui.tui.widgets.confirm import ConfirmScreen

        if not self.can_reload():
            return
        if self.dirty and not await self.app.push_screen_wait(
            ConfirmScreen("Discard your unsaved changes and reload?", "Reload")
        ):
            return
        self.show_error(None)
        self.before_reload()
        self.load()

    @work(group="editor-action")
    async def action_close(self) -> None:
        """Back, asking first when there are unsaved changes."""
        from labtui.tui.widgets.confirm import ConfirmScreen

        if self.dirty and not await self.app.push_screen_wait(
            ConfirmScreen(f"Leave {self.path} without saving?", "Leave")
        ):
            return
        self.app.pop_screen()
