"""The databases that tests of concurrent writers run on: SQLite always, and PostgreSQL
when ``LABTUI_TEST_POSTGRES_URL`` names a database they may empty
(``postgresql+psycopg://user@host:port/name``; psycopg must be installed). The two
serialise writers differently (docs/auth.md), so such tests are worth running on both."""

from __future__ import annotations

import os

import pytest
from sqlalchemy import create_engine, text

BACKENDS = ["sqlite", "postgresql"]
POSTGRES_URL = os.environ.get("LABTUI_TEST_POSTGRES_URL", "")


def database_url(backend: str) -> str:
    """``database.url`` for ``backend`` (empty: the data dir's SQLite file); PostgreSQL's
    ``public`` schema is emptied first, and its tests are skipped without the variable."""
    if backend == "sqlite":
        return ""
    if not POSTGRES_URL:
        pytest.skip("LABTUI_TEST_POSTGRES_URL is not set")
    engine = create_engine(POSTGRES_URL)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()
    return POSTGRES_URL
