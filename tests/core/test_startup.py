"""The whole startup sequence on a real data dir: log, idempotence, reported problems."""

from __future__ import annotations

import logging
import shutil
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest
from sqlalchemy import func, select

from labtui.core.config import DEMO_LAB, Config, LabConfig
from labtui.core.db.models import InventoryType, Permission, Role
from labtui.core.errors import StartupError
from labtui.core.inventory.types import InventoryTypeDef
from labtui.core.runtime import Core, Paths, setup_logging
from labtui.core.sync import adapters
from tests.conftest import MakeCore


@pytest.fixture
def log_file(tmp_path: Path) -> Iterator[Path]:
    """labtui's real file logging on the test's data dir, undone afterwards."""
    paths = Paths(tmp_path / "home")
    root = logging.getLogger("labtui")
    before = (list(root.handlers), root.level, root.propagate)
    setup_logging(paths)
    yield paths.log
    for handler in root.handlers:
        if handler not in before[0]:
            handler.close()
    root.handlers[:] = before[0]
    root.setLevel(before[1])
    root.propagate = before[2]


def copy_lab(tmp_path: Path) -> Path:
    lab = tmp_path / "mylab"
    shutil.copytree(DEMO_LAB / "inventory_types", lab / "inventory_types")
    (lab / "config.yml").write_text("domain_name: test.localhost\n")
    return lab


async def counts(core: Core) -> tuple[int, int, int]:
    def q(s: object) -> tuple[int, int, int]:
        return (
            s.scalar(select(func.count()).select_from(Permission)),  # type: ignore[attr-defined]
            s.scalar(select(func.count()).select_from(Role)),  # type: ignore[attr-defined]
            s.scalar(select(func.count()).select_from(InventoryType)),  # type: ignore[attr-defined]
        )

    return await core.db.run(q)


async def test_startup_logs_each_step_in_order(make_core: MakeCore, log_file: Path) -> None:
    core = await make_core()
    text = log_file.read_text()
    steps = [
        "labtui.startup: startup actions: none configured",
        f"labtui.startup: lab repo {DEMO_LAB}: cloned",
        "labtui.startup: symlinks: none configured",
        "labtui.startup: database: created tables",
        "labtui.startup: inventory types: 6 loaded",
        "labtui.startup: permissions seeded",
        "labtui.startup: sync adapters: 4 ran, 0 failed, 0 not available yet",
        "labtui.startup: startup: done",
    ]
    positions = [text.find(step) for step in steps]
    assert -1 not in positions, text
    assert positions == sorted(positions)
    assert core.startup_report == []
    assert (core.lab_dir / "inventory_types" / "server.yaml").exists()


async def test_second_start_is_idempotent(make_core: MakeCore, log_file: Path) -> None:
    first = await make_core()
    before = await counts(first)
    second = await make_core()
    assert await counts(second) == before
    assert second.startup_report == []
    assert set(second.inventory_types) == {"server", "service", "deployment", "user", "credential", "network"}
    log = log_file.read_text()
    assert f"lab repo {DEMO_LAB}: up to date" in log
    assert "added none, changed none, removed none" in log


async def test_types_register_permissions_before_seeding(make_core: MakeCore) -> None:
    core = await make_core()
    assert isinstance(core.inventory_types["server"], InventoryTypeDef)

    def q(s: object) -> tuple[set[str], set[str]]:
        codes = set(s.scalars(select(Permission.codename)))  # type: ignore[attr-defined]
        operator = s.scalar(select(Role).where(Role.name == "operator"))  # type: ignore[attr-defined]
        return codes, {p.codename for p in operator.permissions}

    codes, operator = await core.db.run(q)
    assert {"inventory.server.view", "inventory.server.ssh", "inventory.credential.delete"} <= codes
    assert {"inventory.server.view", "inventory.server.edit"} <= operator
    assert "inventory.server.delete" not in operator


async def test_failing_startup_action_stops_startup(make_core: MakeCore, tmp_path: Path) -> None:
    actions = tmp_path / "startup_action.conf.yaml"
    actions.write_text(f"prepare:\n  - RUN {sys.executable} -c \"print('no vault'); raise SystemExit(1)\"\n")
    with pytest.raises(StartupError, match=rf"^{actions}:2: RUN .*failed with exit status 1:\nno vault"):
        await make_core(Config(lab=LabConfig(startup_actions=str(actions))))


async def test_startup_action_relative_to_the_config_file(make_core: MakeCore, tmp_path: Path) -> None:
    (tmp_path / "actions.yaml").write_text("a:\n  - RETURN ok\n  - BOGUS\n")
    config = Config(lab=LabConfig(startup_actions="actions.yaml"))
    config.source = tmp_path / "config.yaml"
    with pytest.raises(StartupError, match=r"actions.yaml:3: unknown verb 'BOGUS'"):
        await make_core(config)


async def test_a_missing_returned_startup_config_is_reported_when_lab_repo_is_set(
    make_core: MakeCore, tmp_path: Path
) -> None:
    actions = tmp_path / "startup_action.conf.yaml"
    actions.write_text(f"startup_action:\n  - RETURN {tmp_path}/cloudlabsettings/startup.conf.yaml\n")
    core = await make_core(Config(lab=LabConfig(repo=str(DEMO_LAB), startup_actions=str(actions))))
    assert core.startup_report == [
        f"startup config {tmp_path}/cloudlabsettings/startup.conf.yaml (the RETURN of {actions}) does not exist: lab.repo is used"
    ]
    assert (core.lab_dir / "services" / "greet").is_dir()

    # Without lab.repo the lab was to come from it: labtui does not start on the demo lab.
    with pytest.raises(StartupError, match="cannot read the startup config its RETURN names"):
        await make_core(Config(lab=LabConfig(startup_actions=str(actions))))


async def test_broken_type_file_is_reported_and_startup_goes_on(make_core: MakeCore, tmp_path: Path) -> None:
    lab = copy_lab(tmp_path)
    (lab / "inventory_types" / "switch.yaml").write_text(
        "slug: switch\nlabel: Switch\nfields:\n  - name: ports\n    type: integer\n  - name: speed\n    type: float\n"
    )
    core = await make_core(Config(lab=LabConfig(repo=str(lab))))
    assert len(core.startup_report) == 1
    assert core.startup_report[0].startswith(
        "inventory type skipped: inventory_types/switch.yaml:7: type 'switch', field 'speed': unknown field type 'float'"
    )
    assert "server" in core.inventory_types and "switch" not in core.inventory_types


async def test_symlinks_and_problems_go_to_the_report(make_core: MakeCore, tmp_path: Path) -> None:
    lab = copy_lab(tmp_path)
    real = tmp_path / "real-dir"
    real.mkdir()
    links = {str(tmp_path / "links" / "inventory_types"): "inventory_types", str(real): "config.yml", "vault": "vault"}
    core = await make_core(Config(lab=LabConfig(repo=str(lab), symlinks=links)))
    assert (tmp_path / "links" / "inventory_types").resolve() == core.lab_dir / "inventory_types"
    assert core.startup_report == [
        f"symlink {real}: a real folder is there, left untouched",
        f"symlink {tmp_path / 'home' / 'vault'}: target {core.lab_dir / 'vault'} does not exist, skipped",
    ]


async def test_unreachable_lab_is_reported_not_fatal(make_core: MakeCore, tmp_path: Path) -> None:
    core = await make_core(Config(lab=LabConfig(repo="file:///nonexistent/labtui-lab.git")))
    assert len(core.startup_report) == 1
    assert core.startup_report[0].startswith("lab repo: git clone")
    assert core.startup_report[0].endswith("(no lab is available)")
    assert core.inventory_types == {}


async def test_sync_adapters_run_fail_and_unknown_sources_are_reported(make_core: MakeCore, tmp_path: Path) -> None:
    lab = tmp_path / "mylab"
    (lab / "inventory_types").mkdir(parents=True)
    for slug, source in (
        ("a", "labtui_test_ok"),
        ("b", "labtui_test_boom"),
        ("c", "no_such_source"),
        ("d", "vultr_inventory"),
    ):
        (lab / "inventory_types" / f"{slug}.yaml").write_text(
            f"slug: {slug}\nlabel: {slug.upper()}\nfields: []\nsync: {source}\n"
        )
    seen: list[tuple[str, int]] = []

    async def ok(core: Core, type_def: InventoryTypeDef) -> Mapping[str, int]:
        seen.append((type_def.slug, len(core.inventory_types)))
        return {"added": 2}

    async def boom(core: Core, type_def: InventoryTypeDef) -> Mapping[str, int]:
        raise RuntimeError("API unreachable")

    adapters.add("labtui_test_ok", ok)
    adapters.add("labtui_test_boom", boom)
    try:
        core = await make_core(Config(lab=LabConfig(repo=str(lab))))
    finally:
        adapters.remove("labtui_test_ok")
        adapters.remove("labtui_test_boom")
    assert seen == [("a", 4)]
    assert core.startup_report[0] == "sync of type 'b' failed: API unreachable"
    assert core.startup_report[1].startswith("type 'c' names sync source 'no_such_source', which no adapter provides")
    assert len(core.startup_report) == 2
