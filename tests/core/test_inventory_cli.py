"""``labtui inventory`` as a separate process on a data dir a test core prepared: the CLI
shows exactly what core shows the same user (never more), secrets stay hidden, and sync
runs with the user's permissions."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from labtui.core.actor import Actor
from labtui.core.runtime import Core
from tests.core.test_inventory_access import _setup_mixed


def cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LABTUI_HOME"}
    return subprocess.run(
        [sys.executable, "-m", "labtui", "--home", str(home), *args],
        check=False,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


async def test_cli_lists_what_core_shows_each_user(core: Core, admin: Actor) -> None:
    viewer, limited, ids = await _setup_mixed(core, admin)
    await core.inventory.sync(admin)  # so the CLI's own startup sync has nothing left to add
    home = core.paths.home
    for name, actor in (("vera", viewer), ("lim", limited), ("admin", admin)):
        page = await core.inventory.list(actor, limit=1000)
        out = cli(home, "inventory", "list", "--as", name, "--json", "--limit", "1000")
        assert out.returncode == 0, out.stderr
        listed = json.loads(out.stdout)
        assert [o["id"] for o in listed] == [o.id for o in page.items]
        assert listed == [o.as_json() for o in page.items]
        count = cli(home, "inventory", "list", "--as", name, "--count")
        assert int(count.stdout) == await core.inventory.count(actor) == len(page.items)
    all_ids = {o.id for o in (await core.inventory.list(admin, limit=1000)).items}
    vera_ids = {o.id for o in (await core.inventory.list(viewer, limit=1000)).items}
    assert set(ids) <= all_ids and vera_ids < all_ids
    # Filters, and the secret values never printed.
    out = cli(home, "inventory", "list", "--as", "lim", "--type", "network", "--tag", "blue", "--json")
    assert [o["id"] for o in json.loads(out.stdout)] == [
        o.id for o in (await core.inventory.list(limited, type="network", tags=["blue"])).items
    ]
    out = cli(home, "inventory", "list", "--as", "admin", "--type", "credential")
    assert out.returncode == 0 and "cred1" in out.stdout and "s3cret" not in out.stdout


async def test_cli_show_types_and_sync(core: Core, admin: Actor) -> None:
    await core.users.create(admin, "vera", "password-123", roles=["viewer"])
    cred = await core.inventory.create(admin, "credential", {"name": "db", "username": "root", "secret": "hunter2-XYZ"})
    hidden = await core.inventory.create(admin, "network", {"name": "lan", "cidr": "10.0.0.0/24"})
    await core.inventory.acl.set_entry(admin, hidden.id, "viewer", "view", "deny")
    home = core.paths.home

    types = json.loads(cli(home, "inventory", "types", "--json").stdout)
    assert [t["slug"] for t in types] == ["credential", "deployment", "network", "server", "service", "user"]
    assert {f["name"]: f["type"] for f in types[0]["fields"]}["secret"] == "secret"

    shown = cli(home, "inventory", "show", str(cred.id), "--as", "vera")
    assert shown.returncode == 0, shown.stderr
    assert "Credential #" in shown.stdout and "Secret" in shown.stdout and "(set)" in shown.stdout
    assert "hunter2" not in shown.stdout
    as_json = json.loads(cli(home, "inventory", "show", str(cred.id), "--as", "admin", "--json").stdout)
    assert as_json["secrets"] == {"secret": True} and "hunter2" not in json.dumps(as_json)
    denied = cli(home, "inventory", "show", str(hidden.id), "--as", "vera")
    assert denied.returncode == 1 and f"No inventory object {hidden.id}" in denied.stderr

    ran = cli(home, "inventory", "sync", "service_discovery", "--as", "admin")
    assert ran.returncode == 0, ran.stderr
    assert ran.stdout.strip() == "service_discovery -> service: 0 added, 0 updated, 5 unchanged, 0 stale, 0 revived"
    refused = cli(home, "inventory", "sync", "service_discovery", "--as", "vera")
    assert refused.returncode == 1 and "inventory.service.edit" in refused.stderr
    unknown = cli(home, "inventory", "sync", "nope", "--as", "admin")
    assert unknown.returncode == 2 and "Unknown sync source 'nope'" in unknown.stderr
