"""Benchmark: refreshing 10,000 Vultr instances from the fake Vultr API.

A Core on the demo lab (real SQLite file) talks over HTTP to ``labtui/testing/fakes/vultr.py`` on
127.0.0.1 holding 10,000 instances (20 cursor pages of 500). Each figure is a whole
``core.instances.refresh`` as the ``r`` key or the ``refresh_instances`` task runs it: every
page fetched, CloudLab's cache stored, ``inventory/vultr.yml`` written, and the
``vultr_inventory`` sync bringing the ``server`` objects in step.

- first sync: 10,000 new server objects (target under 5 s);
- no-change resync: the same answer again, nothing written (target under 2 s);
- one-change resync: one instance halted upstream (for reference).

The baseline, measured in the same run, is fetching the 20 pages alone; each figure is also
printed as a ratio to it.

    /work/venv/bin/python tests/bench/bench_vultr_sync.py [--instances 10000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from labtui.core.actor import Actor
from labtui.core.config import Config, VultrConfig
from labtui.core.integrations.vultr import VultrClient
from labtui.core.runtime import Core, Paths
from labtui.testing.fakes.vultr import DEFAULT_KEY, FakeVultr

FIRST_TARGET_S = 5.0
RESYNC_TARGET_S = 2.0


async def bench(count: int) -> int:
    with FakeVultr() as fake, tempfile.TemporaryDirectory() as tmp:
        fake.add_instances(count)
        config = Config(vultr=VultrConfig(base_url=fake.base_url, api_key=DEFAULT_KEY))
        core = Core(config, Paths(Path(tmp) / "home"))
        await core.start()
        actor = Actor.system("bench")
        try:
            t0 = time.perf_counter()
            async with VultrClient(fake.base_url, DEFAULT_KEY) as client:
                fetched = await client.list_instances()
            baseline = time.perf_counter() - t0
            assert len(fetched) == count

            t0 = time.perf_counter()
            first = await core.instances.refresh(actor)
            first_s = time.perf_counter() - t0
            assert first.count == count and first.synced[0][1]["added"] == count, first.synced

            t0 = time.perf_counter()
            again = await core.instances.refresh(actor)
            resync_s = time.perf_counter() - t0
            assert not again.changed and again.synced[0][1]["unchanged"] == count, again.synced

            next(iter(fake.instances.values()))["power_status"] = "stopped"
            t0 = time.perf_counter()
            one = await core.instances.refresh(actor)
            one_s = time.perf_counter() - t0
            assert one.synced[0][1]["updated"] == 1, one.synced
        finally:
            await core.aclose()

    print(f"vultr refresh of {count:,} instances ({len(fake.calls('GET', '/v2/instances')) // 4} pages each):")
    print(f"  fetch only (baseline):  {baseline:6.2f} s")
    print(
        f"  first sync:             {first_s:6.2f} s  ({first_s / baseline:4.1f}x baseline; target < {FIRST_TARGET_S:g} s)"
    )
    print(
        f"  no-change resync:       {resync_s:6.2f} s  ({resync_s / baseline:4.1f}x baseline; target < {RESYNC_TARGET_S:g} s)"
    )
    print(f"  one-change resync:      {one_s:6.2f} s  ({one_s / baseline:4.1f}x baseline)")
    ok = first_s < FIRST_TARGET_S and resync_s < RESYNC_TARGET_S
    print("  " + ("within targets" if ok else "OVER TARGET"))
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instances", type=int, default=10_000)
    args = parser.parse_args()
    return asyncio.run(bench(args.instances))


if __name__ == "__main__":
    raise SystemExit(main())
