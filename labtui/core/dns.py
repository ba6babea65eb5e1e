"""DNS records of the lab's Cloudflare zone: list, create, update, delete, and "point a name at
this instance".

Input is checked here before Cloudflare sees it (record type, address family, host names,
TTL, proxying), so mistakes come back as :class:`ValidationError` naming the form field.
Listing needs ``system.settings.view``, changes ``system.settings.edit``; every change is
audited with the record's name, type and content (the token never reaches the audit log).
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.orm import Session

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.config import CloudflareConfig
from labtui.core.db.engine import Database
from labtui.core.errors import ValidationError
from labtui.core.integrations.cloudflare import (
    CloudflareClient,
    DnsError,
    DnsRecord,
    Zone,
)
from labtui.core.rbac import Rbac

__all__ = ["RECORD_TYPES", "Dns", "DnsError", "DnsNotConfigured", "DnsRecord", "DnsRecordSpec", "validate_spec"]

RECORD_TYPES = ("A", "AAAA", "CNAME", "TXT")
PROXIABLE_TYPES = ("A", "AAAA", "CNAME")
VIEW_PERMISSION = "system.settings.view"
EDIT_PERMISSION = "system.settings.edit"
TTL_AUTO = 1
TTL_MIN, TTL_MAX = 60, 86400
TXT_MAX = 2048
_LABEL = re.compile(r"^[A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$")


class DnsNotConfigured(DnsError):
    """No token (or no zone) in ``config.cloudflare``."""


@dataclass
class DnsRecordSpec:
    """What a person fills in for a record; checked by :func:`validate_spec`."""

    type: str
    name: str
    content: str
    ttl: int = TTL_AUTO
    proxied: bool = False

    def body(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name, "content": self.content, "ttl": self.ttl, "proxied": self.proxied}


def is_hostname(value: str, *, wildcard: bool = False) -> bool:
    """A DNS name of letter/digit/hyphen/underscore labels (``*`` first when ``wildcard``)."""
    value = value.rstrip(".")
    if not value or len(value) > 253:
        return False
    labels = value.split(".")
    if wildcard and labels[0] == "*":
        labels = labels[1:]
    return all(_LABEL.match(label) for label in labels)


def validate_spec(spec: DnsRecordSpec) -> DnsRecordSpec:
    """A cleaned copy of ``spec``; raises :class:`ValidationError` with the field at fault."""
    kind = spec.type.strip().upper()
    if kind not in RECORD_TYPES:
        raise ValidationError(f"Record type must be one of {', '.join(RECORD_TYPES)}", "type")
    name = spec.name.strip().lower()
    if not name:
        raise ValidationError("A record needs a name (use @ for the zone itself)", "name")
    if name != "@" and not is_hostname(name, wildcard=True):
        raise ValidationError(f"'{name}' is not a DNS name (letters, digits, '-', '_' between dots)", "name")
    content = spec.content.strip()
    if kind == "A":
        content = _address(content, 4)
    elif kind == "AAAA":
        content = _address(content, 6)
    elif kind == "CNAME":
        content = content.lower().rstrip(".")
        if not is_hostname(content):
            raise ValidationError(f"A CNAME points at a host name, not '{content}'", "content")
    elif not content:
        raise ValidationError("A TXT record needs some text", "content")
    elif len(content) > TXT_MAX:
        raise ValidationError(f"TXT content is at most {TXT_MAX} characters", "content")
    if spec.ttl != TTL_AUTO and not TTL_MIN <= spec.ttl <= TTL_MAX:
        raise ValidationError(f"TTL is 1 (auto) or {TTL_MIN} to {TTL_MAX} seconds", "ttl")
    if spec.proxied and kind not in PROXIABLE_TYPES:
        raise ValidationError(f"Only {', '.join(PROXIABLE_TYPES)} records can be proxied", "proxied")
    return DnsRecordSpec(kind, name, content, spec.ttl, spec.proxied)


def _address(value: str, version: int) -> str:
    try:
        address = ipaddress.ip_address(value)
    except ValueError:
        address = None
    if address is None or address.version != version:
        kind = "an IPv4 address (e.g. 192.0.2.10)" if version == 4 else "an IPv6 address (e.g. 2001:db8::10)"
        record = "An A" if version == 4 else "An AAAA"
        raise ValidationError(f"{record} record points at {kind}, not '{value}'", "content")
    return str(address)


def parse_ttl(text: str) -> int:
    """``auto`` (or empty) is 1; otherwise seconds. Raises :class:`ValidationError`."""
    text = text.strip().lower()
    if text in ("", "auto", "1"):
        return TTL_AUTO
    try:
        return int(text)
    except ValueError:
        raise ValidationError(f"TTL is 'auto' or a number of seconds ({TTL_MIN}-{TTL_MAX})", "ttl") from None


def qualify(name: str, zone: str) -> str:
    """``www`` → ``www.lab.example.com``; ``@`` → the zone; full names stay as they are."""
    name = name.strip().lower().rstrip(".")
    zone = zone.lower().rstrip(".")
    if name in ("", "@") or name == zone:
        return zone
    return name if name.endswith("." + zone) else f"{name}.{zone}"


def _display_order(record: DnsRecord) -> tuple[tuple[str, ...], int, str]:
    """The zone apex first, then names as a tree (``a.x`` right after ``x``), then type."""
    labels = tuple(reversed(record.name.lower().split(".")))
    return labels, RECORD_TYPES.index(record.type) if record.type in RECORD_TYPES else 99, record.content


class Dns:
    """The zone in ``config.cloudflare``; one short-lived HTTP client per operation."""

    def __init__(self, db: Database, rbac: Rbac, config: CloudflareConfig) -> None:
        self.db, self.rbac, self.config = db, rbac, config
        self._zone: Zone | None = None

    @property
    def configured(self) -> bool:
        return bool(self.config.api_token and (self.config.zone_id or self.config.zone_name))

    @property
    def zone_name(self) -> str:
        """The zone's name once known (looked up on first use when only the id is configured)."""
        return self._zone.name if self._zone else self.config.zone_name

    def _client(self) -> CloudflareClient:
        if not self.config.api_token:
            raise DnsNotConfigured("DNS is not configured (cloudflare.api_token is empty in the config)")
        if not (self.config.zone_id or self.config.zone_name):
            raise DnsNotConfigured(
                "DNS is not configured (set cloudflare.zone_id or cloudflare.zone_name in the config)"
            )
        return CloudflareClient(self.config.base_url, self.config.api_token, self.config.timeout_seconds)

    async def _zone_of(self, client: CloudflareClient) -> Zone:
        """The configured zone, looked up once (by id for its name, or by name for its id)."""
        if self._zone is None:
            if self.config.zone_id:
                self._zone = await client.zone(self.config.zone_id)
            else:
                found = await client.zone_by_name(self.config.zone_name)
                if found is None:
                    raise DnsError(f"Cloudflare has no zone named '{self.config.zone_name}' for this token")
                self._zone = found
        return self._zone

    async def _require(self, actor: Actor, permission: str, target: str) -> None:
        await self.db.run(lambda s: self.rbac.require(s, actor, permission, target))

    async def _audit(self, actor: Actor, action: str, record: DnsRecord, **extra: Any) -> None:
        detail = {
            "name": record.name,
            "type": record.type,
            "content": record.content,
            "ttl": record.ttl,
            "proxied": record.proxied,
            **extra,
        }

        def q(s: Session) -> None:
            audit.record(s, actor, action, f"dns:{record.name}", detail)

        await self.db.run(q)

    # -- reading ------------------------------------------------------------------------------

    async def list(self, actor: Actor) -> list[DnsRecord]:
        """Every record of the zone, by name then type."""
        await self._require(actor, VIEW_PERMISSION, "dns")
        async with self._client() as client:
            zone = await self._zone_of(client)
            records = await client.list_records(zone.id)
        return sorted(records, key=_display_order)

    # -- changing -----------------------------------------------------------------------------

    async def create(self, actor: Actor, spec: DnsRecordSpec) -> DnsRecord:
        await self._require(actor, EDIT_PERMISSION, "dns")
        clean = validate_spec(spec)
        async with self._client() as client:
            zone = await self._zone_of(client)
            clean.name = qualify(clean.name, zone.name)
            record = await client.create_record(zone.id, clean.body())
        await self._audit(actor, "dns.create", record, id=record.id)
        return record

    async def update(self, actor: Actor, record_id: str, spec: DnsRecordSpec) -> DnsRecord:
        await self._require(actor, EDIT_PERMISSION, "dns")
        clean = validate_spec(spec)
        async with self._client() as client:
            zone = await self._zone_of(client)
            clean.name = qualify(clean.name, zone.name)
            before = await client.get_record(zone.id, record_id)
            record = await client.update_record(zone.id, record_id, clean.body())
        await self._audit(
            actor,
            "dns.update",
            record,
            id=record.id,
            before={"type": before.type, "name": before.name, "content": before.content},
        )
        return record

    async def delete(self, actor: Actor, record_id: str) -> DnsRecord:
        """Delete the record; returns what it was (for the message and the audit)."""
        await self._require(actor, EDIT_PERMISSION, "dns")
        async with self._client() as client:
            zone = await self._zone_of(client)
            record = await client.get_record(zone.id, record_id)
            await client.delete_record(zone.id, record_id)
        await self._audit(actor, "dns.delete", record, id=record.id)
        return record

    async def point(self, actor: Actor, name: str, ip: str, *, ttl: int = TTL_AUTO, proxied: bool = False) -> DnsRecord:
        """Make ``name`` resolve to ``ip``: update its A (AAAA for IPv6) record, or create one.

        With several records of that name and type (round robin), the first is updated and the
        others are left alone; the audit says which happened.
        """
        await self._require(actor, EDIT_PERMISSION, "dns")
        try:
            kind = "AAAA" if ipaddress.ip_address(ip.strip()).version == 6 else "A"
        except ValueError:
            raise ValidationError(f"'{ip}' is not an IP address", "content") from None
        clean = validate_spec(DnsRecordSpec(kind, name, ip, ttl, proxied))
        async with self._client() as client:
            zone = await self._zone_of(client)
            clean.name = qualify(clean.name, zone.name)
            existing = await client.list_records(zone.id, name=clean.name, type=kind)
            if existing:
                record = await client.update_record(zone.id, existing[0].id, clean.body())
                before = existing[0]
            else:
                record = await client.create_record(zone.id, clean.body())
                before = None
        if before is None:
            await self._audit(actor, "dns.create", record, id=record.id, via="point")
        else:
            await self._audit(
                actor,
                "dns.update",
                record,
                id=record.id,
                via="point",
                before={"type": before.type, "name": before.name, "content": before.content},
            )
        return record
