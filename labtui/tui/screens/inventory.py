"""Inventory: the lab's types in a sidebar with counts, the objects of the chosen type.

Everything shown comes from core already filtered by the access order (a type's count and
its rows are only what the user may view). The table is paged by core in SQL (keyset on the
id): the first page shows at once and the next is fetched as the cursor nears the end, so a
type with 100,000 objects opens, filters and scrolls as fast as one with ten. ``/`` filters
with words (over the type's searchable fields) and ``tag:NAME`` terms.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, OptionList, Static
from textual.widgets.option_list import Option

from labtui.core.inventory.objects import ObjectInfo, ObjectPage
from labtui.core.inventory.types import InventoryTypeDef
from labtui.core.permissions_catalog import Perm
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.inventory_view import column_labels, host_of, row_cells
from labtui.tui.screens.table_screen import FilteredTableScreen
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable

#: Rows per page: a tall terminal's screenful and some, so the first page is cheap to
#: measure and draw; the next is fetched while the cursor is still PREFETCH_ROWS away.
PAGE = 60
#: Fetch the next page when the cursor is this close to the last loaded row.
PREFETCH_ROWS = 20
ALL = "*all*"
#: Characters of a type's label in the sidebar (its count follows, right-aligned).
LABEL_WIDTH = 14


class InventoryScreen(FilteredTableScreen):
    SCREEN_HELP = (
        "The lab's inventory: types on the left with how many objects you may see, the "
        "objects of the chosen type on the right (Tab moves between them). / filters: words "
        'match the type\'s searchable fields, tag:NAME (or tag:"two words") keeps tagged '
        "objects. Enter opens an object; n new, e edit, D delete (asks), t tags (T manages "
        "tags), a access rules, x runs one of the type's actions, s opens an SSH terminal to "
        "the object's host, r runs the type's sync now. Stale: its sync source no longer "
        "reports it; removed: its type file is gone (kept read-only)."
    )

    DEFAULT_CSS = """
    InventoryScreen #inventory-body { height: 1fr; }
    InventoryScreen #types { width: 26; height: 1fr; border-right: solid $panel-lighten-2; }
    InventoryScreen #objects-pane { width: 1fr; height: 1fr; }
    InventoryScreen #status { height: 1; padding: 0 1; color: $text-muted; background: $boost; }
    """

    ACTIONS = (
        ScreenAction("enter", "open", "Open", "Open the selected object", show=False),
        # In the palette as "New <type>" (see palette_commands).
        ScreenAction("n", "new", "New", "Create an object of this type"),
        ScreenAction("e", "edit", "Edit", "Edit the selected object"),
        ScreenAction("D", "delete", "Delete", "Delete the selected object (asks first)"),
        ScreenAction("t", "tags", "Tags", "Set the selected object's tags"),
        ScreenAction(
            "T",
            "manage_tags",
            "Manage tags",
            "Create, recolour and delete tags",
            Perm.INVENTORY_TAGS_MANAGE,
            palette="Manage inventory tags",
            show=False,
        ),
        ScreenAction("a", "acl", "Access", "The selected object's access rules", Perm.INVENTORY_ACL_MANAGE),
        ScreenAction("x", "run_action", "Action", "Run one of the type's actions"),
        ScreenAction("s", "ssh", "SSH", "Open an SSH terminal to the selected object's host"),
        ScreenAction("r", "sync", "Sync", "Run the chosen type's sync now", palette="Sync inventory"),
    )

    def __init__(self, type_slug: str | None = None, initial_filter: str = "") -> None:
        super().__init__()
        self.type_slug: str | None = type_slug
        self.text = initial_filter
        self.items: list[ObjectInfo] = []
        self.next_before: int | None = None
        self.total: int | None = None
        self.counts: dict[str, int] = {}
        #: Object ids (of the loaded rows) the user may edit / delete: for the footer.
        self.editable: set[int] = set()
        self.deletable: set[int] = set()
        #: True once a first page is on screen; ``shown`` says of which (type, filter).
        self.loaded = False
        self.shown: tuple[str | None, str] | None = None
        self._generation = 0
        self._columns: list[str] = []

    def compose(self) -> ComposeResult:
        yield Static("Inventory", id="title")
        with Horizontal(id="inventory-body"):
            yield OptionList(id="types")
            with Vertical(id="objects-pane"):
                yield Input(self.text, placeholder="filter: words, tag:NAME  (Esc clears)", id="filter")
                yield LabTable(id="objects", cursor_type="row", zebra_stripes=True)
                yield Static("", id="status")
        yield LabFooter()

    def on_mount(self) -> None:
        if self.text:
            self.query_one("#filter", Input).add_class("-shown")
        self.table.focus()
        self.start()

    @work(exclusive=True, group="inventory-start")
    async def start(self) -> None:
        await self.load_counts()
        if self.type_slug is None:
            self.type_slug = next(iter(self.visible_types()), ALL)
        self.render_types()
        self.reload()

    # -- types ---------------------------------------------------------------------------------

    @property
    def type_def(self) -> InventoryTypeDef | None:
        """The chosen type's definition (None for all types, or a removed type)."""
        if self.type_slug in (None, ALL):
            return None
        return self.core.inventory.type_def(self.type_slug or "")

    def visible_types(self) -> list[str]:
        """Types the user may list: by type permission, or with objects they may view through
        an ACL or tag grant. A removed type shows while it still has such objects."""
        out = [
            slug for slug in self.core.inventory.types if self.can(f"inventory.{slug}.view") or self.counts.get(slug, 0)
        ]
        out += [slug for slug, n in self.counts.items() if n and slug not in out]
        return out

    async def load_counts(self) -> None:
        counts = await self.call(lambda: self.core.inventory.counts_by_type(self.actor))
        if counts is not None:
            self.counts = counts

    def render_types(self) -> None:
        types = self.query_one("#types", OptionList)
        visible = self.visible_types()
        total = sum(self.counts.get(s, 0) for s in visible)
        options = [Option(Text.assemble((f"{'All types':<{LABEL_WIDTH}}", "bold"), f" {total:>7,}"), id=ALL)]
        for slug in visible:
            type_def = self.core.inventory.type_def(slug)
            label = type_def.label if type_def else f"{slug} (removed)"
            label = label if len(label) <= LABEL_WIDTH else label[: LABEL_WIDTH - 1] + "…"
            options.append(
                Option(Text.assemble(f"{label:<{LABEL_WIDTH}}", (f" {self.counts.get(slug, 0):>7,}", "dim")), id=slug)
            )
        ids = [o.id for o in options]
        with types.prevent(OptionList.OptionHighlighted):
            types.set_options(options)
            if self.type_slug in ids:
                types.highlighted = ids.index(self.type_slug)

    @on(OptionList.OptionHighlighted, "#types")
    def _type_highlighted(self, event: OptionList.OptionHighlighted) -> None:
        slug = event.option.id
        if slug and slug != self.type_slug:
            self.type_slug = slug
            self.reload()

    @on(OptionList.OptionSelected, "#types")
    def _type_selected(self) -> None:
        self.table.focus()

    # -- rows ----------------------------------------------------------------------------------

    def reload(self, keep_id: int | None = None) -> None:
        """Show the first page for the current type and filter (keeping ``keep_id`` selected)."""
        self._generation += 1
        self.load_first(self._generation, keep_id)

    def _list_args(self) -> dict[str, Any]:
        return {"type": None if self.type_slug in (None, ALL) else self.type_slug, "search": self.text}

    @work(exclusive=True, group="inventory-page")
    async def load_first(self, generation: int, keep_id: int | None = None) -> None:
        args = self._list_args()
        page = await self.call(lambda: self.core.inventory.list(self.actor, limit=PAGE, **args))
        if generation != self._generation:
            return
        self.loaded = True
        self.items, self.next_before, self.total = [], None, None
        self.editable, self.deletable = set(), set()
        table = self.table
        labels = column_labels(self.type_def)
        if labels != self._columns:  # a new type: new columns (same type: widths stay put)
            table.clear(columns=True)
            table.add_columns(*labels)
            self._columns = labels
        else:
            table.clear()
        if page is None:
            self.render_status()
            return
        self._append(page)
        self.shown = (self.type_slug, self.text)
        if keep_id is not None:
            index = next((i for i, o in enumerate(self.items) if o.id == keep_id), 0)
            table.move_cursor(row=index)
        self.render_status()
        # After the frame that shows the page: the extras' queries would slow that frame
        # (their database thread and this one take turns at the GIL).
        self.call_after_refresh(self.load_extras, generation, [o.id for o in page.items])

    @work(exclusive=True, group="inventory-extras")
    async def load_extras(self, generation: int, ids: list[int]) -> None:
        """After a page shows: the total for the status line and which rows may be changed."""
        inv = self.core.inventory
        edit = await self.call(lambda: inv.allowed_many(self.actor, ids, "edit"))
        delete = await self.call(lambda: inv.allowed_many(self.actor, ids, "delete"))
        if generation != self._generation:
            return
        self.editable |= edit or set()
        self.deletable |= delete or set()
        self.refresh_bindings()
        if self.total is None:
            args = self._list_args()
            total = await self.call(lambda: inv.count(self.actor, **args))
            if generation == self._generation:
                self.total = total
                self.render_status()

    @work(exclusive=True, group="inventory-more")
    async def load_more(self, generation: int) -> None:
        before = self.next_before
        if before is None:
            return
        args = self._list_args()
        page = await self.call(lambda: self.core.inventory.list(self.actor, limit=PAGE, before_id=before, **args))
        if page is None or generation != self._generation or before != self.next_before:
            return
        self._append(page)
        self.render_status()
        self.load_extras(generation, [o.id for o in page.items])

    def _append(self, page: ObjectPage) -> None:
        type_def = self.type_def
        table = self.table
        table.add_rows([row_cells(o, type_def) for o in page.items])
        table.settle()
        # Rows are found by position (``items`` is kept aligned with the table), not by key.
        self.items.extend(page.items)
        self.next_before = page.next_before

    def render_status(self) -> None:
        shown = len(self.items)
        if self.total is not None:
            what = f"{self.total:,} object{'s' if self.total != 1 else ''}"
            if shown < self.total:
                what += f" · {shown:,} loaded (scroll for more)"
        else:
            what = f"{shown:,}{'+' if self.next_before else ''} objects"
        if self.text.strip():
            what += f" · filter: {self.text.strip()}"
        type_def = self.type_def
        if type_def is not None and type_def.sync:
            what += f" · sync: {type_def.sync}"
        self.query_one("#status", Static).update(Text(what))

    def selected(self) -> ObjectInfo | None:
        table = self.table
        if not self.is_mounted or not table.row_count or not 0 <= table.cursor_row < len(self.items):
            return None
        return self.items[table.cursor_row]

    @on(DataTable.RowHighlighted, "#objects")
    def _highlighted(self, event: DataTable.RowHighlighted) -> None:
        self.refresh_bindings()
        if self.next_before is not None and event.cursor_row >= self.table.row_count - PREFETCH_ROWS:
            self.load_more(self._generation)

    def filter_changed(self, text: str) -> None:
        self.text = text
        self.reload()

    def on_screen_resume(self) -> None:
        """Back from the detail or a form: the object may have changed or gone."""
        if self.loaded:
            obj = self.selected()
            self.refresh_all(obj.id if obj else None)

    def refresh_all(self, keep_id: int | None = None) -> None:
        self.reload(keep_id)
        self.refresh_counts()

    @work(exclusive=True, group="inventory-counts")
    async def refresh_counts(self) -> None:
        await self.load_counts()
        self.render_types()

    # -- keys ----------------------------------------------------------------------------------

    def action_state(self, action: str) -> bool | None:
        obj = self.selected()
        type_def = self.type_def
        if action == "new":
            return type_def is not None and self.can(type_def.permission("create"))
        if action == "edit":
            return obj is not None and obj.id in self.editable and not obj.type_removed
        if action == "delete":
            return obj is not None and obj.id in self.deletable
        if action == "tags":
            return obj is not None and (obj.id in self.editable or self.can(Perm.INVENTORY_TAGS_MANAGE))
        if action == "acl":
            return obj is not None
        if action == "run_action":
            owner = self.core.inventory.type_def(obj.type) if obj else type_def
            return owner is not None and bool(owner.actions)
        if action == "ssh":
            return obj is not None and host_of(obj) is not None
        return True

    def palette_commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        """The declared entries, after "New <type>": a name that says which type is chosen."""
        out = super().palette_commands()
        new, type_def = self.declared("new"), self.type_def
        if new is not None and type_def is not None and self.check_action(new.action, ()):
            out.insert(0, (f"New {type_def.label}", f"{new.help} ({self.key_of(new)})", self.action_new))
        return out

    @on(DataTable.RowSelected, "#objects")
    def action_open(self) -> None:
        obj = self.selected()
        if obj is not None:
            from labtui.tui.screens.inventory_detail import ObjectDetailScreen

            self.app.push_screen(ObjectDetailScreen(obj.id))

    @work(group="inventory-change")
    async def action_new(self) -> None:
        from labtui.tui.screens.inventory_forms import new_object

        type_def = self.type_def
        if type_def is None:
            return
        saved = await new_object(self, type_def)
        if saved is not None:
            self.refresh_all(saved.id)

    @work(group="inventory-change")
    async def action_edit(self) -> None:
        from labtui.tui.screens.inventory_forms import edit_object

        obj = self.selected()
        if obj is not None and await edit_object(self, obj) is not None:
            self.reload(obj.id)

    @work(group="inventory-change")
    async def action_delete(self) -> None:
        from labtui.tui.screens.inventory_forms import delete_object

        obj = self.selected()
        if obj is not None and await delete_object(self, obj):
            self.refresh_all()

    @work(group="inventory-change")
    async def action_tags(self) -> None:
        from labtui.tui.screens.inventory_tags import edit_object_tags

        obj = self.selected()
        if obj is not None and await edit_object_tags(self, obj):
            self.reload(obj.id)

    def action_manage_tags(self) -> None:
        from labtui.tui.screens.inventory_tags import TagsScreen

        self.app.push_screen(TagsScreen())

    def action_acl(self) -> None:
        from labtui.tui.screens.inventory_acl import AclScreen

        obj = self.selected()
        if obj is not None:
            self.app.push_screen(AclScreen(obj))

    @work(group="inventory-change")
    async def action_run_action(self) -> None:
        from labtui.tui.screens.inventory_actions import run_action

        obj = self.selected()
        slug = obj.type if obj is not None else (self.type_def.slug if self.type_def else None)
        if slug is not None:
            await run_action(self, slug, obj)

    @work(group="inventory-change")
    async def action_ssh(self) -> None:
        from labtui.tui.screens.inventory_actions import open_ssh

        obj = self.selected()
        if obj is not None:
            await open_ssh(self, obj)

    @work(exclusive=True, group="inventory-sync")
    async def action_sync(self) -> None:
        type_def = self.type_def
        if type_def is None or not type_def.sync:
            what = type_def.label if type_def else "All types"
            self.notify(f"{what}: no sync source; reloaded", timeout=3, markup=False)
            self.refresh_all()
            return
        self.notify(f"Syncing {type_def.label} from {type_def.sync}…", timeout=3, markup=False)
        results = await self.call(lambda: self.core.inventory.sync(self.actor, type_def.sync))
        if results is not None:
            parts = []
            for source, slug, counts in results:
                changes = ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "no changes"
                parts.append(f"{source} → {slug}: {changes}")
            self.notify("; ".join(parts) or "Nothing to sync", markup=False)
        self.refresh_all()
