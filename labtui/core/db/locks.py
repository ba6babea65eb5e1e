"""Per-subject locks for a count-or-check followed by a write that must not interleave with
another transaction doing the same (the login lockout's reservation, a key's one owner).

SQLite needs none: it has one writer at a time, so a transaction that writes first holds the
write lock until it commits, and whatever it reads after that write is the latest state. On
PostgreSQL, writers of different rows run side by side and a reader does not see another's
uncommitted rows, so such a step first takes a transaction-scoped advisory lock on its
subject (released at commit or rollback). See docs/auth.md.
"""

from __future__ import annotations

import hashlib

from sqlalchemy import text
from sqlalchemy.orm import Session


def lock_subjects(s: Session, *names: str) -> None:
    """Hold each named lock until the transaction ends (PostgreSQL; a no-op elsewhere).

    Taken in sorted order, so two transactions wanting overlapping sets cannot deadlock."""
    if s.get_bind().dialect.name != "postgresql":
        return
    for name in sorted(set(names)):
        s.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _key(name)})


def _key(name: str) -> int:
    """A signed 64-bit key (what pg_advisory_xact_lock takes) from a lock's name."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
