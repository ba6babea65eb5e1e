"""Declarative base and column types shared by every table module."""

from __future__ import annotations

import datetime as dt
from typing import Any, cast

from sqlalchemy import CursorResult, DateTime, Result, Table, TypeDecorator
from sqlalchemy.orm import DeclarativeBase


def utcnow() -> dt.datetime:
    """The current time, timezone-aware UTC (the only kind of time core handles)."""
    return dt.datetime.now(dt.UTC)


def table_of(model: type[Any]) -> Table:
    """A mapped class's Table, for Core statements (bulk inserts, upserts). SQLAlchemy
    types ``Model.__table__`` as any FromClause; a declarative model's is a Table."""
    return cast(Table, model.__table__)


def rowcount(result: Result[Any]) -> int:
    """Rows an UPDATE or DELETE matched (its Result is a CursorResult; the type says Result)."""
    return cast(CursorResult[Any], result).rowcount or 0


class UTCDateTime(TypeDecorator[dt.datetime]):
    """Stores naive UTC (SQLite keeps no zone) and always returns aware UTC datetimes."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value
        return value.astimezone(dt.UTC).replace(tzinfo=None)

    def process_result_value(self, value: dt.datetime | None, dialect: object) -> dt.datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=dt.UTC)


class Base(DeclarativeBase):
    """Every labtui table derives from this; later issues add their own table modules."""
