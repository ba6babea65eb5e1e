"""The ``ssh_known_hosts`` table: host keys the terminal pane trusted on first use.

In the database rather than a ``known_hosts`` file so every labtui process on the bastion
(one per SSH session) shares one trust store, and a key changed on one host is refused in
all of them. One key per ``(host, port)``: the key type is pinned too (the client asks the
server for that type), so a server that switches key types counts as a changed key.
"""

from __future__ import annotations

import datetime as dt

from sqlalchemy import ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from labtui.core.db.base import Base, UTCDateTime, utcnow


class SshKnownHost(Base):
    __tablename__ = "ssh_known_hosts"
    __table_args__ = (Index("ix_ssh_known_hosts_host_port", "host", "port", unique=True),)

    id: Mapped[int] = mapped_column(primary_key=True)
    #: The address connected to (as given: a name or an IP), lower-cased.
    host: Mapped[str] = mapped_column(String(255))
    port: Mapped[int] = mapped_column(Integer, default=22)
    #: The key's algorithm name, e.g. ``ssh-ed25519``.
    key_type: Mapped[str] = mapped_column(String(64))
    #: The public key in OpenSSH one-line form (``ssh-ed25519 AAAA...``), without comment.
    public_key: Mapped[str] = mapped_column(Text)
    #: ``SHA256:...`` as OpenSSH prints it.
    fingerprint: Mapped[str] = mapped_column(String(100))
    added_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    added_by_username: Mapped[str] = mapped_column(String(100), default="")
    added_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_seen_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
