"""The inventory type loader: the demo types, errors with file/line/type/field, DB change detection."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from sqlalchemy import select

from labtui.core.config import DEMO_LAB
from labtui.core.db.engine import Database
from labtui.core.db.models import InventoryType
from labtui.core.inventory.types import (
    load_inventory_types,
    permission_defs,
    sync_types_to_db,
)

DEMO_SLUGS = {"server", "service", "deployment", "user", "credential", "network"}

BROKEN = """\
slug: gadget
label: Gadget
fields:
  - name: name
    type: string
  - name: size
    type: float
"""


def lab_with_demo_types(tmp_path: Path) -> Path:
    lab = tmp_path / "lab"
    shutil.copytree(DEMO_LAB / "inventory_types", lab / "inventory_types")
    return lab


def test_demo_types_load_without_errors() -> None:
    report = load_inventory_types(DEMO_LAB)
    assert report.errors == [] and report.warnings == []
    types = report.by_slug
    assert set(types) == DEMO_SLUGS
    # Sorted filename order.
    assert [t.filename for t in report.types] == sorted(t.filename for t in report.types)
    server = types["server"]
    assert [f.name for f in server.fields] == [
        "hostname",
        "ip_address",
        "region",
        "plan",
        "os",
        "power_status",
        "vultr_id",
        "vultr_label",
        "vultr_tags",
    ]
    assert server.field("vultr_tags").type == "json"  # type: ignore[union-attr]
    assert server.field("hostname").unique and server.field("vultr_id").readonly  # type: ignore[union-attr]
    assert server.action("ssh").is_ssh  # type: ignore[union-attr]
    assert {t.slug: t.sync for t in report.types} == {
        "credential": None,
        "deployment": "deployment_sync",
        "network": None,
        "server": "vultr_inventory",
        "service": "service_discovery",
        "user": "user_sync",
    }
    assert any(f.type == "secret" for f in types["credential"].fields)
    assert len(server.config_hash) == 64
    stop = types["service"].action("stop")
    assert stop is not None and stop.destructive and stop.type == "script_stop"


def test_permissions_of_the_demo_types() -> None:
    codes = {d.codename: d for d in permission_defs(load_inventory_types(DEMO_LAB).types)}
    assert {"inventory.server.view", "inventory.server.ssh", "inventory.service.run_script"} <= set(codes)
    assert codes["inventory.server.view"].label == "View Servers"
    assert codes["inventory.server.ssh"].label == "SSH (Server)"


def test_an_invalid_file_is_reported_and_the_others_load(tmp_path: Path) -> None:
    lab = lab_with_demo_types(tmp_path)
    (lab / "inventory_types" / "broken.yaml").write_text(BROKEN)
    (lab / "inventory_types" / "notes.txt").write_text("not a type file")
    report = load_inventory_types(lab)
    assert set(report.by_slug) == DEMO_SLUGS
    assert len(report.errors) == 1
    assert str(report.errors[0]).startswith(
        "inventory_types/broken.yaml:7: type 'gadget', field 'size': unknown field type 'float'"
    )
    assert report.broken_slugs == {"gadget"}


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("label: X\nfields: []\n", ["t.yaml:1: missing required key 'slug'"]),
        ("slug: x\nfields: []\n", ["t.yaml:1: type 'x': missing required key 'label'"]),
        ("slug: x\nlabel: X\n", ["t.yaml:1: type 'x': missing required key 'fields'"]),
        ("slug: x\nlabel: X\nfields:\n  - name: a\n", ["t.yaml:4: type 'x', field 'a': a field needs a 'type'"]),
        ("slug: x\nlabel: X\nfields:\n  - type: string\n", ["t.yaml:4: type 'x': a field needs a 'name'"]),
        (
            "slug: x\nlabel: X\nfields:\n  - name: s\n    type: enum\n",
            ["t.yaml:4: type 'x', field 's': an enum field needs 'options'"],
        ),
        (
            "slug: x\nlabel: X\nfields:\n  - name: a\n    type: string\n  - name: a\n    type: text\n",
            ["t.yaml:6: type 'x', field 'a': duplicate field name (first defined on line 4)"],
        ),
        (
            # Every problem of a file is reported, each on its own line.
            "slug: x\nlabel: X\nfields:\n  - name: a\n    type: money\n  - name: b\n    type: string\n    required: maybe\n",
            [
                "t.yaml:5: type 'x', field 'a': unknown field type 'money'",
                "t.yaml:8: type 'x', field 'b': 'required' must be true or false, got 'maybe'",
            ],
        ),
        (
            "slug: x\nlabel: X\nfields: []\nactions:\n  - name: go\n    scope: everywhere\n",
            ["t.yaml:6: type 'x', action 'go': scope must be one of object, type, got 'everywhere'"],
        ),
        (
            "slug: x\nlabel: X\nfields: []\nactions:\n  - name: go\n    type: playbook\n",
            ["t.yaml:5: type 'x', action 'go': a playbook action needs 'playbook'"],
        ),
        (
            "slug: x\nlabel: X\nfields: []\nsync: [a]\n",
            ["t.yaml:4: type 'x': 'sync' must be a source name or {source: name}"],
        ),
        ("slug: x\nlabel: [X\n", ["t.yaml:3: invalid YAML"]),
        ("- slug: x\n", ["t.yaml:1: a type file must be a mapping of keys"]),
        ("", ["t.yaml: the file is empty"]),
        ("slug: a.b\nlabel: X\nfields: []\n", ["t.yaml:1: slug 'a.b' must be"]),
    ],
)
def test_validation_messages(tmp_path: Path, text: str, expected: list[str]) -> None:
    folder = tmp_path / "inventory_types"
    folder.mkdir()
    (folder / "t.yaml").write_text(text)
    report = load_inventory_types(tmp_path)
    assert report.types == []
    messages = [str(e) for e in report.errors]
    assert len(messages) == len(expected)
    for message, start in zip(messages, expected, strict=True):
        assert message.startswith(f"inventory_types/{start}"), message


def test_duplicate_slug_keeps_the_first_file(tmp_path: Path) -> None:
    folder = tmp_path / "inventory_types"
    folder.mkdir()
    (folder / "a.yaml").write_text("slug: box\nlabel: First\nfields: []\n")
    (folder / "b.yml").write_text("slug: box\nlabel: Second\nfields: []\n")
    report = load_inventory_types(tmp_path)
    assert [t.label for t in report.types] == ["First"]
    assert [str(e) for e in report.errors] == [
        "inventory_types/b.yml:1: type 'box': duplicate slug: already defined in inventory_types/a.yaml"
    ]


def test_sync_forms_and_cloudlabs_adapter_trap(tmp_path: Path) -> None:
    folder = tmp_path / "inventory_types"
    folder.mkdir()
    (folder / "a.yaml").write_text("slug: a\nlabel: A\nfields: []\nsync: {source: vultr_inventory}\n")
    (folder / "b.yaml").write_text("slug: b\nlabel: B\nfields: []\nsync:\n  adapter: vultr\n")
    report = load_inventory_types(tmp_path)
    assert {t.slug: t.sync for t in report.types} == {"a": "vultr_inventory", "b": None}
    assert report.warnings == [
        "inventory_types/b.yaml: type 'b': line 5: 'sync' has no 'source' key, so this type is not synced"
    ]


def test_missing_folder_is_no_types(tmp_path: Path) -> None:
    report = load_inventory_types(tmp_path)
    assert report.types == [] and report.errors == [] and report.folder_missing


def test_db_change_detection_and_removed_types(tmp_path: Path) -> None:
    lab = lab_with_demo_types(tmp_path)
    db = Database(f"sqlite:///{tmp_path / 'labtui.db'}")
    db.create_schema()

    def sync() -> tuple[list[str], list[str], list[str], list[str]]:
        report = load_inventory_types(lab)
        with db.session() as s:
            sync_types_to_db(s, report)
        return sorted(report.added), report.changed, report.removed, sorted(report.unchanged)

    def rows() -> dict[str, InventoryType]:
        with db.session() as s:
            return {r.slug: r for r in s.scalars(select(InventoryType))}

    try:
        assert sync() == (sorted(DEMO_SLUGS), [], [], [])
        assert sync() == ([], [], [], sorted(DEMO_SLUGS))
        old_hash = rows()["network"].config_hash

        network = lab / "inventory_types" / "network.yaml"
        network.write_text(network.read_text().replace("label: Network", "label: Net"))
        assert sync() == ([], ["network"], [], sorted(DEMO_SLUGS - {"network"}))
        assert rows()["network"].label == "Net" and rows()["network"].config_hash != old_hash

        (lab / "inventory_types" / "credential.yaml").unlink()
        assert sync()[2] == ["credential"]
        credential = rows()["credential"]
        assert credential.removed and credential.label == "Credential"  # flagged, never deleted
        assert sync()[2] == []  # reported once

        # A file that is present but broken does not mark its type removed.
        network.write_text(BROKEN.replace("gadget", "network"))
        assert sync()[2] == [] and not rows()["network"].removed

        shutil.copy(DEMO_LAB / "inventory_types" / "credential.yaml", lab / "inventory_types")
        assert "credential" in sync()[1]
        assert not rows()["credential"].removed
    finally:
        db.dispose()
