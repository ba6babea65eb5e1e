"""Bring an existing database up to the current tables: columns added since it was created
are added (``create_all`` only creates whole tables), with their indexes.

Additive only, which is all labtui's schema changes have needed so far: a column is never
dropped or retyped here (an old column the code no longer reads is harmless). A new column
that is NOT NULL must come with a scalar default, which fills the existing rows.
"""

from __future__ import annotations

from sqlalchemy import Column, Connection, MetaData, inspect, literal, text
from sqlalchemy.schema import CreateColumn

from labtui.core.errors import StartupError


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
            conn.execute(text(f"ALTER TABLE {conn.dialect.identifier_preparer.format_table(table)} ADD COLUMN {column_ddl(conn, column)}"))
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
    if default is None or not default.is_scalar:
        raise UpgradeError(f"column {column.table.name}.{column.name} is NOT NULL with no scalar default: it cannot be added to existing rows")
    value = literal(default.arg, column.type).compile(dialect=dialect, compile_kwargs={"literal_binds": True})
    name = dialect.identifier_preparer.format_column(column)
    return f"{name} {column.type.compile(dialect=dialect)} NOT NULL DEFAULT {value}"
