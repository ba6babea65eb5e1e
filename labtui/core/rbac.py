"""Permissions, roles and the cached permission check.

The registry starts with CloudLab's 37 codenames plus ``*``; inventory types add theirs at
startup (:meth:`Rbac.register`). Checks are cached 60 s per user and invalidated on any role
or assignment change made through this process; other processes see a change within the TTL.
"""

from __future__ import annotations

import re
import time
from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.db.engine import Database
from labtui.core.db.models import Permission, Role, User, user_roles
from labtui.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from labtui.core.permissions_catalog import (
    OPERATOR_INVENTORY_VERBS,
    OPERATOR_PERMISSIONS,
    STATIC_PERMISSIONS,
    VIEWER_INVENTORY_VERBS,
    VIEWER_PERMISSIONS,
    WILDCARD,
    PermissionDef,
)

CACHE_TTL = 60.0
SUPER_ADMIN = "super-admin"
SEEDED_ROLES = {
    SUPER_ADMIN: ("Full system access", True),
    "operator": ("Runs services, jobs, schedules, instances and health checks", False),
    "viewer": ("Sees everything it may view; changes nothing", False),
}


@dataclass(frozen=True)
class RoleInfo:
    id: int
    name: str
    description: str
    is_system: bool
    permissions: frozenset[str]
    user_count: int


class Rbac:
    """The permission registry, seeding, role management and checks."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._defs: dict[str, PermissionDef] = {p.codename: p for p in (*STATIC_PERMISSIONS, WILDCARD)}
        self._cache: dict[int, tuple[float, frozenset[str]]] = {}

    # -- registry and seeding ------------------------------------------------------------

    def register(self, defs: list[PermissionDef]) -> None:
        """Add permissions (e.g. an inventory type's); seeded by the next :meth:`seed`."""
        for d in defs:
            self._defs[d.codename] = d

    @property
    def definitions(self) -> list[PermissionDef]:
        return sorted(self._defs.values(), key=lambda d: (d.category, d.codename))

    def seed(self, session: Session) -> dict[str, int]:
        """Upsert every permission and the seeded roles; idempotent. Returns counts for the log."""
        rows = {p.codename: p for p in session.scalars(select(Permission))}
        added: list[Permission] = []
        for d in self._defs.values():
            row = rows.get(d.codename)
            if row is None:
                row = Permission(codename=d.codename, category=d.category, label=d.label, description=d.description)
                session.add(row)
                rows[d.codename] = row
                added.append(row)
            else:
                row.category, row.label, row.description = d.category, d.label, d.description
        session.flush()
        roles = {r.name: r for r in session.scalars(select(Role).where(Role.name.in_(SEEDED_ROLES)))}
        for name, (description, is_system) in SEEDED_ROLES.items():
            if name not in roles:
                role = Role(name=name, description=description, is_system=is_system)
                session.add(role)
                roles[name] = role
                wanted = {SUPER_ADMIN: set(rows), "operator": OPERATOR_PERMISSIONS, "viewer": VIEWER_PERMISSIONS}[name]
                role.permissions = [rows[c] for c in sorted(wanted) if c in rows]
                role.permissions += [p for p in rows.values() if _inventory_verb_for(name, p.codename)]
            else:
                have = {p.codename for p in roles[name].permissions}
                roles[name].permissions += [
                    p for p in added if p.codename not in have and _inventory_verb_for(name, p.codename)
                ]
        # super-admin always holds every permission (CloudLab resets it at each start).
        roles[SUPER_ADMIN].permissions = list(rows.values())
        self.invalidate()
        return {"permissions": len(rows), "added": len(added)}

    # -- checks --------------------------------------------------------------------------

    def invalidate(self, user_id: int | None = None) -> None:
        if user_id is None:
            self._cache.clear()
        else:
            self._cache.pop(user_id, None)

    def permissions_of(self, session: Session, user_id: int) -> frozenset[str]:
        """The union of the user's roles' codenames (cached 60 s)."""
        hit = self._cache.get(user_id)
        now = time.monotonic()
        if hit and now - hit[0] < CACHE_TTL:
            return hit[1]
        stmt = (
            select(Permission.codename)
            .join(Role.permissions)
            .join(user_roles, user_roles.c.role_id == Role.id)
            .join(User, User.id == user_roles.c.user_id)
            .where(user_roles.c.user_id == user_id, User.is_active.is_(True))
        )
        perms = frozenset(session.scalars(stmt))
        self._cache[user_id] = (now, perms)
        return perms

    def allowed(self, session: Session, actor: Actor, codename: str) -> bool:
        if actor.is_system:
            return True
        assert actor.user_id is not None
        perms = self.permissions_of(session, actor.user_id)
        return "*" in perms or codename in perms

    def require(self, session: Session, actor: Actor, codename: str, target: str = "") -> None:
        """Raise :class:`PermissionDenied` (and audit the refusal) unless allowed.

        The refusal is committed in its own transaction so it survives the caller's rollback.
        """
        if self.allowed(session, actor, codename):
            return
        with self.db.session() as own:
            audit.record(own, actor, "permission.denied", target, {"permission": codename})
        raise PermissionDenied(codename)

    async def has(self, actor: Actor, codename: str) -> bool:
        return await self.db.run(lambda s: self.allowed(s, actor, codename))

    async def my_permissions(self, actor: Actor) -> frozenset[str]:
        if actor.user_id is None:
            return frozenset({"*"})
        uid = actor.user_id
        return await self.db.run(lambda s: self.permissions_of(s, uid))

    # -- roles -----------------------------------------------------------------------------

    async def list_roles(self, actor: Actor) -> list[RoleInfo]:
        def q(s: Session) -> list[RoleInfo]:
            self.require(s, actor, "roles.view")
            counts: dict[int, int] = dict(
                s.execute(select(user_roles.c.role_id, func.count()).group_by(user_roles.c.role_id)).all()
            )
            return [
                RoleInfo(
                    r.id,
                    r.name,
                    r.description,
                    r.is_system,
                    frozenset(p.codename for p in r.permissions),
                    counts.get(r.id, 0),
                )
                for r in s.scalars(select(Role).order_by(Role.is_system.desc(), Role.name))
            ]

        return await self.db.run(q)

    async def create_role(
        self, actor: Actor, name: str, description: str = "", permissions: set[str] | None = None
    ) -> int:
        name = _role_name(name)

        def q(s: Session) -> int:
            self.require(s, actor, "roles.create")
            if s.scalar(select(Role.id).where(Role.name == name)):
                raise Conflict(
                    f"A role named '{name}' already exists",
                )
            role = Role(name=name, description=description.strip())
            role.permissions = _permission_rows(s, permissions or set())
            s.add(role)
            s.flush()
            audit.record(s, actor, "role.create", f"roles/{name}", {"permissions": sorted(permissions or [])})
            return role.id

        return await self.db.run(q)

    async def update_role(
        self,
        actor: Actor,
        role_id: int,
        *,
        name: str | None = None,
        description: str | None = None,
        permissions: set[str] | None = None,
    ) -> None:
        def q(s: Session) -> None:
            self.require(s, actor, "roles.edit")
            role = _editable_role(s, role_id)
            detail: dict[str, object] = {}
            if name is not None and name != role.name:
                new = _role_name(name)
                if s.scalar(select(Role.id).where(Role.name == new, Role.id != role_id)):
                    raise Conflict(f"A role named '{new}' already exists")
                detail["renamed_from"] = role.name
                role.name = new
            if description is not None:
                role.description = description.strip()
            if permissions is not None:
                before = {p.codename for p in role.permissions}
                role.permissions = _permission_rows(s, permissions)
                detail["added"] = sorted(permissions - before)
                detail["removed"] = sorted(before - permissions)
            audit.record(s, actor, "role.update", f"roles/{role.name}", detail)
            self.invalidate()

        await self.db.run(q)

    async def delete_role(self, actor: Actor, role_id: int) -> None:
        def q(s: Session) -> None:
            self.require(s, actor, "roles.delete")
            role = _editable_role(s, role_id)
            used = s.scalar(select(func.count()).select_from(user_roles).where(user_roles.c.role_id == role_id))
            if used:
                raise Conflict(f"Role '{role.name}' is assigned to {used} user(s); unassign it first")
            audit.record(s, actor, "role.delete", f"roles/{role.name}")
            s.delete(role)
            self.invalidate()

        await self.db.run(q)


def _inventory_verb_for(role: str, codename: str) -> bool:
    if not codename.startswith("inventory.") or codename.count(".") != 2:
        return False
    verb = codename.rsplit(".", 1)[1]
    if role == "operator":
        return verb in OPERATOR_INVENTORY_VERBS and not codename.startswith(("inventory.tags", "inventory.acl"))
    if role == "viewer":
        return verb in VIEWER_INVENTORY_VERBS
    return False


def _role_name(name: str) -> str:
    name = name.strip()
    if not 2 <= len(name) <= 50:
        raise ValidationError("Role names are 2 to 50 characters", "name")
    if not re.fullmatch(r"[\w .-]+", name):
        raise ValidationError("Role names use letters, digits, spaces, '.', '-' and '_'", "name")
    return name


def _editable_role(s: Session, role_id: int) -> Role:
    role = s.get(Role, role_id)
    if role is None:
        raise NotFound("No such role")
    if role.is_system:
        raise Conflict(f"'{role.name}' is a system role and cannot be changed")
    return role


def _permission_rows(s: Session, codenames: set[str]) -> list[Permission]:
    rows = list(s.scalars(select(Permission).where(Permission.codename.in_(codenames))))
    unknown = codenames - {p.codename for p in rows}
    if unknown:
        raise ValidationError(f"Unknown permission(s): {', '.join(sorted(unknown))}", "permissions")
    return rows
