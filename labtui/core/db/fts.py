"""A full-text index over the audit log (SQLite FTS5, trigram), so a free-text filter over
millions of records answers in milliseconds: ``LIKE '%term%'`` must scan the whole table
when few records match. Kept in sync by triggers; PostgreSQL uses plain ILIKE instead."""

from __future__ import annotations

from sqlalchemy import Connection, text

AUDIT_FTS = "audit_fts"

_DDL = (
    f"CREATE VIRTUAL TABLE {AUDIT_FTS} USING fts5(username, action, target, detail, origin, "
    "content='audit_log', content_rowid='id', tokenize='trigram')",
    f"CREATE TRIGGER IF NOT EXISTS audit_fts_insert AFTER INSERT ON audit_log BEGIN "
    f"INSERT INTO {AUDIT_FTS}(rowid, username, action, target, detail, origin) "
    "VALUES (new.id, new.username, new.action, new.target, new.detail, new.origin); END",
    f"CREATE TRIGGER IF NOT EXISTS audit_fts_delete AFTER DELETE ON audit_log BEGIN "
    f"INSERT INTO {AUDIT_FTS}({AUDIT_FTS}, rowid, username, action, target, detail, origin) "
    "VALUES ('delete', old.id, old.username, old.action, old.target, old.detail, old.origin); END",
)


def ensure_audit_index(conn: Connection) -> str | None:
    """Create the index if it is missing (indexing existing records once); returns what it did."""
    exists = conn.execute(text("SELECT 1 FROM sqlite_master WHERE name = :n"), {"n": AUDIT_FTS}).first()
    if exists:
        return None
    for statement in _DDL:
        conn.execute(text(statement))
    conn.execute(text(f"INSERT INTO {AUDIT_FTS}({AUDIT_FTS}) VALUES ('rebuild')"))
    return "audit text index created"


def match_phrase(term: str) -> str:
    """An FTS5 phrase: the term as a substring (trigram), quotes escaped."""
    return '"' + term.replace('"', '""') + '"'
