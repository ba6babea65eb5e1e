"""Services: the lab's services with their last job; the detail screen deploys, stops and
runs scripts, each opening the job's live log."""

from __future__ import annotations

from typing import Any

from textual import on, work
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.widgets import DataTable, Input, Static

from labtui.core.instances import STOP_ALL_PHRASE
from labtui.core.jobs.queue import JobInfo
from labtui.core.permissions_catalog import Perm
from labtui.core.services import ServiceInfo
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.base import LabScreen
from labtui.tui.screens.job_log import JobLogScreen
from labtui.tui.screens.jobs import JobsScreen, ago
from labtui.tui.screens.run_form import RunScriptForm
from labtui.tui.screens.table_screen import FilteredTableScreen
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable


def last_job_text(job: JobInfo | None) -> str:
    if job is None:
        return "—"
    return f"{job.status} {ago(job.started_at or job.created_at)} by {job.username}"


class ServicesScreen(FilteredTableScreen):
    SCREEN_HELP = (
        "The lab's services (folders under services/ with a deploy.sh or deploy.yml). Enter "
        "opens one; d deploys the selected service straight away. S stops every instance of "
        "the lab (the lab's stop-instances.yaml with no service filter) once you type 'stop all'."
    )

    ACTIONS = (
        ScreenAction("d", "deploy", "Deploy", "Deploy the selected service straight away"),
        ScreenAction("r", "reload", "Reload", "Read the services again"),
        ScreenAction(
            "S",
            "stop_all",
            "Stop all",
            "Stop every instance of the lab (type 'stop all' to confirm)",
            permission=Perm.SYSTEM_STOP_ALL,
            palette="Stop all instances",
        ),
    )

    def __init__(self) -> None:
        super().__init__()
        self.services: list[ServiceInfo] = []
        self.last: dict[str, JobInfo] = {}
        self.health: dict[str, str] = {}
        self.text = ""

    def compose(self) -> ComposeResult:
        yield Static("Services", id="title")
        yield Input(placeholder="filter services", id="filter")
        table: DataTable[str] = LabTable(cursor_type="row", zebra_stripes=True)
        table.add_columns("Service", "Scripts", "Last job", "Deployed", "Health")
        yield table
        yield LabFooter()

    def on_mount(self) -> None:
        self.query_one(DataTable).focus()
        self.load()

    @work(exclusive=True, group="services-load")
    async def load(self) -> None:
        services = await self.call(lambda: self.core.services.list(self.actor))
        if services is None:
            return
        self.services = services
        names = [svc.name for svc in services]
        self.last = await self.call(lambda: self.core.jobs.latest_by_service(self.actor, names)) or {}
        if self.can(Perm.HEALTH_VIEW):
            from labtui.tui.screens.health import read_statuses

            statuses = await read_statuses(self)
            self.health = {h.name: h.status for h in statuses or []}
        self.render_rows()

    def render_rows(self) -> None:
        from labtui.tui.screens.health_shared import status_text, theme_colours

        table = self.query_one(DataTable)
        selected = table.cursor_row
        table.clear()
        colours = theme_colours(self.app)
        for svc in self.services:
            if self.text and self.text not in svc.name.lower():
                continue
            scripts = ", ".join(s.name for s in svc.scripts)
            health = status_text(self.health[svc.name], colours) if svc.name in self.health else "—"
            table.add_row(
                svc.name,
                scripts,
                last_job_text(self.last.get(svc.name)),
                "yes" if svc.active_deployment else "",
                health,
                key=svc.name,
            )
        if table.row_count:
            table.move_cursor(row=min(selected, table.row_count - 1))

    def selected(self) -> str | None:
        return self.selected_key()

    @on(DataTable.RowSelected)
    def _open(self) -> None:
        name = self.selected()
        if name:
            self.app.push_screen(ServiceDetailScreen(name))

    def action_reload(self) -> None:
        self.load()

    @work(group="services-action")
    async def action_deploy(self) -> None:
        name = self.selected()
        if name:
            await deploy(self, name, "deploy", {})

    @work(group="services-action")
    async def action_stop_all(self) -> None:
        """CloudLab's Stop all, after the phrase is typed; opens the job's log."""
        from labtui.tui.screens.instances import TypeLabelScreen

        message = (
            "Stop every instance of the lab? The lab's stop-instances.yaml runs for all "
            f"services at once, with no service filter. Type '{STOP_ALL_PHRASE}' to confirm."
        )
        confirm = TypeLabelScreen(message, STOP_ALL_PHRASE, button="Stop all", purpose="to stop every instance")
        if not await self.app.push_screen_wait(confirm):
            return
        job = await self.call(lambda: self.core.instances.stop_all(self.actor, STOP_ALL_PHRASE))
        if job is not None:
            self.app.push_screen(JobLogScreen(job.id))

    def filter_changed(self, text: str) -> None:
        self.text = text.strip().lower()
        self.render_rows()


async def deploy(screen: LabScreen, service: str, script: str, inputs: dict[str, Any]) -> None:
    """Queue a script and open its log (the form-less path: deploy, or scripts without inputs)."""
    job = await screen.call(lambda: screen.core.jobs.run_script(screen.actor, service, script, inputs))
    if job is not None:
        screen.app.push_screen(JobLogScreen(job.id))


class ServiceDetailScreen(LabScreen):
    SCREEN_HELP = (
        "One service: d deploys, x runs one of its scripts (a form asks for its inputs), s stops "
        "it (its stop.yml, or the lab's stop flow), j lists its jobs."
    )

    DEFAULT_CSS = """
    ServiceDetailScreen #head { padding: 0 1; background: $boost; height: auto; }
    ServiceDetailScreen #body { padding: 0 1; height: 1fr; }
    ServiceDetailScreen DataTable { height: auto; max-height: 12; }
    ServiceDetailScreen .section { padding-top: 1; text-style: bold; }
    """

    ACTIONS = (
        ScreenAction("d", "deploy", "Deploy", "Deploy the service"),
        ScreenAction("x", "run_script", "Run script", "Run the selected script (a form asks for its inputs)"),
        ScreenAction("s", "stop", "Stop", "Stop the service: its stop.yml, or the lab's stop flow (asks first)"),
        ScreenAction("j", "jobs", "Jobs", "The service's jobs"),
        ScreenAction("c", "configs", "Configs", "The service's config files"),
        ScreenAction("f", "files", "Files", "The files of its inputs/ and outputs/"),
        ScreenAction("o", "outputs", "Outputs", "What its last deploy left in outputs/"),
    )

    def __init__(self, name: str) -> None:
        super().__init__()
        self.service_name = name
        self.info: ServiceInfo | None = None

    def compose(self) -> ComposeResult:
        yield Static(f"Service {self.service_name}", id="head")
        with Vertical(id="body"):
            yield Static("Scripts", classes="section")
            scripts: DataTable[str] = LabTable(cursor_type="row", id="scripts")
            scripts.add_columns("Script", "Label", "File", "Inputs")
            yield scripts
            yield Static("Recent jobs", classes="section")
            jobs: DataTable[str] = LabTable(cursor_type="row", id="jobs")
            jobs.add_columns("ID", "Action", "Status", "User", "Started")
            yield jobs
        yield LabFooter()

    def on_mount(self) -> None:
        self.query_one("#scripts", DataTable).focus()
        self.load()

    @work(exclusive=True, group="service-load")
    async def load(self) -> None:
        info = await self.call(lambda: self.core.services.get(self.actor, self.service_name))
        if info is None:
            return
        self.info = info
        state = "active deployment" if info.active_deployment else "not deployed"
        warn = f"\n[$warning]{'; '.join(info.warnings)}[/]" if info.warnings else ""
        self.query_one("#head", Static).update(f"[b]{info.name}[/b]  ·  {state}  ·  {info.path}{warn}")
        scripts = self.query_one("#scripts", DataTable)
        scripts.clear()
        for s in info.scripts:
            inputs = ", ".join(f"{i.name}{'*' if i.required else ''}" for i in s.inputs) or "—"
            scripts.add_row(s.name, s.label, s.file, inputs, key=s.name)
        jobs = await self.call(lambda: self.core.jobs.list(self.actor, service=self.service_name, limit=10)) or []
        table = self.query_one("#jobs", DataTable)
        table.clear()
        for job in jobs:
            table.add_row(job.id, job.what, job.status, job.username, ago(job.started_at or job.created_at), key=job.id)

    @on(DataTable.RowSelected, "#jobs")
    def _open_job(self, event: DataTable.RowSelected) -> None:
        self.app.push_screen(JobLogScreen(str(event.row_key.value)))

    @on(DataTable.RowSelected, "#scripts")
    def _run_selected(self) -> None:
        self.action_run_script()

    @work(group="service-action")
    async def action_deploy(self) -> None:
        await deploy(self, self.service_name, "deploy", {})

    def action_run_script(self) -> None:
        if self.info is None:
            return
        table = self.query_one("#scripts", DataTable)
        name = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value if table.row_count else "deploy"
        script = self.info.script(str(name))

        async def run(inputs: dict[str, Any]) -> JobInfo:
            return await self.core.jobs.run_script(self.actor, self.service_name, script.name, inputs)

        def opened(job: JobInfo | None) -> None:
            if job is not None:
                self.app.push_screen(JobLogScreen(job.id))

        deployments = self.core.services.active_deployments()
        self.app.push_screen(RunScriptForm(self.service_name, script, run, deployments), opened)

    @work(group="service-action")
    async def action_stop(self) -> None:
        from labtui.tui.widgets.confirm import ConfirmScreen

        if not await self.app.push_screen_wait(ConfirmScreen(f"Stop {self.service_name}?", "Stop")):
            return
        job = await self.call(lambda: self.core.jobs.stop(self.actor, self.service_name))
        if job is not None:
            self.app.push_screen(JobLogScreen(job.id))

    def action_jobs(self) -> None:
        self.app.push_screen(JobsScreen(f"service:{self.service_name}"))

    def action_configs(self) -> None:
        from labtui.tui.screens.configs import ConfigsScreen

        self.app.push_screen(ConfigsScreen(self.service_name))

    def action_files(self) -> None:
        from labtui.tui.screens.files import FilesScreen

        self.app.push_screen(FilesScreen(self.service_name))

    def action_outputs(self) -> None:
        from labtui.tui.screens.outputs import OutputsScreen

        self.app.push_screen(OutputsScreen(self.service_name))
