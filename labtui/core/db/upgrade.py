"""Bring an existing database up to the current tables: columns added since it was created
are added (``create_all`` only creates whole tables), with their indexes.

Additive only, which is all labtui's schema changes have needed so far: a column is never
dropped or retyped here (an old column the code no longer reads is harmless). A new column
that is NOT NULL must come with a scalar default, which fills the existing rows.

Values older versions stored plain in a column that now holds sealed ones are sealed here
once (:func:`seal_plain_values`, docs/secrets.md).
"""

from __future__ import annotations

import json

from sqlalchemy import Column, Connection, MetaData, bindparam, inspect, literal, select, text, update
from sqlalchemy.schema import CreateColumn
from sqlalchemy.sql.schema import ScalarElementColumnDefault

from labtui.core.db.base import table_of
from labtui.core.db.inventory import InventoryObject, seal_value
from labtui.core.db.models import AppMetadata
from labtui.core.errors import StartupError
from labtui.core.secretbox import SecretBox


class UpgradeError(StartupError):
    """A column cannot be added to the existing rows (NOT NULL without a default): startup
    stops with the column named, and nothing of the upgrade is kept (one transaction)."""


def add_missing_columns(conn: Connection, metadata: MetaData) -> list[str]:
    """Add every column (and index) of ``metadata``'s tables missing from the database's
    existing tables; returns ``table.column`` of each added column."""
    inspector = inspect(conn)
    existing = set(inspector.get_table_names())
    added: list[str] = []
    for table in metadata.sorted_tables:
        if table.name not in existing:
            continue  # create_all makes it whole
        have = {c["name"] for c in inspector.get_columns(table.name)}
        missing = [c for c in table.columns if c.name not in have]
        for column in missing:
            conn.execute(
                text(
                    f"ALTER TABLE {conn.dialect.identifier_preparer.format_table(table)} ADD COLUMN {column_ddl(conn, column)}"
                )
            )
            added.append(f"{table.name}.{column.name}")
        if missing:
            for index in table.indexes:
                index.create(conn, checkfirst=True)
    return added


def fill_added_columns(conn: Connection, added: list[str]) -> None:
    """Fill the columns just added (``table.column``) from what the rows kept before them."""
    from labtui.core.db.jobs import fill_object_ids

    fills = {"jobs.object_id": fill_object_ids}
    for column in added:
        if column in fills:
            fills[column](conn)


def column_ddl(conn: Connection, column: Column[object]) -> str:
    """The column's definition for ALTER TABLE: NOT NULL without a server default gets its
    scalar Python default as one (SQLite, and PostgreSQL on a table with rows, refuse a NOT
    NULL column that would leave the existing rows empty)."""
    dialect = conn.dialect
    if column.nullable or column.server_default is not None or column.primary_key:
        return str(CreateColumn(column).compile(dialect=dialect))
    default = column.default
    if not isinstance(default, ScalarElementColumnDefault):
        raise UpgradeError(
            f"column {column.table.name}.{column.name} is NOT NULL with no scalar default: it cannot be added to existing rows"
        )
    value = literal(default.arg, column.type).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    name = dialect.identifier_preparer.format_column(column)
    return f"{name} {column.type.compile(dialect=dialect)} NOT NULL DEFAULT {value}"


#: app_metadata keys: the id of the key the database's values are sealed with, and the
#: version of the sealing pass done (bumped when another column gets sealed values).
KEY_ID, SEALED = "secrets_key_id", "secrets_sealed"
SEALED_VERSION = 1


def _metadata(conn: Connection, key: str) -> object:
    raw = conn.scalar(select(AppMetadata.value).where(AppMetadata.key == key))
    return None if raw is None else json.loads(raw)


def _set_metadata(conn: Connection, key: str, value: object) -> None:
    table = table_of(AppMetadata)
    if conn.execute(update(table).where(table.c.key == key).values(value=json.dumps(value))).rowcount == 0:
        conn.execute(table.insert().values(key=key, value=json.dumps(value)))


def check_secrets_key(conn: Connection, box: SecretBox) -> None:
    """Refuse to start with a key other than the one the database's values were sealed with
    (every secret would be unreadable); a database that never had one takes this key."""
    had = _metadata(conn, KEY_ID)
    if had is None:
        _set_metadata(conn, KEY_ID, box.key_id)
    elif had != box.key_id:
        raise StartupError(
            f"the secrets key (id {box.key_id}) is not the key this database's secrets are sealed "
            f"with (id {had}): point secrets.key at that key file (docs/secrets.md)"
        )


def seal_plain_values(conn: Connection, box: SecretBox) -> int:
    """Seal the plain secret values of older versions (``inventory_objects.secrets``), once
    per database; returns how many were sealed."""
    if _metadata(conn, SEALED) == SEALED_VERSION:
        return 0
    table = table_of(InventoryObject)
    sealed = 0
    changed: list[dict[str, object]] = []
    rows = conn.execute(
        select(table.c.id, table.c.secrets).where(table.c.secrets.is_not(None), table.c.secrets != "{}")
    ).all()
    for object_id, stored in rows:
        try:
            values = json.loads(stored)
        except ValueError:
            continue  # not JSON: nothing the code reads either
        if not isinstance(values, dict):
            continue
        plain = [k for k, v in values.items() if v is not None and not box.is_sealed(v)]
        if plain:
            values.update({k: seal_value(box, values[k]) for k in plain})
            changed.append({"object_id": object_id, "sealed": json.dumps(values)})
            sealed += len(plain)
    if changed:  # one executemany (20,000 rows: 0.4 s; one UPDATE each: 4 s)
        conn.execute(
            update(table).where(table.c.id == bindparam("object_id")).values(secrets=bindparam("sealed")), changed
        )
    _set_metadata(conn, SEALED, SEALED_VERSION)
    return sealed
