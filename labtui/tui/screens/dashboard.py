"""The dashboard: who is signed in, what exists (users, roles), what happened lately (the
audit log), what startup could not do, and a menu of the screens this user may open.

Each part is shown only to those allowed to see it; the menu is the registry filtered by
permission, the same list as the ``:`` bar and the palette.
"""

from __future__ import annotations

from collections import Counter

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.css.query import NoMatches
from textual.widgets import DataTable, OptionList, Static
from textual.widgets.option_list import Option

from labtui.core.audit import AuditRow
from labtui.core.permissions_catalog import Perm
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.base import LabScreen
from labtui.tui.widgets.audit_detail import COLUMNS, AuditDetail, fill_audit_table
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable

RECENT = 10


class DashboardScreen(LabScreen):
    SCREEN_HELP = (
        "Where labtui starts after you sign in. The menu on the left lists the screens you "
        "may open (Enter opens one; so does : and the name). Recent activity is the newest "
        "audit records, if you may read the audit log; Enter on one shows it in full."
    )

    ACTIONS = (ScreenAction("r", "reload", "Refresh", "Read the counts and the recent activity again"),)

    def __init__(self) -> None:
        super().__init__()
        self.recent: list[AuditRow] = []

    def compose(self) -> ComposeResult:
        yield Static("", id="whoami")
        with Horizontal(id="dash-body"):
            with Vertical(id="dash-menu-pane"):
                yield Static("Go to", classes="pane-title")
                yield OptionList(id="dash-menu")
            with Vertical(id="dash-main"):
                yield Static("", id="dash-counts")
                yield Static("", id="dash-problems")
                yield Static("Recent activity", classes="pane-title", id="recent-title")
                table: DataTable[str] = LabTable(id="dash-recent", cursor_type="row", zebra_stripes=True)
                table.add_columns(*COLUMNS)
                yield table
        yield LabFooter()

    def on_mount(self) -> None:
        menu = self.query_one("#dash-menu", OptionList)
        for entry in self.lab.allowed_screens():
            if entry.name != "dashboard":
                menu.add_option(
                    Option(
                        Content.from_markup("$title [dim]:$name[/]", title=entry.title.ljust(12), name=entry.name),
                        id=entry.name,
                    )
                )
        menu.highlighted = 0 if menu.option_count else None
        menu.focus()
        if not self.can(Perm.SYSTEM_AUDIT_LOG):
            self.query_one("#recent-title", Static).update("Recent activity: needs the 'system.audit_log' permission")
            self.query_one("#dash-recent").display = False
        self.show_problems()

    def on_screen_resume(self) -> None:
        if self.lab.actor is not None:
            self.load()

    def action_reload(self) -> None:
        self.load()

    # -- loading -------------------------------------------------------------------------------

    @work(exclusive=True, group="dashboard-load")
    async def load(self) -> None:
        """Fetch everything first, then paint once (the screen may be gone by then)."""
        actor = self.actor
        whoami = Content.from_markup("[b]$name[/]", name=actor.username)
        if actor.user_id is not None:
            me = await self.call(lambda: self.core.users.get(actor, actor.user_id))  # type: ignore[arg-type]
            if me is not None:
                whoami = Content.from_markup(
                    "[b]$name[/]$display · roles: [$accent]$roles[/] · from $origin",
                    name=actor.username,
                    display=f" ({me.display_name})" if me.display_name else "",
                    roles=", ".join(me.roles) or "none",
                    origin=actor.origin,
                )
        parts: list[Content] = []
        if self.can(Perm.USERS_VIEW):
            users = await self.call(lambda: self.core.users.list(actor))
            if users is not None:
                by = Counter(u.status for u in users)
                parts.append(
                    Content.from_markup(
                        "[b]Users[/] $total  [$success]$active active[/] · [$warning]$invited invited[/] · [$text-muted]$inactive inactive[/]",
                        total=len(users),
                        active=by["active"],
                        invited=by["invited"],
                        inactive=by["inactive"],
                    )
                )
        if self.can(Perm.ROLES_VIEW):
            roles = await self.call(lambda: self.core.rbac.list_roles(actor))
            if roles is not None:
                custom = sum(1 for r in roles if not r.is_system)
                parts.append(Content.from_markup("[b]Roles[/] $n ($custom editable)", n=len(roles), custom=custom))
        if self.can(Perm.HEALTH_VIEW):
            from labtui.tui.screens.health import read_statuses

            services = await read_statuses(self)
            if services:
                by = Counter(s.status for s in services)
                parts.append(
                    Content.from_markup(
                        "[b]Health[/] $n: [$success]$healthy healthy[/] · [$error]$unhealthy unhealthy[/] · "
                        "[$warning]$degraded degraded[/] · [$text-muted]$unknown unknown[/]",
                        n=f"{len(services)} service" + ("s" if len(services) != 1 else ""),
                        healthy=by["healthy"],
                        unhealthy=by["unhealthy"],
                        degraded=by["degraded"],
                        unknown=by["unknown"],
                    )
                )
        if not parts:
            parts.append(
                Content.from_markup("[dim]Nothing here for your roles yet: the menu shows what you may open.[/]")
            )
        recent = None
        if self.can(Perm.SYSTEM_AUDIT_LOG):
            recent = await self.call(lambda: self.core.audit.page(actor, limit=RECENT))
        try:
            self.query_one("#whoami", Static).update(whoami)
            self.query_one("#dash-counts", Static).update(Content("\n").join(parts))
            if recent is not None:
                self.recent = recent
                self.show_recent()
        except NoMatches:  # closed (logout, quit) while loading
            return

    def show_problems(self) -> None:
        problems = self.core.startup_report
        box = self.query_one("#dash-problems", Static)
        box.set_class(bool(problems), "-problems")
        if problems:
            lines = [Content.from_markup("[b]Startup reported $n problem(s):[/]", n=len(problems))]
            lines += [Content.from_markup("• $p", p=p) for p in problems]
            box.update(Content("\n").join(lines))
        else:
            box.update(Content.from_markup("[$success]Startup: all steps done, no problems.[/]"))

    def show_recent(self) -> None:
        fill_audit_table(self.query_one("#dash-recent", DataTable), self.recent)

    def on_resize(self) -> None:
        if self.recent:
            self.call_after_refresh(self.show_recent)

    # -- handlers ------------------------------------------------------------------------------

    @on(OptionList.OptionSelected, "#dash-menu")
    def _open(self, event: OptionList.OptionSelected) -> None:
        if event.option.id:
            self.lab.open_screen(event.option.id)

    @on(DataTable.RowSelected, "#dash-recent")
    def _detail(self, event: DataTable.RowSelected) -> None:
        row = next((r for r in self.recent if str(r.id) == event.row_key.value), None)
        if row is not None:
            self.app.push_screen(AuditDetail(row))
