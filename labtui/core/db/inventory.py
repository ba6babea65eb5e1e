"""Inventory tables: objects, tags, per-object ACL entries and tag grants (docs/cloudlab.md).

CloudLab's columns, plus what labtui needs beyond it:

- ``inventory_objects.secrets``: secret field values kept apart from ``data``, each sealed
  with the lab's key (:func:`open_secrets`, :func:`seal_secrets`; docs/secrets.md);
- ``inventory_objects.stale``: an object its sync source no longer reports is kept and
  flagged instead of deleted (a flaky API must not wipe hand-made tags and ACLs);
- ``source`` / ``source_key``: which sync adapter manages the object and its key upstream,
  so a resync matches objects in one indexed lookup and only touches the fields it owns;
- indexes for the listing: keyset pages by ``id`` (optionally within a type), tag filters
  driven from ``object_tags(tag_id, object_id)``, ACL look-ups by object and by role.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping
from typing import Any

from sqlalchemy import Boolean, ForeignKey, Index, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, Session, mapped_column

from labtui.core.db.base import Base, UTCDateTime, utcnow
from labtui.core.secretbox import SecretBox, secret_box

#: The two effects of an object ACL entry (tag grants only allow, as in CloudLab).
ALLOW, DENY = "allow", "deny"
EFFECTS = (ALLOW, DENY)


class InventoryObject(Base):
    __tablename__ = "inventory_objects"
    __table_args__ = (
        # Type listings page by id within a type; the primary key serves all-type listings.
        Index("ix_inventory_objects_type_id", "type_id", "id"),
        # One object per upstream key and source (NULLs, i.e. hand-made objects, never clash).
        Index("ux_inventory_objects_source_key", "type_id", "source_key", unique=True),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    type_id: Mapped[int] = mapped_column(ForeignKey("inventory_types.id", ondelete="CASCADE"))
    #: The field values as JSON text, secret fields excepted.
    data: Mapped[str] = mapped_column(Text, default="{}")
    #: The values of ``secret`` fields as JSON text, apart from ``data`` so no listing, search
    #: or export can carry them by accident (even for a removed type whose fields are unknown).
    #: Field name -> sealed value: the names show which are set without the key; read and
    #: write it only through :func:`open_secrets` and :func:`seal_secrets`.
    secrets: Mapped[str] = mapped_column(Text, default="{}")
    #: Lowercased, space-joined values of the type's ``searchable`` fields (never secrets).
    search_text: Mapped[str] = mapped_column(Text, default="")
    #: Username of the creator, or ``sync:<source>`` for objects an adapter created.
    created_by: Mapped[str] = mapped_column(String(100), default="")
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)
    #: The sync source no longer reports this object (kept, flagged; cleared if it returns).
    stale: Mapped[bool] = mapped_column(Boolean, default=False)
    #: The sync source managing this object (``service_discovery``, ...); None if hand-made.
    source: Mapped[str | None] = mapped_column(String(50))
    #: The object's key at its source (a service name, a username, a job id, ...).
    source_key: Mapped[str | None] = mapped_column(String(255))


class InventoryTag(Base):
    __tablename__ = "inventory_tags"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    #: ``#rrggbb`` (validated; CloudLab's ``color`` column took anything), or None.
    colour: Mapped[str | None] = mapped_column(String(7))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class ObjectTag(Base):
    __tablename__ = "object_tags"
    __table_args__ = (Index("ix_object_tags_tag_object", "tag_id", "object_id"),)

    object_id: Mapped[int] = mapped_column(ForeignKey("inventory_objects.id", ondelete="CASCADE"), primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("inventory_tags.id", ondelete="CASCADE"), primary_key=True)


class ObjectAcl(Base):
    """Role + permission suffix (``view``, ``edit``, ``delete``, an action) + allow/deny."""

    __tablename__ = "object_acl"
    __table_args__ = (
        # One entry per (object, role, suffix): setting it again replaces the effect.
        UniqueConstraint("object_id", "role_id", "permission", name="ux_object_acl_entry"),
        # "Does this role have any allow/deny for this suffix at all?" (the listing's pre-checks).
        Index("ix_object_acl_role_permission", "role_id", "permission", "effect"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    object_id: Mapped[int] = mapped_column(ForeignKey("inventory_objects.id", ondelete="CASCADE"))
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"))
    permission: Mapped[str] = mapped_column(String(50))
    effect: Mapped[str] = mapped_column(String(5))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


class TagPermission(Base):
    """A grant: the role gets ``permission`` on every object carrying the tag (no deny)."""

    __tablename__ = "tag_permissions"
    __table_args__ = (
        UniqueConstraint("tag_id", "role_id", "permission", name="ux_tag_permissions_grant"),
        Index("ix_tag_permissions_role_permission", "role_id", "permission"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    tag_id: Mapped[int] = mapped_column(ForeignKey("inventory_tags.id", ondelete="CASCADE"))
    role_id: Mapped[int] = mapped_column(ForeignKey("roles.id", ondelete="CASCADE"))
    permission: Mapped[str] = mapped_column(String(50))
    created_at: Mapped[dt.datetime] = mapped_column(UTCDateTime, default=utcnow)


#: What inventory secret values are sealed for (bound into each; docs/secrets.md).
SECRET_PURPOSE = "inventory.secret"


def seal_value(box: SecretBox, value: Any) -> str:
    """One secret field value sealed (as JSON, so its type comes back)."""
    return box.seal(json.dumps(value), SECRET_PURPOSE)


def open_secrets(session: Session, stored: str | None) -> dict[str, Any]:
    """An object's secret values in plain (values older versions stored plain read as they are)."""
    values: dict[str, Any] = json.loads(stored or "{}")
    if not any(SecretBox.is_sealed(v) for v in values.values()):
        return values
    box = secret_box(session)
    return {k: json.loads(box.open(v, SECRET_PURPOSE)) if box.is_sealed(v) else v for k, v in values.items()}


def seal_secrets(session: Session, values: Mapping[str, Any]) -> str:
    """The ``secrets`` column for these plain values (a cleared field's None stays None)."""
    if not values:
        return "{}"
    box = secret_box(session)
    return json.dumps({k: None if v is None else seal_value(box, v) for k, v in values.items()})
