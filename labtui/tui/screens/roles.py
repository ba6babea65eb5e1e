"""Roles: each role with its users and permission counts, and the selected role's
permissions as a checklist grouped by category.

Ticks are kept per role until ``s`` saves them (a ``*`` marks a role with unsaved ticks),
so moving between roles loses nothing. System roles (``super-admin``) are read-only, and a
role in use cannot be deleted; core refuses both and its message is shown.
"""

from __future__ import annotations

from typing import Any, ClassVar

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Input, Static

from labtui.core.errors import LabtuiError
from labtui.core.permissions_catalog import Perm
from labtui.core.rbac import RoleInfo
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.role_forms import PermissionTree, RoleForm
from labtui.tui.screens.table_screen import FilteredTableScreen
from labtui.tui.widgets.confirm import ConfirmScreen
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable


class RolesScreen(FilteredTableScreen):
    SCREEN_HELP = (
        "Roles bundle permissions; users get roles. The left list shows each role's users "
        "and permissions; the right shows the selected role's permissions by category. Tab "
        "(or Enter) moves to the checklist: space ticks a permission, or all of a category; "
        "s saves the ticks (ctrl+s too). n creates a role, e renames it or edits its "
        "description, D deletes it. super-admin is a system role and cannot be changed; a "
        "role still assigned to users cannot be deleted. / filters the list by name or "
        "description (Esc clears)."
    )

    DEFAULT_CSS = """
    RolesScreen #roles-body { height: 1fr; }
    RolesScreen #roles-left { width: 1fr; max-width: 72; border-right: vkey $panel; }
    RolesScreen #roles-right { width: 1fr; }
    RolesScreen #role-note { height: auto; max-height: 4; padding: 0 1; color: $text-muted; }
    RolesScreen #role-note.-system { color: $text-warning; }
    RolesScreen #role-note.-dirty { color: $text-warning; text-style: bold; }
    RolesScreen PermissionTree { height: 1fr; }
    """

    ACTIONS = (
        ScreenAction("n", "new", "New", "Create a role", Perm.ROLES_CREATE, palette="New role"),
        ScreenAction("e", "edit", "Edit", "Rename the selected role or edit its description", Perm.ROLES_EDIT),
        # Both keys: the footer shows the first.
        ScreenAction(
            "s,ctrl+s",
            "save",
            "Save",
            "Save the ticked permissions of the selected role",
            Perm.ROLES_EDIT,
            palette="Save role permissions",
        ),
        ScreenAction("D", "delete", "Delete", "Delete the selected role (asks first)", Perm.ROLES_DELETE),
    )
    #: Navigation, not an action.
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding(
            "escape",
            "escape",
            "Back",
            show=False,
            tooltip="From the checklist to the list; then clears the filter; then back (asks if ticks are unsaved)",
        ),
    ]

    def __init__(self) -> None:
        super().__init__()
        self.roles: list[RoleInfo] = []
        self.pending: dict[int, set[str]] = {}
        """Unsaved ticks per role id."""
        self.text_filter = ""

    def compose(self) -> ComposeResult:
        yield Static("Roles", id="title", classes="screen-title")
        yield Input(placeholder="filter: name or description…  (Esc clears)", id="filter")
        with Horizontal(id="roles-body"):
            with Vertical(id="roles-left"):
                table: DataTable[Any] = LabTable(id="roles-table", cursor_type="row", zebra_stripes=True)
                table.add_columns("Role", "System", "Users", "Perms", "Description")
                yield table
            with Vertical(id="roles-right"):
                yield Static("", id="role-note")
                yield PermissionTree(self.core.rbac.definitions, id="permissions")
        yield LabFooter()

    def on_mount(self) -> None:
        self.table.focus()
        self.load()

    def action_state(self, action: str) -> bool | None:
        if action == "save":
            role = self.selected()
            return True if role and role.id in self.pending else None
        return True

    # -- loading -------------------------------------------------------------------------

    @work(exclusive=True, group="roles-load")
    async def load(self, select_name: str | None = None) -> None:
        roles = await self.call(lambda: self.core.rbac.list_roles(self.actor))
        if roles is None:
            self.query_one("#role-note", Static).update("You may not list roles")
            return
        self.roles = roles
        self.pending = {k: v for k, v in self.pending.items() if any(r.id == k for r in roles)}
        self.render_rows(select_name)

    def render_rows(self, select_name: str | None = None) -> None:
        table = self.table
        current = self.selected()
        keep = select_name or (current.name if current else None)
        table.clear()
        needle = self.text_filter.lower().strip()
        shown = [r for r in self.roles if not needle or needle in f"{r.name} {r.description}".lower()]
        for r in shown:
            name = Text(r.name + (" *" if r.id in self.pending else ""))
            count = "all" if "*" in r.permissions else str(len(r.permissions))
            table.add_row(
                name, "yes" if r.is_system else "", str(r.user_count), count, Text(r.description), key=str(r.id)
            )
        index = next((i for i, r in enumerate(shown) if r.name == keep), 0)
        if table.row_count:
            table.move_cursor(row=index)
        self.show_role()

    def filter_changed(self, text: str) -> None:
        self.text_filter = text
        self.render_rows()

    def selected(self) -> RoleInfo | None:
        key = self.selected_key()
        return next((r for r in self.roles if str(r.id) == key), None) if key else None

    def show_role(self) -> None:
        """Put the selected role's (possibly unsaved) permissions in the checklist."""
        role = self.selected()
        tree = self.query_one(PermissionTree)
        note = self.query_one("#role-note", Static)
        note.set_class(False, "-system")
        note.set_class(False, "-dirty")
        if role is None:
            tree.set_checked(set(), "No role selected")
            note.update("")
            return
        reason = None
        lines = [f"{role.name}: {role.description or 'no description'}"]
        if role.is_system:
            reason = f"'{role.name}' is a system role and cannot be changed"
            lines.append("System role: holds every permission; read-only.")
            note.set_class(True, "-system")
        elif not self.can(Perm.ROLES_EDIT):
            reason = "You may not edit roles: that needs 'roles.edit'"
            lines.append("Read-only: you may not edit roles.")
        elif role.id in self.pending:
            lines.append("Unsaved changes: s saves.")
            note.set_class(True, "-dirty")
        else:
            lines.append("Space ticks a permission (on a category: all of it); s saves.")
        note.update(Text("\n".join(lines)))
        tree.set_checked(self.pending.get(role.id, role.permissions), reason)
        self.refresh_bindings()

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self.show_role()

    @on(DataTable.RowSelected)
    def _selected(self) -> None:
        self.query_one(PermissionTree).focus()

    @on(PermissionTree.Changed)
    def _ticked(self, event: PermissionTree.Changed) -> None:
        role = self.selected()
        if role is None:
            return
        if set(event.checked) == set(role.permissions):
            self.pending.pop(role.id, None)
        else:
            self.pending[role.id] = set(event.checked)
        self._mark_row(role)
        self.show_role()

    def _mark_row(self, role: RoleInfo) -> None:
        table = self.table
        column = next(iter(table.columns))
        table.update_cell(str(role.id), column, Text(role.name + (" *" if role.id in self.pending else "")))

    # -- actions -------------------------------------------------------------------------

    @work(group="roles-change")
    async def action_save(self) -> None:
        role = self.selected()
        if role is None:
            return
        if role.id not in self.pending and not role.is_system:
            self.notify("No unsaved changes", timeout=2)
            return
        wanted = set(self.pending.get(role.id, role.permissions))
        try:
            await self.core.rbac.update_role(self.actor, role.id, permissions=wanted)
        except LabtuiError as exc:  # e.g. a system role: core's reason, on screen
            self.notify(str(exc), severity="error", timeout=8, markup=False)
            return
        self.pending.pop(role.id, None)
        self.notify(f"Saved {role.name}: {len(wanted)} permissions", markup=False)
        self.load()

    @work(group="roles-change")
    async def action_new(self) -> None:
        async def create(name: str, description: str) -> int:
            return await self.core.rbac.create_role(self.actor, name, description)

        name = await self.app.push_screen_wait(RoleForm(create))
        if name:
            self.notify(f"Created role {name}: tick its permissions, then s saves", markup=False)
            self.load(select_name=name)
            self.query_one(PermissionTree).focus()

    @work(group="roles-change")
    async def action_edit(self) -> None:
        role = self.selected()
        if role is None:
            return
        if role.is_system:  # core refuses: show its reason rather than a form that cannot save
            await self.call(lambda: self.core.rbac.update_role(self.actor, role.id))
            return

        async def save(name: str, description: str) -> None:
            await self.core.rbac.update_role(self.actor, role.id, name=name, description=description)

        name = await self.app.push_screen_wait(RoleForm(save, role))
        if name:
            self.notify(f"Saved role {name}", markup=False)
            self.load(select_name=name)

    @work(group="roles-change")
    async def action_delete(self) -> None:
        role = self.selected()
        if role is None:
            return
        # A system role or one in use: core refuses, so ask it straight away and show why.
        if (
            not role.is_system
            and not role.user_count
            and not await self.app.push_screen_wait(ConfirmScreen(f"Delete role {role.name}?", "Delete"))
        ):
            return
        await self.call(lambda: self.core.rbac.delete_role(self.actor, role.id), success=f"Deleted role {role.name}")
        self.pending.pop(role.id, None)
        self.load()

    def action_escape(self) -> None:
        """Esc from the checklist returns to the list; from the list it clears an open
        filter, and then goes back (asking first when ticks are unsaved)."""
        if self.query_one(PermissionTree).has_focus:
            self.table.focus()
        elif self.clear_filter():
            return
        elif self.pending:
            self._leave_with_pending()
        else:
            super().action_escape()

    @work(group="roles-change")
    async def _leave_with_pending(self) -> None:
        names = ", ".join(r.name for r in self.roles if r.id in self.pending)
        if await self.app.push_screen_wait(ConfirmScreen(f"Discard unsaved permission changes to {names}?", "Discard")):
            self.pending.clear()
            self.app.pop_screen()
