"""The ``config_versions`` table: every saved content of a service's config file (docs/cloudlab.md).

CloudLab's columns (with ``ip_address`` kept as ``origin``, where the change came from:
``local``, an SSH peer address, or ``startup`` for seeded versions), plus
``restored_from``, the version number a restore copied.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from labtui.core.db.base import Base, UTCDateTime, utcnow


class ConfigVersion(Base):
    __tablename__ = "config_versions"
    __table_args__ = (
        Index("ix_config_versions_file_number", "service_name", "filename", "version_number", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    service_name: Mapped[str] = mapped_column(String(100))
    filename: Mapped[str] = mapped_column(String(50))
    content: Mapped[str] = mapped_column(Text)
    #: sha256 hex of the UTF-8 content.
    content_hash: Mapped[str] = mapped_column(String(64))
    #: Length of the UTF-8 content in bytes.
    size_bytes: Mapped[int] = mapped_column(Integer)
    #: Per (service, filename), from 1, max + 1.
    version_number: Mapped[int] = mapped_column(Integer)
    change_note: Mapped[str] = mapped_column(String(500), default="")
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    created_by_username: Mapped[str] = mapped_column(String(100), default="")
    origin: Mapped[str] = mapped_column(String(100), default="local")
    restored_from: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
