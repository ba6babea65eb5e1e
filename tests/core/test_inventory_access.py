"""The inventory access order (CloudLab's ``check_inventory_permission``), in core.

``test_access_order`` is the one table: every step with an allow and a deny case, a user in
two roles and a user with no roles. Each row is checked four ways that must agree — the
single-object check, the batch evaluation, the SQL condition listings use, and the public
core calls (read, list, edit, delete) with their refusals audited.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

import pytest
from sqlalchemy import select

from labtui.core.actor import Actor
from labtui.core.db.inventory import InventoryObject, InventoryTag, ObjectTag
from labtui.core.db.models import AuditRecord
from labtui.core.errors import NotFound, PermissionDenied
from labtui.core.inventory import access
from labtui.core.runtime import Core

ROLES = {
    "wild": {"*"},
    "typed": {"inventory.network.view", "inventory.network.edit"},
    "bare": {"services.view"},
}


async def make_user(core: Core, admin: Actor, name: str, roles: tuple[str, ...]) -> Actor:
    await core.users.create(admin, name, "password-123", roles=list(roles))
    return (await core.auth.login(name, "password-123")).actor


async def make_roles(core: Core, admin: Actor) -> None:
    for name, perms in ROLES.items():
        await core.rbac.create_role(admin, name, permissions=perms)


@dataclass(frozen=True)
class Case:
    roles: tuple[str, ...]
    expected: bool
    suffix: str = "view"
    acl: tuple[tuple[str, str, str], ...] = ()  # (role, suffix, allow|deny) on the object
    grants: tuple[tuple[str, str], ...] = ()  # (role, suffix) on the tag "grant-me"
    tagged: bool = False
    exists: bool = True


CASES = {
    # 1. "*" first: allows, and beats even a deny on the user's own role.
    "1 wildcard allows": Case(("wild",), True),
    "1 wildcard beats an ACL deny": Case(("wild",), True, acl=(("wild", "view", "deny"),)),
    # 2. A missing object is refused (wildcard aside).
    "2 missing object refused": Case(("typed",), False, exists=False),
    # 3. No roles: only the (empty) permission set counts; others' allows and grants do not.
    "3 no roles, ACL allow to a role: refused": Case((), False, acl=(("bare", "view", "allow"),)),
    "3 no roles, tag grant to a role: refused": Case((), False, grants=(("bare", "view"),), tagged=True),
    # 4. ACL deny beats the type permission, allows of other roles and tag grants.
    "4 deny beats the role permission": Case(("typed",), False, acl=(("typed", "view", "deny"),)),
    "4 deny beats allow and tag grant": Case(
        ("typed", "bare"),
        False,
        acl=(("typed", "view", "deny"), ("bare", "view", "allow")),
        grants=(("bare", "view"),),
        tagged=True,
    ),
    "4 deny of edit leaves view alone": Case(("typed",), True, acl=(("typed", "edit", "deny"),)),
    "4 deny of edit refuses edit": Case(("typed",), False, suffix="edit", acl=(("typed", "edit", "deny"),)),
    # 5. ACL allow without any type permission.
    "5 allow grants view": Case(("bare",), True, acl=(("bare", "view", "allow"),)),
    "5 allow grants delete": Case(("bare",), True, suffix="delete", acl=(("bare", "delete", "allow"),)),
    "5 allow to a role the user lacks": Case(("bare",), False, acl=(("typed", "view", "allow"),)),
    "5 allow of view is not edit": Case(("bare",), False, suffix="edit", acl=(("bare", "view", "allow"),)),
    # 6. Tag grant: the tag on the object, one of the user's roles, this suffix.
    "6 tag grant allows": Case(("bare",), True, grants=(("bare", "view"),), tagged=True),
    "6 tag grant needs the tag on the object": Case(("bare",), False, grants=(("bare", "view"),)),
    "6 tag grant is per suffix": Case(("bare",), False, suffix="edit", grants=(("bare", "view"),), tagged=True),
    "6 tag grant to another role": Case(("bare",), False, grants=(("typed", "view"),), tagged=True),
    # 7. Otherwise the roles' inventory.<slug>.<suffix>.
    "7 role permission allows": Case(("typed",), True),
    "7 role permission allows edit": Case(("typed",), True, suffix="edit"),
    "7 role permission is per suffix": Case(("typed",), False, suffix="delete"),
    "7 nothing anywhere": Case(("bare",), False),
    # A user in two roles: permissions and grants are unions; a deny on either role wins.
    "two roles: union of permissions": Case(("bare", "typed"), True, suffix="edit"),
    "two roles: allow via the other role": Case(
        ("typed", "bare"), True, suffix="delete", acl=(("bare", "delete", "allow"),)
    ),
    "two roles: deny on either wins": Case(("bare", "typed"), False, acl=(("bare", "view", "deny"),)),
}


@pytest.mark.parametrize("case", list(CASES.values()), ids=list(CASES))
async def test_access_order(core: Core, admin: Actor, case: Case) -> None:
    await make_roles(core, admin)
    user = await make_user(core, admin, "alice", case.roles)
    await core.inventory.tags.create(admin, "grant-me", "#112233")
    obj = await core.inventory.create(admin, "network", {"name": "lan", "cidr": "10.0.0.0/24"})
    other = await core.inventory.create(admin, "network", {"name": "other", "cidr": "10.9.0.0/24"})
    if case.tagged:
        await core.inventory.tags.tag(admin, obj.id, ["grant-me"])
    for role, suffix, effect in case.acl:
        await core.inventory.acl.set_entry(admin, obj.id, role, suffix, effect)
    for role, suffix in case.grants:
        await core.inventory.acl.grant(admin, "grant-me", role, suffix)
    if not case.exists:
        await core.inventory.delete(admin, obj.id)

    # Four evaluations of the order agree.
    def evaluations(s: object) -> tuple[bool, bool, bool]:
        p = access.principal(s, core.rbac, user)  # type: ignore[arg-type]
        one = access.check(s, p, obj.id, case.suffix)  # type: ignore[arg-type]
        batch = obj.id in access.evaluate(s, p, {obj.id: "network", other.id: "network"}, case.suffix)  # type: ignore[arg-type]
        clause = access.visible_clause(s, p, case.suffix, access.type_ids(s))  # type: ignore[arg-type]
        stmt = select(InventoryObject.id).where(InventoryObject.id == obj.id)
        sql = s.scalar(stmt if clause is None else stmt.where(clause)) is not None  # type: ignore[attr-defined]
        return one, batch if case.exists else False, sql if case.exists else False

    one, batch, sql = await core.db.run(evaluations)
    assert one == case.expected
    assert (batch, sql) == (case.expected, case.expected) or not case.exists
    assert await core.inventory.allowed(user, obj.id, case.suffix) == case.expected

    # The public calls: allowed, or refused (NotFound when the object may not even be seen).
    can_view = await core.inventory.allowed(user, obj.id, "view")
    listed = {o.id for o in (await core.inventory.list(user)).items}
    assert (obj.id in listed) == can_view
    if case.suffix == "view":
        if case.expected:
            assert (await core.inventory.get(user, obj.id)).title == "lan"
        else:
            with pytest.raises(NotFound, match=f"No inventory object {obj.id}"):
                await core.inventory.get(user, obj.id)
    elif case.suffix == "edit":
        call = core.inventory.update(user, obj.id, {"cidr": "10.1.0.0/24"})
    else:
        call = core.inventory.delete(user, obj.id)
    if case.suffix != "view":
        if case.expected:
            await call
        else:
            with pytest.raises(NotFound if not can_view else PermissionDenied):
                await call
    if not case.expected and case.exists:
        denied = await core.db.run(
            lambda s: [
                (r.username, r.target)
                for r in s.scalars(select(AuditRecord).where(AuditRecord.action == "permission.denied"))
            ]
        )
        assert ("alice", f"inventory/network/{obj.id}") in denied


async def _setup_mixed(core: Core, admin: Actor, seed: int = 7) -> tuple[Actor, Actor, list[int]]:
    """60 objects over three types with random tags, ACL entries and tag grants; a viewer
    (the seeded role, with view on every type) and a limited user (network only + grants)."""
    rng = random.Random(seed)
    await core.rbac.create_role(admin, "limited", permissions={"inventory.network.view"})
    viewer = await make_user(core, admin, "vera", ("viewer",))
    limited = await make_user(core, admin, "lim", ("limited",))
    for name in ("red", "blue", "green"):
        await core.inventory.tags.create(admin, name, "#aa0000")
    await core.inventory.acl.grant(admin, "blue", "limited", "view")
    ids = []
    for i in range(60):
        kind = ("network", "credential", "service")[i % 3]
        values = {
            "network": {"name": f"net{i}", "cidr": f"10.{i}.0.0/16"},
            "credential": {"name": f"cred{i}", "secret": f"s3cret-{i}"},
            "service": {"name": f"svc{i}"},
        }[kind]
        obj = await core.inventory.create(
            admin, kind, values, tags=rng.sample(["red", "blue", "green"], rng.randint(0, 2))
        )
        ids.append(obj.id)
        roll = rng.random()
        if roll < 0.2:
            await core.inventory.acl.set_entry(admin, obj.id, rng.choice(["viewer", "limited"]), "view", "deny")
        elif roll < 0.35:
            await core.inventory.acl.set_entry(admin, obj.id, "limited", "view", "allow")
    return viewer, limited, ids


async def test_listings_show_and_count_exactly_what_the_order_allows(core: Core, admin: Actor) -> None:
    viewer, limited, ids = await _setup_mixed(core, admin)
    for user in (viewer, limited, admin):
        expected = await core.db.run(
            lambda s, u=user: {i for i in ids if access.check(s, access.principal(s, core.rbac, u), i, "view")}
        )
        # Every page, small pages to exercise the keyset.
        seen: list[int] = []
        before = None
        while True:
            page = await core.inventory.list(user, type=None, before_id=before, limit=7)
            seen += [o.id for o in page.items if o.id in ids]
            if page.next_before is None:
                break
            before = page.next_before
        assert seen == sorted(expected, reverse=True)
        # Counts are of the same set (the demo's services, synced at startup, are extra rows).
        extra = await core.db.run(
            lambda s: set(s.scalars(select(InventoryObject.id).where(InventoryObject.id.not_in(ids))))
        )
        visible_extra = await core.db.run(
            lambda s, u=user, e=extra: {i for i in e if access.check(s, access.principal(s, core.rbac, u), i, "view")}
        )
        assert await core.inventory.count(user) == len(expected) + len(visible_extra)
        by_type = await core.inventory.counts_by_type(user)
        assert by_type["network"] == len(expected & set(ids[0::3]))
        assert by_type["credential"] == len(expected & set(ids[1::3]))
        if user is admin:
            assert expected == set(ids)
        # Filters keep the order applied: a tag filter shows the tagged subset of the visible.
        blue = {o.id for o in (await core.inventory.list(user, tags=["blue"], limit=1000)).items}
        tagged_blue = await core.db.run(
            lambda s: set(
                s.scalars(
                    select(ObjectTag.object_id)
                    .join(InventoryTag, InventoryTag.id == ObjectTag.tag_id)
                    .where(InventoryTag.name == "blue")
                )
            )
        )
        assert blue == expected & tagged_blue
        assert await core.inventory.count(user, search="tag:blue") == len(blue)
    viewer_seen = await core.db.run(
        lambda s: {i for i in ids if access.check(s, access.principal(s, core.rbac, viewer), i, "view")}
    )
    assert 0 < len(viewer_seen) < len(ids)


async def test_listing_a_type_needs_some_way_to_view_it(core: Core, admin: Actor) -> None:
    await make_roles(core, admin)
    bare = await make_user(core, admin, "bob", ("bare",))
    obj = await core.inventory.create(admin, "network", {"name": "lan", "cidr": "10.0.0.0/24"})
    await core.inventory.create(admin, "network", {"name": "wan", "cidr": "10.1.0.0/24"})
    with pytest.raises(PermissionDenied, match="inventory.network.view"):
        await core.inventory.list(bare, type="network")
    assert (await core.inventory.list(bare)).items == []
    assert await core.inventory.count(bare) == 0
    # One ACL allow makes the type listable, showing that object only (and counting it only).
    await core.inventory.acl.set_entry(admin, obj.id, "bare", "view", "allow")
    assert [o.title for o in (await core.inventory.list(bare, type="network")).items] == ["lan"]
    assert await core.inventory.count(bare, type="network") == 1
    assert (await core.inventory.counts_by_type(bare))["network"] == 1
    # Creating needs the type permission; an ACL cannot grant it (there is no object yet).
    with pytest.raises(PermissionDenied, match="inventory.network.create"):
        await core.inventory.create(bare, "network", {"name": "x", "cidr": "10.2.0.0/24"})


async def test_inactive_user_sees_nothing(core: Core, admin: Actor) -> None:
    await make_roles(core, admin)
    user = await make_user(core, admin, "gone", ("typed",))
    obj = await core.inventory.create(admin, "network", {"name": "lan", "cidr": "10.0.0.0/24"})
    await core.inventory.acl.set_entry(admin, obj.id, "typed", "view", "allow")
    assert await core.inventory.allowed(user, obj.id, "view")
    await core.users.set_active(admin, user.user_id, False)  # type: ignore[arg-type]
    core.rbac.invalidate()
    assert not await core.inventory.allowed(user, obj.id, "view")
    assert (await core.inventory.list(user)).items == []
