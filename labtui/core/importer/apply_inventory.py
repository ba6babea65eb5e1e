"""Inventory types, tags, objects (with their tags), object ACLs and tag grants.

Objects are matched by the import map (their CloudLab id), else by the first ``unique``
field of the lab's type (so an object a labtui sync adapter made already is adopted, not
doubled). An object a sync adapter owns (``source`` set) keeps labtui's data: the adapter
reads the same upstream CloudLab's sync did, and later, so a re-import never puts CloudLab's
stale copy back (docs/cloudlab.md). Values are stored as core stores them: checked by field type, secret fields apart
from the rest, and the search text computed by labtui's :func:`search_text`. A type the lab
no longer defines gets a ``removed`` type row; its objects are kept read-only, as core does.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select

from labtui.core.db.inventory import (
    DENY,
    InventoryObject,
    InventoryTag,
    ObjectAcl,
    ObjectTag,
    TagPermission,
    open_secrets,
    seal_secrets,
)
from labtui.core.db.models import InventoryType
from labtui.core.errors import ValidationError
from labtui.core.importer.context import Context
from labtui.core.importer.records import ObjectRec
from labtui.core.inventory.objects import find_duplicate
from labtui.core.inventory.tags import colour, tag_name
from labtui.core.inventory.types import InventoryTypeDef
from labtui.core.inventory.values import check_value, search_text
from labtui.core.rbac import SUPER_ADMIN


def apply_types(ctx: Context) -> None:
    assert ctx.snap is not None
    s = ctx.session
    ctx.type_ids.update(dict(s.execute(select(InventoryType.slug, InventoryType.id)).all()))
    counts: dict[str, int] = {}
    for o in ctx.snap.objects:
        counts[o.type_slug] = counts.get(o.type_slug, 0) + 1
    for t in ctx.snap.types:
        ctx.at("inventory_types", repr(t.slug))
        if t.slug in ctx.type_ids:
            ctx.report.skipped("inventory_types")
            continue
        row = InventoryType(
            slug=t.slug,
            label=t.label[:100],
            description=t.description,
            icon=t.icon[:50],
            config_hash="",
            filename="",
            removed=True,
            created_at=ctx.now,
            updated_at=ctx.now,
        )
        s.add(row)
        s.flush()
        ctx.type_ids[t.slug] = row.id
        ctx.report.created("inventory_types")
        ctx.report.warn(
            f"inventory_types: '{t.slug}' is not defined by the lab: its {counts.get(t.slug, 0)} object(s) are kept read-only"
        )


def apply_tags(ctx: Context) -> None:
    assert ctx.snap is not None
    s = ctx.session
    ctx.tags.update(dict(s.execute(select(InventoryTag.name, InventoryTag.id)).all()))
    for t in ctx.snap.tags:
        ctx.at("inventory_tags", repr(t.name))
        try:
            name = tag_name(t.name)
        except ValidationError as exc:
            ctx.report.warn(f"inventory_tags: '{t.name}' skipped: {exc}")
            ctx.report.skipped("inventory_tags")
            continue
        fresh = ctx.unchanged("inventory_tag", name, t.colour)
        if name in ctx.tags or fresh:  # fresh: imported before, so deleted in labtui since
            ctx.report.skipped("inventory_tags")
            continue
        try:
            tag_colour = colour(t.colour)
        except ValidationError:
            ctx.report.warn(f"inventory_tags: '{name}' imported without its colour '{t.colour}' (not #rrggbb)")
            tag_colour = None
        row = InventoryTag(name=name, colour=tag_colour, created_at=t.created_at or ctx.now)
        s.add(row)
        s.flush()
        ctx.tags[name] = row.id
        ctx.report.created("inventory_tags")


def _stored(ctx: Context, type_def: InventoryTypeDef | None, o: ObjectRec) -> tuple[dict[str, Any], dict[str, Any]]:
    """(data, secrets) as core stores them; a value core would refuse is kept as it was, and reported."""
    if type_def is None:
        return dict(o.data), {}
    data: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    for name, value in o.data.items():
        f = type_def.field(name)
        if f is None:
            data[name] = value
            continue
        if value is None:
            continue
        try:
            value = check_value(f, value)
        except ValidationError as exc:
            ctx.report.warn(f"inventory_objects: object {o.source_id} ({o.type_slug}): {exc}; kept as it was")
        (secrets if f.type == "secret" else data)[name] = value
    return data, secrets


def _match(
    ctx: Context, type_id: int, type_def: InventoryTypeDef | None, values: dict[str, Any], o: ObjectRec
) -> InventoryObject | None:
    s = ctx.session
    target = ctx.mapped("inventory_object", str(o.source_id))
    if target is not None:
        row = s.get(InventoryObject, int(target))
        if row is not None:
            return row
    if type_def is None:
        return None
    for f in type_def.fields:
        if f.unique and values.get(f.name) is not None:
            found = find_duplicate(s, type_id, f, values[f.name])
            if found is not None:
                return s.get(InventoryObject, found)
    return None


def apply_objects(ctx: Context) -> None:
    assert ctx.snap is not None
    s = ctx.session
    for o in ctx.snap.objects:
        ctx.at("inventory_objects", f"id={o.source_id}")
        type_id = ctx.type_ids[o.type_slug]
        type_def = ctx.types.get(o.type_slug)
        data, secrets = _stored(ctx, type_def, o)
        text = search_text(type_def, data) if type_def is not None else o.search_text.lower()
        row = _match(ctx, type_id, type_def, {**data, **secrets}, o)
        mapped = row is not None and ctx.mapped("inventory_object", str(o.source_id)) == str(row.id)
        if ctx.unchanged("inventory_object", str(o.source_id), {"data": o.data, "tags": sorted(o.tags)}) and mapped:
            # As the last import read it: labtui's edits since (values, tags) stand.
            assert row is not None
            ctx.report.skipped("inventory_objects")
            ctx.report.skipped("object_tags", len(o.tags))
            ctx.objects[o.source_id] = row.id
            continue
        if row is None:
            row = InventoryObject(
                type_id=type_id,
                data=json.dumps(data),
                secrets=seal_secrets(s, secrets),
                search_text=text,
                created_by=o.created_by or "cloudlab",
                created_at=o.created_at or ctx.now,
                updated_at=o.updated_at or o.created_at or ctx.now,
            )
            s.add(row)
            s.flush()
            ctx.report.created("inventory_objects")
        else:
            old_data, old_secrets = json.loads(row.data or "{}"), open_secrets(s, row.secrets)
            if row.source is not None:
                # A sync adapter owns the object now: its data is labtui's, fresher than
                # CloudLab's copy of the same upstream. CloudLab only fills in fields labtui's
                # object has no value for, and only the first time it is matched.
                first = not mapped
                new_data = {**data, **old_data} if first else old_data
                new_secrets = {**secrets, **old_secrets} if first else old_secrets
            else:
                # CloudLab's values win; fields only labtui has are kept.
                new_data, new_secrets = {**old_data, **data}, {**old_secrets, **secrets}
            if (new_data, new_secrets) == (old_data, old_secrets):
                ctx.report.skipped("inventory_objects")
            else:
                row.data, row.secrets = json.dumps(new_data), seal_secrets(s, new_secrets)
                row.search_text = search_text(type_def, new_data) if type_def is not None else text
                row.updated_at = ctx.now
                ctx.report.updated("inventory_objects")
        ctx.objects[o.source_id] = row.id
        ctx.remember("inventory_object", str(o.source_id), row.id)
        _tag(ctx, row.id, o)


def _tag(ctx: Context, object_id: int, o: ObjectRec) -> None:
    s = ctx.session
    have = set(s.scalars(select(ObjectTag.tag_id).where(ObjectTag.object_id == object_id)))
    for name in o.tags:
        tag_id = ctx.tags.get(name.strip())
        if tag_id is None or tag_id in have:
            ctx.report.skipped("object_tags")
            continue
        s.add(ObjectTag(object_id=object_id, tag_id=tag_id))
        have.add(tag_id)
        ctx.report.created("object_tags")
    s.flush()


def apply_acls(ctx: Context) -> None:
    assert ctx.snap is not None
    s = ctx.session
    for a in ctx.snap.acls:
        ctx.at("object_acl", f"object {a.object_id}, role '{a.role}', '{a.permission}'")
        object_id, role_id = ctx.objects.get(a.object_id), ctx.roles.get(a.role)
        if (
            object_id is None
            or role_id is None
            or ctx.unchanged("object_acl", f"{a.object_id}/{a.role}/{a.permission}", a.effect)
        ):
            ctx.report.skipped("object_acl")  # unchanged since the last import: labtui's rule since stands
            continue
        if a.role == SUPER_ADMIN and a.effect == DENY:
            ctx.report.warn(
                f"object_acl: the deny of '{a.permission}' to super-admin on object {a.object_id} no longer applies "
                "(super-admin holds '*' in labtui)"
            )
        row = s.scalar(
            select(ObjectAcl).where(
                ObjectAcl.object_id == object_id, ObjectAcl.role_id == role_id, ObjectAcl.permission == a.permission
            )
        )
        if row is None:
            s.add(
                ObjectAcl(
                    object_id=object_id,
                    role_id=role_id,
                    permission=a.permission[:50],
                    effect=a.effect,
                    created_at=ctx.now,
                )
            )
            s.flush()
            ctx.report.created("object_acl")
        elif row.effect == a.effect:
            ctx.report.skipped("object_acl")
        else:
            row.effect = a.effect
            ctx.report.updated("object_acl")


def apply_tag_grants(ctx: Context) -> None:
    assert ctx.snap is not None
    s = ctx.session
    for g in ctx.snap.tag_grants:
        ctx.at("tag_permissions", f"tag '{g.tag}', role '{g.role}', '{g.permission}'")
        tag_id, role_id = ctx.tags.get(g.tag.strip()), ctx.roles.get(g.role)
        if (
            tag_id is None
            or role_id is None
            or ctx.unchanged("tag_permission", f"{g.tag}/{g.role}/{g.permission}", True)
        ):
            # Unchanged: imported before, perhaps revoked in labtui since.
            ctx.report.skipped("tag_permissions")
            continue
        found = s.scalar(
            select(TagPermission.id).where(
                TagPermission.tag_id == tag_id,
                TagPermission.role_id == role_id,
                TagPermission.permission == g.permission,
            )
        )
        if found is not None:
            ctx.report.skipped("tag_permissions")
            continue
        s.add(TagPermission(tag_id=tag_id, role_id=role_id, permission=g.permission[:50], created_at=ctx.now))
        s.flush()
        ctx.report.created("tag_permissions")
