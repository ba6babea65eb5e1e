"""An existing database gains the columns added since it was created (real SQLite files)."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import (
    Boolean,
    Column,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    inspect,
    text,
)

from labtui.core.db.engine import Database
from labtui.core.db.upgrade import UpgradeError, add_missing_columns


def test_a_database_missing_columns_gets_them_back_with_defaults_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "labtui.db"
    db = Database(f"sqlite:///{path}")
    assert "created tables" in db.create_schema()
    db.dispose()
    # As an older labtui left it: a job row, and two columns that came later missing.
    with sqlite3.connect(path) as conn:
        conn.execute(
            "INSERT INTO jobs (id, service, action, status, username, created_at, cancel_requested, output_lines) "
            "VALUES ('j1', 'hello', 'deploy', 'completed', 'alice', '2026-01-01 00:00:00', 0, 3)"
        )
        conn.execute("ALTER TABLE jobs DROP COLUMN deployment_id")
        conn.execute("ALTER TABLE jobs DROP COLUMN cancel_requested")

    db = Database(f"sqlite:///{path}")
    report = db.create_schema()
    assert "added columns: jobs.deployment_id, jobs.cancel_requested" in report  # the model's column order
    with db.engine.connect() as conn:
        row = conn.execute(text("SELECT id, deployment_id, cancel_requested, output_lines FROM jobs")).one()
    assert tuple(row) == ("j1", None, 0, 3)
    assert db.create_schema() == "schema up to date"
    db.dispose()


def test_not_null_without_default_is_refused_and_new_indexes_are_made(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'x.db'}")
    old = MetaData()
    Table("things", old, Column("id", Integer, primary_key=True))
    old.create_all(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO things (id) VALUES (1)"))

    new = MetaData()
    Table(
        "things",
        new,
        Column("id", Integer, primary_key=True),
        Column("label", String(20), index=True),
        Column("enabled", Boolean, nullable=False, default=True),
    )
    with engine.begin() as conn:
        assert add_missing_columns(conn, new) == ["things.label", "things.enabled"]
        assert conn.execute(text("SELECT enabled FROM things")).scalar_one() == 1
    assert [i["column_names"] for i in inspect(engine).get_indexes("things")] == [["label"]]

    newer = MetaData()
    Table("things", newer, Column("id", Integer, primary_key=True), Column("owner", String(20), nullable=False))
    with engine.begin() as conn, pytest.raises(UpgradeError, match="things.owner is NOT NULL"):
        add_missing_columns(conn, newer)


def test_inventory_actions_stored_before_the_object_column_get_it(tmp_path: Path) -> None:
    """Jobs kept an inventory action's object only in their inputs; the upgrade that adds
    ``jobs.object_id`` (and its index) fills it from there, so an object's job list finds them."""
    path = tmp_path / "labtui.db"
    db = Database(f"sqlite:///{path}")
    db.create_schema()
    db.dispose()
    with sqlite3.connect(path) as conn:
        conn.execute("DROP INDEX ix_jobs_object_created")
        conn.execute("ALTER TABLE jobs DROP COLUMN object_id")
        for job_id, action, inputs in (
            ("a1", "inventory", '{"type": "network", "object_id": 7, "inputs": {}}'),
            ("a2", "inventory", '{"type": "network", "object_id": null, "inputs": {}}'),  # a type-scope action
            ("d1", "deploy", '{"object_id": 7}'),  # not an inventory action: an input of that name
            ("a3", "inventory", "not json"),
        ):
            conn.execute(
                "INSERT INTO jobs (id, service, action, status, username, created_at, cancel_requested, output_lines, inputs) "
                "VALUES (?, 'svc', ?, 'completed', 'alice', '2026-01-01 00:00:00', 0, 0, ?)",
                (job_id, action, inputs),
            )

    db = Database(f"sqlite:///{path}")
    assert "added columns: jobs.object_id" in db.create_schema()
    with db.engine.connect() as conn:
        rows = dict(conn.execute(text("SELECT id, object_id FROM jobs")).all())
        plan = " ".join(
            str(r)
            for r in conn.execute(
                text("EXPLAIN QUERY PLAN SELECT id FROM jobs WHERE object_id = 7 ORDER BY created_at DESC")
            )
        )
    assert rows == {"a1": 7, "a2": None, "d1": None, "a3": None}
    assert "ix_jobs_object_created" in plan
    db.dispose()
