"""SVG screenshots of the main screens, made from the demo lab on a throw-away data dir.

``labtui screenshots DIR`` calls :func:`take_screenshots`. Everything is real: a Core is
started on a temporary home with the demo config, a few accounts and audit records are
made through core, and the app is driven headless with Textual's ``run_test``. What varies
between runs (timestamps) is pinned so the pictures only change when the screens do.
"""

from __future__ import annotations

import datetime as dt
import logging
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, Self

from textual.pilot import Pilot
from textual.widgets import DataTable, Input

from labtui.core.actor import Actor
from labtui.core.config import load_config
from labtui.core.errors import AuthError
from labtui.core.runtime import Core, Paths
from labtui.testing.fakes.cloudflare import DEFAULT_TOKEN, ZONE_ID, FakeCloudflare
from labtui.testing.fakes.ssh_server import FakeSshServer
from labtui.testing.fakes.vultr import DEFAULT_KEY, FakeVultr, instance
from labtui.tui.app import LabApp
from labtui.tui.widgets.lab_table import LabTable

log = logging.getLogger("labtui.screenshots")

SIZE = (120, 36)
#: The pinned clock of the pictures.
EPOCH = dt.datetime(2025, 6, 2, 9, 0, tzinfo=dt.UTC)
PASSWORD = "pw-Admin-123"


async def _until(pilot: Pilot[None], predicate: Callable[[], bool], timeout: float = 10.0) -> None:
    loop_time = 0.0
    while not predicate():
        if loop_time > timeout:
            raise TimeoutError(f"screen did not settle (showing {type(pilot.app.screen).__name__})")
        await pilot.pause(0.05)
        loop_time += 0.05


async def _settle(pilot: Pilot[None]) -> None:
    """Wait for the screen's loading workers, then for the repaint."""
    app = pilot.app
    await pilot.pause(0.1)
    await app.workers.wait_for_complete()
    await pilot.pause(0.1)
    for box in app.screen.query(Input):
        box.cursor_blink = False
    app.clear_notifications()  # a toast of the moment would cover the rows under it
    await pilot.pause()


async def _still(pilot: Pilot[None]) -> None:
    """For screens that keep live workers (refresh timers): a fixed moment to draw, instead
    of waiting for every worker to end."""
    await pilot.pause(0.5)
    for box in pilot.app.screen.query(Input):
        box.cursor_blink = False
    pilot.app.clear_notifications()
    await pilot.pause()


def _dashboard_loaded(app: LabApp) -> bool:
    from textual.widgets import Static

    whoami, recent = app.screen.query("#whoami").results(Static), app.screen.query("#dash-recent").results(DataTable)
    return any("roles:" in str(w.content) for w in whoami) and any(t.row_count for t in recent)


def _tables_filled(app: LabApp) -> bool:
    tables = list(app.screen.query(DataTable))
    return bool(tables) and all(t.row_count for t in tables)


def _save(app: LabApp, out_dir: Path, name: str, written: list[Path]) -> None:
    # Rows put in by a refresh a moment ago are measured when the table is next idle: on a
    # busy machine the picture could be taken before, every column cut to a few characters.
    for table in app.screen.query(LabTable):
        table.settle()
    path = out_dir / f"{name}.svg"
    path.write_text(app.export_screenshot(title=f"labtui · {name}"), encoding="utf-8")
    written.append(path)


async def _populate(core: Core) -> Actor:
    """A small, believable lab: an admin, an operator, a viewer, an invitation, a custom
    role, and the audit trail all of that leaves (a failed login included)."""
    await core.auth.create_admin("admin", PASSWORD)
    admin = (await core.auth.login("admin", PASSWORD)).actor
    await core.users.update_profile(admin, display_name="Lab Admin", email="admin@lab.example")
    await core.users.create(admin, "alice", "alice-pass-1", roles=["operator"], email="alice@lab.example")
    await core.users.create(admin, "victor", "victor-pass-1", roles=["viewer"], email="victor@lab.example")
    await core.users.invite(admin, "bob", "bob@lab.example", roles=["operator"])
    await core.rbac.create_role(
        admin, "deployer", "Deploys and stops services", {"services.view", "services.deploy", "jobs.view_own"}
    )
    try:
        await core.auth.login("alice", "not-her-password")
    except AuthError:
        pass
    await core.auth.login("alice", "alice-pass-1")
    return admin


async def _pin_clock(core: Core) -> None:
    """Give every audit record and account fixed times (a minute apart, in order).

    Only for pictures: it writes the throw-away database directly.
    """
    from sqlalchemy import select

    from labtui.core.db.models import AuditRecord, User

    def q(s):
        for i, row in enumerate(s.scalars(select(AuditRecord).order_by(AuditRecord.id))):
            row.created_at = EPOCH + dt.timedelta(minutes=i)
        for i, user in enumerate(s.scalars(select(User).order_by(User.id))):
            user.created_at = user.updated_at = EPOCH + dt.timedelta(minutes=i)
            if user.last_login_at is not None:
                user.last_login_at = EPOCH + dt.timedelta(minutes=10 + i)
            if user.invite_accepted_at is not None:
                user.invite_accepted_at = EPOCH + dt.timedelta(minutes=i)

    await core.db.run(q)


async def _job_screens(
    core: Core, admin: Actor, app: LabApp, pilot: Pilot[None], out_dir: Path, written: list[Path]
) -> None:
    """Services, a service, the script form, jobs, a job log mid-run, schedules and the
    schedule form. Jobs really run (the demo lab's playbooks on localhost)."""
    from labtui.core.schedules import ScheduleSpec
    from labtui.core.workers import start_workers
    from labtui.tui.screens.job_log import JobLogScreen
    from labtui.tui.screens.run_form import RunScriptForm
    from labtui.tui.screens.schedule_form import ScheduleForm
    from labtui.tui.screens.services import ServiceDetailScreen

    await core.schedules.create(admin, ScheduleSpec("nightly-hello", "0 3 * * *", service="hello", tz="Europe/Berlin"))
    await core.schedules.create(
        admin,
        ScheduleSpec("greet-weekdays", "*/15 9-17 * * 1-5", service="greet", script="greet", inputs={"name": "team"}),
    )
    workers = await start_workers(core)
    try:
        done = await core.jobs.run_script(admin, "hello")
        await core.jobs.wait(admin, done.id, timeout=120)
        await core.jobs.run_script(admin, "greet", "greet", {"name": "Ada", "mood": "happy"})
        running = await core.jobs.run_script(admin, "slow")
        for _ in range(300):
            job = await core.jobs.get(admin, running.id)
            if job.status == "running" and job.output_lines >= 4:
                break
            await pilot.pause(0.1)

        async def shot(name: str) -> None:
            await _still(pilot)
            _save(app, out_dir, name, written)

        app.open_screen("services")
        await _until(pilot, lambda: type(app.screen).__name__ == "ServicesScreen" and _tables_filled(app))
        await shot("services")
        app.push_screen(ServiceDetailScreen("greet"))
        await _until(pilot, lambda: isinstance(app.screen, ServiceDetailScreen))
        await shot("service_detail")
        detail = app.screen
        assert isinstance(detail, ServiceDetailScreen)
        info = await core.services.get(admin, "greet")
        app.push_screen(
            RunScriptForm(
                "greet", info.script("greet"), lambda inputs: core.jobs.run_script(admin, "greet", "greet", inputs)
            )
        )
        await _until(pilot, lambda: isinstance(app.screen, RunScriptForm))
        await shot("script_form")
        app.pop_screen()
        app.open_screen("jobs")
        await _until(pilot, lambda: type(app.screen).__name__ == "JobsScreen" and _tables_filled(app))
        await pilot.pause(1.2)
        await shot("jobs")
        app.push_screen(JobLogScreen(running.id))
        await _until(pilot, lambda: isinstance(app.screen, JobLogScreen))
        await pilot.pause(0.5)
        await shot("job_log")
        app.open_screen("schedules")
        await _until(pilot, lambda: type(app.screen).__name__ == "SchedulesScreen" and _tables_filled(app))
        await shot("schedules")
        await pilot.press("e")
        await _until(pilot, lambda: isinstance(app.screen, ScheduleForm))
        await shot("schedule_form")
        await pilot.press("escape")
        await core.jobs.cancel(admin, running.id)
        await _config_diff(core, admin, app, pilot, out_dir, written)
    finally:
        await workers.stop(requeue=False)


async def _config_diff(
    core: Core, admin: Actor, app: LabApp, pilot: Pilot[None], out_dir: Path, written: list[Path]
) -> None:
    """A config file's history with the diff of its newest version."""
    from labtui.tui.screens.configs import ConfigHistoryScreen

    current = await core.configs.read(admin, "hello", "config.yaml")
    changed = current.text.replace("port: 8080", "port: 8081") + "timeout_seconds: 30\n"
    await core.configs.save(admin, "hello", "config.yaml", changed, "longer timeout")
    app.push_screen(ConfigHistoryScreen("hello", "config.yaml"))
    await _until(pilot, lambda: isinstance(app.screen, ConfigHistoryScreen))
    await pilot.pause(0.8)
    _save(app, out_dir, "config_diff", written)
    app.pop_screen()


async def _health_screens(
    core: Core, admin: Actor, app: LabApp, pilot: Pilot[None], out_dir: Path, written: list[Path]
) -> None:
    """The health screen and a check's history, on the demo lab's checks of this machine.

    The demo's web check is answered by a local HTTP server on its port 8000 (when free); a
    few hours of earlier results are written into the throw-away database for the
    pictures (with one outage, so the history has transitions to show), then one real
    poller tick checks everything now."""
    import random
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from sqlalchemy import insert

    from labtui.core.db.base import utcnow
    from labtui.core.db.health import HealthCheckResult, HealthCheckState
    from labtui.core.health import LEASE_NAME
    from labtui.core.leases import Lease
    from labtui.tui.screens.health import HealthScreen
    from labtui.tui.screens.health_history import HealthHistoryScreen

    class Quiet(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: object) -> None:
            return

    server: ThreadingHTTPServer | None = None
    try:
        server = ThreadingHTTPServer(("127.0.0.1", 8000), Quiet)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()
    except OSError:
        log.warning("port 8000 is taken: the demo's web check shows whatever answers there")
    try:
        defs = await core.health.ensure_loaded()
        rng = random.Random(7)
        now = utcnow()
        rows: list[dict[str, object]] = []
        states: list[dict[str, object]] = []
        for check in defs.checks.values():
            previous = "unknown"
            for i in range(24, 0, -1):  # one result every 5 minutes for the last two hours
                down = check.name == "web" and 9 <= i <= 11
                status = "unhealthy" if down else "healthy"
                rows.append(
                    {
                        "service_name": check.service,
                        "check_name": check.name,
                        "status": status,
                        "outcome": status,
                        "previous_status": previous,
                        "check_type": check.type,
                        "target": check.url or f"{check.host}:{check.port or ''}".rstrip(":"),
                        "response_time_ms": None
                        if down
                        else round(rng.uniform(0.4, 2.5) * (3 if check.type == "http" else 1), 2),
                        "status_code": None if down or check.type != "http" else 200,
                        "error_message": "Timeout after 3s" if down else None,
                        "checked_at": now - dt.timedelta(minutes=5 * i),
                    }
                )
                previous = status
            # Where the poller would be after those results, so the real tick continues them.
            since = now - dt.timedelta(minutes=40 if check.name == "web" else 120)
            states.append(
                {
                    "service_name": check.service,
                    "check_name": check.name,
                    "status": "healthy",
                    "since": since,
                    "consecutive_successes": 8,
                    "last_checked_at": now - dt.timedelta(minutes=5),
                    "last_outcome": "healthy",
                    "last_latency_ms": rows[-1]["response_time_ms"],
                    "target": rows[-1]["target"],
                }
            )

        def seed(s: Any) -> None:
            s.execute(insert(HealthCheckResult), rows)
            s.execute(insert(HealthCheckState), states)

        await core.db.run(seed)
        await core.health.poller(Lease(core.db, LEASE_NAME, seconds=30, holder="screenshots"), jitter=0).tick()
        await core.health.silence(admin, "this-machine", "ssh", now + dt.timedelta(hours=4), "sshd upgrade")

        app.open_screen("health")
        await _until(pilot, lambda: isinstance(app.screen, HealthScreen) and app.screen.stats_loads > 0)
        screen = app.screen
        await pilot.pause(0.3)
        for box in screen.query(Input):
            box.cursor_blink = False
        _save(app, out_dir, "health", written)
        table = screen.query_one(DataTable)
        table.move_cursor(row=next(i for i in range(table.row_count) if str(table.get_row_at(i)[1]) == "web"))
        await pilot.press("enter")
        await _until(pilot, lambda: isinstance(app.screen, HealthHistoryScreen) and app.screen.loaded)
        await pilot.pause(0.3)
        _save(app, out_dir, "health_history", written)
        app.pop_screen()
    finally:
        if server is not None:
            server.shutdown()
            server.server_close()


class _CloudFakes:
    """The fake Vultr and Cloudflare (:mod:`labtui.testing.fakes`), filled with a lab's worth
    of instances and records."""

    def __init__(self) -> None:
        self.vultr, self.cloudflare = FakeVultr(), FakeCloudflare()
        machines = [
            ("web-1", "web", "fra", "vc2-1c-2gb", ["svc:web"]),
            ("web-2", "web", "fra", "vc2-1c-2gb", ["svc:web"]),
            ("db-primary", "db", "fra", "vc2-2c-4gb", ["svc:postgres"]),
            ("db-replica", "db", "ams", "vc2-2c-4gb", ["svc:postgres"]),
            ("ci-runner-1", "ci", "ewr", "vc2-4c-8gb", ["svc:ci"]),
            ("ci-runner-2", "ci", "ewr", "vc2-4c-8gb", ["svc:ci"]),
            ("grafana", "mon", "ams", "vc2-1c-1gb", ["svc:monitoring"]),
            ("prometheus", "mon", "ams", "vc2-1c-2gb", ["svc:monitoring"]),
            ("bastion", "ops", "fra", "vc2-1c-1gb", []),
            ("vpn-gw", "ops", "fra", "vc2-1c-1gb", ["svc:vpn"]),
            ("scratch-ada", "dev", "lhr", "vc2-1c-2gb", ["owner:ada"]),
            ("gpu-test", "dev", "ewr", "vc2-6c-16gb", ["owner:ada"]),
        ]
        for i, (label, _, region, plan, tags) in enumerate(machines):
            inst = instance(
                i, region=region, plan=plan, tags=tags, power_status="stopped" if label == "gpu-test" else "running"
            )
            inst.update(label=label, hostname=f"{label}.lab.example.com", main_ip=f"203.0.113.{10 + i}")
            self.vultr.instances[inst["id"]] = inst
        self.vultr.plans.update(
            {"vc2-1c-1gb": 5.0, "vc2-1c-2gb": 10.0, "vc2-2c-4gb": 20.0, "vc2-4c-8gb": 40.0, "vc2-6c-16gb": 80.0}
        )
        for kind, name, content, ttl, proxied in (
            ("A", "www", "203.0.113.10", 1, True),
            ("A", "web-2", "203.0.113.11", 3600, False),
            ("AAAA", "www", "2001:db8::10", 1, True),
            ("CNAME", "docs", "www.lab.example.com", 300, False),
            ("TXT", "@", "v=spf1 include:_spf.lab.example.com -all", 1, False),
            ("A", "grafana", "203.0.113.16", 1, False),
        ):
            self.cloudflare.add_record(kind, name, content, ttl, proxied)

    def __enter__(self) -> Self:
        self.vultr.__enter__()
        self.cloudflare.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self.cloudflare.__exit__(*exc)
        self.vultr.__exit__(*exc)

    def configure(self, config: Any) -> None:
        config.vultr.base_url, config.vultr.api_key = self.vultr.base_url, DEFAULT_KEY
        config.cloudflare.base_url, config.cloudflare.api_token = self.cloudflare.base_url, DEFAULT_TOKEN
        config.cloudflare.zone_id = ZONE_ID


async def _cloud_screens(
    core: Core, admin: Actor, app: LabApp, pilot: Pilot[None], out_dir: Path, written: list[Path]
) -> None:
    """Instances (with the costs panel) and DNS records, from the fake Vultr and Cloudflare."""
    from labtui.tui.screens.dns import DnsScreen
    from labtui.tui.screens.instances import InstancesScreen

    await core.instances.refresh(admin)
    app.open_screen("instances")
    await _until(pilot, lambda: isinstance(app.screen, InstancesScreen) and app.screen.listing is not None)
    await pilot.press("c")
    await pilot.pause(0.5)
    _save(app, out_dir, "instances", written)
    app.open_screen("dns")
    await _until(
        pilot, lambda: isinstance(app.screen, DnsScreen) and any(t.row_count for t in app.screen.query(DataTable))
    )
    await _still(pilot)
    _save(app, out_dir, "dns", written)


async def _inventory_screens(
    core: Core, admin: Actor, app: LabApp, pilot: Pilot[None], out_dir: Path, written: list[Path]
) -> None:
    """The inventory (servers when Vultr synced some, else services), one object's detail and
    its access rules (an allow and a deny)."""
    from labtui.tui.screens.inventory import InventoryScreen
    from labtui.tui.screens.inventory_acl import AclScreen
    from labtui.tui.screens.inventory_detail import ObjectDetailScreen

    slug = "server" if (await core.inventory.list(admin, type="server", limit=1)).items else "service"
    objects = (await core.inventory.list(admin, type=slug, limit=100)).items
    chosen = next((o for o in objects if o.title.startswith("web-1")), objects[-1])
    await core.inventory.tags.create(admin, "prod", "#d9534f")
    await core.inventory.tags.tag(admin, chosen.id, ["prod"])
    await core.inventory.acl.set_entry(admin, chosen.id, "operator", "ssh", "allow")
    await core.inventory.acl.set_entry(admin, chosen.id, "viewer", "view", "deny")

    app.push_screen(InventoryScreen(slug))
    await _until(pilot, lambda: isinstance(app.screen, InventoryScreen) and app.screen.loaded)
    await _still(pilot)
    _save(app, out_dir, "inventory", written)
    app.push_screen(ObjectDetailScreen(chosen.id))
    await _until(pilot, lambda: isinstance(app.screen, ObjectDetailScreen) and app.screen.obj is not None)
    await pilot.pause(0.5)
    _save(app, out_dir, "object_detail", written)
    await pilot.press("a")
    await _until(pilot, lambda: isinstance(app.screen, AclScreen) and bool(app.screen.entries))
    await _still(pilot)
    _save(app, out_dir, "acl_editor", written)
    app.pop_screen()
    app.pop_screen()
    app.pop_screen()


async def _terminal_screens(app: LabApp, pilot: Pilot[None], out_dir: Path, written: list[Path]) -> None:
    """The terminal pane on a real shell (the fake SSH server on 127.0.0.1): a
    command's output, then ``top`` drawing full-screen."""
    from labtui.core.sshclient import SshTarget
    from labtui.tui.screens.terminal import TerminalScreen
    from labtui.tui.widgets.terminal import TerminalPane

    with tempfile.TemporaryDirectory(prefix="labtui-sshd-") as tmp:
        server = FakeSshServer(Path(tmp))
        await server.start()
        try:
            target = SshTarget("127.0.0.1", server.port, "root", str(server.client_key_file), name="web-1")
            await app.push_screen(TerminalScreen([target]))
            pane = app.screen.query_one(TerminalPane)

            def lines() -> list[str]:
                return [line.rstrip() for line in pane.screen_text().splitlines()]

            await _until(pilot, lambda: pane.state == "open" and lines()[-1:] == ["$"], timeout=30)

            async def run(command: str, *, wait: bool = True) -> None:
                """Typed key by key, as a person does; then until the prompt is back."""
                await pilot.press(*["space" if c == " " else c for c in command], "enter")
                if wait:
                    await _until(pilot, lambda: f"$ {command}" in lines() and lines()[-1] == "$", timeout=30)

            for command in ("echo hello from web-1", "uname -sm", "ls -1 /etc | head -5"):
                await run(command)
            _save(app, out_dir, "terminal", written)
            if shutil.which("top"):
                await run("top -d 5", wait=False)
                await _until(pilot, lambda: "PID" in pane.screen_text(), timeout=30)
                await pilot.pause(0.5)
                _save(app, out_dir, "terminal_top", written)
                await pilot.press("q")
                await _until(pilot, lambda: lines()[-1:] == ["$"], timeout=30)
            app.pop_screen()
        finally:
            await server.stop()


async def _ssh_screen(core: Core, out_dir: Path, written: list[Path]) -> None:
    """labtui as alice sees it through ``ssh``: a real ``serve --ssh`` hub on 127.0.0.1, a
    real SSH client, the session's output drawn by a terminal emulator."""
    import sys

    from labtui.devtools.ssh_screen import screenshot
    from labtui.ssh.server import SshHub

    hub = SshHub(core, [sys.executable, "-m", "labtui", "--home", str(core.paths.home)])
    await hub.start("127.0.0.1", 0)
    try:
        path = out_dir / "ssh_session.svg"
        await screenshot(
            "127.0.0.1",
            hub.port,
            "alice",
            path,
            password="alice-pass-1",
            size=SIZE,
            keys=[(b"\r", "greet")],
            title="labtui over ssh: ssh -t -p 2222 alice@bastion",
        )
        written.append(path)
    finally:
        await hub.stop()


async def take_screenshots(
    out_dir: Path, *, size: tuple[int, int] = SIZE, on_skip: Callable[[str], None] | None = None
) -> list[Path]:
    """Write setup, login, dashboard, users, roles and audit SVGs into ``out_dir``.

    A screen that cannot be opened yet (its module missing) is skipped and reported
    through ``on_skip``. Returns the files written.
    """
    from labtui.tui.screens.dashboard import DashboardScreen
    from labtui.tui.screens.login import LoginScreen
    from labtui.tui.screens.setup import SetupScreen

    skip = on_skip or (lambda message: log.warning("%s", message))
    out_dir.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    clouds = _CloudFakes()
    with tempfile.TemporaryDirectory(prefix="labtui-screenshots-") as tmp, clouds:
        # Log to the throw-away home like a real run does (and not onto the terminal).
        handler = logging.FileHandler(Path(tmp) / "labtui.log")
        logging.getLogger("labtui").addHandler(handler)
        config = load_config(None)
        clouds.configure(config)
        core = Core(config, Paths(Path(tmp)))
        try:
            await core.start()

            app = LabApp(core)
            async with app.run_test(size=size) as pilot:
                await _until(pilot, lambda: isinstance(app.screen, SetupScreen))
                await _settle(pilot)
                _save(app, out_dir, "setup", written)

            admin = await _populate(core)
            await _pin_clock(core)

            app = LabApp(core)
            async with app.run_test(size=size) as pilot:
                await _until(pilot, lambda: isinstance(app.screen, LoginScreen) and bool(app.screen.query("#password")))
                app.screen.query_one("#username", Input).value = "admin"
                app.screen.query_one("#password", Input).value = PASSWORD
                app.screen.query_one("#password", Input).focus()
                await _settle(pilot)
                _save(app, out_dir, "login", written)

            # Signed in as the session made above, so no new (unpinned) login record appears.
            app = LabApp(core, actor=admin)
            async with app.run_test(size=size) as pilot:
                await _until(pilot, lambda: isinstance(app.screen, DashboardScreen) and _dashboard_loaded(app))
                await _settle(pilot)
                _save(app, out_dir, "dashboard", written)
                for name in ("users", "roles", "audit"):
                    if not app.open_screen(name):
                        skip(f"{name}: the screen cannot be opened yet, no screenshot")
                        continue
                    # Loaded means every table shows rows (a busy machine may not have begun loading
                    # by the time the settle's workers are awaited).
                    await _until(
                        pilot,
                        lambda: not isinstance(app.screen, DashboardScreen) and _tables_filled(app),
                    )
                    await _settle(pilot)
                    _save(app, out_dir, name, written)
                    app.open_screen("dashboard")
                    await _until(pilot, lambda: isinstance(app.screen, DashboardScreen))
                await _job_screens(core, admin, app, pilot, out_dir, written)
                await _health_screens(core, admin, app, pilot, out_dir, written)
                await _cloud_screens(core, admin, app, pilot, out_dir, written)
                await _inventory_screens(core, admin, app, pilot, out_dir, written)
                await _terminal_screens(app, pilot, out_dir, written)
            await _ssh_screen(core, out_dir, written)
        finally:
            await core.aclose()
            logging.getLogger("labtui").removeHandler(handler)
            handler.close()
    return written
