"""Benchmark: the audit screen's queries over 1,000,000 audit rows, each under 100 ms.

Builds a real labtui SQLite file (schema from ``Database.create_schema``), fills ``audit_log``
with a million realistic rows (a few hundred users with a skewed activity, logins and failed
logins, deploys and scripts, health transitions, admin actions; SSH peer origins; JSON detail;
two years of timestamps) through sqlite3 ``executemany``, then starts a Core on it for a
super-admin actor.

Each case is the page the audit screen asks for (``limit = PAGE_SIZE + 1``), timed three ways,
median of several warm runs:

- ``screen``: ``core.audit.page(actor, filter, before_id=...)``, what the screen awaits
  (permission check, worker thread, ORM, JSON detail decoded);
- ``query``: ``audit.query_page`` on a session in this thread (the query alone);
- ``raw``: a hand-written sqlite3 query returning the same rows (checked: same ids) — for a
  free-text filter alone, through the audit text index (FTS5 trigram) as core does when the
  database has one; otherwise ``LIKE`` over the five columns.

The ratio is screen / raw. Every case prints SQLite's plan for core's statement; the free-text
pages are also timed as a plain ``LIKE`` scan, to show what the index is worth.

    /work/venv/bin/python tests/bench/bench_audit.py [--rows 1000000] [--db FILE (kept, reused)]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import event

from labtui.core.audit import AuditFilter, query_page
from labtui.core.config import Config, DatabaseConfig
from labtui.core.db.engine import Database
from labtui.core.db.fts import AUDIT_FTS, match_phrase
from labtui.core.runtime import Core, Paths

PAGE = 51  # the audit screen's PAGE_SIZE + 1 (one more tells it whether there is an older page)
TARGET_MS = 100.0
RUNS = 7
PASSWORD = "pw-Bench-123"
BATCH = 50_000

# --- a realistic audit log --------------------------------------------------------------------

FIRST = [
    "alice",
    "bob",
    "carol",
    "dave",
    "erin",
    "frank",
    "grace",
    "heidi",
    "ivan",
    "judy",
    "mallory",
    "nina",
    "oscar",
    "peggy",
    "quinn",
    "rupert",
    "sybil",
    "trent",
    "ursula",
    "victor",
    "wendy",
    "yara",
]
USERS = ["admin", "ops", "deploybot"] + [f"{n}_{i}" if i else n for i in range(14) for n in FIRST][:297]
SERVICES = [
    f"{a}-{b}"
    for a in ("web", "api", "db", "cache", "mail", "dns", "vpn", "git", "ci", "wiki")
    for b in ("frontend", "backend", "primary", "replica")
]
CHECKS = ("http", "tcp", "ping", "ssh")
SCRIPTS = ("deploy", "backup", "restart", "rotate-logs", "renew-cert", "migrate")
ROLES = ("super-admin", "operator", "viewer", "deployer", "auditor")

# action -> weight (per mille, roughly); who does it is decided in _row
ACTIONS: dict[str, float] = {
    "login": 250,
    "login.failed": 80,
    "logout": 100,
    "login.locked": 3,
    "login.lockout": 1,
    "service.deploy": 100,
    "service.script": 120,
    "service.stop": 30,
    "job.cancel": 10,
    "job.lost": 2,
    "health.transition": 120,
    "health.silence": 5,
    "health.silence_end": 5,
    "service.config.edit": 20,
    "service.config.restore": 2,
    "service.file.write": 20,
    "service.file.upload": 10,
    "service.output.reveal": 5,
    "schedule.create": 3,
    "schedule.update": 3,
    "schedule.enable": 2,
    "schedule.disable": 2,
    "schedule.delete": 1,
    "user.invite": 2,
    "user.create": 2,
    "user.invite_accepted": 2,
    "user.roles": 2,
    "user.deactivate": 1,
    "user.password_change": 3,
    "user.password_reset": 1,
    "user.password_reset_issued": 1,
    "profile.update": 3,
    "profile.ssh_key_set": 1,
    "role.update": 0.5,
    "role.create": 0.2,
    "permission.denied": 10,
    "password_reset.requested": 3,
    "token.refused": 1,
    "session.revoke": 2,
    "vault.set": 0.1,
}
SYSTEM_ACTIONS = {"health.transition": "health", "job.lost": "jobs", "health.silence_end": "health"}
ANONYMOUS = {"password_reset.requested", "token.refused"}


def _users_weights() -> list[float]:
    return [1.0 / (rank + 1) ** 0.9 for rank in range(len(USERS))]


def generate(count: int, seed: int = 7) -> Iterator[list[tuple[Any, ...]]]:
    """Batches of audit_log rows (id order = time order), deterministic for a seed."""
    rng = random.Random(seed)
    actions, weights = list(ACTIONS), list(ACTIONS.values())
    user_weights = _users_weights()
    peers = [f"10.0.{k // 200}.{k % 200 + 10}" for k in range(500)]  # SSH peers 10.0.0.10 .. 10.0.2.109
    start = dt.datetime(2024, 11, 1)
    step = (2 * 365 * 86400) / count
    job_id = 0
    batch: list[tuple[Any, ...]] = []
    picked_actions = rng.choices(actions, weights, k=count)
    picked_users = rng.choices(USERS, user_weights, k=count)
    for i in range(count):
        action, user = picked_actions[i], picked_users[i]
        origin = "local" if rng.random() < 0.6 else rng.choice(peers)
        service = SERVICES[min(int(rng.expovariate(0.12)), len(SERVICES) - 1)]
        detail: dict[str, Any] = {}
        if action in SYSTEM_ACTIONS:
            user, origin = SYSTEM_ACTIONS[action], "local"
        elif action in ANONYMOUS:
            user = "anonymous"
        if action.startswith(("login", "logout")):
            target = f"users/{user}"
            if action == "login" and rng.random() < 0.2:
                detail = {"method": "publickey"}
            elif action == "login.locked":
                detail = {"minutes_left": rng.randint(1, 5)}
            elif action == "login.lockout":
                target = f"origin/{origin}"
        elif action in ("service.deploy", "service.script", "service.stop"):
            job_id += 1
            target = f"services/{service}"
            script = "deploy" if action == "service.deploy" else rng.choice(SCRIPTS)
            detail = {
                "job_id": job_id,
                "script": script,
                "inputs": sorted(rng.sample(["env", "version", "host"], rng.randint(0, 2))),
            }
        elif action in ("job.cancel", "job.lost"):
            target = f"jobs/{max(job_id - rng.randint(0, 50), 1)}"
            detail = {"service": service, "was": "running"}
        elif action.startswith("health."):
            check = rng.choice(CHECKS)
            target = f"health/{service}/{check}"
            if action == "health.transition":
                down = rng.random() < 0.5
                detail = {
                    "service": service,
                    "check": check,
                    "from": "healthy" if down else "unhealthy",
                    "to": "unhealthy" if down else "healthy",
                    "error": f"connection to {service}.lab.internal timed out" if down else None,
                }
            else:
                detail = {"until": (start + dt.timedelta(seconds=i * step + 3600)).isoformat(), "reason": "maintenance"}
        elif action.startswith("service."):
            target = f"services/{service}"
            detail = {"path": rng.choice(("config.yaml", "files/nginx.conf", "files/app.env", "outputs/report.txt"))}
        elif action.startswith("schedule."):
            target = f"schedules/{rng.randint(1, 300)}"
            detail = {
                "service": service,
                "cron": rng.choice(("0 3 * * *", "*/15 * * * *", "0 0 * * 1")),
                "tz": "Europe/Berlin",
            }
        elif action.startswith(("user.", "profile.")):
            other = rng.choice(USERS)
            target = f"users/{other}"
            if action in ("user.invite", "user.create"):
                detail = {"email": f"{other}@lab.example.org", "roles": sorted(rng.sample(ROLES, 1))}
            elif action == "user.roles":
                detail = {"roles": sorted(rng.sample(ROLES, rng.randint(1, 2)))}
        elif action.startswith("role."):
            target = f"roles/{rng.choice(ROLES)}"
            detail = {"permissions": rng.randint(3, 40)}
        elif action == "permission.denied":
            target = f"services/{service}"
            detail = {"permission": rng.choice(("services.deploy", "users.edit", "roles.edit", "system.audit_log"))}
        elif action == "password_reset.requested":
            target, detail = "", {"matched": rng.random() < 0.8}
        elif action == "session.revoke":
            target = f"sessions/{rng.randint(1, 90000)}"
        else:
            target = action.split(".")[0]
        created = start + dt.timedelta(seconds=i * step + rng.random() * step)
        batch.append(
            (
                created.strftime("%Y-%m-%d %H:%M:%S.%f"),
                None,
                user,
                action,
                target,
                json.dumps(detail, sort_keys=True),
                origin,
            )
        )
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def build(path: Path, rows: int) -> float:
    """The labtui schema, then ``rows`` audit rows; returns seconds taken."""
    start = time.perf_counter()
    db = Database(f"sqlite:///{path}")
    db.create_schema()
    db.dispose()
    con = sqlite3.connect(path)
    con.execute("PRAGMA synchronous=OFF")
    con.execute("PRAGMA foreign_keys=OFF")
    # The text index's triggers (if the schema has them) are set aside for the bulk load and
    # the index is built once at the end: the same index, minutes faster.
    triggers = con.execute(
        "SELECT name, sql FROM sqlite_master WHERE type = 'trigger' AND tbl_name = 'audit_log'"
    ).fetchall()
    with con:
        for name, _ in triggers:
            con.execute(f'DROP TRIGGER "{name}"')
        for batch in generate(rows):
            con.executemany(
                "INSERT INTO audit_log (created_at, user_id, username, action, target, detail, origin)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                batch,
            )
        for _, sql in triggers:
            con.execute(sql)
        if has_text_index(con):
            con.execute(f"INSERT INTO {AUDIT_FTS}({AUDIT_FTS}) VALUES ('rebuild')")
    con.execute("ANALYZE")
    con.close()
    return time.perf_counter() - start


# --- the cases ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Case:
    name: str
    flt: AuditFilter
    before_id: int | None
    raw_where: str
    raw_params: tuple[Any, ...]


def text_where(term: str) -> tuple[str, tuple[Any, ...]]:
    like = f"%{term}%"  # SQLite's LIKE ignores ASCII case, as core's ilike does
    cols = ("target", "detail", "action", "username", "origin")
    return "(" + " OR ".join(f"{c} LIKE ?" for c in cols) + ")", (like,) * len(cols)


def has_text_index(con: sqlite3.Connection) -> bool:
    return con.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (AUDIT_FTS,)).fetchone() is not None


def indexed_text_where(term: str) -> tuple[str, tuple[Any, ...]]:
    """The newest PAGE matches straight from the trigram index (substring, ASCII case ignored)."""
    sub = f"SELECT rowid FROM {AUDIT_FTS} WHERE {AUDIT_FTS} MATCH ? ORDER BY rowid DESC LIMIT ?"
    return f"id IN ({sub})", (match_phrase(term), PAGE)


def cases(con: sqlite3.Connection) -> list[Case]:
    top = con.execute("SELECT max(id) FROM audit_log").fetchone()[0]
    middle = top // 2
    busy_user = USERS[1]
    rare_user = USERS[-1]
    out = [
        Case("first page", AuditFilter(), None, "1", ()),
        Case("next page (before_id, 2nd page)", AuditFilter(), top - PAGE + 1, "id < ?", (top - PAGE + 1,)),
        Case("deep page (before_id = middle)", AuditFilter(), middle, "id < ?", (middle,)),
        Case(f"user = {busy_user} (busy)", AuditFilter(username=busy_user), None, "username = ?", (busy_user,)),
        Case(f"user = {rare_user} (rare)", AuditFilter(username=rare_user), None, "username = ?", (rare_user,)),
        Case("action = login.failed", AuditFilter(action="login.failed"), None, "action = ?", ("login.failed",)),
        Case("action = user.invite (rare)", AuditFilter(action="user.invite"), None, "action = ?", ("user.invite",)),
        Case("action = login* (prefix)", AuditFilter(action="login*"), None, "action LIKE ?", ("login%",)),
        Case("action = role* (rare prefix)", AuditFilter(action="role*"), None, "action LIKE ?", ("role%",)),
        Case(
            f"user + action ({busy_user}, login*)",
            AuditFilter(username=busy_user, action="login*"),
            None,
            "username = ? AND action LIKE ?",
            (busy_user, "login%"),
        ),
    ]
    indexed = has_text_index(con)
    for label, term in TEXT_TERMS:
        where, params = indexed_text_where(term) if indexed and len(term) >= 3 else text_where(term)
        out.append(Case(f"text '{term}' ({label})", AuditFilter(text=term), None, where, params))
    where, params = text_where("backup")
    out.append(
        Case(
            f"text + user ({busy_user}, 'backup')",
            AuditFilter(username=busy_user, text="backup"),
            None,
            f"username = ? AND {where}",
            (busy_user, *params),
        )
    )
    # The worst combined cases: nothing matches, so every row the other filter selects is read.
    where, params = text_where("no-such-thing")
    out.append(
        Case(
            f"text + user ({busy_user}, no match)",
            AuditFilter(username=busy_user, text="no-such-thing"),
            None,
            f"username = ? AND {where}",
            (busy_user, *params),
        )
    )
    out.append(
        Case(
            "text + action (login.failed, no match)",
            AuditFilter(action="login.failed", text="no-such-thing"),
            None,
            f"action = ? AND {where}",
            ("login.failed", *params),
        )
    )
    out.append(
        Case(
            "text + action (login*, no match)",
            AuditFilter(action="login*", text="no-such-thing"),
            None,
            f"action LIKE ? AND {where}",
            ("login%", *params),
        )
    )
    return out


# Free text: a term on many recent rows, one SSH peer (~0.08 % of rows), one service's check
# (~0.01 %), and a term on no row at all (the whole table is read).
TEXT_TERMS = (
    ("common", "web-frontend"),
    ("rare", "10.0.1.77"),
    ("rarer", "vpn-replica/ssh"),
    ("no match", "no-such-thing"),
)


def raw_page(con: sqlite3.Connection, case: Case) -> list[tuple[Any, ...]]:
    """The same page by hand: the columns the screen shows, newest first."""
    where, params = case.raw_where, case.raw_params
    if case.before_id is not None and "id < ?" not in where:
        where, params = f"id < ? AND {where}", (case.before_id, *params)
    return con.execute(
        "SELECT id, created_at, username, action, target, detail, origin FROM audit_log"
        f" WHERE {where} ORDER BY id DESC LIMIT ?",
        (*params, PAGE),
    ).fetchall()


def like_reference(con: sqlite3.Connection) -> None:
    """The free-text pages as a plain LIKE scan: what they cost without the text index."""
    print("\nfree text without the index (LIKE '%term%' over five columns, raw sqlite3):")
    for label, term in TEXT_TERMS:
        where, params = text_where(term)
        case = Case(term, AuditFilter(text=term), None, where, params)
        ms, rows = median_ms(lambda case=case: raw_page(con, case))
        print(f"  {f'text {term!r} ({label})':42} {ms:6.1f}ms  {len(rows):4} rows")


def median_ms(fn: Callable[[], Any], runs: int = RUNS) -> tuple[float, Any]:
    result = fn()  # warm-up (and the result to compare)
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


async def median_ms_async(fn: Callable[[], Awaitable[Any]], runs: int = RUNS) -> tuple[float, Any]:
    result = await fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        await fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times), result


async def bench(path: Path) -> int:
    home = path.parent / "home"
    url = f"sqlite:///{path}"
    core = Core(Config(database=DatabaseConfig(url=url)), Paths(home))
    await core.start()
    if await core.auth.setup_needed():
        await core.auth.create_admin("admin", PASSWORD)
    actor = (await core.auth.login("admin", PASSWORD)).actor

    # Capture core's SQL to show SQLite's plan for it.
    last_sql: list[tuple[str, Any]] = []

    def capture(conn: Any, cursor: Any, statement: str, parameters: Any, context: Any, many: bool) -> None:
        if "FROM audit_log" in statement:
            last_sql[:] = [(statement, parameters)]

    event.listen(core.db.engine, "before_cursor_execute", capture)

    raw = sqlite3.connect(path)
    raw.execute("PRAGMA journal_mode=WAL")
    total = raw.execute("SELECT count(*) FROM audit_log").fetchone()[0]
    print(
        f"audit_log: {total:,} rows in {path} ({path.stat().st_size / 1e6:.0f} MB); page = {PAGE} rows; "
        f"median of {RUNS} warm runs\n"
    )
    head = f"{'case':44} {'screen':>8} {'query':>8} {'raw':>8} {'ratio':>6}  rows  plan of core's query"
    print(head)
    print("-" * len(head))
    slow: list[str] = []
    for case in cases(raw):

        async def via_screen(case: Case = case) -> list[int]:
            rows = await core.audit.page(actor, case.flt, before_id=case.before_id, limit=PAGE)
            return [r.id for r in rows]

        def via_query(case: Case = case) -> list[int]:
            with core.db.session() as s:
                return [r.id for r in query_page(s, case.flt, before_id=case.before_id, limit=PAGE)]

        def via_raw(case: Case = case) -> list[int]:
            return [r[0] for r in raw_page(raw, case)]

        screen_ms, screen_ids = await median_ms_async(via_screen)
        query_ms, query_ids = median_ms(via_query)
        raw_ms, raw_ids = median_ms(via_raw)
        if not (screen_ids == query_ids == raw_ids):
            raise SystemExit(f"{case.name}: core and the raw query disagree")
        statement, params = last_sql[0]
        plan = " / ".join(row[3] for row in raw.execute(f"EXPLAIN QUERY PLAN {statement}", params))
        flag = "" if screen_ms < TARGET_MS else "  <-- SLOW"
        print(
            f"{case.name:44} {screen_ms:6.1f}ms {query_ms:6.1f}ms {raw_ms:6.1f}ms {screen_ms / raw_ms:5.1f}x"
            f"  {len(raw_ids):4}  {plan}{flag}"
        )
        if flag:
            slow.append(case.name)
    print(
        '\n("SCAN audit_log" under ORDER BY id DESC LIMIT walks the table newest first and stops when the'
        " page is full:\n cheap when many rows match, the whole table when few or none do.)"
    )
    like_reference(raw)
    raw.close()
    await core.aclose()
    print()
    if slow:
        print(f"over {TARGET_MS:.0f} ms: {', '.join(slow)}")
        return 1
    print(f"every case under {TARGET_MS:.0f} ms")
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--db", type=Path, help="build here (or reuse if it exists) and keep it")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="labtui-bench-audit-") as tmp:
        path = args.db.resolve() if args.db else Path(tmp) / "data" / "labtui.db"
        path.parent.mkdir(parents=True, exist_ok=True)
        if not path.exists():
            took = build(path, args.rows)
            print(f"built {args.rows:,} audit rows in {took:.1f} s")
        return asyncio.run(bench(path))


if __name__ == "__main__":
    sys.exit(main())
