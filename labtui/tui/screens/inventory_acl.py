"""Access rules of the inventory (``inventory.acl.manage``): one object's ACL entries (role +
permission suffix + allow/deny) and, on a second tab, the tag grants (role + tag + suffix,
allow only) that reach every object carrying the tag.

The order core applies, shown in the help so the rules read right: ``*`` → an ACL deny →
an ACL allow → a tag grant → the role's ``inventory.<type>.<suffix>``. Setting an entry for
a role and suffix that has one replaces its effect (core keeps one per pair).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.widget import Widget
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Label,
    Select,
    Static,
    TabbedContent,
    TabPane,
)

from labtui.core.errors import LabtuiError
from labtui.core.inventory.acl import AclEntry, TagGrant
from labtui.core.inventory.objects import ObjectInfo
from labtui.core.permissions_catalog import Perm
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.base import LabScreen
from labtui.tui.screens.user_forms import FormModal
from labtui.tui.widgets.confirm import ConfirmScreen
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable

MANAGE = Perm.INVENTORY_ACL_MANAGE
VERBS = ("view", "edit", "delete")


class RuleForm(FormModal):
    """Role + (tag) + permission suffix + (effect); ``save`` gets the chosen values by name.
    Roles are a list for those who may see roles, else typed."""

    DEFAULT_CSS = """
    RuleForm .field { padding-top: 1; text-style: bold; }
    """

    def __init__(
        self,
        title: str,
        save: Callable[[dict[str, str]], Awaitable[Any]],
        *,
        roles: list[str] | None,
        suffixes: list[str],
        tags: list[str] | None = None,
        effect: bool = True,
    ) -> None:
        super().__init__()
        self.title_text = title
        self.save = save
        self.roles = roles
        self.suffixes = suffixes
        self.tags = tags
        self.effect = effect

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = self.title_text
            yield Label("Role", classes="field")
            if self.roles is not None:
                yield Select([(r, r) for r in self.roles], id="role", prompt="choose a role")
            else:
                yield Input(id="role", placeholder="role name")
            if self.tags is not None:
                yield Label("Tag", classes="field")
                yield Select([(t, t) for t in self.tags], id="tag", prompt="choose a tag")
            yield Label("Permission", classes="field")
            yield Select([(s, s) for s in self.suffixes], id="permission", value=self.suffixes[0], allow_blank=False)
            yield Static("view, edit, delete, or the name of one of the type's actions", classes="hint")
            if self.effect:
                yield Label("Effect", classes="field")
                yield Select([("allow", "allow"), ("deny", "deny")], id="effect", value="allow", allow_blank=False)
                yield Static("deny beats every allow except *", classes="hint")
            yield Static("", id="error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Add", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#role").focus()

    @staticmethod
    def _value(widget: Widget) -> str:
        if isinstance(widget, Select):
            return "" if widget.value is Select.NULL else str(widget.value)
        assert isinstance(widget, Input)
        return widget.value.strip()

    async def action_save(self) -> None:
        values = {
            w.id or "": self._value(w)
            for w in self.query("Select, Input")
            if w.id in ("role", "tag", "permission", "effect")
        }
        for name in ("role", "tag"):
            if name in values and not values[name]:
                self.show_error(LabtuiError(f"Choose a {name}"))
                return
        try:
            await self.save(values)
        except LabtuiError as exc:
            self.show_error(exc)
            return
        self.dismiss(True)


class AclScreen(LabScreen):
    SCREEN_HELP = (
        "Who may do what to this object, beyond the roles' type permissions. Core decides in "
        "this order: * (allows everything) → an ACL deny → an ACL allow → a tag grant → the "
        "role's inventory.<type>.<permission>. n adds a rule to the tab shown (an entry on "
        "this object, or a tag grant), D removes the selected one (asks). Tag grants only "
        "allow. Changing rules needs inventory.acl.manage."
    )

    DEFAULT_CSS = """
    AclScreen TabbedContent { height: 1fr; }
    AclScreen #status { height: 1; padding: 0 1; color: $text-muted; background: $boost; }
    """

    SCREEN_ID = "inventory_acl"  # not "acl": the access rules of an inventory object
    ACTIONS = (
        ScreenAction(
            "n", "add", "Add rule", "Add a rule to the tab shown: an entry on this object, or a tag grant", MANAGE
        ),
        ScreenAction("D", "remove", "Remove", "Remove the selected rule (asks first)", MANAGE),
    )

    def __init__(self, obj: ObjectInfo) -> None:
        super().__init__()
        self.obj = obj
        self.entries: list[AclEntry] = []
        self.grants: list[TagGrant] = []
        #: True once both tables are filled.
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static(
            Text.assemble("Access rules · ", (f"{self.obj.type_label} {self.obj.title}", "bold")),
            id="title",
            classes="screen-title",
        )
        with TabbedContent(id="acl-tabs"):
            with TabPane("Object entries", id="entries-tab"):
                entries: DataTable[Any] = LabTable(id="entries", cursor_type="row", zebra_stripes=True)
                entries.add_columns("Role", "Permission", "Effect")
                yield entries
            with TabPane("Tag grants", id="grants-tab"):
                grants: DataTable[Any] = LabTable(id="grants", cursor_type="row", zebra_stripes=True)
                grants.add_columns("Tag", "Role", "Permission", "On this object")
                yield grants
        yield Static("", id="status")
        yield LabFooter()

    def on_mount(self) -> None:
        self.query_one("#entries", DataTable).focus()
        self.load()

    @property
    def on_grants(self) -> bool:
        return self.query_one(TabbedContent).active == "grants-tab"

    @on(TabbedContent.TabActivated)
    def _tab(self) -> None:
        self.query_one("#grants" if self.on_grants else "#entries", DataTable).focus()
        self.refresh_bindings()

    @work(exclusive=True, group="acl-load")
    async def load(self) -> None:
        acl = self.core.inventory.acl
        entries = await self.call(lambda: acl.entries(self.actor, self.obj.id))
        grants = await self.call(lambda: acl.grants(self.actor))
        self.entries, self.grants = entries or [], grants or []
        table = self.query_one("#entries", DataTable)
        table.clear()
        for e in self.entries:
            table.add_row(
                e.role, e.permission, Text(e.effect, style="bold" if e.effect == "deny" else ""), key=str(e.id)
            )
        on_object = {t.name for t in self.obj.tags}
        table = self.query_one("#grants", DataTable)
        table.clear()
        for g in self.grants:
            table.add_row(g.tag, g.role, g.permission, "yes" if g.tag in on_object else "", key=str(g.id))
        self.query_one("#status", Static).update(
            f"{len(self.entries)} entr{'y' if len(self.entries) == 1 else 'ies'} on this object · {len(self.grants)} tag grants"
        )
        self.loaded = True
        self.refresh_bindings()

    def _selected(self) -> AclEntry | TagGrant | None:
        table = self.query_one("#grants" if self.on_grants else "#entries", DataTable)
        if not table.row_count:
            return None
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        rows: list[Any] = self.grants if self.on_grants else self.entries
        return next((r for r in rows if str(r.id) == key), None)

    def action_state(self, action: str) -> bool | None:
        if action == "remove":
            return self._selected() is not None
        return True

    async def _roles(self) -> list[str] | None:
        if not self.can(Perm.ROLES_VIEW):
            return None
        try:
            return [r.name for r in await self.core.rbac.list_roles(self.actor)]
        except LabtuiError:
            return None

    def _suffixes(self, all_types: bool) -> list[str]:
        types = list(self.core.inventory.types.values()) if all_types else [self.core.inventory.type_def(self.obj.type)]
        actions = [a.name for t in types if t is not None for a in t.actions]
        return list(dict.fromkeys([*VERBS, *actions]))

    @work(group="acl-change")
    async def action_add(self) -> None:
        acl = self.core.inventory.acl
        roles = await self._roles()
        if self.on_grants:
            tags = await self.call(lambda: self.core.inventory.tags.list(self.actor))
            if not tags:
                self.notify(
                    "There are no tags to grant on: make one first (T on the inventory)",
                    severity="warning",
                    markup=False,
                )
                return

            async def grant(v: dict[str, str]) -> TagGrant:
                return await acl.grant(self.actor, v["tag"], v["role"], v["permission"])

            form = RuleForm(
                "New tag grant",
                grant,
                roles=roles,
                suffixes=self._suffixes(True),
                tags=[t.name for t in tags],
                effect=False,
            )
        else:

            async def set_entry(v: dict[str, str]) -> AclEntry:
                return await acl.set_entry(self.actor, self.obj.id, v["role"], v["permission"], v["effect"])

            form = RuleForm(f"New rule on {self.obj.title}", set_entry, roles=roles, suffixes=self._suffixes(False))
        if await self.app.push_screen_wait(form):
            self.notify("Rule added", markup=False)
            self.load()

    @work(group="acl-change")
    async def action_remove(self) -> None:
        row = self._selected()
        if row is None:
            return
        acl = self.core.inventory.acl
        if isinstance(row, TagGrant):
            question = f"Remove the grant of '{row.permission}' to {row.role} on objects tagged {row.tag}?"

            async def remove() -> bool:
                await acl.revoke(self.actor, row.id)
                return True
        else:
            question = f"Remove the {row.effect} of '{row.permission}' for {row.role} on {self.obj.title}?"

            async def remove() -> bool:
                await acl.remove_entry(self.actor, row.id)
                return True

        if await self.app.push_screen_wait(ConfirmScreen(question, "Remove")):
            await self.call(remove, success="Rule removed")
            self.load()
