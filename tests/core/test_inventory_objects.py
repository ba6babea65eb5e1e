"""Inventory objects: validation by field type, required, unique, readonly, secrets, search,
paging, tags and ACL management, and objects of a removed type — on the demo lab's types."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select, text

from labtui.core.actor import Actor
from labtui.core.db.models import AuditRecord
from labtui.core.errors import Conflict, NotFound, PermissionDenied, ValidationError
from labtui.core.runtime import Core
from labtui.core.startup import step_inventory_types
from tests.conftest import add_user

BASE: dict[str, dict[str, Any]] = {
    "network": {"name": "lan", "cidr": "10.0.0.0/24"},
    "credential": {"name": "db", "secret": "hunter2-XYZ"},
    "server": {"hostname": "web1"},
}


async def audit_rows(core: Core, action: str | None = None) -> list[AuditRecord]:
    def q(s: Any) -> list[AuditRecord]:
        stmt = select(AuditRecord).order_by(AuditRecord.id)
        if action:
            stmt = stmt.where(AuditRecord.action == action)
        return list(s.scalars(stmt))

    return await core.db.run(q)


@pytest.mark.parametrize(
    ("type_", "field", "value", "message"),
    [
        ("network", "vlan", "twelve", "Field 'vlan' must be a whole number (got 'twelve')"),
        ("network", "vlan", True, "Field 'vlan' must be a whole number"),
        ("network", "vlan", 1.5, "Field 'vlan' must be a whole number (got 1.5)"),
        ("network", "dhcp", "maybe", "Field 'dhcp' must be true or false (got 'maybe')"),
        ("network", "name", "two\nlines", "Field 'name' must be a single line"),
        ("network", "name", ["x"], "Field 'name' must be text"),
        ("credential", "kind", "pin", "Field 'kind' must be one of password, api_token, ssh_key (got 'pin')"),
        ("credential", "expires_at", "next tuesday", "Field 'expires_at' must be an ISO 8601 date and time"),
        ("server", "vultr_tags", "[1,", "Field 'vultr_tags' must be valid JSON"),
        ("server", "vultr_tags", {1, 2}, "Field 'vultr_tags' must be a JSON value"),
        (
            "network",
            "colour",
            "red",
            "Unknown field 'colour' for type 'network' (fields: name, cidr, vlan, gateway, dhcp, notes)",
        ),
        ("network", "cidr", "  ", "Missing required field: cidr"),
    ],
)
async def test_values_are_checked_by_field_type(
    core: Core, admin: Actor, type_: str, field: str, value: Any, message: str
) -> None:
    with pytest.raises(ValidationError) as exc:
        await core.inventory.create(admin, type_, {**BASE[type_], field: value})
    assert str(exc.value).startswith(message)
    assert exc.value.field == field
    # The same check on update.
    obj = await core.inventory.create(admin, type_, BASE[type_])
    with pytest.raises(ValidationError) as exc2:
        await core.inventory.update(admin, obj.id, {field: value})
    assert str(exc2.value).startswith(message)


async def test_values_are_stored_in_their_type(core: Core, admin: Actor) -> None:
    net = await core.inventory.create(
        admin, "network", {"name": "lan", "cidr": "10.0.0.0/24", "vlan": "12", "dhcp": "yes"}
    )
    assert net.data == {"name": "lan", "cidr": "10.0.0.0/24", "vlan": 12, "dhcp": True}
    cred = await core.inventory.create(
        admin, "credential", {**BASE["credential"], "expires_at": "2024-05-01T12:00:00Z"}
    )
    assert cred.data["expires_at"] == "2024-05-01T12:00:00+00:00"
    assert cred.data["kind"] == "password"  # the field's default
    server = await core.inventory.create(admin, "server", {"hostname": "web1", "vultr_tags": '["a", "b"]'})
    assert server.data["vultr_tags"] == ["a", "b"] and server.data["power_status"] == "unknown"
    # A blank value clears an optional field.
    net = await core.inventory.update(admin, net.id, {"vlan": ""})
    assert "vlan" not in net.data


async def test_required_and_unique(core: Core, admin: Actor) -> None:
    with pytest.raises(ValidationError, match="^Missing required field: cidr$"):
        await core.inventory.create(admin, "network", {"name": "lan"})
    a = await core.inventory.create(admin, "network", BASE["network"])
    b = await core.inventory.create(admin, "network", {"name": "wan", "cidr": "10.1.0.0/24"})
    with pytest.raises(Conflict, match="^Duplicate value for unique field: name$"):
        await core.inventory.create(admin, "network", {"name": "lan", "cidr": "10.2.0.0/24"})
    with pytest.raises(Conflict, match="unique field: name"):
        await core.inventory.update(admin, b.id, {"name": "lan"})
    with pytest.raises(ValidationError, match="Missing required field: name"):
        await core.inventory.update(admin, a.id, {"name": ""})
    # Saving an object with its own unique value is fine; cidr is not unique.
    assert (await core.inventory.update(admin, a.id, {"name": "lan", "cidr": "10.1.0.0/24"})).data[
        "cidr"
    ] == "10.1.0.0/24"


async def test_readonly_fields_are_ignored_on_update(core: Core, admin: Actor) -> None:
    server = await core.inventory.create(admin, "server", {"hostname": "web1", "vultr_id": "abc-123"})
    server = await core.inventory.update(admin, server.id, {"vultr_id": "zzz", "ip_address": "192.0.2.7"})
    assert server.data["vultr_id"] == "abc-123" and server.data["ip_address"] == "192.0.2.7"
    detail = json.loads((await audit_rows(core, "inventory.object.update"))[-1].detail)
    assert detail["ignored_readonly"] == ["vultr_id"] and detail["changed"] == {"ip_address": "192.0.2.7"}


async def test_secrets_stay_in_core_until_revealed(core: Core, admin: Actor) -> None:
    viewer = await add_user(core, admin, "vera", "viewer")
    operator = await add_user(core, admin, "otto", "operator")
    cred = await core.inventory.create(admin, "credential", {"name": "db", "username": "root", "secret": "hunter2-XYZ"})
    assert "secret" not in cred.data and cred.secrets == {"secret": True}
    listed = await core.inventory.list(viewer, type="credential")
    shown = json.dumps([o.as_json() for o in listed.items]) + json.dumps(
        (await core.inventory.get(viewer, cred.id)).as_json()
    )
    assert "hunter2" not in shown and '"secret": true' in shown
    assert (await core.inventory.list(admin, search="hunter2")).items == []  # never searchable
    await core.inventory.update(operator, cred.id, {"secret": "new-PASSWORD-42", "username": "admin"})
    # Revealing needs edit (the viewer may only view), and is audited by field name.
    with pytest.raises(PermissionDenied, match="inventory.credential.edit"):
        await core.inventory.reveal(viewer, cred.id, "secret")
    assert await core.inventory.reveal(operator, cred.id, "secret") == "new-PASSWORD-42"
    with pytest.raises(ValidationError, match="not a secret field"):
        await core.inventory.reveal(operator, cred.id, "username")
    rows = await audit_rows(core)
    everything = " ".join(r.detail + r.target for r in rows)
    assert "hunter2" not in everything and "new-PASSWORD" not in everything
    reveal = [r for r in rows if r.action == "inventory.secret.reveal"]
    assert [(r.username, json.loads(r.detail)) for r in reveal] == [("otto", {"field": "secret"})]
    update = json.loads([r for r in rows if r.action == "inventory.object.update"][-1].detail)
    assert update["write_only"] == ["secret"] and update["changed"] == {"username": "admin"}


async def test_search_words_and_tags(core: Core, admin: Actor) -> None:
    await core.inventory.tags.create(admin, "prod", "#E8984A")
    await core.inventory.tags.create(admin, "my tag")
    a = await core.inventory.create(admin, "network", {"name": "Office-LAN", "cidr": "10.0.0.0/24"}, tags=["prod"])
    b = await core.inventory.create(
        admin, "network", {"name": "lab_net", "cidr": "10.50.0.0/16", "notes": "office"}, tags=["my tag"]
    )
    c = await core.inventory.create(admin, "network", {"name": "100%", "cidr": "192.168.1.0/24"})

    async def ids(search: str = "", tags: tuple[str, ...] = ()) -> list[int]:
        return [o.id for o in (await core.inventory.list(admin, type="network", search=search, tags=tags)).items]

    assert await ids("office") == [a.id]  # notes is not searchable; case ignored
    assert await ids("10.") == [b.id, a.id]
    assert await ids("10. lan") == [a.id]  # every word must match
    assert await ids("tag:prod") == [a.id]
    assert await ids('tag:"my tag"') == [b.id]
    assert await ids("10.", tags=("my tag",)) == [b.id]
    assert await ids("tag:nope") == []
    assert await ids("_") == [b.id]  # LIKE wildcards are literal
    assert await ids("%") == [c.id]
    assert await core.inventory.count(admin, type="network", search="10.") == 2


async def test_the_text_index_follows_every_change(core: Core, admin: Actor) -> None:
    """Rare words are found through the trigram index (SQLite): it follows creates, updates
    and deletes, agrees with the LIKE scan, and takes quotes and FTS syntax literally."""
    a = await core.inventory.create(admin, "network", {"name": "quasar-net", "cidr": "10.9.0.0/16"})
    b = await core.inventory.create(admin, "network", {"name": 'odd "quoted" AND name', "cidr": "10.8.0.0/16"})

    async def ids(search: str) -> list[int]:
        return [o.id for o in (await core.inventory.list(admin, search=search)).items]

    assert await ids("quasar") == [a.id] and await core.inventory.count(admin, search="quasar") == 1
    assert await ids("quoted") == [b.id] and await ids('\\"quoted\\"') == [b.id]  # a term with quotes in it
    assert await ids('\\"quasar') == []
    assert await ids("AND name") == [b.id]  # not FTS's AND: two words, both in the text
    await core.inventory.update(admin, a.id, {"name": "pulsar-net"})
    assert await ids("quasar") == [] and await ids("pulsar") == [a.id]
    await core.inventory.delete(admin, a.id)
    assert await ids("pulsar") == []
    # The index and a plain scan agree (the scan is what short or common words use).
    rows = await core.db.run(
        lambda s: s.execute(text("SELECT count(*) FROM inventory_fts WHERE inventory_fts MATCH '\"net\"'")).scalar()
    )
    assert rows == len(await ids("net"))


async def test_keyset_paging(core: Core, admin: Actor) -> None:
    await core.inventory.tags.create(admin, "even")
    await core.inventory.tags.create(admin, "small")
    made = [
        (
            await core.inventory.create(
                admin,
                "network",
                {"name": f"n{i}", "cidr": f"10.{i}.0.0/16"},
                tags=[t for t, on in (("even", i % 2 == 0), ("small", i < 12)) if on],
            )
        ).id
        for i in range(25)
    ]

    async def pages(search: str = "") -> list[list[int]]:
        out: list[list[int]] = []
        before = None
        while True:
            page = await core.inventory.list(
                admin, type="network", search=search, before_id=before, limit=4 if search else 10
            )
            out.append([o.id for o in page.items])
            if page.next_before is None:
                return out
            before = page.next_before

    plain = await pages()
    assert [len(p) for p in plain] == [10, 10, 5]
    assert [i for p in plain for i in p] == sorted(made, reverse=True)
    # A tag filter is walked through the tag's index, and paged by it: the same order.
    evens = await pages("tag:even")
    assert [len(p) for p in evens] == [4, 4, 4, 1]
    assert [i for p in evens for i in p] == sorted(made[0::2], reverse=True)
    both = await pages("tag:even tag:small n1")
    assert [i for p in both for i in p] == [made[10]]  # n10: even, small, "n1" in its name
    assert await core.inventory.count(admin, search="tag:even tag:small") == 6


async def test_tag_management_needs_its_permission(core: Core, admin: Actor) -> None:
    operator = await add_user(core, admin, "otto", "operator")
    viewer = await add_user(core, admin, "vera", "viewer")
    with pytest.raises(PermissionDenied, match="inventory.tags.manage"):
        await core.inventory.tags.create(operator, "prod")
    with pytest.raises(ValidationError, match="#rrggbb"):
        await core.inventory.tags.create(admin, "prod", "orange")
    tag = await core.inventory.tags.create(admin, "prod", "#E8984A")
    assert tag.colour == "#e8984a"
    with pytest.raises(Conflict):
        await core.inventory.tags.create(admin, "prod")
    with pytest.raises(PermissionDenied):
        await core.inventory.tags.update(operator, "prod", tag_colour="#000000")
    with pytest.raises(PermissionDenied):
        await core.inventory.tags.delete(operator, "prod")
    # Tagging is an edit of the object: the operator may, the viewer may not.
    net = await core.inventory.create(admin, "network", BASE["network"])
    with pytest.raises(PermissionDenied, match="inventory.network.edit"):
        await core.inventory.tags.tag(viewer, net.id, ["prod"])
    assert [t.name for t in await core.inventory.tags.tag(operator, net.id, ["prod"])] == ["prod"]
    with pytest.raises(NotFound, match="No tag named 'nope'"):
        await core.inventory.tags.tag(operator, net.id, ["nope"])
    # Counts are of objects the asker may view.
    await core.inventory.acl.set_entry(admin, net.id, "viewer", "view", "deny")
    assert {t.name: t.object_count for t in await core.inventory.tags.list(viewer)} == {"prod": 0}
    assert {t.name: t.object_count for t in await core.inventory.tags.list(admin)} == {"prod": 1}
    await core.inventory.tags.update(admin, "prod", new_name="production", tag_colour=None)
    assert [(t.name, t.colour) for t in (await core.inventory.get(admin, net.id)).tags] == [("production", None)]
    assert await core.inventory.tags.untag(operator, net.id, ["production"]) == []
    assert await core.inventory.tags.delete(admin, "production") == 0
    actions = [
        r.action
        for r in await audit_rows(core)
        if r.action.startswith("inventory.tag") or r.action.startswith("inventory.object.")
    ]
    assert "inventory.tag.create" in actions and "inventory.object.tag" in actions and "inventory.tag.delete" in actions


async def test_acl_management_needs_its_permission(core: Core, admin: Actor) -> None:
    operator = await add_user(core, admin, "otto", "operator")
    viewer = await add_user(core, admin, "vera", "viewer")
    net = await core.inventory.create(admin, "network", BASE["network"])
    await core.inventory.tags.create(admin, "prod")
    with pytest.raises(PermissionDenied, match="inventory.acl.manage"):
        await core.inventory.acl.set_entry(operator, net.id, "viewer", "view", "deny")
    with pytest.raises(PermissionDenied, match="inventory.acl.manage"):
        await core.inventory.acl.grant(operator, "prod", "viewer", "edit")
    with pytest.raises(PermissionDenied):
        await core.inventory.acl.grants(operator)
    with pytest.raises(ValidationError, match="allow or deny"):
        await core.inventory.acl.set_entry(admin, net.id, "viewer", "view", "maybe")
    with pytest.raises(ValidationError, match="suffix"):
        await core.inventory.acl.set_entry(admin, net.id, "viewer", "inventory.network.view", "allow")
    with pytest.raises(NotFound, match="No role 'ghosts'"):
        await core.inventory.acl.set_entry(admin, net.id, "ghosts", "view", "allow")
    await core.inventory.acl.set_entry(admin, net.id, "viewer", "edit", "allow")
    entry = await core.inventory.acl.set_entry(admin, net.id, "viewer", "edit", "deny")  # replaces the effect
    entries = await core.inventory.acl.entries(viewer, net.id)  # whoever may view sees them
    assert [(e.role, e.permission, e.effect) for e in entries] == [("viewer", "edit", "deny")]
    grant = await core.inventory.acl.grant(admin, "prod", "viewer", "edit")
    with pytest.raises(Conflict):
        await core.inventory.acl.grant(admin, "prod", "viewer", "edit")
    assert [(g.tag, g.role, g.permission) for g in await core.inventory.acl.grants(admin)] == [
        ("prod", "viewer", "edit")
    ]
    await core.inventory.acl.revoke(admin, grant.id)
    await core.inventory.acl.remove_entry(admin, entry.id)
    assert await core.inventory.acl.entries(admin, net.id) == []
    actions = [
        r.action
        for r in await audit_rows(core)
        if r.action.startswith("inventory.acl") or r.action.startswith("inventory.tag_grant")
    ]
    assert actions == [
        "inventory.acl.set",
        "inventory.acl.set",
        "inventory.tag_grant.add",
        "inventory.tag_grant.remove",
        "inventory.acl.remove",
    ]


async def test_operator_edits_but_does_not_delete(core: Core, admin: Actor) -> None:
    operator = await add_user(core, admin, "otto", "operator")
    net = await core.inventory.create(admin, "network", BASE["network"])
    with pytest.raises(PermissionDenied, match="inventory.network.create"):
        await core.inventory.create(operator, "network", {"name": "x", "cidr": "10.9.0.0/24"})
    assert (await core.inventory.update(operator, net.id, {"vlan": 7})).data["vlan"] == 7
    with pytest.raises(PermissionDenied, match="inventory.network.delete"):
        await core.inventory.delete(operator, net.id)
    await core.inventory.delete(admin, net.id)
    with pytest.raises(NotFound):
        await core.inventory.get(admin, net.id)


async def test_objects_of_a_removed_type_are_kept_and_flagged(core: Core, admin: Actor) -> None:
    net = await core.inventory.create(admin, "network", BASE["network"], tags=[])
    cred = await core.inventory.create(admin, "credential", BASE["credential"])
    (core.lab_dir / "inventory_types" / "network.yaml").unlink()
    (core.lab_dir / "inventory_types" / "credential.yaml").unlink()
    await step_inventory_types(core)
    assert "network" not in core.inventory_types
    kept = await core.inventory.get(admin, net.id)
    assert kept.type_removed and kept.data == {"name": "lan", "cidr": "10.0.0.0/24", "dhcp": False}
    assert [o.id for o in (await core.inventory.list(admin, type="network")).items] == [net.id]
    # The secret stays hidden even though the type (and so which fields are secret) is gone.
    gone = await core.inventory.get(admin, cred.id)
    assert "hunter2" not in json.dumps(gone.as_json()) and gone.secrets == {"secret": True}
    with pytest.raises(ValidationError, match="no longer defined by the lab"):
        await core.inventory.update(admin, net.id, {"name": "x"})
    with pytest.raises(ValidationError, match="no longer defined by the lab"):
        await core.inventory.create(admin, "network", BASE["network"])
    with pytest.raises(NotFound, match="No inventory type 'nope'"):
        await core.inventory.create(admin, "nope", {})
    await core.inventory.delete(admin, net.id)
