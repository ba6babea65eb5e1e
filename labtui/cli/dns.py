"""``labtui dns``: the records of the lab's Cloudflare zone; set and delete one.

``list`` acts as labtui itself unless ``--as USER`` is given (whoever runs the CLI owns the
data dir); ``set`` and ``delete`` change DNS and so act ``--as`` a user whom core checks for
``system.settings.edit`` and names in the audit log.
"""

from __future__ import annotations

import argparse

from labtui.cli.context import CliContext
from labtui.cli.output import print_json, print_table
from labtui.core.actor import Actor
from labtui.core.dns import RECORD_TYPES, DnsRecordSpec, parse_ttl

CLI_READER = "cli"


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("dns", help="DNS records of the Cloudflare zone")
    cmds = p.add_subparsers(dest="dns_command", metavar="ACTION", required=True)

    list_p = cmds.add_parser("list", help="every record of the zone")
    list_p.add_argument("--as", dest="as_user", metavar="USER", help="act as this labtui user (default: labtui itself)")
    list_p.add_argument("--json", action="store_true")
    list_p.set_defaults(handler=list_records)

    set_p = cmds.add_parser("set", help="create a record, or update it with --id")
    set_p.add_argument("name", help="www, www.lab.example.com or @")
    set_p.add_argument("type", type=str.upper, choices=RECORD_TYPES, metavar="TYPE", help=" | ".join(RECORD_TYPES))
    set_p.add_argument("content", help="address, host name or text")
    set_p.add_argument("--ttl", default="auto", help="auto or 60-86400 seconds (default auto)")
    set_p.add_argument("--proxied", action="store_true", help="through Cloudflare's proxy (A, AAAA, CNAME)")
    set_p.add_argument("--id", dest="record_id", metavar="ID", help="update this record instead of creating one")
    set_p.add_argument("--as", dest="as_user", required=True, metavar="USER", help="act as this labtui user")
    set_p.add_argument("--json", action="store_true")
    set_p.set_defaults(handler=set_record)

    del_p = cmds.add_parser("delete", help="delete one record by id")
    del_p.add_argument("record_id", metavar="ID")
    del_p.add_argument("--as", dest="as_user", required=True, metavar="USER", help="act as this labtui user")
    del_p.set_defaults(handler=delete_record)


async def _actor(ctx: CliContext, args: argparse.Namespace) -> Actor:
    if args.as_user:
        return await ctx.actor(args.as_user)
    await ctx.core()
    return Actor.system(CLI_READER)


async def list_records(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    records = await core.dns.list(await _actor(ctx, args))
    if args.json:
        print_json([r.as_json() for r in records])
        return 0
    print_table(
        ("id", "type", "name", "content", "ttl", "proxied"),
        [(r.id, r.type, r.name, r.content, r.ttl_text, "yes" if r.proxied else "no") for r in records],
    )
    return 0


async def set_record(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    actor = await ctx.actor(args.as_user)
    spec = DnsRecordSpec(args.type, args.name, args.content, parse_ttl(args.ttl), args.proxied)
    if args.record_id:
        record = await core.dns.update(actor, args.record_id, spec)
    else:
        record = await core.dns.create(actor, spec)
    if args.json:
        print_json(record.as_json())
    else:
        print(
            f"{'updated' if args.record_id else 'created'} {record.type} {record.name} -> {record.content} (id {record.id})"
        )
    return 0


async def delete_record(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    record = await core.dns.delete(await ctx.actor(args.as_user), args.record_id)
    print(f"deleted {record.type} {record.name} -> {record.content}")
    return 0
