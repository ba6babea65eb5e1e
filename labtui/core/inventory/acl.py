"""Per-object ACL entries and tag grants, the middle steps of the access order.

An ACL entry is role + permission suffix (``view``, ``edit``, ``delete`` or an action name)
+ ``allow``/``deny`` on one object; a tag grant is role + tag + suffix and only allows
(docs/cloudlab.md). Changing either needs ``inventory.acl.manage``. An object's entries are
shown to whoever may view the object (its detail screen lists them); the grants list needs
``inventory.acl.manage``, as in CloudLab.

Setting an entry that exists for the same object, role and suffix replaces its effect, so
flipping allow to deny is one step and the table never holds both.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.db.engine import Database
from labtui.core.db.inventory import (
    EFFECTS,
    InventoryObject,
    InventoryTag,
    ObjectAcl,
    TagPermission,
)
from labtui.core.db.models import InventoryType, Role
from labtui.core.errors import Conflict, NotFound, ValidationError
from labtui.core.inventory import access
from labtui.core.rbac import Rbac

MANAGE = "inventory.acl.manage"
SUFFIX = re.compile(r"[A-Za-z0-9_-]{1,50}")


@dataclass(frozen=True)
class AclEntry:
    id: int
    object_id: int
    role: str
    permission: str
    effect: str

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


@dataclass(frozen=True)
class TagGrant:
    id: int
    tag: str
    role: str
    permission: str

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def suffix(value: str) -> str:
    value = (value or "").strip()
    if not SUFFIX.fullmatch(value):
        raise ValidationError(
            f"A permission is a suffix such as view, edit, delete or an action name (got '{value}')", "permission"
        )
    return value


def _role(s: Session, role: str | int) -> Role:
    row = s.get(Role, role) if isinstance(role, int) else s.scalar(select(Role).where(Role.name == role))
    if row is None:
        raise NotFound(f"No role '{role}'")
    return row


def _object_target(s: Session, object_id: int) -> str:
    slug = s.scalar(
        select(InventoryType.slug)
        .join(InventoryObject, InventoryObject.type_id == InventoryType.id)
        .where(InventoryObject.id == object_id)
    )
    if slug is None:
        raise NotFound(f"No inventory object {object_id}")
    return f"inventory/{slug}/{object_id}"


class Acl:
    def __init__(self, db: Database, rbac: Rbac) -> None:
        self.db, self.rbac = db, rbac

    async def entries(self, actor: Actor, object_id: int) -> list[AclEntry]:
        """The object's entries by role and suffix (needs ``view`` on the object)."""

        def q(s: Session) -> list[AclEntry]:
            p = access.principal(s, self.rbac, actor)
            access.require(s, self.db, actor, p, object_id, "view")
            rows = s.execute(
                select(ObjectAcl, Role.name)
                .join(Role, Role.id == ObjectAcl.role_id)
                .where(ObjectAcl.object_id == object_id)
                .order_by(Role.name, ObjectAcl.permission)
            )
            return [AclEntry(a.id, a.object_id, name, a.permission, a.effect) for a, name in rows]

        return await self.db.run(q)

    async def set_entry(self, actor: Actor, object_id: int, role: str | int, permission: str, effect: str) -> AclEntry:
        """Allow or deny ``permission`` on the object to a role (replacing an earlier effect)."""
        perm = suffix(permission)
        if effect not in EFFECTS:
            raise ValidationError(f"The effect is allow or deny (got '{effect}')", "effect")

        def q(s: Session) -> AclEntry:
            self.rbac.require(s, actor, MANAGE, f"inventory/objects/{object_id}")
            target = _object_target(s, object_id)
            r = _role(s, role)
            row = s.scalar(
                select(ObjectAcl).where(
                    ObjectAcl.object_id == object_id, ObjectAcl.role_id == r.id, ObjectAcl.permission == perm
                )
            )
            before = row.effect if row is not None else None
            if row is None:
                row = ObjectAcl(object_id=object_id, role_id=r.id, permission=perm, effect=effect)
                s.add(row)
            else:
                row.effect = effect
            s.flush()
            audit.record(
                s,
                actor,
                "inventory.acl.set",
                target,
                {"role": r.name, "permission": perm, "effect": effect, "was": before},
            )
            return AclEntry(row.id, object_id, r.name, perm, effect)

        return await self.db.run(q)

    async def remove_entry(self, actor: Actor, entry_id: int) -> None:
        def q(s: Session) -> None:
            self.rbac.require(s, actor, MANAGE, f"inventory/acl/{entry_id}")
            row = s.get(ObjectAcl, entry_id)
            if row is None:
                raise NotFound(f"No ACL entry {entry_id}")
            target = _object_target(s, row.object_id)
            role = s.get(Role, row.role_id)
            audit.record(
                s,
                actor,
                "inventory.acl.remove",
                target,
                {"role": role.name if role else row.role_id, "permission": row.permission, "effect": row.effect},
            )
            s.delete(row)

        await self.db.run(q)

    async def grants(self, actor: Actor, tag: str | None = None) -> list[TagGrant]:
        """Tag grants, all or of one tag (needs ``inventory.acl.manage``)."""

        def q(s: Session) -> list[TagGrant]:
            self.rbac.require(s, actor, MANAGE, "inventory/tag-grants")
            stmt = (
                select(TagPermission, InventoryTag.name, Role.name)
                .join(InventoryTag, InventoryTag.id == TagPermission.tag_id)
                .join(Role, Role.id == TagPermission.role_id)
                .order_by(InventoryTag.name, Role.name, TagPermission.permission)
            )
            if tag is not None:
                stmt = stmt.where(InventoryTag.name == tag.strip())
            return [TagGrant(g.id, t, r, g.permission) for g, t, r in s.execute(stmt)]

        return await self.db.run(q)

    async def grant(self, actor: Actor, tag: str, role: str | int, permission: str) -> TagGrant:
        """Give a role ``permission`` on every object carrying ``tag``."""
        perm = suffix(permission)

        def q(s: Session) -> TagGrant:
            self.rbac.require(s, actor, MANAGE, f"inventory/tags/{tag.strip()}")
            t = s.scalar(select(InventoryTag).where(InventoryTag.name == tag.strip()))
            if t is None:
                raise NotFound(f"No tag named '{tag.strip()}'")
            r = _role(s, role)
            if (
                s.scalar(
                    select(TagPermission.id).where(
                        TagPermission.tag_id == t.id, TagPermission.role_id == r.id, TagPermission.permission == perm
                    )
                )
                is not None
            ):
                raise Conflict(f"Role '{r.name}' already has '{perm}' on objects tagged '{t.name}'")
            row = TagPermission(tag_id=t.id, role_id=r.id, permission=perm)
            s.add(row)
            s.flush()
            audit.record(
                s, actor, "inventory.tag_grant.add", f"inventory/tags/{t.name}", {"role": r.name, "permission": perm}
            )
            return TagGrant(row.id, t.name, r.name, perm)

        return await self.db.run(q)

    async def revoke(self, actor: Actor, grant_id: int) -> None:
        def q(s: Session) -> None:
            self.rbac.require(s, actor, MANAGE, f"inventory/tag-grants/{grant_id}")
            row = s.get(TagPermission, grant_id)
            if row is None:
                raise NotFound(f"No tag grant {grant_id}")
            t = s.get(InventoryTag, row.tag_id)
            r = s.get(Role, row.role_id)
            audit.record(
                s,
                actor,
                "inventory.tag_grant.remove",
                f"inventory/tags/{t.name if t else row.tag_id}",
                {"role": r.name if r else row.role_id, "permission": row.permission},
            )
            s.delete(row)

        await self.db.run(q)
