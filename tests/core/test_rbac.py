"""The permission registry, seeded roles, the cached check and role management."""

from __future__ import annotations

import subprocess
import sys

import pytest
from sqlalchemy import select

from labtui.core.actor import Actor
from labtui.core.db.models import AuditRecord, Permission, Role
from labtui.core.errors import Conflict, PermissionDenied
from labtui.core.permissions_catalog import STATIC_PERMISSIONS
from labtui.core.runtime import Core
from tests.conftest import add_user


async def test_permission_table_has_cloudlabs_37_plus_wildcard(core: Core) -> None:
    codes = set(await core.db.run(lambda s: list(s.scalars(select(Permission.codename)))))
    static = {p.codename for p in STATIC_PERMISSIONS}
    assert len(static) == 37
    assert static | {"*"} <= codes
    assert {c for c in codes if not c.startswith("inventory.") or c in static} == static | {"*"}


async def test_seeding_is_idempotent(core: Core) -> None:
    before = await core.db.run(
        lambda s: (s.scalar(select(Permission.id).order_by(Permission.id.desc())), len(list(s.scalars(select(Role)))))
    )
    await core.db.run(core.rbac.seed)
    await core.db.run(core.rbac.seed)
    after = await core.db.run(
        lambda s: (s.scalar(select(Permission.id).order_by(Permission.id.desc())), len(list(s.scalars(select(Role)))))
    )
    assert before == after


async def test_seeded_roles(core: Core, admin: Actor) -> None:
    roles = {r.name: r for r in await core.rbac.list_roles(admin)}
    assert roles["super-admin"].is_system and "*" in roles["super-admin"].permissions
    operator, viewer = roles["operator"].permissions, roles["viewer"].permissions
    assert {"services.deploy", "jobs.cancel", "schedules.create", "health.manage"} <= operator
    assert not any(p.startswith(("users.", "roles.")) for p in operator)
    assert "jobs.view_own" in viewer and all(p.endswith(".view") or p == "jobs.view_own" for p in viewer)


async def test_operator_is_refused_user_management_and_the_refusal_is_audited(core: Core, admin: Actor) -> None:
    op = await add_user(core, admin, "oper", "operator")
    with pytest.raises(PermissionDenied):
        await core.users.list(op)
    with pytest.raises(PermissionDenied):
        await core.rbac.create_role(op, "sneaky")
    denied = await core.db.run(
        lambda s: [
            (r.username, r.detail)
            for r in s.scalars(select(AuditRecord).where(AuditRecord.action == "permission.denied"))
        ]
    )
    assert ("oper", '{"permission": "users.view"}') in denied


async def test_checks_are_cached_and_invalidated_on_change(core: Core, admin: Actor) -> None:
    bob = await add_user(core, admin, "bobby", "viewer")
    assert not await core.rbac.has(bob, "services.deploy")
    viewer = next(r for r in await core.rbac.list_roles(admin) if r.name == "viewer")

    # A change behind core's back is not seen while the cache is fresh ...
    def grant(s):  # type: ignore[no-untyped-def]
        role = s.get(Role, viewer.id)
        role.permissions.append(s.scalar(select(Permission).where(Permission.codename == "services.deploy")))

    await core.db.run(grant)
    assert not await core.rbac.has(bob, "services.deploy")
    # ... but a change through core invalidates it at once.
    await core.rbac.update_role(admin, viewer.id, permissions=set(viewer.permissions) | {"services.deploy"})
    assert await core.rbac.has(bob, "services.deploy")
    await core.users.set_roles(admin, bob.user_id or 0, [])
    assert not await core.rbac.has(bob, "services.deploy")


async def test_system_role_is_immutable_and_role_in_use_not_deletable(core: Core, admin: Actor) -> None:
    roles = {r.name: r for r in await core.rbac.list_roles(admin)}
    with pytest.raises(Conflict, match="system role"):
        await core.rbac.update_role(admin, roles["super-admin"].id, name="root")
    with pytest.raises(Conflict, match="system role"):
        await core.rbac.delete_role(admin, roles["super-admin"].id)
    await add_user(core, admin, "opuser", "operator")
    with pytest.raises(Conflict, match="assigned to 1 user"):
        await core.rbac.delete_role(admin, roles["operator"].id)
    rid = await core.rbac.create_role(admin, "auditors", "reads the log", {"system.audit_log"})
    await core.rbac.update_role(admin, rid, name="auditor")
    await core.rbac.delete_role(admin, rid)
    assert "auditor" not in {r.name for r in await core.rbac.list_roles(admin)}


def test_core_never_imports_textual() -> None:
    code = "import sys, labtui.core.runtime, labtui.core.startup, labtui.cli.context; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
