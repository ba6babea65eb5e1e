"""The ``import_map`` table: which labtui row each imported record became.

Records with a natural key (usernames, role names, job ids) are matched by it; the map
tells an account labtui created from CloudLab's (update it on a re-import) from one that
merely has the same name (a conflict), and gives inventory objects, which have no natural
key, a stable identity across imports.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import String
from sqlalchemy.orm import Mapped, mapped_column

from labtui.core.db.base import Base, UTCDateTime, utcnow


class ImportMap(Base):
    __tablename__ = "import_map"

    #: Where the record came from (``cloudlab``).
    source: Mapped[str] = mapped_column(String(50), primary_key=True)
    #: What it is: ``user``, ``role``, ``job``, ``inventory_object``, ``config_version``.
    kind: Mapped[str] = mapped_column(String(50), primary_key=True)
    #: Its key at the source (a username, a CloudLab row id, ...).
    source_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    #: The labtui row's primary key, as text.
    target_id: Mapped[str] = mapped_column(String(100))
    imported_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
