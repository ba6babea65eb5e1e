"""``labtui inventory``: the lab's types, objects as a given user sees them, and sync.

``list`` and ``show`` act as the ``--as`` user and go through the same access order as the
TUI, so a script sees exactly what that person would (never the unfiltered inventory).
Secret fields are shown as set / not set; their values never reach the command line.
"""

from __future__ import annotations

import argparse
from typing import Any

from sqlalchemy import select

from labtui.cli.context import CliContext
from labtui.cli.output import print_json, print_table
from labtui.core.db.models import InventoryType
from labtui.core.errors import PermissionDenied
from labtui.core.inventory.objects import MAX_PAGE, ObjectInfo
from labtui.core.inventory.types import InventoryTypeDef


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("inventory", help="inventory types, objects and sync")
    cmds = p.add_subparsers(dest="inventory_command", metavar="ACTION", required=True)

    types_p = cmds.add_parser("types", help="the lab's inventory types (and removed ones)")
    types_p.add_argument("--json", action="store_true")
    types_p.set_defaults(handler=list_types)

    list_p = cmds.add_parser("list", help="objects the user may view, newest first")
    list_p.add_argument("--type", metavar="T", help="only this type (its slug)")
    list_p.add_argument(
        "--tag", action="append", default=[], metavar="NAME", help="only objects with this tag (repeatable)"
    )
    list_p.add_argument("--search", default="", metavar="Q", help="words in searchable fields; tag:NAME also filters")
    list_p.add_argument(
        "--limit", type=int, default=100, metavar="N", help=f"at most N objects (1-{MAX_PAGE}, default 100)"
    )
    list_p.add_argument("--before", type=int, metavar="ID", help="objects older than this id (the next page)")
    list_p.add_argument("--count", action="store_true", help="print how many objects match instead")
    _as(list_p)
    list_p.add_argument("--json", action="store_true")
    list_p.set_defaults(handler=list_objects)

    show_p = cmds.add_parser("show", help="one object: fields, tags, ACL")
    show_p.add_argument("id", type=int)
    _as(show_p)
    show_p.add_argument("--json", action="store_true")
    show_p.set_defaults(handler=show)

    sync_p = cmds.add_parser("sync", help="run a sync source now (default: every source the types use)")
    sync_p.add_argument("source", nargs="?", help="service_discovery, user_sync, deployment_sync, service_outputs, ...")
    _as(sync_p)
    sync_p.set_defaults(handler=sync)


def _as(p: argparse.ArgumentParser) -> None:
    p.add_argument("--as", dest="as_user", required=True, metavar="USER", help="act as this labtui user")


def _type_json(t: InventoryTypeDef) -> dict[str, Any]:
    return {
        "slug": t.slug,
        "label": t.label,
        "description": t.description,
        "icon": t.icon,
        "file": t.filename,
        "sync": t.sync,
        "removed": False,
        "fields": [
            {
                "name": f.name,
                "type": f.type,
                "label": f.label,
                "searchable": f.searchable,
                "required": f.required,
                "unique": f.unique,
                "readonly": f.readonly,
                "options": list(f.options),
                "default": f.default,
            }
            for f in t.fields
        ],
        "actions": [
            {"name": a.name, "label": a.label, "scope": a.scope, "type": a.type, "destructive": a.destructive}
            for a in t.actions
        ],
    }


async def list_types(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    rows = await core.db.run(
        lambda s: list(s.execute(select(InventoryType.slug, InventoryType.label, InventoryType.filename)).all())
    )
    out = [_type_json(t) for t in core.inventory_types.values()]
    out += [
        {
            "slug": slug,
            "label": label,
            "file": filename,
            "removed": True,
            "fields": [],
            "actions": [],
            "sync": None,
            "description": "",
            "icon": "",
        }
        for slug, label, filename in rows
        if slug not in core.inventory_types
    ]
    out.sort(key=lambda t: t["slug"])
    if args.json:
        print_json(out)
        return 0
    print_table(
        ("slug", "label", "fields", "actions", "sync", "file"),
        [
            (
                t["slug"],
                t["label"] + (" (removed)" if t["removed"] else ""),
                len(t["fields"]),
                ", ".join(a["name"] for a in t["actions"]),
                t["sync"] or "",
                t["file"],
            )
            for t in out
        ],
    )
    return 0


def _flags(o: ObjectInfo) -> str:
    return ", ".join(x for x, on in (("stale", o.stale), ("type removed", o.type_removed)) if on)


async def list_objects(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    actor = await ctx.actor(args.as_user)
    if args.count:
        n = await core.inventory.count(actor, type=args.type, search=args.search, tags=args.tag)
        print_json(n) if args.json else print(n)
        return 0
    page = await core.inventory.list(
        actor, type=args.type, search=args.search, tags=args.tag, before_id=args.before, limit=args.limit
    )
    if args.json:
        print_json([o.as_json() for o in page.items])
        return 0
    print_table(
        ("id", "type", "title", "tags", "flags"),
        [(o.id, o.type, o.title, " ".join(t.name for t in o.tags), _flags(o)) for o in page.items],
    )
    if page.next_before is not None:
        print(f"(more: --before {page.next_before})")
    return 0


def _shown(value: Any) -> str:
    if isinstance(value, (dict, list)):
        import json

        return json.dumps(value, sort_keys=True)
    return "" if value is None else str(value)


async def show(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    actor = await ctx.actor(args.as_user)
    obj = await core.inventory.get(actor, args.id)
    try:
        acl = [e.as_json() for e in await core.inventory.acl.entries(actor, args.id)]
    except PermissionDenied:  # pragma: no cover - entries need only view, which get() proved
        acl = []
    if args.json:
        print_json({**obj.as_json(), "acl": acl})
        return 0
    type_def = core.inventory_types.get(obj.type)
    labels = {f.name: f.label for f in type_def.fields} if type_def else {}
    print(f"{obj.type_label} #{obj.id}: {obj.title}" + (f"  [{_flags(obj)}]" if _flags(obj) else ""))
    rows: list[tuple[str, str]] = []
    names = [f.name for f in type_def.fields] if type_def else list(obj.data) + list(obj.secrets)
    for name in names:
        if name in obj.secrets:
            rows.append((labels.get(name, name), "(set)" if obj.secrets[name] else "(not set)"))
        elif name in obj.data:
            rows.append((labels.get(name, name), _shown(obj.data[name])))
    rows += [(k, _shown(v)) for k, v in obj.data.items() if k not in names]
    width = max((len(k) for k, _ in rows), default=0)
    for key, value in rows:
        print(f"  {key.ljust(width)}  {value}")
    print(f"  tags: {' '.join(t.name for t in obj.tags) or '—'}")
    for entry in acl:
        print(f"  acl: {entry['effect']} {entry['permission']} to {entry['role']}")
    print(
        f"  created {obj.created_at:%Y-%m-%d %H:%M} by {obj.created_by or '?'}, updated {obj.updated_at:%Y-%m-%d %H:%M}"
        + (f", synced from {obj.source}" if obj.source else "")
    )
    return 0


async def sync(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    actor = await ctx.actor(args.as_user)
    for source, slug, counts in await core.inventory.sync(actor, args.source):
        summary = ", ".join(f"{v} {k}" for k, v in counts.items())
        print(f"{source} -> {slug}: {summary}")
    return 0
