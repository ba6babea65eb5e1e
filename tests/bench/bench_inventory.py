"""Benchmark: inventory listings over 100,000 objects.

Builds a real labtui SQLite file (a Core started on the demo lab), then fills it through
sqlite3 ``executemany`` with 100,000 objects over the demo's six types (realistic field values
and search text), 31 tags on ~140,000 object links (one tag on only 20 objects), 6,000 ACL entries and tag grants. Two
users: ``admin`` (super-admin, holds ``*``: no checks) and ``vera``, in two roles — one with
``inventory.{server,network}.view``, one holding only ACL allows, ACL denies and a tag grant
(so every layer of the access order is in play).

Each case is the first page (100 rows) of ``core.inventory.list`` as the screen awaits it
(worker thread, access order in SQL, ORM rows, JSON decoded, tags of the page), median of
several warm runs. Targets (issue 4): a text or tag filter under 50 ms; a viewer's listing
under 200 ms, with its ratio to super-admin's listing.

    /work/venv/bin/python tests/bench/bench_inventory.py [--objects 100000] [--runs 7]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import select

from labtui.core.actor import Actor
from labtui.core.config import Config
from labtui.core.db.models import Role
from labtui.core.inventory import access
from labtui.core.inventory.objects import Search
from labtui.core.inventory.values import search_text
from labtui.core.runtime import Core, Paths

FILTER_TARGET_MS = 50.0
VIEWER_TARGET_MS = 200.0
PAGE = 100
REGIONS = ["ams", "fra", "lhr", "ewr", "sjc", "nrt", "syd", "sgp"]
WORDS = ["web", "db", "cache", "queue", "api", "auth", "search", "metrics", "logs", "mail", "vpn", "git"]


def fake_data(kind: str, i: int, rng: random.Random) -> dict[str, Any]:
    word = rng.choice(WORDS)
    if kind == "server":
        return {
            "hostname": f"{word}-{i:06d}",
            "ip_address": f"10.{i // 65536 % 256}.{i // 256 % 256}.{i % 256}",
            "region": rng.choice(REGIONS),
            "plan": "vc2-1c-1gb",
            "os": "Debian 12",
            "power_status": rng.choice(["running", "stopped"]),
            "vultr_id": f"{i:08x}-aaaa",
            "vultr_label": f"{word}{i}",
            "vultr_tags": [word, rng.choice(REGIONS)],
        }
    if kind == "network":
        return {
            "name": f"net-{word}-{i}",
            "cidr": f"10.{i % 256}.{i // 256 % 256}.0/24",
            "vlan": i % 4000,
            "dhcp": bool(i % 2),
        }
    if kind == "credential":
        return {"name": f"{word} credential {i}", "kind": "password", "username": f"svc_{word}"}
    if kind == "service":
        return {"name": f"{word}-svc-{i}", "service_dir": f"services/{word}-svc-{i}", "status": "available"}
    if kind == "deployment":
        return {
            "service_name": f"{word}-svc-{i % 500}",
            "deployment_id": f"{word}-{i:08d}",
            "hostname": f"{word}-{i % 5000:06d}",
            "status": "completed",
            "deployed_by": "admin",
            "job_id": f"{i:08x}",
        }
    return {"username": f"user{i}", "display_name": f"User {i}", "email": f"user{i}@lab.example", "status": "active"}


async def build(home: Path, n: int, seed: int = 1) -> tuple[Core, Actor, Actor]:
    core = Core(Config(), Paths(home))
    await core.start()
    await core.auth.create_admin("admin", "pw-Admin-123")
    admin = (await core.auth.login("admin", "pw-Admin-123")).actor
    await core.rbac.create_role(admin, "team-view", permissions={"inventory.server.view", "inventory.network.view"})
    await core.rbac.create_role(admin, "team-extra", permissions=set())
    await core.users.create(admin, "vera", "password-123", roles=["team-view", "team-extra"])
    vera = (await core.auth.login("vera", "password-123")).actor
    for t in range(30):
        await core.inventory.tags.create(admin, f"team-{t}", f"#{t * 8:02x}9988")
    await core.inventory.tags.create(admin, "rare", "#ff0000")  # on 20 objects only
    await core.inventory.acl.grant(admin, "team-3", "team-extra", "view")

    rng = random.Random(seed)
    type_ids = await core.db.run(access.type_ids)
    role_ids = await core.db.run(lambda s: dict(s.execute(select(Role.name, Role.id)).all()))
    kinds = (
        ["server"] * 40 + ["network"] * 15 + ["credential"] * 15 + ["service"] * 10 + ["deployment"] * 15 + ["user"] * 5
    )
    objects, tags, acl = [], [], []
    start_id = 1_000_000
    for i in range(n):
        kind = kinds[i % len(kinds)] if rng.random() < 0.5 else rng.choice(kinds)
        data = fake_data(kind, i, rng)
        oid = start_id + i
        objects.append(
            (
                oid,
                type_ids[kind],
                json.dumps(data),
                "{}",
                search_text(core.inventory_types[kind], data),
                "bench",
                "2024-01-01 00:00:00",
                "2024-01-01 00:00:00",
                0,
            )
        )
        for t in rng.sample(range(30), rng.choice([0, 1, 1, 2, 3])):
            tags.append((oid, t + 1))
        if i % (n // 20) == 7:
            tags.append((oid, 31))
        roll = rng.random()
        if roll < 0.03 and kind == "server":
            acl.append((oid, role_ids["team-view"], "view", "deny"))
        elif roll < 0.05:
            acl.append((oid, role_ids["team-extra"], "view", "allow"))
    db_file = core.paths.database
    con = sqlite3.connect(db_file)
    tag_ids = [r[0] for r in con.execute("SELECT id FROM inventory_tags ORDER BY id")]
    with con:
        con.executemany(
            "INSERT INTO inventory_objects (id, type_id, data, secrets, search_text, created_by, created_at, updated_at, stale)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            objects,
        )
        con.executemany(
            "INSERT INTO object_tags (object_id, tag_id) VALUES (?, ?)", [(o, tag_ids[t - 1]) for o, t in tags]
        )
        con.executemany(
            "INSERT INTO object_acl (object_id, role_id, permission, effect, created_at) VALUES (?, ?, ?, ?, '2024-01-01')",
            acl,
        )
    con.close()
    print(f"built: {n:,} objects, {len(tags):,} tag links, {len(acl):,} ACL entries, 1 tag grant")
    return core, admin, vera


async def timed(fn: Any, runs: int) -> tuple[float, Any]:
    await fn()  # warm
    samples = []
    result = None
    for _ in range(runs):
        t0 = time.perf_counter()
        result = await fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), result


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--objects", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        core, admin, vera = await build(Path(tmp) / "home", args.objects)
        print(f"setup: {time.perf_counter() - t0:.1f} s")
        inv = core.inventory
        cases: list[tuple[str, Actor, dict[str, Any], float | None]] = [
            ("super-admin, all objects", admin, {}, None),
            ("super-admin, text 'web' (common)", admin, {"search": "web"}, FILTER_TARGET_MS),
            ("super-admin, text 'db-000123' (rare)", admin, {"search": "db-000123"}, FILTER_TARGET_MS),
            ("super-admin, text with no match", admin, {"search": "zzz-nothing"}, FILTER_TARGET_MS),
            ("super-admin, tag:team-7", admin, {"search": "tag:team-7"}, FILTER_TARGET_MS),
            ("super-admin, tag:rare (20 objects)", admin, {"search": "tag:rare"}, FILTER_TARGET_MS),
            ("super-admin, type server + text 'fra'", admin, {"type": "server", "search": "fra"}, FILTER_TARGET_MS),
            ("viewer, all objects", vera, {}, VIEWER_TARGET_MS),
            ("viewer, text 'web'", vera, {"search": "web"}, FILTER_TARGET_MS),
            ("viewer, text with no match", vera, {"search": "zzz-nothing"}, FILTER_TARGET_MS),
            ("viewer, tag:team-7", vera, {"search": "tag:team-7"}, FILTER_TARGET_MS),
            ("viewer, tag:rare (20 objects)", vera, {"search": "tag:rare"}, FILTER_TARGET_MS),
            ("viewer, type credential (ACL/tag only)", vera, {"type": "credential"}, VIEWER_TARGET_MS),
        ]
        failed = 0
        results: dict[str, float] = {}
        print(f"\n{'case':45} {'first page':>12} {'rows':>6}  target")
        for name, actor, kw, target in cases:
            ms, page = await timed(lambda a=actor, k=kw: inv.list(a, limit=PAGE, **k), args.runs)
            results[name] = ms
            ok = target is None or ms < target
            failed += not ok
            print(
                f"{name:45} {ms:9.1f} ms {len(page.items):6}  {'' if target is None else f'< {target:.0f} ms ' + ('ok' if ok else 'MISSED')}"
            )
        ratio = results["viewer, all objects"] / results["super-admin, all objects"]
        print(f"\nviewer listing / super-admin listing: x{ratio:.2f}")
        # Counts (not a target): the sidebar's per-type counts and a listing's total, for the viewer.
        ms, counts = await timed(lambda: inv.counts_by_type(vera), 3)
        print(f"viewer counts by type: {ms:.1f} ms ({sum(counts.values()):,} visible of {args.objects:,})")
        ms, _ = await timed(lambda: inv.counts_by_type(admin), 3)
        print(f"super-admin counts by type: {ms:.1f} ms")

        # The plan of the viewer's listing, for the record.
        def plan(s: Any) -> list[str]:
            from sqlalchemy.dialects import sqlite

            listing = inv._filtered(s, vera, None, Search.parse(""))
            assert listing is not None
            stmt = listing.stmt.order_by(listing.key.desc()).limit(PAGE + 1)
            sql = str(stmt.compile(dialect=sqlite.dialect(), compile_kwargs={"literal_binds": True}))
            return [r[-1] for r in s.connection().exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]

        print("viewer listing plan:\n  " + "\n  ".join(await core.db.run(plan)))
        await core.aclose()
    print("\nall targets met" if not failed else f"\n{failed} target(s) missed")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
