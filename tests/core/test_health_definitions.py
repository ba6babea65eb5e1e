"""health.yaml loading: CloudLab's keys and defaults, labtui's extensions, problems reported
by file, line and key while the rest loads, and reload reporting what changed."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from labtui.core.actor import Actor
from labtui.core.config import Config, LabConfig
from labtui.core.db.models import AuditRecord
from labtui.core.errors import PermissionDenied
from labtui.core.health.definitions import load_definitions
from tests.conftest import MakeCore, add_user


def write(lab: Path, rel: str, text: str) -> Path:
    path = lab / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_cloudlab_file_loads_with_cloudlab_defaults(tmp_path: Path) -> None:
    write(
        tmp_path,
        "services/web/health.yaml",
        "checks:\n"
        "  - name: ui\n"
        "  - {name: port, type: tcp}\n"
        "  - {name: ping, type: icmp}\n"
        "  - {name: cmd, type: ssh_command}\n",
    )
    defs = load_definitions(tmp_path)
    assert defs.problems == [] and defs.warnings == []
    svc = defs.services["web"]
    assert svc.interval == 60 and svc.notify is False and svc.recipients == ()
    ui, port, ping, cmd = svc.checks
    assert (ui.type, ui.path, ui.method, ui.expected_status, ui.timeout, ui.tls_verify) == (
        "http",
        "/",
        "GET",
        200,
        10,
        True,
    )
    assert (ui.fail_after, ui.recover_after, ui.interval, ui.explicit) == (1, 1, 60, False)
    assert (port.port, port.timeout) == (443, 5)
    assert ping.timeout == 5
    assert (cmd.command, cmd.expected_output, cmd.user, cmd.timeout) == ("echo ok", "", "", 10)
    assert [c.key for c in svc.checks] == ["web/ui", "web/port", "web/ping", "web/cmd"]


def test_extended_form_and_lab_root_files(tmp_path: Path) -> None:
    write(
        tmp_path,
        "services/app/health.yaml",
        "interval: 30\n"
        "notifications: {enabled: true, recipients: [ops@example.org]}\n"
        "checks:\n"
        '  - {name: web, type: http, url: "http://127.0.0.1:8080/", expected_status: 200, fail_after: 2}\n'
        "  - {name: db, type: tcp, host: 127.0.0.1, port: 5432, timeout: 3}\n"
        "  - {name: api, type: http, url: 'https://api.example.org/x', body_regex: 'ok|fine', interval: 5, recover_after: 3}\n"
        "  - {name: sh, type: ssh_command, host: 10.0.0.5, user: deploy, command: uptime, expected_output: load}\n",
    )
    write(tmp_path, "health/router.yaml", "checks:\n  - {name: ping, type: icmp, host: 192.0.2.1}\n")
    write(tmp_path, "health/notes.txt", "not a definition\n")
    defs = load_definitions(tmp_path)
    assert defs.problems == []
    assert sorted(defs.services) == ["app", "router"]
    app = defs.services["app"]
    assert app.interval == 30 and app.notify and app.recipients == ("ops@example.org",)
    web, db, api, sh = app.checks
    assert web.url == "http://127.0.0.1:8080/" and web.fail_after == 2 and web.interval == 30 and web.explicit
    assert (db.host, db.port, db.timeout, db.explicit) == ("127.0.0.1", 5432, 3, True)
    assert (api.body_regex, api.interval, api.recover_after) == ("ok|fine", 5, 3)
    assert (sh.user, sh.command, sh.expected_output) == ("deploy", "uptime", "load")
    assert defs.services["router"].checks[0].host == "192.0.2.1"
    assert defs.services["router"].file == "health/router.yaml"


def test_problems_name_file_line_and_key_and_the_rest_loads(tmp_path: Path) -> None:
    write(
        tmp_path,
        "services/shop/health.yaml",
        "interval: 30\n"
        "checks:\n"
        "  - name: good\n"
        "    type: tcp\n"
        "    host: 127.0.0.1\n"
        "    port: 80\n"
        "  - name: badurl\n"
        "    type: http\n"
        "    url: 'htp:/nowhere'\n"
        "  - name: weird\n"
        "    type: smtp\n"
        "  - {name: good, type: icmp}\n"
        "  - {name: slow, type: tcp, port: 99999}\n"
        "  - {name: rx, type: http, body_regex: '([unclosed'}\n"
        "  - {name: n, type: tcp, fail_after: 0}\n"
        "  - {name: extra, type: tcp, colour: blue}\n",
    )
    write(tmp_path, "services/broken/health.yaml", "checks: [unclosed\n")
    write(tmp_path, "services/nochecks/health.yaml", "interval: 10\n")
    write(
        tmp_path,
        "services/notify/health.yaml",
        "notifications: {enabled: yes-please}\nchecks: [{name: a, type: icmp}]\n",
    )
    defs = load_definitions(tmp_path)
    text = [str(p) for p in defs.problems]
    assert "services/shop/health.yaml:9: checks[1].url: check 'badurl': bad URL 'htp:/nowhere'" in "\n".join(text)
    assert any(
        t.startswith("services/shop/health.yaml:11: checks[2].type: check 'weird': unknown type 'smtp'") for t in text
    )
    assert any(
        t.startswith("services/shop/health.yaml:12: checks[3].name: check 'good' is defined twice") for t in text
    )
    assert any(t.startswith("services/shop/health.yaml:13: checks[4].port:") for t in text)
    assert any(t.startswith("services/shop/health.yaml:14: checks[5].body_regex:") for t in text)
    assert any(t.startswith("services/shop/health.yaml:15: checks[6].fail_after:") for t in text)
    assert any(t.startswith("services/broken/health.yaml:2: invalid YAML") for t in text)
    assert any(t.startswith("services/nochecks/health.yaml:1: checks: missing") for t in text)
    assert any(t.startswith("services/notify/health.yaml:1: notifications.enabled:") for t in text)
    # Unknown keys are warnings (CloudLab ignored them); the check still loads.
    assert [str(w) for w in defs.warnings] == [
        "services/shop/health.yaml:16: checks[7].colour: check 'extra': key not used by a tcp check, ignored"
    ]
    # Everything valid loaded: the good checks of shop, and notify's check (with notifications off).
    assert [c.name for c in defs.services["shop"].checks] == ["good", "extra"]
    assert defs.services["notify"].notify is False and len(defs.services["notify"].checks) == 1
    assert "broken" not in defs.services and "nochecks" not in defs.services


def test_lab_root_file_cannot_redefine_a_service(tmp_path: Path) -> None:
    write(tmp_path, "services/web/health.yaml", "checks: [{name: a, type: icmp, host: 127.0.0.1}]\n")
    write(tmp_path, "health/web.yaml", "checks: [{name: b, type: icmp, host: 127.0.0.1}]\n")
    defs = load_definitions(tmp_path)
    assert [c.name for c in defs.services["web"].checks] == ["a"]
    assert "health/web.yaml:1: service 'web' is already defined by services/web/health.yaml" in str(defs.problems[0])


async def test_reload_reports_added_changed_removed_and_is_audited(make_core: MakeCore, tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    write(
        lab,
        "services/web/health.yaml",
        "checks:\n  - {name: a, type: tcp, host: 127.0.0.1, port: 1}\n  - {name: b, type: icmp, host: 127.0.0.1}\n",
    )
    core = await make_core(Config(lab=LabConfig(checkout=str(lab))))
    first = await core.health.load()
    assert first.added == ["web/a", "web/b"]
    await core.auth.create_admin("admin", "pw-Admin-123")
    admin = (await core.auth.login("admin", "pw-Admin-123")).actor

    write(
        lab,
        "services/web/health.yaml",
        "checks:\n  - {name: a, type: tcp, host: 127.0.0.1, port: 2}\n  - {name: c, type: icmp, host: 127.0.0.1}\n",
    )
    write(lab, "health/edge.yaml", "checks:\n  - {name: p, type: icmp, host: 127.0.0.1}\n  - {name: bad, type: nope}\n")
    report = await core.health.reload(admin)
    assert (report.added, report.changed, report.removed) == (["edge/p", "web/c"], ["web/a"], ["web/b"])
    assert report.services == ["edge", "web"] and report.count == 2
    assert [p.key for p in report.problems] == ["checks[1].type"]
    assert sorted(core.health.definitions.checks) == ["edge/p", "web/a", "web/c"]

    again = await core.health.reload(admin)
    assert (again.added, again.changed, again.removed) == ([], [], [])

    # Another process (a second Core on the same data dir) sees the same baseline.
    other = await make_core(Config(lab=LabConfig(checkout=str(lab))))
    assert (await other.health.load()).added == []

    rows = await core.db.run(
        lambda s: list(s.scalars(select(AuditRecord).where(AuditRecord.action == "health.reload")))
    )
    assert len(rows) == 2 and rows[0].username == "admin" and '"removed": ["web/b"]' in rows[0].detail


async def test_permissions_view_and_manage(make_core: MakeCore, tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    write(lab, "health/edge.yaml", "checks:\n  - {name: p, type: tcp, host: 127.0.0.1, port: 1}\n")
    core = await make_core(Config(lab=LabConfig(checkout=str(lab))))
    await core.auth.create_admin("admin", "pw-Admin-123")
    admin = (await core.auth.login("admin", "pw-Admin-123")).actor
    viewer = await add_user(core, admin, "vera", "viewer")
    await core.rbac.create_role(admin, "nobody", "", set())
    nobody = await add_user(core, admin, "nora", "nobody")

    statuses = await core.health.status(viewer)
    assert [c.key for c in statuses[0].checks] == ["edge/p"]
    await core.health.history(viewer, "edge")
    for call in (
        core.health.reload(viewer),
        core.health.check_now(viewer, "edge", "p"),
        core.health.status(nobody),
        core.health.first_page(nobody, 10),
        core.health.history(nobody, "edge"),
    ):
        with pytest.raises(PermissionDenied):
            await call
    result = await core.health.check_now(Actor.system("test"), "edge", "p")
    assert result.status == "unhealthy"


async def test_demo_lab_health_files_load_cleanly_and_services_wait_for_an_instance(make_core: MakeCore) -> None:
    """The bundled demo: its services' health.yaml files are CloudLab-format (targets from
    the instance cache), so with nothing deployed only the lab-root explicit checks run;
    startup reports no problem."""
    from labtui.core.health import LEASE_NAME
    from labtui.core.leases import Lease

    core = await make_core()
    assert core.startup_report == []
    defs = core.health.definitions
    assert defs.problems == [] and defs.warnings == []
    service_checks = [c for svc in ("hello", "greet") for c in defs.services[svc].checks]
    assert {c.key for c in service_checks} == {"hello/web", "hello/ping", "greet/shell"}
    assert not any(c.explicit for c in service_checks)  # CloudLab's keys only: resolved from the cache
    assert all(c.explicit for c in defs.services["this-machine"].checks)
    poller = core.health.poller(Lease(core.db, LEASE_NAME, seconds=30, holder="t"), jitter=0, max_concurrency=5)
    report = await poller.tick()
    assert report.not_deployed == 3 and report.ran == len(defs.services["this-machine"].checks)
    by_service = {s.name: s.status for s in await core.health.status(Actor.system("t"))}
    assert by_service["hello"] == by_service["greet"] == "unknown"
