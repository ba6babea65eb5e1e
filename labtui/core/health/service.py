"""``core.health``: what front ends call — status, history, check now, silence, reload.

Every call takes the acting :class:`Actor`; reads need ``health.view``, changes (reload,
check now, silence) need ``health.manage``, and changes are audited in the same transaction.

Definitions are loaded per process; their fingerprints are kept in ``app_metadata`` so a
``labtui health reload`` in one process reports what changed against what the lab last
loaded, and the polling process (which may be another one) notices and reloads too.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from sqlalchemy import String, and_, case, func, select, tuple_, type_coerce, update
from sqlalchemy.orm import Session
from sqlalchemy.sql import Select

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.config import HealthConfig
from labtui.core.db.base import utcnow
from labtui.core.db.engine import Database, get_metadata, set_metadata
from labtui.core.db.health import (
    DEGRADED,
    HEALTHY,
    UNHEALTHY,
    UNKNOWN,
    HealthCheckResult,
    HealthCheckState,
    HealthSilence,
)
from labtui.core.errors import NotFound, ValidationError
from labtui.core.health.checks import CheckResult, Prober
from labtui.core.health.definitions import (
    CheckDef,
    Definitions,
    ReloadReport,
    ServiceDef,
    diff,
    load_definitions,
    version_of,
)
from labtui.core.health.state import CheckState, Transition, overall
from labtui.core.health.targets import TargetSource
from labtui.core.integrations.email import Mailer
from labtui.core.rbac import Rbac

if TYPE_CHECKING:
    from labtui.core.health.poller import HealthPoller, LeaseLike

log = logging.getLogger("labtui.health")

META_FINGERPRINTS = "health.definitions"
META_VERSION = "health.definitions_version"
META_INSTANCES = "instances_cache"
VIEW = "health.view"
MANAGE = "health.manage"
HISTORY_LIMIT_MAX = 10_000


class CheckStatus(NamedTuple):
    """One check as the status screen and ``labtui health status`` show it.

    A named tuple rather than a frozen dataclass: :meth:`Health.status` builds one per
    check of the lab on every refresh, and 10,000 dataclass ``__init__`` calls (each field
    set through ``object.__setattr__``) cost ~20 ms where tuples cost ~4 ms."""

    service: str
    name: str
    type: str
    status: str
    target: str
    since: dt.datetime | None
    last_checked_at: dt.datetime | None
    latency_ms: float | None
    status_code: int | None
    error: str | None
    silenced_until: dt.datetime | None
    interval: float
    fail_after: int
    recover_after: int

    @property
    def key(self) -> str:
        return f"{self.service}/{self.name}"

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "check": self.name,
            "type": self.type,
            "status": self.status,
            "target": self.target,
            "since": _iso(self.since),
            "last_checked_at": _iso(self.last_checked_at),
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 2),
            "status_code": self.status_code,
            "error": self.error,
            "silenced_until": _iso(self.silenced_until),
            "interval": self.interval,
            "fail_after": self.fail_after,
            "recover_after": self.recover_after,
        }


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    status: str
    interval: float
    notifications_enabled: bool
    checks: tuple[CheckStatus, ...] = field(default=())

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.name,
            "status": self.status,
            "interval": self.interval,
            "notifications_enabled": self.notifications_enabled,
            "checks": [c.as_json() for c in self.checks],
        }


#: Order of "problems first" (the health screen's default and its first page): the worst
#: first, each status in definition order, the healthy ones last.
PROBLEM_RANK = {UNHEALTHY: 0, DEGRADED: 1, UNKNOWN: 2, HEALTHY: 3}


def problems_first(checks: list[CheckStatus]) -> list[CheckStatus]:
    """``checks`` (in definition order) with the problems first."""
    rank = PROBLEM_RANK.get
    # Most checks are healthy: sort only the others (a stable sort keeps definition order
    # within each status), then the healthy ones in order.
    problems = sorted((c for c in checks if c.status != HEALTHY), key=lambda c: rank(c.status, 2))
    return problems + [c for c in checks if c.status == HEALTHY]


class StatusPage(NamedTuple):
    """The first checks of :func:`problems_first` over the whole lab and the lab's counts,
    read without building every check's status (:meth:`Health.first_page`)."""

    checks: int
    services: int
    #: Checks by status.
    counts: dict[str, int]
    silenced: int
    first: list[CheckStatus]


@dataclass(frozen=True)
class ResultRow:
    id: int
    service: str
    check: str
    status: str
    outcome: str
    previous_status: str
    latency_ms: float | None
    status_code: int | None
    error: str | None
    check_type: str
    target: str
    checked_at: dt.datetime

    @property
    def is_transition(self) -> bool:
        return self.status != self.previous_status

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "service": self.service,
            "check": self.check,
            "status": self.status,
            "outcome": self.outcome,
            "previous_status": self.previous_status,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 2),
            "status_code": self.status_code,
            "error": self.error,
            "check_type": self.check_type,
            "target": self.target,
            "checked_at": self.checked_at.isoformat(),
        }


@dataclass(frozen=True)
class SilenceInfo:
    service: str
    check: str
    until: dt.datetime
    reason: str
    created_by: str
    created_at: dt.datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "service": self.service,
            "check": self.check,
            "until": self.until.isoformat(),
            "reason": self.reason,
            "created_by": self.created_by,
            "created_at": self.created_at.isoformat(),
        }


def _iso(value: dt.datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def result_row(r: HealthCheckResult) -> ResultRow:
    return ResultRow(
        r.id,
        r.service_name,
        r.check_name,
        r.status,
        r.outcome or r.status,
        r.previous_status,
        r.response_time_ms,
        r.status_code,
        r.error_message,
        r.check_type,
        r.target,
        r.checked_at,
    )


def split_key(key: str) -> tuple[str, str]:
    """``SERVICE/CHECK`` -> (service, check)."""
    service, sep, check = key.partition("/")
    if not sep or not service or not check:
        raise ValidationError(f"Name a check as SERVICE/CHECK, got '{key}'", "check")
    return service, check


class Health:
    """Health monitoring of one process (the poller runs in whichever holds the lease)."""

    def __init__(
        self,
        db: Database,
        rbac: Rbac,
        lab_dir: Path,
        home: Path,
        config: HealthConfig,
        mailer: Mailer,
        *,
        mail_prefix: str = "labtui",
    ) -> None:
        self.db = db
        self.rbac = rbac
        self.lab_dir = lab_dir
        self.config = config
        self.mailer = mailer
        #: The ``[tag]`` of health mails' subjects (``config.mail_subject_prefix``).
        self.mail_prefix = mail_prefix
        self.prober = Prober(home / "known_hosts", max_connections=config.max_concurrency, lab_dir=lab_dir)
        self.targets = TargetSource(lab_dir)
        self._defs: Definitions | None = None
        #: :meth:`status`'s per-check fixed parts, for the definitions they were made from.
        self._layout: (
            tuple[
                Definitions,
                list[tuple[ServiceDef, list[_CheckLayout]]],
                dict[tuple[str, str], tuple[int, _CheckLayout]],
            ]
            | None
        ) = None
        #: :meth:`status`'s last answer per check: (state row, silence, what was built).
        self._built: tuple[Definitions, dict[tuple[str, str], tuple[Any, Any, CheckStatus]]] | None = None
        #: Called (in this process) after each batch of results the poller stored, with the
        #: new states by check key and the transitions; screens of other processes tail the
        #: database (``health_check_results`` by id) instead.
        self.listeners: list[Callable[[dict[str, CheckState], list[Transition]], None]] = []

    # -- definitions -------------------------------------------------------------------------

    @property
    def definitions(self) -> Definitions:
        """The loaded definitions (loaded now, without recording them, if nothing was)."""
        if self._defs is None:
            self._defs = load_definitions(self.lab_dir)
        return self._defs

    async def ensure_loaded(self) -> Definitions:
        if self._defs is None:
            await self.load()
        assert self._defs is not None
        return self._defs

    async def load(self) -> ReloadReport:
        """Load the lab's definitions as labtui itself (startup); returns what changed."""
        defs = await asyncio.to_thread(load_definitions, self.lab_dir)
        return await self.db.run(lambda s: self._adopt(s, defs))

    def _adopt(self, s: Session, defs: Definitions) -> ReloadReport:
        new = defs.fingerprints()
        before: dict[str, str] = get_metadata(s, META_FINGERPRINTS, None) or {}
        version = version_of(new)
        if get_metadata(s, META_VERSION) != version:
            set_metadata(s, META_FINGERPRINTS, new)
            set_metadata(s, META_VERSION, version)
        cache = get_metadata(s, META_INSTANCES)
        if cache is not None:
            self.targets.metadata_cache = cache
            self.targets.invalidate()
        self._defs = defs
        added, changed, removed = diff(before, new)
        return ReloadReport(added, changed, removed, list(defs.problems), list(defs.warnings), sorted(defs.services))

    async def reload(self, actor: Actor) -> ReloadReport:
        """Re-read the lab's health files (``R`` / ``labtui health reload``) and say what changed."""
        await self.db.run(lambda s: self.rbac.require(s, actor, MANAGE, "health"))
        defs = await asyncio.to_thread(load_definitions, self.lab_dir)

        def q(s: Session) -> ReloadReport:
            report = self._adopt(s, defs)
            audit.record(
                s,
                actor,
                "health.reload",
                "health",
                {
                    "services": report.count,
                    "added": report.added[:50],
                    "changed": report.changed[:50],
                    "removed": report.removed[:50],
                    "problems": [str(p) for p in report.problems[:20]],
                },
            )
            return report

        report = await self.db.run(q)
        log.info(
            "health definitions reloaded by %s: +%d ~%d -%d, %d problem(s)",
            actor.username,
            len(report.added),
            len(report.changed),
            len(report.removed),
            len(report.problems),
        )
        return report

    async def refresh_if_changed(self) -> bool:
        """Reload when another process recorded different definitions (the poller, each tick)."""
        if self._defs is None:
            await self.load()
            return True
        stored = await self.db.run(lambda s: get_metadata(s, META_VERSION))
        if stored is None or stored == self._defs.version:
            return False
        log.info("health definitions changed elsewhere: reloading")
        await self.load()
        return True

    def _check(self, service: str, name: str) -> CheckDef:
        check = self.definitions.check(service, name)
        if check is None:
            raise NotFound(f"No health check '{service}/{name}'")
        return check

    # -- reads -------------------------------------------------------------------------------

    async def status(self, actor: Actor, service: str | None = None) -> list[ServiceStatus]:
        """Every service with its overall status and its checks (in definition order).

        Built for 10,000 checks in a few tens of ms, all of it in the database thread (the
        health screen's first paint waits on it, and the event loop stays free meanwhile):
        one query over ``health_check_state`` whose rows come back as plain tuples (no ORM
        objects, no per-value type processing: timestamps are parsed here, each distinct
        value once); the checks' fixed parts come from a layout cached per loaded
        definitions; and a check whose state row and silence are as at the last call keeps
        its :class:`CheckStatus`, so a refresh allocates only for what changed (10,000 new
        containers per refresh would also wake the garbage collector's full passes)."""
        defs = await self.ensure_loaded()
        layout = self._status_layout(defs)
        if service is not None:
            layout = [entry for entry in layout if entry[0].name == service]
            if not layout:
                raise NotFound(f"No health definitions for service '{service}'")

        def q(s: Session) -> list[ServiceStatus]:
            self.rbac.require(s, actor, VIEW, "health")
            stmt = select(*_STATE_COLUMNS)
            if service is not None:
                stmt = stmt.where(HealthCheckState.service_name == service)
            rows = _plain_rows(s, stmt)
            return self._build_status(defs, layout, rows, _active_silences(s), whole=service is None)

        return await self.db.run(q)

    async def first_page(self, actor: Actor, limit: int) -> StatusPage:
        """The first ``limit`` checks of :func:`problems_first` and the lab's counts, as
        :meth:`status` would give them, in a fraction of its time when nothing was read
        before in the process (a cold health screen draws this first, then reads the rest).

        Reads every check's key but only the problem checks' states (few, in a working lab)
        and those of the healthy checks shown, and builds a status for the page only. A
        check without a state row was never run (unknown); a state row of a check no longer
        defined is ignored, as :meth:`status` does."""
        defs = await self.ensure_loaded()
        index = self._status_index(defs)

        def q(s: Session) -> StatusPage:
            self.rbac.require(s, actor, VIEW, "health")
            stored = set(_plain_rows(s, select(HealthCheckState.service_name, HealthCheckState.check_name)))
            troubled = {
                (r[0], r[1]): r
                for r in _plain_rows(s, select(*_STATE_COLUMNS).where(HealthCheckState.status != HEALTHY))
            }
            silences = _active_silences(s)
            # Set operations over the keys (C loops), then Python only for the problems.
            rank = PROBLEM_RANK.get
            problems = sorted(
                [(rank(troubled[key][2], 2), index[key][0], key) for key in troubled.keys() & index.keys()]
                + [(rank(UNKNOWN), index[key][0], key) for key in index.keys() - stored]
            )
            counts = {HEALTHY: len(index) - len(problems)}
            for _, _, key in problems:
                status = troubled[key][2] if key in troubled else UNKNOWN
                counts[status] = counts.get(status, 0) + 1
            page = [(index[key][1], troubled.get(key)) for _, _, key in problems[:limit]]
            # Then the healthy ones in definition order (stored and not troubled), as far as needed.
            wanted: list[_CheckLayout] = []
            for key, (_, entry) in index.items():
                if len(page) + len(wanted) >= limit:
                    break
                if key in stored and key not in troubled:
                    wanted.append(entry)
            if wanted:
                rows = _plain_rows(
                    s,
                    select(*_STATE_COLUMNS).where(
                        tuple_(HealthCheckState.service_name, HealthCheckState.check_name).in_([e[0] for e in wanted])
                    ),
                )
                found = {(r[0], r[1]): r for r in rows}
                page += [(entry, found.get(entry[0])) for entry in wanted]
            parse = _timestamp_parser()
            first = [_check_status(entry, st, silences.get(entry[0]), parse) for entry, st in page]
            silenced = len(silences.keys() & index.keys())
            return StatusPage(len(index), len(defs.services), counts, silenced, first)

        return await self.db.run(q)

    def _build_status(
        self,
        defs: Definitions,
        layout: list[tuple[ServiceDef, list[_CheckLayout]]],
        rows: list[tuple[Any, ...]],
        silences: dict[tuple[str, str], dt.datetime],
        *,
        whole: bool,
    ) -> list[ServiceStatus]:
        states = {(r[0], r[1]): r for r in rows}
        cache = self._built
        before = cache[1] if cache is not None and cache[0] is defs else {}
        now: dict[tuple[str, str], tuple[Any, Any, CheckStatus]] = {}
        parse = _timestamp_parser()
        out: list[ServiceStatus] = []
        for svc, checks in layout:
            built: list[CheckStatus] = []
            for entry in checks:
                key = entry[0]
                st = states.get(key)
                silenced = silences.get(key)
                seen = before.get(key)
                if seen is None or seen[0] != st or seen[1] != silenced:
                    seen = (st, silenced, _check_status(entry, st, silenced, parse))
                now[key] = seen
                built.append(seen[2])
            out.append(
                ServiceStatus(
                    svc.name,
                    overall({c.status for c in built}),
                    svc.interval,
                    svc.notify and bool(svc.recipients),
                    tuple(built),
                )
            )
        if whole:
            # Swapped in whole (one assignment), so concurrent calls in other database
            # threads see either the old map or the new one.
            self._built = (defs, now)
        return out

    def _status_layout(self, defs: Definitions) -> list[tuple[ServiceDef, list[_CheckLayout]]]:
        """What :meth:`status` needs of each check that does not change between calls
        (worked out once per loaded definitions)."""
        cached = self._layout
        if cached is not None and cached[0] is defs:
            return cached[1]
        layout = [
            (
                svc,
                [
                    ((svc.name, c.name), c.type, _planned_target(c), c.interval, c.fail_after, c.recover_after)
                    for c in svc.checks
                ],
            )
            for svc in defs.services.values()
        ]
        index = {entry[0]: (i, entry) for i, entry in enumerate(entry for _svc, checks in layout for entry in checks)}
        self._layout = (defs, layout, index)
        return layout

    def _status_index(self, defs: Definitions) -> dict[tuple[str, str], tuple[int, _CheckLayout]]:
        """Each check's place in definition order and its layout (of :meth:`_status_layout`)."""
        self._status_layout(defs)
        assert self._layout is not None
        return self._layout[2]

    async def history(
        self,
        actor: Actor,
        service: str,
        check: str | None = None,
        *,
        hours: float = 24,
        limit: int = 100,
        transitions_only: bool = False,
    ) -> list[ResultRow]:
        """Results of a service (or one check), newest first."""
        if not 0 < hours <= 24 * max(self.config.retention_days, 7):
            raise ValidationError(f"hours must be between 1 and {24 * max(self.config.retention_days, 7)}", "hours")
        if not 1 <= limit <= HISTORY_LIMIT_MAX:
            raise ValidationError(f"limit must be between 1 and {HISTORY_LIMIT_MAX}", "limit")
        since = utcnow() - dt.timedelta(hours=hours)

        def q(s: Session) -> list[ResultRow]:
            self.rbac.require(s, actor, VIEW, "health")
            stmt = (
                select(HealthCheckResult)
                .where(HealthCheckResult.service_name == service, HealthCheckResult.checked_at >= since)
                .order_by(HealthCheckResult.checked_at.desc(), HealthCheckResult.id.desc())
                .limit(limit)
            )
            if check is not None:
                stmt = stmt.where(HealthCheckResult.check_name == check)
            if transitions_only:
                stmt = stmt.where(HealthCheckResult.status != HealthCheckResult.previous_status)
            return [result_row(r) for r in s.scalars(stmt)]

        return await self.db.run(q)

    async def uptime(self, actor: Actor, hours: float) -> dict[str, float]:
        """Per check key, the share of results in the last ``hours`` whose status was healthy
        (0-100). Checks without results in the period are absent."""
        since = utcnow() - dt.timedelta(hours=hours)

        def q(s: Session) -> dict[str, float]:
            self.rbac.require(s, actor, VIEW, "health")
            healthy = func.sum(case((HealthCheckResult.status == HEALTHY, 1), else_=0))
            rows = s.execute(
                select(HealthCheckResult.service_name, HealthCheckResult.check_name, healthy, func.count())
                .where(HealthCheckResult.checked_at >= since)
                .group_by(HealthCheckResult.service_name, HealthCheckResult.check_name)
            )
            return {f"{svc}/{chk}": 100.0 * (ok or 0) / n for svc, chk, ok, n in rows if n}

        return await self.db.run(q)

    async def recent_latencies(self, actor: Actor, per_check: int = 20) -> dict[str, list[float | None]]:
        """Per check key, the latencies of its last ``per_check`` results, oldest first (sparklines)."""

        def q(s: Session) -> dict[str, list[float | None]]:
            self.rbac.require(s, actor, VIEW, "health")
            rn = (
                func.row_number()
                .over(
                    partition_by=(HealthCheckResult.service_name, HealthCheckResult.check_name),
                    order_by=HealthCheckResult.id.desc(),
                )
                .label("rn")
            )
            inner = select(
                HealthCheckResult.service_name,
                HealthCheckResult.check_name,
                HealthCheckResult.id,
                HealthCheckResult.response_time_ms,
                rn,
            ).subquery()
            rows = s.execute(
                select(inner.c.service_name, inner.c.check_name, inner.c.response_time_ms)
                .where(inner.c.rn <= per_check)
                .order_by(inner.c.service_name, inner.c.check_name, inner.c.id)
            )
            out: dict[str, list[float | None]] = {}
            for svc, chk, ms in rows:
                out.setdefault(f"{svc}/{chk}", []).append(ms)
            return out

        return await self.db.run(q)

    # -- actions -----------------------------------------------------------------------------

    async def check_now(self, actor: Actor, service: str, check: str) -> CheckResult:
        """Run one check at once and return its result (not stored: the poller's thresholds
        and history stay the poller's alone)."""
        await self.db.run(lambda s: self.rbac.require(s, actor, MANAGE, f"health/{service}/{check}"))
        await self.ensure_loaded()
        definition = self._check(service, check)
        hosts = await self.targets.current()
        return await self.prober.run(definition, hosts)

    async def silence(
        self, actor: Actor, service: str, check: str, until: dt.datetime, reason: str = ""
    ) -> SilenceInfo:
        """Maintenance: no emails for the check until ``until`` (results are still stored)."""
        await self.ensure_loaded()
        self._check(service, check)
        now = utcnow()
        if until.tzinfo is None:
            raise ValidationError("The end of a silence needs a time zone", "until")
        if until <= now:
            raise ValidationError("A silence must end in the future", "until")
        reason = reason.strip()[:255]

        def q(s: Session) -> SilenceInfo:
            self.rbac.require(s, actor, MANAGE, f"health/{service}/{check}")
            s.execute(
                update(HealthSilence)
                .where(
                    HealthSilence.service_name == service,
                    HealthSilence.check_name == check,
                    HealthSilence.ended_at.is_(None),
                )
                .values(ended_at=now, ended_by=actor.username)
            )
            row = HealthSilence(
                service_name=service,
                check_name=check,
                until=until,
                reason=reason,
                created_by=actor.username,
                created_at=now,
            )
            s.add(row)
            audit.record(
                s, actor, "health.silence", f"health/{service}/{check}", {"until": until.isoformat(), "reason": reason}
            )
            return SilenceInfo(service, check, until, reason, actor.username, now)

        return await self.db.run(q)

    async def unsilence(self, actor: Actor, service: str, check: str) -> None:
        """End a silence before its time."""
        now = utcnow()

        def q(s: Session) -> None:
            self.rbac.require(s, actor, MANAGE, f"health/{service}/{check}")
            row = s.scalar(
                select(HealthSilence).where(
                    HealthSilence.service_name == service,
                    HealthSilence.check_name == check,
                    HealthSilence.ended_at.is_(None),
                )
            )
            if row is None:
                raise NotFound(f"'{service}/{check}' is not silenced")
            row.ended_at, row.ended_by = now, actor.username
            audit.record(
                s,
                actor,
                "health.silence_end",
                f"health/{service}/{check}",
                {"until": row.until.isoformat(), "reason": "lifted"},
            )

        await self.db.run(q)

    async def silences(self, actor: Actor) -> list[SilenceInfo]:
        def q(s: Session) -> list[SilenceInfo]:
            self.rbac.require(s, actor, VIEW, "health")
            rows = s.scalars(
                select(HealthSilence).where(HealthSilence.ended_at.is_(None)).order_by(HealthSilence.until)
            )
            return [
                SilenceInfo(r.service_name, r.check_name, r.until, r.reason, r.created_by, r.created_at) for r in rows
            ]

        return await self.db.run(q)

    # -- the poller --------------------------------------------------------------------------

    def poller(self, lease: LeaseLike, **kwargs: Any) -> HealthPoller:
        from labtui.core.health.poller import HealthPoller

        return HealthPoller(self, lease, **kwargs)

    def start_poller(self, stop: asyncio.Event, *, holder: str | None = None) -> asyncio.Task[None]:
        """Run the poller in this process until ``stop`` (for ``labtui`` and ``labtui serve``):
        it polls only while this process holds the ``health-poller`` lease."""
        from labtui.core.health.poller import LEASE_NAME
        from labtui.core.leases import Lease

        lease = Lease(self.db, LEASE_NAME, seconds=float(self.config.lease_seconds), holder=holder)
        return asyncio.create_task(self.poller(lease).run(stop), name="health-poller")

    async def aclose(self) -> None:
        await self.prober.aclose()


#: (service, check) key, type, planned target, interval, fail_after, recover_after.
_CheckLayout = tuple[tuple[str, str], str, str, float, int, int]

#: The columns :meth:`Health.status` reads. The timestamps are read as stored (type_coerce
#: skips UTCDateTime's per-value processing; SQLite gives text, PostgreSQL datetimes) and
#: parsed by :func:`_timestamp_parser`.
_STATE_COLUMNS = (
    HealthCheckState.service_name,
    HealthCheckState.check_name,
    HealthCheckState.status,
    HealthCheckState.target,
    type_coerce(HealthCheckState.since, String),
    type_coerce(HealthCheckState.last_checked_at, String),
    HealthCheckState.last_latency_ms,
    HealthCheckState.last_status_code,
    HealthCheckState.last_error,
)


def _plain_rows(s: Session, stmt: Select[*tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The rows as the database driver gives them: plain tuples, which (holding only strings
    and numbers) the garbage collector stops tracking at once, where SQLAlchemy's ``Row``
    objects stay tracked and cost a Python call each. Executed on the session's connection:
    through the ORM the result has no cursor to fetch from. Only for statements whose
    columns need no result processing."""
    result = s.connection().execute(stmt)
    try:
        return list(result.cursor.fetchall())
    finally:
        result.close()


def _timestamp_parser() -> Callable[[Any], dt.datetime | None]:
    """A parser of stored timestamps to aware UTC datetimes that parses each distinct value
    once (the checks of one poller batch share their ``last_checked_at``)."""
    seen: dict[Any, dt.datetime | None] = {None: None}

    def parse(value: Any) -> dt.datetime | None:
        try:
            return seen[value]
        except KeyError:
            pass
        if isinstance(value, str):
            # SQLite's naive UTC text: the offset appended is parsed in the same C call,
            # ~10x faster than datetime.replace(tzinfo=...) after it (10,000 checks: 9 -> 1 ms).
            try:
                seen[value] = at = dt.datetime.fromisoformat(value + "+00:00")
                return at
            except ValueError:  # it has an offset already (or is not ISO: raised below)
                pass
        at = value if isinstance(value, dt.datetime) else dt.datetime.fromisoformat(str(value))
        at = at.replace(tzinfo=dt.UTC) if at.tzinfo is None else at.astimezone(dt.UTC)
        seen[value] = at
        return at

    return parse


def _check_status(
    entry: _CheckLayout,
    st: tuple[Any, ...] | None,
    silenced: dt.datetime | None,
    parse: Callable[[Any], dt.datetime | None],
) -> CheckStatus:
    """One check's status from its layout, its state row (of ``_STATE_COLUMNS``) and silence."""
    key, kind, planned, interval, fail_after, recover_after = entry
    # tuple.__new__ with the named tuple's class: the same CheckStatus without a second
    # Python frame (its generated __new__) per check, 10,000 of them on a cold read.
    if st is None:
        return tuple.__new__(
            CheckStatus,
            (
                key[0],
                key[1],
                kind,
                UNKNOWN,
                planned,
                None,
                None,
                None,
                None,
                None,
                silenced,
                interval,
                fail_after,
                recover_after,
            ),
        )
    return tuple.__new__(
        CheckStatus,
        (
            key[0],
            key[1],
            kind,
            st[2],
            st[3] or planned,
            parse(st[4]),
            parse(st[5]),
            st[6],
            st[7],
            st[8],
            silenced,
            interval,
            fail_after,
            recover_after,
        ),
    )


def _planned_target(c: CheckDef) -> str:
    if c.type == "http" and c.url:
        return c.url
    if c.host:
        return f"{c.host}:{c.port}" if c.port and c.type != "icmp" else c.host
    return f"({c.service} instance)"


def _active_silences(s: Session) -> dict[tuple[str, str], dt.datetime]:
    rows = s.execute(
        select(HealthSilence.service_name, HealthSilence.check_name, func.max(HealthSilence.until))
        .where(and_(HealthSilence.ended_at.is_(None), HealthSilence.until > utcnow()))
        .group_by(HealthSilence.service_name, HealthSilence.check_name)
    )
    return {(svc, chk): until for svc, chk, until in rows}
