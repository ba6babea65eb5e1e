"""Who may do what to an inventory object: CloudLab's ``check_inventory_permission`` order.

For a user, a permission suffix (``view``, ``edit``, ``delete`` or an action name) and an
object of type ``<slug>``, the first step that decides wins:

1. the user holds ``*`` → allowed (a wildcard beats even a deny);
2. the object (or its type) does not exist → refused;
3. the user has no roles → ``inventory.<slug>.<suffix>`` in their permissions (never, in practice);
4. an ACL entry on the object for one of the user's roles, this suffix, ``deny`` → refused;
5. the same with ``allow`` → allowed;
6. a tag grant (tag on the object, one of the user's roles, this suffix) → allowed;
7. otherwise the roles' ``inventory.<slug>.<suffix>``.

The order exists three times, kept equal by the tests: :func:`check` for one object,
:func:`evaluate` for a batch of objects in Python, and :func:`visible_clause`, the same
order as an SQL condition so a listing filters, pages and counts in the database and never
sees (nor counts) a row the user may not view. The SQL form first asks whether the user's
roles hold any deny, allow or tag grant for the suffix at all; when they hold none, the
condition is a plain ``type_id IN (...)`` and a listing costs what an unchecked one does.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import NoReturn

from sqlalchemy import ColumnElement, and_, exists, false, or_, select
from sqlalchemy.orm import Session

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.db.engine import Database
from labtui.core.db.inventory import (
    ALLOW,
    DENY,
    InventoryObject,
    ObjectAcl,
    ObjectTag,
    TagPermission,
)
from labtui.core.db.models import InventoryType, User, user_roles
from labtui.core.errors import NotFound, PermissionDenied
from labtui.core.rbac import Rbac

WILDCARD = "*"
#: Ids per ``IN (...)`` in batch look-ups (well under any database's variable limit).
CHUNK = 500


def codename(slug: str, suffix: str) -> str:
    return f"inventory.{slug}.{suffix}"


@dataclass(frozen=True)
class Principal:
    """The asking user, resolved once per core call: their codenames and role ids."""

    perms: frozenset[str]
    role_ids: tuple[int, ...]

    @property
    def wildcard(self) -> bool:
        return WILDCARD in self.perms

    def has_type(self, slug: str, suffix: str) -> bool:
        """Step 1 or 7 alone: ``*`` or the roles' ``inventory.<slug>.<suffix>``."""
        return self.wildcard or codename(slug, suffix) in self.perms


SYSTEM = Principal(frozenset({WILDCARD}), ())


def principal(session: Session, rbac: Rbac, actor: Actor) -> Principal:
    """``actor``'s permissions (Rbac's 60 s cache) and current roles (an inactive user has none)."""
    if actor.is_system:
        return SYSTEM
    assert actor.user_id is not None
    perms = rbac.permissions_of(session, actor.user_id)
    roles = session.scalars(
        select(user_roles.c.role_id)
        .join(User, User.id == user_roles.c.user_id)
        .where(user_roles.c.user_id == actor.user_id, User.is_active.is_(True))
        .order_by(user_roles.c.role_id)
    )
    return Principal(perms, tuple(roles))


def type_ids(session: Session) -> dict[str, int]:
    """Slug -> id of every type row, removed types included (their objects are kept)."""
    return dict(session.execute(select(InventoryType.slug, InventoryType.id)).all())


# -- one object ----------------------------------------------------------------------------


def check(session: Session, p: Principal, object_id: int, suffix: str) -> bool:
    """The order above for one object (CloudLab's ``check_inventory_permission``)."""
    if p.wildcard:  # 1
        return True
    slug = session.scalar(
        select(InventoryType.slug)
        .join(InventoryObject, InventoryObject.type_id == InventoryType.id)
        .where(InventoryObject.id == object_id)
    )
    if slug is None:  # 2
        return False
    if not p.role_ids:  # 3
        return codename(slug, suffix) in p.perms
    roles = list(p.role_ids)
    effects = set(
        session.scalars(
            select(ObjectAcl.effect).where(
                ObjectAcl.object_id == object_id, ObjectAcl.role_id.in_(roles), ObjectAcl.permission == suffix
            )
        )
    )
    if DENY in effects:  # 4
        return False
    if ALLOW in effects:  # 5
        return True
    granted = session.scalar(
        select(ObjectTag.tag_id)
        .join(TagPermission, TagPermission.tag_id == ObjectTag.tag_id)
        .where(ObjectTag.object_id == object_id, TagPermission.role_id.in_(roles), TagPermission.permission == suffix)
        .limit(1)
    )
    if granted is not None:  # 6
        return True
    return codename(slug, suffix) in p.perms  # 7


# -- a batch of objects ----------------------------------------------------------------------


def _chunks(ids: Sequence[int]) -> Iterable[list[int]]:
    for i in range(0, len(ids), CHUNK):
        yield list(ids[i : i + CHUNK])


def evaluate(session: Session, p: Principal, objects: Mapping[int, str], suffix: str) -> set[int]:
    """The ids among ``objects`` (id -> type slug) that ``p`` may ``suffix``: the same order
    as :func:`check`, with three queries per 500 objects instead of three per object."""
    if p.wildcard:
        return set(objects)
    if not p.role_ids:
        return {oid for oid, slug in objects.items() if codename(slug, suffix) in p.perms}
    roles = list(p.role_ids)
    denied: set[int] = set()
    allowed: set[int] = set()
    tagged: set[int] = set()
    for ids in _chunks(list(objects)):
        for oid, effect in session.execute(
            select(ObjectAcl.object_id, ObjectAcl.effect).where(
                ObjectAcl.object_id.in_(ids), ObjectAcl.role_id.in_(roles), ObjectAcl.permission == suffix
            )
        ):
            (denied if effect == DENY else allowed).add(oid)
        tagged.update(
            session.scalars(
                select(ObjectTag.object_id)
                .join(TagPermission, TagPermission.tag_id == ObjectTag.tag_id)
                .where(
                    ObjectTag.object_id.in_(ids), TagPermission.role_id.in_(roles), TagPermission.permission == suffix
                )
            )
        )
    return {
        oid
        for oid, slug in objects.items()
        if oid not in denied and (oid in allowed or oid in tagged or codename(slug, suffix) in p.perms)
    }


# -- the order as SQL --------------------------------------------------------------------------


def visible_clause(session: Session, p: Principal, suffix: str, types: Mapping[str, int]) -> ColumnElement[bool] | None:
    """A condition on :class:`InventoryObject` true exactly where :func:`check` allows;
    None when nothing is filtered (``*``). ``types`` is :func:`type_ids`."""
    if p.wildcard:
        return None
    allowed_types = sorted(tid for slug, tid in types.items() if codename(slug, suffix) in p.perms)
    by_type: ColumnElement[bool] = InventoryObject.type_id.in_(allowed_types) if allowed_types else false()
    if not p.role_ids:
        return by_type
    roles = list(p.role_ids)

    def acl(effect: str) -> ColumnElement[bool]:
        return and_(ObjectAcl.role_id.in_(roles), ObjectAcl.permission == suffix, ObjectAcl.effect == effect)

    # Pre-checks: a clause for a layer the user's roles do not use at all is left out.
    any_deny = session.scalar(select(ObjectAcl.id).where(acl(DENY)).limit(1)) is not None
    any_allow = session.scalar(select(ObjectAcl.id).where(acl(ALLOW)).limit(1)) is not None
    granted_tags = sorted(
        set(
            session.scalars(
                select(TagPermission.tag_id).where(TagPermission.role_id.in_(roles), TagPermission.permission == suffix)
            )
        )
    )
    grants = [by_type]
    if any_allow:
        grants.append(exists().where(ObjectAcl.object_id == InventoryObject.id, acl(ALLOW)))
    if granted_tags:
        grants.append(exists().where(ObjectTag.object_id == InventoryObject.id, ObjectTag.tag_id.in_(granted_tags)))
    clause = or_(*grants) if len(grants) > 1 else by_type
    if any_deny:
        clause = and_(~exists().where(ObjectAcl.object_id == InventoryObject.id, acl(DENY)), clause)
    return clause


def may_use_type(session: Session, p: Principal, slug: str, type_id: int, suffix: str = "view") -> bool:
    """Whether ``p`` may ``suffix`` at least some objects of a type: the type permission, or
    any ACL allow or tag grant for ``suffix`` on one of its objects. Listing a type needs this
    (CloudLab needed the type permission alone, which made per-object allows useless there)."""
    if p.has_type(slug, suffix):
        return True
    if not p.role_ids:
        return False
    roles = list(p.role_ids)
    allow = session.scalar(
        select(ObjectAcl.id)
        .join(InventoryObject, InventoryObject.id == ObjectAcl.object_id)
        .where(
            InventoryObject.type_id == type_id,
            ObjectAcl.role_id.in_(roles),
            ObjectAcl.permission == suffix,
            ObjectAcl.effect == ALLOW,
        )
        .limit(1)
    )
    if allow is not None:
        return True
    tagged = session.scalar(
        select(ObjectTag.object_id)
        .join(TagPermission, TagPermission.tag_id == ObjectTag.tag_id)
        .join(InventoryObject, InventoryObject.id == ObjectTag.object_id)
        .where(InventoryObject.type_id == type_id, TagPermission.role_id.in_(roles), TagPermission.permission == suffix)
        .limit(1)
    )
    return tagged is not None


# -- refusals ----------------------------------------------------------------------------------


def refuse(db: Database, actor: Actor, slug: str, suffix: str, target: str, *, hide: bool) -> NoReturn:
    """Audit the refusal in its own transaction (it survives the caller's rollback) and raise:
    :class:`NotFound` when the user may not even view the object (its existence is not
    revealed), :class:`PermissionDenied` otherwise."""
    full = codename(slug, suffix)
    with db.session() as own:
        audit.record(
            own, actor, "permission.denied", target, {"permission": full, "shown_as": "not found" if hide else "denied"}
        )
    if hide:
        raise NotFound(f"No inventory object {target.rsplit('/', 1)[-1]}")
    raise PermissionDenied(full)


def require(
    session: Session, db: Database, actor: Actor, p: Principal, object_id: int, suffix: str
) -> tuple[InventoryObject, str]:
    """The object and its type slug if ``actor`` may ``suffix`` it; otherwise refuse (audited).

    The decision is the order for ``suffix`` alone (an ACL may allow ``delete`` to a role that
    may not ``view``). The refusal's form depends on ``view``: a user who may not view the
    object gets the same :class:`NotFound` as for a missing one, so its existence is not
    revealed; one who may view it gets :class:`PermissionDenied`.
    """
    row = session.execute(
        select(InventoryObject, InventoryType.slug)
        .join(InventoryType, InventoryType.id == InventoryObject.type_id)
        .where(InventoryObject.id == object_id)
    ).first()
    if row is None:
        raise NotFound(f"No inventory object {object_id}")
    obj, slug = row
    target = f"inventory/{slug}/{object_id}"
    if not check(session, p, object_id, suffix):
        hide = suffix == "view" or not check(session, p, object_id, "view")
        refuse(db, actor, slug, suffix, target, hide=hide)
    return obj, slug
