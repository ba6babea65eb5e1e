"""Tags: put tags on an object or take them off (an edit of the object), and manage the tags
themselves — create, rename, recolour, delete (``inventory.tags.manage``).

The tag list counts only objects the user may view (core's rule), so a count never hints at
objects hidden from them.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Label,
    SelectionList,
    Static,
)

from labtui.core.errors import LabtuiError
from labtui.core.inventory.objects import ObjectInfo
from labtui.core.inventory.tags import TagInfo
from labtui.core.permissions_catalog import Perm
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.base import LabScreen
from labtui.tui.screens.user_forms import FormModal
from labtui.tui.widgets.confirm import ConfirmScreen
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable

MANAGE = Perm.INVENTORY_TAGS_MANAGE


def swatch(name: str, colour: str | None) -> Text:
    return Text.assemble(("■ ", colour or "dim"), (name, f"bold {colour}" if colour else "bold"))


class ObjectTagsForm(FormModal):
    """The object's tags as a checklist; returns the chosen names (None when cancelled).
    ``m`` (or the button) opens tag management for those who may."""

    def __init__(self, obj: ObjectInfo, tags: list[TagInfo], may_manage: bool) -> None:
        super().__init__()
        self.obj = obj
        self.tags = tags
        self.may_manage = may_manage

    def compose(self) -> ComposeResult:
        have = {t.name for t in self.obj.tags}
        with VerticalScroll() as box:
            box.border_title = f"Tags of {self.obj.type_label} {self.obj.title}"
            if self.tags:
                yield Static("Space toggles a tag; ctrl+s saves.", classes="hint")
                yield SelectionList[str](
                    *((swatch(t.name, t.colour), t.name, t.name in have) for t in self.tags), id="tags"
                )
            else:
                yield Static(
                    "There are no tags yet." + (" Manage tags to make some." if self.may_manage else ""), classes="hint"
                )
            yield Static("", id="error")
            with Horizontal():
                if self.may_manage:
                    yield Button("Manage tags…", id="manage")
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save", variant="primary")

    def on_mount(self) -> None:
        if self.tags:
            self.query_one("#tags", SelectionList).focus()

    @on(Button.Pressed, "#manage")
    def _manage(self) -> None:
        self.dismiss("manage")

    async def action_save(self) -> None:
        chosen = list(self.query_one("#tags", SelectionList).selected) if self.tags else []
        self.dismiss(sorted(chosen))


async def edit_object_tags(screen: LabScreen, obj: ObjectInfo) -> bool:
    """Let the user choose the object's tags and apply the difference; True if it changed.
    Call from a worker (it waits on the form)."""
    inv = screen.core.inventory
    tags = await screen.call(lambda: inv.tags.list(screen.actor))
    if tags is None:
        return False
    chosen = await screen.app.push_screen_wait(ObjectTagsForm(obj, tags, screen.can(MANAGE)))
    if chosen == "manage":
        screen.app.push_screen(TagsScreen())
        return False
    if not isinstance(chosen, list):
        return False
    have = {t.name for t in obj.tags}
    add = [n for n in chosen if n not in have]
    remove = sorted(have - set(chosen))
    if not add and not remove:
        return False
    if add and await screen.call(lambda: inv.tags.tag(screen.actor, obj.id, add)) is None:
        return False
    if remove and await screen.call(lambda: inv.tags.untag(screen.actor, obj.id, remove)) is None:
        return True
    words = [f"+{n}" for n in add] + [f"−{n}" for n in remove]
    screen.notify(f"Tags of {obj.title}: {' '.join(words)}", markup=False)
    return True


class TagForm(FormModal):
    """New tag, or rename / recolour one; returns True when saved."""

    def __init__(self, save: Callable[[str, str], Awaitable[Any]], tag: TagInfo | None = None) -> None:
        super().__init__()
        self.save = save
        self.tag = tag

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = f"Tag {self.tag.name}" if self.tag else "New tag"
            yield Label("Name", classes="field")
            yield Input(self.tag.name if self.tag else "", id="name", placeholder="1-100 characters")
            yield Label("Colour", classes="field")
            yield Input(
                (self.tag.colour or "") if self.tag else "",
                id="colour",
                placeholder="#rrggbb, e.g. #e8984a (blank: none)",
            )
            yield Static("", id="error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#name", Input).focus()

    @on(Input.Submitted)
    async def _submitted(self) -> None:
        await self.action_save()

    async def action_save(self) -> None:
        try:
            await self.save(self.query_one("#name", Input).value, self.query_one("#colour", Input).value)
        except LabtuiError as exc:
            self.show_error(exc)
            return
        self.dismiss(True)


class TagsScreen(LabScreen):
    SCREEN_HELP = (
        "Every inventory tag with its colour and how many objects you may see carry it. n "
        "makes a tag, e renames or recolours the selected one, D deletes it (its links and "
        "tag grants go with it). Managing tags needs inventory.tags.manage; tag grants are in "
        "the access rules screen (a on an object)."
    )

    DEFAULT_CSS = """
    TagsScreen #status { height: 1; padding: 0 1; color: $text-muted; background: $boost; }
    """

    SCREEN_ID = "inventory_tags"  # not "tags": the inventory's tags
    ACTIONS = (
        ScreenAction("n", "new", "New tag", "Make a tag", MANAGE),
        ScreenAction("e", "edit", "Edit", "Rename or recolour the selected tag", MANAGE),
        ScreenAction("D", "delete", "Delete", "Delete the selected tag, its links and tag grants (asks first)", MANAGE),
    )

    def __init__(self) -> None:
        super().__init__()
        self.tags: list[TagInfo] = []

    def compose(self) -> ComposeResult:
        yield Static("Inventory tags", id="title", classes="screen-title")
        table: DataTable[Any] = LabTable(id="tags-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("Tag", "Colour", "Objects")
        yield table
        yield Static("", id="status")
        yield LabFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.load()

    @work(exclusive=True, group="tags-load")
    async def load(self, select: str | None = None) -> None:
        tags = await self.call(lambda: self.core.inventory.tags.list(self.actor))
        if tags is None:
            return
        self.tags = tags
        table = self.query_one(DataTable)
        current = self.selected()
        keep = select or (current.name if current else None)
        table.clear()
        for t in tags:
            table.add_row(swatch(t.name, t.colour), t.colour or "—", f"{t.object_count:,}", key=t.name)
        if table.row_count:
            table.move_cursor(row=next((i for i, t in enumerate(tags) if t.name == keep), 0))
        note = "" if self.can(MANAGE) else " · you may not change tags (inventory.tags.manage)"
        self.query_one("#status", Static).update(Text(f"{len(tags)} tags{note}"))
        self.refresh_bindings()

    def selected(self) -> TagInfo | None:
        table = self.query_one(DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        return next((t for t in self.tags if t.name == key), None)

    def action_state(self, action: str) -> bool | None:
        if action in ("edit", "delete"):
            return self.selected() is not None
        return True

    @work(group="tags-change")
    async def action_new(self) -> None:
        made: list[str] = []

        async def save(name: str, colour: str) -> None:
            tag = await self.core.inventory.tags.create(self.actor, name, colour or None)
            made.append(tag.name)

        if await self.app.push_screen_wait(TagForm(save)):
            self.notify(f"Tag {made[0]} created", markup=False)
            self.load(made[0])

    @work(group="tags-change")
    async def action_edit(self) -> None:
        tag = self.selected()
        if tag is None:
            return

        saved: list[str] = []

        async def save(name: str, colour: str) -> None:
            new_name = name if name.strip() != tag.name else None
            await self.core.inventory.tags.update(self.actor, tag.name, new_name=new_name, tag_colour=colour or None)
            saved.append(name.strip())

        if await self.app.push_screen_wait(TagForm(save, tag)):
            self.notify(f"Tag {saved[0]} saved", markup=False)
            self.load(saved[0])

    @work(group="tags-change")
    async def action_delete(self) -> None:
        tag = self.selected()
        if tag is None:
            return
        question = f"Delete tag '{tag.name}'? It comes off every object, and its tag grants go too."
        if not await self.app.push_screen_wait(ConfirmScreen(question, "Delete")):
            return
        count = await self.call(lambda: self.core.inventory.tags.delete(self.actor, tag.name))
        if count is not None:
            self.notify(f"Tag {tag.name} deleted (it was on {count} object{'s' if count != 1 else ''})", markup=False)
        self.load()
