"""Inventory tags: a name and a ``#rrggbb`` colour, on any object.

Creating, renaming, recolouring and deleting tags needs ``inventory.tags.manage`` (CloudLab);
putting a tag on an object or taking it off is an edit of that object, so it goes through
the object access order with ``edit``. The tag list counts only objects the asker may view
(CloudLab's ``object_count`` counted every object).
"""

from __future__ import annotations

import builtins
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.db.base import table_of, utcnow
from labtui.core.db.engine import Database
from labtui.core.db.inventory import InventoryObject, InventoryTag, ObjectTag
from labtui.core.errors import Conflict, NotFound, ValidationError
from labtui.core.inventory import access
from labtui.core.rbac import Rbac

MANAGE = "inventory.tags.manage"
COLOUR = re.compile(r"#[0-9a-fA-F]{6}")
MAX_NAME = 100
_UNSET: Any = object()


@dataclass(frozen=True)
class TagRef:
    """A tag as shown on an object."""

    name: str
    colour: str | None

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "colour": self.colour}


@dataclass(frozen=True)
class TagInfo:
    id: int
    name: str
    colour: str | None
    #: Objects carrying the tag that the asker may view.
    object_count: int

    def as_json(self) -> dict[str, Any]:
        return {"id": self.id, "name": self.name, "colour": self.colour, "object_count": self.object_count}


def tag_name(name: str) -> str:
    """Stripped, 1 to 100 printable characters (CloudLab's rule, control characters refused)."""
    name = (name or "").strip()
    if not 1 <= len(name) <= MAX_NAME:
        raise ValidationError(f"A tag name is 1 to {MAX_NAME} characters", "name")
    if any(not c.isprintable() for c in name):
        raise ValidationError("A tag name cannot hold control characters", "name")
    return name


def colour(value: str | None) -> str | None:
    """``#rrggbb`` (stored lowercase), or None for no colour."""
    if value is None or not value.strip():
        return None
    value = value.strip()
    if not COLOUR.fullmatch(value):
        raise ValidationError(f"A colour is written #rrggbb, e.g. #e8984a (got '{value}')", "colour")
    return value.lower()


def ensure_tag(session: Session, name: str, tag_colour: str | None) -> InventoryTag:
    """The tag ``name``, created with ``tag_colour`` if missing (for sync adapters; no check)."""
    tag = session.scalar(select(InventoryTag).where(InventoryTag.name == name))
    if tag is None:
        tag = InventoryTag(name=name, colour=tag_colour)
        session.add(tag)
        session.flush()
    return tag


def tags_of(session: Session, object_ids: Sequence[int]) -> dict[int, list[TagRef]]:
    """Object id -> its tags by name, for a page of objects (one query per 500 ids)."""
    out: dict[int, list[TagRef]] = {oid: [] for oid in object_ids}
    for ids in access._chunks(list(object_ids)):
        rows = session.execute(
            select(ObjectTag.object_id, InventoryTag.name, InventoryTag.colour)
            .join(InventoryTag, InventoryTag.id == ObjectTag.tag_id)
            .where(ObjectTag.object_id.in_(ids))
            .order_by(InventoryTag.name)
        )
        for oid, name, tag_colour in rows:
            out[oid].append(TagRef(name, tag_colour))
    return out


class Tags:
    def __init__(self, db: Database, rbac: Rbac) -> None:
        self.db, self.rbac = db, rbac

    def _get(self, s: Session, name: str) -> InventoryTag:
        tag = s.scalar(select(InventoryTag).where(InventoryTag.name == name.strip()))
        if tag is None:
            raise NotFound(f"No tag named '{name.strip()}'")
        return tag

    async def list(self, actor: Actor) -> list[TagInfo]:
        """Every tag by name, each with the number of objects on it the asker may view."""

        def q(s: Session) -> list[TagInfo]:
            p = access.principal(s, self.rbac, actor)
            stmt = (
                select(ObjectTag.tag_id, func.count())
                .join(InventoryObject, InventoryObject.id == ObjectTag.object_id)
                .group_by(ObjectTag.tag_id)
            )
            clause = access.visible_clause(s, p, "view", access.type_ids(s))
            if clause is not None:
                stmt = stmt.where(clause)
            counts = dict(s.execute(stmt).all())
            return [
                TagInfo(t.id, t.name, t.colour, counts.get(t.id, 0))
                for t in s.scalars(select(InventoryTag).order_by(InventoryTag.name))
            ]

        return await self.db.run(q)

    async def create(self, actor: Actor, name: str, tag_colour: str | None = None) -> TagInfo:
        name, tag_colour = tag_name(name), colour(tag_colour)

        def q(s: Session) -> TagInfo:
            self.rbac.require(s, actor, MANAGE, f"inventory/tags/{name}")
            if s.scalar(select(InventoryTag.id).where(InventoryTag.name == name)) is not None:
                raise Conflict(f"A tag named '{name}' already exists")
            tag = InventoryTag(name=name, colour=tag_colour)
            s.add(tag)
            s.flush()
            audit.record(s, actor, "inventory.tag.create", f"inventory/tags/{name}", {"colour": tag_colour})
            return TagInfo(tag.id, name, tag_colour, 0)

        return await self.db.run(q)

    async def update(
        self, actor: Actor, name: str, *, new_name: str | None = None, tag_colour: str | None = _UNSET
    ) -> None:
        """Rename and/or recolour (pass ``tag_colour=None`` to clear the colour)."""
        renamed = tag_name(new_name) if new_name is not None else None
        recoloured = colour(tag_colour) if tag_colour is not _UNSET else _UNSET

        def q(s: Session) -> None:
            self.rbac.require(s, actor, MANAGE, f"inventory/tags/{name.strip()}")
            tag = self._get(s, name)
            detail: dict[str, Any] = {}
            if renamed is not None and renamed != tag.name:
                if s.scalar(select(InventoryTag.id).where(InventoryTag.name == renamed)) is not None:
                    raise Conflict(f"A tag named '{renamed}' already exists")
                detail["renamed_from"] = tag.name
                tag.name = renamed
            if recoloured is not _UNSET and recoloured != tag.colour:
                detail["colour"] = {"from": tag.colour, "to": recoloured}
                tag.colour = recoloured
            audit.record(s, actor, "inventory.tag.update", f"inventory/tags/{tag.name}", detail)

        await self.db.run(q)

    async def delete(self, actor: Actor, name: str) -> int:
        """Delete a tag (its grants and object links go with it); returns how many objects had it."""

        def q(s: Session) -> int:
            self.rbac.require(s, actor, MANAGE, f"inventory/tags/{name.strip()}")
            tag = self._get(s, name)
            count = s.scalar(select(func.count()).select_from(ObjectTag).where(ObjectTag.tag_id == tag.id)) or 0
            audit.record(s, actor, "inventory.tag.delete", f"inventory/tags/{tag.name}", {"objects": count})
            s.delete(tag)
            return count

        return await self.db.run(q)

    async def tag(self, actor: Actor, object_id: int, names: Sequence[str]) -> builtins.list[TagRef]:
        """Put existing tags on an object (needs ``edit`` on it); returns its tags."""
        return await self._retag(actor, object_id, names, add=True)

    async def untag(self, actor: Actor, object_id: int, names: Sequence[str]) -> builtins.list[TagRef]:
        """Take tags off an object (needs ``edit`` on it); returns its tags."""
        return await self._retag(actor, object_id, names, add=False)

    async def _retag(self, actor: Actor, object_id: int, names: Sequence[str], *, add: bool) -> builtins.list[TagRef]:
        wanted = [tag_name(n) for n in names]

        def q(s: Session) -> list[TagRef]:
            p = access.principal(s, self.rbac, actor)
            _, slug = access.require(s, self.db, actor, p, object_id, "edit")
            tags = [self._get(s, n) for n in wanted]
            have = set(s.scalars(select(ObjectTag.tag_id).where(ObjectTag.object_id == object_id)))
            changed: list[str] = []
            for tag in tags:
                if add and tag.id not in have:
                    s.add(ObjectTag(object_id=object_id, tag_id=tag.id))
                    have.add(tag.id)
                    changed.append(tag.name)
                elif not add and tag.id in have:
                    s.execute(delete(ObjectTag).where(ObjectTag.object_id == object_id, ObjectTag.tag_id == tag.id))
                    have.discard(tag.id)
                    changed.append(tag.name)
            if changed:
                s.execute(
                    table_of(InventoryObject)
                    .update()
                    .where(InventoryObject.id == object_id)
                    .values(updated_at=utcnow())
                )
                action = "inventory.object.tag" if add else "inventory.object.untag"
                audit.record(s, actor, action, f"inventory/{slug}/{object_id}", {"tags": changed})
            s.flush()
            return tags_of(s, [object_id])[object_id]

        return await self.db.run(q)
