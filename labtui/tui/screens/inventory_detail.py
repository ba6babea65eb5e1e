"""One inventory object in full: its fields, tags, access rules, related objects, recent jobs.

Secret fields show only whether they are set; ``v`` reveals one in a modal that holds it
while open (core checks ``edit`` and audits the reveal, never the value). Related objects
are those whose searchable fields mention this object's name (a deployment naming a host,
a credential of a service): a plain search, so it costs one indexed query.
"""

from __future__ import annotations

import shlex
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import VerticalScroll
from textual.widgets import DataTable, Static

from labtui.core.actor import Actor
from labtui.core.db.jobs import INVENTORY_ACTION
from labtui.core.inventory.objects import ObjectInfo
from labtui.core.jobs.queue import JobInfo
from labtui.core.permissions_catalog import Perm
from labtui.core.runtime import Core
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.base import LabScreen
from labtui.tui.screens.inventory_view import (
    flags_text,
    host_of,
    secret_text,
    tags_text,
    value_text,
)
from labtui.tui.screens.job_log import JobLogScreen
from labtui.tui.screens.jobs import ago
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable

RELATED_LIMIT = 10
OBJECT_ACTIONS = frozenset({"edit", "delete", "reveal", "tags", "acl", "run_action", "ssh"})
JOBS_LIMIT = 10


async def jobs_of(core: Core, actor: Actor, obj: ObjectInfo) -> list[JobInfo]:
    """Recent jobs of the object: its inventory actions and, for an object naming a service
    (a service, a deployment), that service's jobs."""
    found = {j.id: j for j in await core.jobs.list(actor, object_id=obj.id, limit=JOBS_LIMIT)}
    service = obj.data.get("name") if obj.type == "service" else obj.data.get("service_name")
    if isinstance(service, str) and service:
        found.update((j.id, j) for j in await core.jobs.list(actor, service=service, limit=JOBS_LIMIT))
    return sorted(found.values(), key=lambda j: (j.created_at, j.id), reverse=True)[:JOBS_LIMIT]


class ObjectDetailScreen(LabScreen):
    SCREEN_HELP = (
        "One inventory object. Secret fields show only whether they are set: v reveals the "
        "one under the cursor (or the first set one); revealing needs edit on the object and "
        "is audited. e edit, D delete (asks), t tags, a access rules, x runs an action, s "
        "opens an SSH terminal to the object's host. Enter on a related object opens it; on "
        "a job, its log."
    )

    DEFAULT_CSS = """
    ObjectDetailScreen #head { padding: 0 1; background: $boost; height: auto; }
    ObjectDetailScreen #body { padding: 0 1; height: 1fr; }
    ObjectDetailScreen .section { padding-top: 1; text-style: bold; color: $text-accent; }
    ObjectDetailScreen .note { color: $text-muted; height: auto; }
    ObjectDetailScreen DataTable.-empty { display: none; }
    """

    ACTIONS = (
        ScreenAction("e", "edit", "Edit", "Edit this object"),
        ScreenAction("D", "delete", "Delete", "Delete this object (asks first)"),
        ScreenAction(
            "v", "reveal", "Reveal secret", "Show the secret under the cursor, or the first set one (audited)"
        ),
        ScreenAction("t", "tags", "Tags", "Set this object's tags"),
        ScreenAction("a", "acl", "Access", "This object's access rules", Perm.INVENTORY_ACL_MANAGE),
        ScreenAction("x", "run_action", "Action", "Run one of the type's actions"),
        ScreenAction("s", "ssh", "SSH", "Open an SSH terminal to the object's host"),
    )

    def __init__(self, object_id: int) -> None:
        super().__init__()
        self.object_id = object_id
        self.obj: ObjectInfo | None = None
        self.may_edit = False
        self.may_delete = False
        #: True once the object and its sections are on screen.
        self.loaded = False

    def compose(self) -> ComposeResult:
        yield Static(f"Object #{self.object_id}", id="head")
        with VerticalScroll(id="body", can_focus=False):
            yield Static("Fields", classes="section")
            fields: DataTable[Any] = LabTable(id="fields", cursor_type="row")
            fields.add_columns("Field", "Value")
            yield fields
            yield Static("Tags", classes="section")
            yield Static("", id="tags", classes="note")
            yield Static("Access rules (ACL)", classes="section")
            acl: DataTable[Any] = LabTable(id="acl", cursor_type="row")
            acl.add_columns("Role", "Permission", "Effect")
            yield acl
            yield Static("", id="acl-note", classes="note")
            yield Static("Related objects", classes="section")
            related: DataTable[Any] = LabTable(id="related", cursor_type="row")
            related.add_columns("Type", "Name", "Tags")
            yield related
            yield Static("", id="related-note", classes="note")
            yield Static("Recent jobs", classes="section")
            jobs: DataTable[Any] = LabTable(id="jobs", cursor_type="row")
            jobs.add_columns("ID", "Service", "Action", "Status", "User", "Started")
            yield jobs
            yield Static("", id="jobs-note", classes="note")
        yield LabFooter()

    def on_mount(self) -> None:
        for table in self.query(DataTable):  # the app's stylesheet gives tables 1fr; these stack
            table.styles.height = "auto"
            table.styles.max_height = 16
        self.query_one("#fields", DataTable).focus()
        self.load()

    def on_screen_resume(self) -> None:
        if self.loaded:
            self.load()

    # -- loading -------------------------------------------------------------------------------

    @work(exclusive=True, group="object-load")
    async def load(self) -> None:
        inv = self.core.inventory
        obj = await self.call(lambda: inv.get(self.actor, self.object_id))
        if obj is None:
            self.query_one("#head", Static).update(Text(f"Object #{self.object_id} is gone or hidden from you"))
            self.obj = None
            self.refresh_bindings()
            return
        self.obj = obj
        self.may_edit = bool(await self.call(lambda: inv.allowed(self.actor, obj.id, "edit")))
        self.may_delete = bool(await self.call(lambda: inv.allowed(self.actor, obj.id, "delete")))
        self.render_object(obj)
        entries = await self.call(lambda: inv.acl.entries(self.actor, obj.id))
        self.render_acl(entries or [])
        await self.load_related(obj)
        await self.load_jobs(obj)
        self.loaded = True
        self.refresh_bindings()

    def render_object(self, obj: ObjectInfo) -> None:
        head = Text.assemble((f"{obj.type_label} ", "bold"), (obj.title, "bold"), f"  ·  #{obj.id}")
        if flags := flags_text(obj):
            head.append(f"  ·  {flags}", style="bold")
        if obj.source:
            head.append(f"  ·  synced from {obj.source}")
        head.append(
            f"\ncreated by {obj.created_by or '—'} {obj.created_at:%Y-%m-%d %H:%M} UTC · updated {ago(obj.updated_at)}"
        )
        self.query_one("#head", Static).update(head)
        type_def = self.core.inventory.type_def(obj.type)
        table = self.query_one("#fields", DataTable)
        cursor = table.cursor_row
        table.clear()
        if type_def is not None:
            for f in type_def.fields:
                if f.type == "secret":
                    shown = Text(
                        secret_text(obj.secrets.get(f.name, False))
                        + (" — v reveals" if obj.secrets.get(f.name) and self.may_edit else ""),
                        style="italic",
                    )
                else:
                    shown = Text(value_text(f, obj.data.get(f.name)))
                table.add_row(Text(f.label or f.name, style="bold"), shown, key=f.name)
        else:  # a removed type: whatever the object holds
            for name, value in obj.data.items():
                table.add_row(Text(name, style="bold"), Text(value_text(None, value)), key=name)
            for name, is_set in obj.secrets.items():
                table.add_row(Text(name, style="bold"), Text(secret_text(is_set), style="italic"), key=name)
        if table.row_count:
            table.move_cursor(row=min(cursor, table.row_count - 1))
        self.query_one("#tags", Static).update(tags_text(obj.tags) if obj.tags else Text("no tags"))

    def render_acl(self, entries: list[Any]) -> None:
        table = self.query_one("#acl", DataTable)
        table.clear()
        for e in entries:
            table.add_row(
                e.role, e.permission, Text(e.effect, style="bold" if e.effect == "deny" else ""), key=str(e.id)
            )
        table.set_class(not entries, "-empty")
        note = "" if entries else "No entries: the roles' type permissions and tag grants decide."
        self.query_one("#acl-note", Static).update(note)

    async def load_related(self, obj: ObjectInfo) -> None:
        table = self.query_one("#related", DataTable)
        table.clear()
        table.add_class("-empty")
        note = self.query_one("#related-note", Static)
        if obj.title.startswith("#"):
            note.update("This object has no name to look for.")
            return
        page = await self.call(
            lambda: self.core.inventory.list(self.actor, search=shlex.quote(obj.title), limit=RELATED_LIMIT + 1)
        )
        related = [o for o in (page.items if page else []) if o.id != obj.id][:RELATED_LIMIT]
        for o in related:
            table.add_row(o.type_label, o.title, tags_text(o.tags), key=str(o.id))
        table.set_class(not related, "-empty")
        note.update("" if related else f"No other object mentions '{obj.title}'.")

    async def load_jobs(self, obj: ObjectInfo) -> None:
        table = self.query_one("#jobs", DataTable)
        table.clear()
        table.add_class("-empty")
        note = self.query_one("#jobs-note", Static)
        if not (self.can(Perm.JOBS_VIEW_OWN) or self.can(Perm.JOBS_VIEW_ALL)):
            note.update("You may not see jobs.")
            return
        jobs = await self.call(lambda: jobs_of(self.core, self.actor, obj))
        if jobs is None:
            return
        for job in jobs:
            what = (
                f"{'action' if job.action == INVENTORY_ACTION else job.action} {job.script}"
                if job.script
                else job.action
            )
            table.add_row(
                job.id, job.service, what, job.status, job.username, ago(job.started_at or job.created_at), key=job.id
            )
        table.set_class(not jobs, "-empty")
        note.update("" if jobs else "No jobs yet.")

    # -- rows ----------------------------------------------------------------------------------

    @on(DataTable.RowSelected, "#related")
    def _open_related(self, event: DataTable.RowSelected) -> None:
        self.app.push_screen(ObjectDetailScreen(int(str(event.row_key.value))))

    @on(DataTable.RowSelected, "#jobs")
    def _open_job(self, event: DataTable.RowSelected) -> None:
        self.app.push_screen(JobLogScreen(str(event.row_key.value)))

    # -- keys ----------------------------------------------------------------------------------

    def action_state(self, action: str) -> bool | None:
        obj = self.obj
        if action not in OBJECT_ACTIONS:
            return True
        if obj is None:
            return False
        if action == "edit":
            return self.may_edit and not obj.type_removed
        if action == "delete":
            return self.may_delete
        if action == "reveal":
            return self.may_edit and any(obj.secrets.values())
        if action == "tags":
            return self.may_edit or self.can(Perm.INVENTORY_TAGS_MANAGE)
        if action == "acl":
            return True
        if action == "run_action":
            type_def = self.core.inventory.type_def(obj.type)
            return type_def is not None and bool(type_def.actions)
        return host_of(obj) is not None  # ssh

    @work(group="object-change")
    async def action_edit(self) -> None:
        from labtui.tui.screens.inventory_forms import edit_object

        if self.obj is not None and await edit_object(self, self.obj) is not None:
            self.load()

    @work(group="object-change")
    async def action_delete(self) -> None:
        from labtui.tui.screens.inventory_forms import delete_object

        if self.obj is not None and await delete_object(self, self.obj):
            self.dismiss()

    @work(group="object-change")
    async def action_reveal(self) -> None:
        from labtui.tui.screens.user_forms import SecretScreen

        obj = self.obj
        if obj is None:
            return
        table = self.query_one("#fields", DataTable)
        under_cursor = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value if table.row_count else None
        name = (
            under_cursor if obj.secrets.get(str(under_cursor)) else next((n for n, s in obj.secrets.items() if s), None)
        )
        if name is None:
            self.notify("No secret value is set", timeout=3)
            return
        value = await self.call(lambda: self.core.inventory.reveal(self.actor, obj.id, str(name)))
        if value is None:
            return
        self.app.push_screen(
            SecretScreen(
                f"{obj.type_label} {obj.title}: {name}",
                "Revealed for you (and recorded in the audit log, without the value). "
                "It stays only in this window: copy it now (c) if you need it.",
                value,
            )
        )

    @work(group="object-change")
    async def action_tags(self) -> None:
        from labtui.tui.screens.inventory_tags import edit_object_tags

        if self.obj is not None and await edit_object_tags(self, self.obj):
            self.load()

    def action_acl(self) -> None:
        from labtui.tui.screens.inventory_acl import AclScreen

        if self.obj is not None:
            self.app.push_screen(AclScreen(self.obj))

    @work(group="object-change")
    async def action_run_action(self) -> None:
        from labtui.tui.screens.inventory_actions import run_action

        if self.obj is not None:
            await run_action(self, self.obj.type, self.obj)

    @work(group="object-change")
    async def action_ssh(self) -> None:
        from labtui.tui.screens.inventory_actions import open_ssh

        if self.obj is not None:
            await open_ssh(self, self.obj)
