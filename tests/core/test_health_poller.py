"""The poller end to end: real local servers, an SMTP sink, a real SQLite file, real leases.

Ticks are called directly (with checks' intervals of 0.2 s) so the tests run in about a second.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import email
import email.policy
import itertools
import json
import socket
from collections.abc import Awaitable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from labtui.core.actor import Actor
from labtui.core.config import CloudlabConfig, Config, EmailConfig, HealthConfig, LabConfig, SmtpConfig
from labtui.core.db.base import utcnow
from labtui.core.db.health import HealthCheckResult, HealthCheckState
from labtui.core.db.models import AuditRecord
from labtui.core.health import LEASE_NAME, HealthPoller, problems_first
from labtui.core.leases import Lease
from labtui.core.runtime import Core
from labtui.testing.clock import ManualClock
from labtui.testing.fakes.http_target import HttpTarget
from tests.conftest import ADMIN_PASSWORD, MakeCore
from tests.waiting import until

INTERVAL = 0.2


def free_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class SmtpSink:
    """aiosmtpd handler keeping every message it receives."""

    def __init__(self) -> None:
        self.messages: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        msg = email.message_from_bytes(envelope.content, policy=email.policy.default)
        self.messages.append((list(envelope.rcpt_tos), msg))  # type: ignore[arg-type]
        return "250 OK"

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for _, m in self.messages]


@pytest.fixture
def smtp() -> Iterator[tuple[SmtpSink, int]]:
    from aiosmtpd.controller import Controller

    sink = SmtpSink()
    port = free_port()
    controller = Controller(sink, hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield sink, port
    finally:
        controller.stop()


def write_lab(lab: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        path = lab / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


async def lab_core(make_core: MakeCore, lab: Path, smtp_port: int | None = None) -> Core:
    mail = (
        EmailConfig(provider="smtp", smtp=SmtpConfig(host="127.0.0.1", port=smtp_port)) if smtp_port else EmailConfig()
    )
    config = Config(lab=LabConfig(checkout=str(lab)), email=mail, health=HealthConfig(tick_seconds=1, lease_seconds=30))
    return await make_core(config)


def poller(
    core: Core, holder: str = "p1", lease_seconds: float = 30, clock: ManualClock | None = None, **kw: Any
) -> HealthPoller:
    lease = Lease(core.db, LEASE_NAME, seconds=lease_seconds, holder=holder, clock=clock or utcnow)
    kw.setdefault("jitter", 0)
    return core.health.poller(lease, lease_seconds=lease_seconds, **kw)


async def _at_least(rows: Awaitable[list[HealthCheckResult]], n: int) -> list[HealthCheckResult] | None:
    got = await rows
    return got if len(got) >= n else None


async def results(core: Core, check: str | None = None) -> list[HealthCheckResult]:
    def q(s: Any) -> list[HealthCheckResult]:
        stmt = select(HealthCheckResult).order_by(HealthCheckResult.id)
        if check:
            stmt = stmt.where(HealthCheckResult.check_name == check)
        return list(s.scalars(stmt))

    return await core.db.run(q)


async def audits(core: Core, action: str) -> list[AuditRecord]:
    return await core.db.run(
        lambda s: list(s.scalars(select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.id)))
    )


async def next_tick(p: HealthPoller) -> Any:
    await asyncio.sleep(INTERVAL + 0.02)
    return await p.tick()


@pytest.mark.parametrize(
    ("health", "cloudlab_dir", "tag"),
    [({}, False, "labtui"), ({}, True, "CloudLab"), ({"mail_subject_prefix": "lab-7"}, True, "lab-7")],
    ids=["labtui-lab", "moved-from-cloudlab", "configured"],
)
async def test_the_mail_subject_tag_is_cloudlabs_for_a_lab_moved_from_it(
    make_core: MakeCore,
    tmp_path: Path,
    smtp: tuple[SmtpSink, int],
    health: dict[str, str],
    cloudlab_dir: bool,
    tag: str,
) -> None:
    """CloudLab's people filter its mail by ``[CloudLab]``: a lab imported from it (its
    ``cloudlab.data_dir`` set) keeps that tag unless the config names another."""
    sink, smtp_port = smtp
    lab = tmp_path / "lab"
    listening = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    write_lab(
        lab,
        {
            "services/shop/health.yaml": (
                f"interval: {INTERVAL}\nnotifications: {{enabled: true, recipients: [ops@example.org]}}\n"
                f"checks:\n  - {{name: db, type: tcp, host: 127.0.0.1, port: {port}}}\n"
            )
        },
    )
    source = tmp_path / "cloudlab"
    source.mkdir()
    (source / "database.json").write_text("{}")
    config = Config(
        lab=LabConfig(checkout=str(lab)),
        email=EmailConfig(provider="smtp", smtp=SmtpConfig(host="127.0.0.1", port=smtp_port)),
        health=HealthConfig(tick_seconds=1, lease_seconds=30, **health),
        cloudlab=CloudlabConfig(data_dir=str(source) if cloudlab_dir else ""),
    )
    core = await make_core(config)
    p = poller(core)
    assert (await p.tick()).ran == 1  # healthy
    listening.close()
    await listening.wait_closed()
    down = await next_tick(p)
    assert down.emails == 1, down
    assert sink.subjects() == [f"[{tag}] shop/db — DOWN"]


async def test_down_after_fail_after_then_recovered_one_email_each(
    make_core: MakeCore, tmp_path: Path, smtp: tuple[SmtpSink, int]
) -> None:
    sink, smtp_port = smtp
    listening = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    open_port = listening.sockets[0].getsockname()[1]
    closed = free_port()
    web = HttpTarget().start()
    lab = tmp_path / "lab"
    write_lab(
        lab,
        {
            "services/shop/health.yaml": (
                f"interval: {INTERVAL}\n"
                "notifications: {enabled: true, recipients: [ops@example.org]}\n"
                "checks:\n"
                f"  - {{name: web, type: http, url: '{web.url}', fail_after: 2, timeout: 2}}\n"
                f"  - {{name: db, type: tcp, host: 127.0.0.1, port: {open_port}}}\n"
                f"  - {{name: cache, type: tcp, host: 127.0.0.1, port: {closed}}}\n"
            ),
        },
    )
    try:
        core = await lab_core(make_core, lab, smtp_port)
        p = poller(core)
        first = await p.tick()
        assert first.held and first.ran == 3 and first.transitions == []
        states = {c.name: c.status for c in (await core.health.status(Actor.system("t")))[0].checks}
        assert states == {"web": "healthy", "db": "healthy", "cache": "unhealthy"}

        web.stop()
        second = await next_tick(p)
        assert second.transitions == []  # one failure: still healthy (fail_after 2)
        third = await next_tick(p)
        assert [(t.key, t.old, t.new) for t in third.transitions] == [("shop/web", "healthy", "unhealthy")]
        assert third.emails == 1
        await next_tick(p)  # still down: no second email
        assert sink.subjects() == ["[labtui] shop/web — DOWN"]
        rcpts, msg = sink.messages[0]
        assert rcpts == ["ops@example.org"]
        body = msg.get_body(preferencelist=("plain",)).get_content()  # type: ignore[union-attr]
        assert "Service: shop" in body and "Check: web" in body and "Status: healthy -> unhealthy" in body
        assert "Error: " in body and "Error: N/A" not in body

        web.start()  # same port again
        fifth = await next_tick(p)
        assert [(t.old, t.new) for t in fifth.transitions] == [("unhealthy", "healthy")]
        assert sink.subjects() == ["[labtui] shop/web — DOWN", "[labtui] shop/web — RECOVERED"]
    finally:
        web.stop()
        listening.close()

    rows = await results(core, "web")
    assert [(r.outcome, r.status, r.previous_status) for r in rows] == [
        ("healthy", "healthy", "unknown"),
        ("unhealthy", "healthy", "healthy"),
        ("unhealthy", "unhealthy", "healthy"),
        ("unhealthy", "unhealthy", "unhealthy"),
        ("healthy", "healthy", "unhealthy"),
    ]
    assert rows[0].status_code == 200 and rows[0].response_time_ms is not None and rows[0].target == web.url
    assert rows[2].error_message and rows[2].check_type == "http"
    assert len(await results(core, "cache")) == 5 and all(r.status == "unhealthy" for r in await results(core, "cache"))

    trans = await audits(core, "health.transition")
    assert [(a.username, a.target, json.loads(a.detail)["to"]) for a in trans] == [
        ("health", "health/shop/web", "unhealthy"),
        ("health", "health/shop/web", "healthy"),
    ]
    status = (await core.health.status(Actor.system("t")))[0]
    assert status.status == "degraded"  # web and db healthy, cache unhealthy
    history = await core.health.history(Actor.system("t"), "shop", "web", transitions_only=True)
    assert [(h.previous_status, h.status) for h in history] == [
        ("unhealthy", "healthy"),
        ("healthy", "unhealthy"),
        ("unknown", "healthy"),
    ]


async def test_silence_suppresses_email_not_results_and_is_audited(
    make_core: MakeCore, tmp_path: Path, smtp: tuple[SmtpSink, int]
) -> None:
    sink, smtp_port = smtp
    web = HttpTarget().start()
    lab = tmp_path / "lab"
    write_lab(
        lab,
        {
            "health/site.yaml": (
                f"interval: {INTERVAL}\n"
                "notifications: {enabled: true, recipients: [a@example.org, b@example.org]}\n"
                f"checks:\n  - {{name: web, type: http, url: '{web.url}'}}\n"
            ),
        },
    )
    try:
        core = await lab_core(make_core, lab, smtp_port)
        await core.auth.create_admin("admin", ADMIN_PASSWORD)
        admin = (await core.auth.login("admin", ADMIN_PASSWORD)).actor
        wall = ManualClock()  # the poller's wall clock: the silence runs out when it is moved
        p = poller(core, wall_clock=wall)
        await p.tick()
        await core.health.silence(admin, "site", "web", utcnow() + dt.timedelta(seconds=1), "maintenance")
        assert (await core.health.status(admin))[0].checks[0].silenced_until is not None
        web.stop()
        down = await next_tick(p)
        assert [t.silenced for t in down.transitions] == [True] and down.emails == 0
        assert sink.messages == []
        assert [r.status for r in await results(core)] == ["healthy", "unhealthy"]  # results still stored
        assert json.loads((await audits(core, "health.transition"))[0].detail)["silenced"] is True

        wall.advance(1.5)  # the silence expires: the next tick ends it (audited)
        web.start()
        up = await next_tick(p)
        assert up.silences_ended == 1 and up.emails == 2  # one per recipient
        assert sorted(r for rcpts, _ in sink.messages for r in rcpts) == ["a@example.org", "b@example.org"]
        assert sink.subjects() == ["[labtui] site/web — RECOVERED"] * 2
    finally:
        web.stop()
    starts = await audits(core, "health.silence")
    ends = await audits(core, "health.silence_end")
    assert [(a.username, a.target) for a in starts] == [("admin", "health/site/web")]
    assert json.loads(starts[0].detail)["reason"] == "maintenance"
    assert [(a.username, json.loads(a.detail)["reason"]) for a in ends] == [("health", "expired")]

    # Lifting a silence early is audited too.
    await core.health.silence(admin, "site", "web", utcnow() + dt.timedelta(hours=1))
    await core.health.unsilence(admin, "site", "web")
    ends = await audits(core, "health.silence_end")
    assert [(a.username, json.loads(a.detail)["reason"]) for a in ends][-1] == ("admin", "lifted")
    assert await core.health.silences(admin) == []


async def test_retention_deletes_old_results_in_batches_keeps_recent(make_core: MakeCore, tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    write_lab(lab, {"health/x.yaml": "checks: [{name: a, type: tcp, host: 127.0.0.1, port: 1}]\n"})
    core = await lab_core(make_core, lab)
    now = utcnow()
    ages = [dt.timedelta(days=d) for d in (30, 10, 8, 7.01)] * 3 + [dt.timedelta(days=d) for d in (6.9, 1, 0)]

    def seed(s: Any) -> None:
        for age in ages:
            s.add(
                HealthCheckResult(
                    service_name="x", check_name="a", status="healthy", previous_status="healthy", checked_at=now - age
                )
            )

    await core.db.run(seed)
    p = poller(core, retention_days=7)
    assert await p.retention(now=now, batch=5) == 12
    kept = await results(core)
    assert len(kept) == 3 and all(now - r.checked_at < dt.timedelta(days=7) for r in kept)
    assert await p.retention(now=now, batch=5) == 0


async def test_two_pollers_only_the_lease_holder_polls_and_hands_over(make_core: MakeCore, tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    closed = free_port()
    write_lab(
        lab,
        {
            "health/edge.yaml": (
                f"interval: {INTERVAL}\n"
                f"checks:\n  - {{name: a, type: tcp, host: 127.0.0.1, port: {closed}, fail_after: 3}}\n"
                f"  - {{name: b, type: tcp, host: 127.0.0.1, port: {closed}}}\n"
            )
        },
    )
    core_a = await lab_core(make_core, lab)
    core_b = await lab_core(make_core, lab)  # a second process on the same data dir
    clock = ManualClock()  # the leases' wall clock: moved by hand, not slept through
    pa = poller(core_a, "proc-a", lease_seconds=1.0, clock=clock)
    pb = poller(core_b, "proc-b", lease_seconds=1.0, clock=clock)
    ra = await pa.tick()
    rb = await pb.tick()
    assert ra.held and ra.ran == 2 and not rb.held and rb.ran == 0
    await asyncio.sleep(INTERVAL + 0.02)
    assert (await pb.tick()).ran == 0 and (await pa.tick()).ran == 2
    assert len(await results(core_a)) == 4  # no doubled results

    # proc-a dies without releasing: proc-b takes over once the lease expires (1 s here) and
    # continues a's threshold counters from the database (a: 2 failures + 1 = unhealthy).
    clock.advance(1.05)
    await asyncio.sleep(INTERVAL + 0.02)  # the checks are due again
    taken = await pb.tick()
    assert taken.held and taken.ran == 2
    assert (await pa.tick()).held is False and pa.leader is False
    states = await core_b.db.run(
        lambda s: {r.check_name: (r.status, r.consecutive_failures) for r in s.scalars(select(HealthCheckState))}
    )
    assert states == {"a": ("unhealthy", 3), "b": ("unhealthy", 3)}
    assert len(await results(core_b)) == 6


async def test_run_loops_one_polls_and_a_clean_stop_hands_over_at_once(make_core: MakeCore, tmp_path: Path) -> None:
    lab = tmp_path / "lab"
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    write_lab(
        lab,
        {
            "health/edge.yaml": f"interval: {INTERVAL}\nchecks:\n  - {{name: up, type: tcp, host: 127.0.0.1, port: {port}}}\n"
        },
    )
    core_a = await lab_core(make_core, lab)
    core_b = await lab_core(make_core, lab)
    pa = poller(core_a, "proc-a", lease_seconds=0.9, tick_seconds=INTERVAL)
    pb = poller(core_b, "proc-b", lease_seconds=0.9, tick_seconds=INTERVAL)
    stop_a, stop_b = asyncio.Event(), asyncio.Event()
    task_a = asyncio.create_task(pa.run(stop_a))
    await asyncio.sleep(0.05)
    task_b = asyncio.create_task(pb.run(stop_b))
    try:
        rows = await until(lambda: _at_least(results(core_a), 2), timeout=30, what="two results of proc-a")
        assert pa.leader and not pb.leader
        count = len(rows)
        gaps = [(b.checked_at - a.checked_at).total_seconds() for a, b in itertools.pairwise(rows)]
        assert min(gaps) > INTERVAL / 2  # one process polls: never two results in the same interval
        stop_a.set()
        await asyncio.wait_for(task_a, 5)
        # a released the lease: b, which retries every lease/3 = 0.3 s, takes it at once.
        await until(lambda: pb.leader, timeout=5, what="proc-b to lead")
        await until(lambda: _at_least(results(core_b), count + 1), timeout=30, what="a result of proc-b")
    finally:
        stop_a.set()
        stop_b.set()
        await asyncio.wait_for(asyncio.gather(task_a, task_b), 5)
        server.close()
    holder = await core_b.db.run(lambda s: s.scalar(select(func.count()).select_from(HealthCheckResult)))
    assert holder == len(await results(core_b))


async def test_not_deployed_service_is_skipped_and_deployed_one_runs(make_core: MakeCore, tmp_path: Path) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    lab = tmp_path / "lab"
    write_lab(
        lab,
        {
            "services/shop/health.yaml": f"checks: [{{name: port, type: tcp, port: {port}}}]\n",
            "services/cart/health.yaml": f"checks: [{{name: port, type: tcp, port: {port}}}]\n",
            "inventory/vultr.yml": "all:\n  hosts:\n    shop-1: {ansible_host: 127.0.0.1, vultr_tags: [shop]}\n",
        },
    )
    try:
        core = await lab_core(make_core, lab)
        report = await poller(core).tick()
        assert report.ran == 1 and report.not_deployed == 1
        rows = await results(core)
        assert [(r.service_name, r.status, r.target) for r in rows] == [("shop", "healthy", f"127.0.0.1:{port}")]
        by_name = {s.name: s.status for s in await core.health.status(Actor.system("t"))}
        assert by_name == {"cart": "unknown", "shop": "healthy"}
    finally:
        server.close()


async def test_start_poller_notifies_listeners_and_releases_the_lease(make_core: MakeCore, tmp_path: Path) -> None:
    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    lab = tmp_path / "lab"
    write_lab(lab, {"health/edge.yaml": f"checks:\n  - {{name: up, type: tcp, host: 127.0.0.1, port: {port}}}\n"})
    core = await lab_core(make_core, lab)
    seen: list[dict[str, Any]] = []
    got = asyncio.Event()

    def listener(states: dict[str, Any], transitions: list[Any]) -> None:
        seen.append({k: v.status for k, v in states.items()})
        got.set()

    core.health.listeners.append(listener)
    stop = asyncio.Event()
    task = core.health.start_poller(stop, holder="serve-1")
    try:
        await asyncio.wait_for(got.wait(), 5)
        lease = Lease(core.db, LEASE_NAME)
        assert await lease.current_holder() == "serve-1"
    finally:
        stop.set()
        await asyncio.wait_for(task, 5)
        server.close()
    assert seen[0] == {"edge/up": "healthy"}
    assert await Lease(core.db, LEASE_NAME).current_holder() is None  # released on a clean stop


async def test_losing_the_lease_mid_tick_stops_and_stores_nothing(make_core: MakeCore, tmp_path: Path) -> None:
    held_open: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held_open.append(writer)  # accept, never answer: the http check hangs until its timeout

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    lab = tmp_path / "lab"
    write_lab(
        lab,
        {"health/slow.yaml": f"checks:\n  - {{name: hang, type: http, url: 'http://127.0.0.1:{port}/', timeout: 5}}\n"},
    )
    core = await lab_core(make_core, lab)
    p = poller(core, "proc-a", lease_seconds=0.6)
    try:
        tick = asyncio.create_task(p.tick())
        await asyncio.sleep(0.1)
        assert p.leader

        def steal(s: Any) -> None:  # another process got the lease (e.g. after a long stall)
            from labtui.core.db.models import Lease as LeaseRow

            row = s.get(LeaseRow, LEASE_NAME)
            row.holder, row.expires_at = "proc-b", utcnow() + dt.timedelta(seconds=60)

        await core.db.run(steal)
        report = await asyncio.wait_for(tick, 3)  # well before the check's own 5 s timeout
    finally:
        for w in held_open:
            w.close()
        server.close()
    assert report.transitions == [] and not p.leader
    assert await results(core) == []


async def test_first_page_is_the_status_lists_first_page_with_its_counts(make_core: MakeCore, tmp_path: Path) -> None:
    """What a cold health screen draws first, read without building every status: exactly
    the first checks of the full list (problems first) and its counts, with a check never
    run (unknown, no state row) among the problems and the state of a removed check ignored."""
    web = HttpTarget().start()
    closed = free_port()
    lab = tmp_path / "lab"

    def checks(names: list[str]) -> str:
        rows = "".join(f"  - {{name: {n}, type: http, url: '{web.url}'}}\n" for n in names)
        return f"interval: {INTERVAL}\nchecks:\n{rows}  - {{name: shut, type: tcp, host: 127.0.0.1, port: {closed}}}\n"

    write_lab(lab, {"health/a.yaml": checks(["w1", "w2", "w3"]), "health/b.yaml": checks(["w4", "w5"])})
    try:
        core = await lab_core(make_core, lab)
        await core.auth.create_admin("admin", ADMIN_PASSWORD)
        admin = (await core.auth.login("admin", ADMIN_PASSWORD)).actor
        await poller(core).tick()
        # w2 removed (its state row stays), w6 added and never run, b/w4 silenced.
        write_lab(lab, {"health/a.yaml": checks(["w1", "w3", "w6"])})
        await core.health.reload(admin)
        await core.health.silence(admin, "b", "w4", utcnow() + dt.timedelta(hours=1))
    finally:
        web.stop()

    every = [c for s in await core.health.status(admin) for c in s.checks]
    ordered = problems_first(every)
    assert [c.key for c in ordered[:3]] == ["a/shut", "b/shut", "a/w6"]  # unhealthy, then never run
    for limit in range(1, len(every) + 2):
        page = await core.health.first_page(admin, limit)
        assert page.first == ordered[:limit]
        assert (page.checks, page.services, page.silenced) == (len(every), 2, 1)
        assert page.counts == {"healthy": 4, "unhealthy": 2, "unknown": 1}
