"""Users: every account with its status and roles; invite, assign roles, deactivate or
activate, admin-initiated password reset.

Each action is offered only to those who hold its permission (``users.create``,
``users.assign_roles``, ``users.delete`` / ``users.edit``); core checks again and audits.
Tokens the email provider could not deliver are shown once in a modal, never notified.
"""

from __future__ import annotations

from typing import Any, cast

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.coordinate import Coordinate
from textual.widgets import DataTable, Input, Static

from labtui.core.errors import LabtuiError
from labtui.core.permissions_catalog import Perm
from labtui.core.users import TokenDelivery, UserInfo
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.table_screen import FilteredTableScreen
from labtui.tui.screens.user_forms import (
    AssignRolesForm,
    InviteForm,
    UserDetail,
    show_delivery,
    when,
)
from labtui.tui.widgets.confirm import ConfirmScreen
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable

#: Status → theme variable of its colour in the table.
STATUS_COLOURS = {"active": "text-success", "invited": "text-warning", "inactive": "text-error"}


class UsersScreen(FilteredTableScreen):
    SCREEN_HELP = (
        "Every account: active, invited (has not redeemed the invitation yet) or inactive. "
        "i invites someone by email (with email off, the token is shown to you once to pass "
        "on); r sets the selected user's roles; d deactivates (their sessions end at once) or "
        "activates again; p issues a password-reset token. Enter shows a user in full. "
        "You cannot deactivate yourself. / filters by any column."
    )

    DEFAULT_CSS = """
    UsersScreen #status { height: 1; padding: 0 1; color: $text-muted; background: $boost; }
    """

    ACTIONS = (
        ScreenAction(
            "i", "invite", "Invite", "Invite a user by email, with roles", Perm.USERS_CREATE, palette="Invite a user"
        ),
        ScreenAction(
            "r",
            "assign_roles",
            "Roles",
            "Set the selected user's roles",
            Perm.USERS_ASSIGN_ROLES,
            palette="Set the selected user's roles",
        ),
        ScreenAction("d", "deactivate", "Deactivate", "Deactivate the selected user (asks first)", Perm.USERS_DELETE),
        ScreenAction("d", "activate", "Activate", "Activate the selected user again (asks first)", Perm.USERS_EDIT),
        ScreenAction(
            "p",
            "reset_password",
            "Password",
            "Issue a password-reset token for the selected user",
            Perm.USERS_EDIT,
            palette="Reset the selected user's password",
        ),
    )

    def __init__(self) -> None:
        super().__init__()
        self.users: list[UserInfo] = []
        self.text_filter = ""
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static("Users", id="title", classes="screen-title")
        yield Input(placeholder="filter: name, email, status, role…  (Esc clears)", id="filter")
        table: DataTable[Any] = LabTable(id="users-table", cursor_type="row", zebra_stripes=True)
        table.add_columns("Username", "Name", "Email", "Status", "Roles", "Last login (UTC)")
        yield table
        yield Static("", id="status")
        yield LabFooter()

    def on_mount(self) -> None:
        self.table.focus()
        self.load()

    # -- permissions and the footer ------------------------------------------------------

    def action_state(self, action: str) -> bool | None:
        if action in ("activate", "deactivate"):
            # Both on ``d``: the footer offers whichever fits the selected user.
            user = self.selected()
            if user is None:
                return None if action == "deactivate" else False
            return (user.status == "active") == (action == "deactivate")
        return True

    # -- loading -------------------------------------------------------------------------

    @work(exclusive=True, group="users-load")
    async def load(self, select_username: str | None = None) -> None:
        users = await self.call(lambda: self.core.users.list(self.actor))
        if users is None:
            self.query_one("#status", Static).update("You may not list users")
            return
        self.users, self.loaded = users, True
        self.render_rows(select_username)

    def render_rows(self, select_username: str | None = None) -> None:
        table = self.table
        current = self.selected()
        keep = select_username or (current.username if current else None)
        table.clear()
        needle = self.text_filter.lower().strip()
        for u in self.users:
            last = when(u.last_login_at, "—" if u.status == "invited" else "never")
            cells = [u.username, u.display_name or "", u.email or "", u.status, ", ".join(u.roles) or "—", last]
            if needle and needle not in " ".join(cells).lower():
                continue
            status = Text(u.status, style=self.app.theme_variables.get(STATUS_COLOURS.get(u.status, ""), ""))
            table.add_row(*(Text(c) for c in cells[:3]), status, *(Text(c) for c in cells[4:]), key=str(u.id))
        if table.row_count:
            index = next((i for i, u in enumerate(self._shown()) if u.username == keep), 0)
            table.move_cursor(row=index)
        self.render_status()
        self.refresh_bindings()

    def _shown(self) -> list[UserInfo]:
        table = self.table
        by_id = {str(u.id): u for u in self.users}
        return [
            by_id[table.coordinate_to_cell_key(Coordinate(i, 0)).row_key.value or ""] for i in range(table.row_count)
        ]

    def render_status(self) -> None:
        counts = {s: sum(1 for u in self.users if u.status == s) for s in ("active", "invited", "inactive")}
        text = f"{len(self.users)} users · " + " · ".join(f"{n} {s}" for s, n in counts.items() if n)
        if self.text_filter:
            text += f" · filter: {self.text_filter} ({self.table.row_count} shown)"
        self.query_one("#status", Static).update(Text(text))

    def selected(self) -> UserInfo | None:
        key = self.selected_key()
        return next((u for u in self.users if str(u.id) == key), None) if key else None

    @on(DataTable.RowHighlighted)
    def _highlighted(self) -> None:
        self.refresh_bindings()

    # -- filter --------------------------------------------------------------------------

    def filter_changed(self, text: str) -> None:
        self.text_filter = text
        self.render_rows()

    # -- actions -------------------------------------------------------------------------

    async def _role_names(self) -> list[str]:
        """Every role's name; without ``roles.view``, the roles seen on users."""
        try:
            return [r.name for r in await self.core.rbac.list_roles(self.actor)]
        except LabtuiError:
            return sorted({r for u in self.users for r in u.roles})

    @work(group="users-change")
    async def action_invite(self) -> None:
        names = await self._role_names() if self.can(Perm.USERS_ASSIGN_ROLES) else None

        async def invite(username: str, email: str, display_name: str, roles: list[str]) -> TokenDelivery:
            return await self.core.users.invite(self.actor, username, email, roles=roles, display_name=display_name)

        form = InviteForm(invite, names)
        delivery = await self.app.push_screen_wait(form)
        if isinstance(delivery, TokenDelivery):
            self.load(select_username=form.invited_username)
            show_delivery(self, delivery, "Invitation", form.invited_username)

    @work(group="users-change")
    async def action_assign_roles(self) -> None:
        user = self.selected()
        if user is None:
            return
        roles = cast(
            "list[str] | None", await self.app.push_screen_wait(AssignRolesForm(user, await self._role_names()))
        )
        if roles is None or sorted(roles) == sorted(user.roles):
            return
        await self.call(
            lambda: self.core.users.set_roles(self.actor, user.id, list(roles)),
            success=f"Roles of {user.username}: {', '.join(roles) or 'none'}",
        )
        self.load()

    @work(group="users-change")
    async def action_deactivate(self) -> None:
        user = self.selected()
        if user is None:
            return
        if user.id != self.actor.user_id:  # core refuses yourself: let it say so, no question first
            question = f"Deactivate {user.username}? They cannot sign in and their sessions end now."
            if not await self.app.push_screen_wait(ConfirmScreen(question, "Deactivate")):
                return
        await self.call(
            lambda: self.core.users.set_active(self.actor, user.id, False), success=f"{user.username} deactivated"
        )
        self.load()

    @work(group="users-change")
    async def action_activate(self) -> None:
        user = self.selected()
        if user is None:
            return
        # An invitation not yet redeemed cannot be activated: core says so, no question first.
        question = ConfirmScreen(f"Activate {user.username} again?", "Activate", variant="primary")
        if user.status != "invited" and not await self.app.push_screen_wait(question):
            return
        await self.call(
            lambda: self.core.users.set_active(self.actor, user.id, True), success=f"{user.username} activated"
        )
        self.load()

    @work(group="users-change")
    async def action_reset_password(self) -> None:
        user = self.selected()
        if user is None:
            return
        question = f"Issue a password-reset token for {user.username}? Their password keeps working until they use it."
        if not await self.app.push_screen_wait(ConfirmScreen(question, "Issue token", variant="primary")):
            return
        delivery = await self.call(lambda: self.core.users.admin_reset(self.actor, user.id))
        if delivery is not None:
            show_delivery(self, delivery, "Password reset", user.username)

    @on(DataTable.RowSelected)
    def _open(self, event: DataTable.RowSelected) -> None:
        user = next((u for u in self.users if str(u.id) == event.row_key.value), None)
        if user is None:
            return
        offered = (
            ("r roles", Perm.USERS_ASSIGN_ROLES),
            ("d deactivate", Perm.USERS_DELETE),
            ("d activate", Perm.USERS_EDIT),
            ("p reset password", Perm.USERS_EDIT),
        )
        keys = [key for key, permission in offered if self.can(permission)]
        self.app.push_screen(UserDetail(user, "On the list: " + " · ".join(keys) if keys else ""))
