"""The Cloudflare API v4, as much of it as labtui's DNS needs: zones and DNS records.

Every answer comes in Cloudflare's envelope ``{success, errors, messages, result,
result_info}``; a refusal's ``errors`` (``[{code, message, error_chain?}]``) becomes the
text of a :class:`DnsError`, so the person sees Cloudflare's reason ("Record already exists.
(81057)") rather than a status code. Timeouts, unreachable hosts and 5xx answers become clear
errors too. The bearer token goes only into the Authorization header: it is never logged,
and no error message includes request headers.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Self

import httpx

from labtui.core.errors import LabtuiError

log = logging.getLogger(__name__)

API_PREFIX = "/client/v4"
#: Records asked for per page; Cloudflare allows more, but pages keep each answer small.
PAGE_SIZE = 100
#: Stop paging after this many pages (a server that keeps saying "more" must not loop us).
MAX_PAGES = 1000


class DnsError(LabtuiError):
    """Cloudflare refused the request or could not be reached; the message says why."""

    def __init__(self, message: str, codes: tuple[int, ...] = (), status: int | None = None) -> None:
        super().__init__(message)
        #: Cloudflare's error codes (e.g. 81057), for callers that react to one.
        self.codes = codes
        self.status = status


@dataclass(frozen=True)
class Zone:
    id: str
    name: str


@dataclass(frozen=True)
class DnsRecord:
    """One DNS record as Cloudflare holds it (``name`` is fully qualified)."""

    id: str
    type: str
    name: str
    content: str
    ttl: int
    proxied: bool
    proxiable: bool = False
    comment: str = ""
    modified_on: str = ""

    @property
    def ttl_text(self) -> str:
        return "auto" if self.ttl == 1 else str(self.ttl)

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}

    @classmethod
    def from_api(cls, raw: dict[str, Any]) -> DnsRecord:
        return cls(
            id=str(raw.get("id", "")),
            type=str(raw.get("type", "")),
            name=str(raw.get("name", "")),
            content=str(raw.get("content", "")),
            ttl=int(raw.get("ttl") or 1),
            proxied=bool(raw.get("proxied")),
            proxiable=bool(raw.get("proxiable")),
            comment=str(raw.get("comment") or ""),
            modified_on=str(raw.get("modified_on") or ""),
        )


def _error_text(errors: Any) -> tuple[str, tuple[int, ...]]:
    """Cloudflare's ``errors`` list as one line, with the codes (``error_chain`` included)."""
    parts: list[str] = []
    codes: list[int] = []

    def walk(items: Any) -> None:
        for item in items if isinstance(items, list) else []:
            if not isinstance(item, dict):
                continue
            code = item.get("code")
            message = str(item.get("message") or "").strip()
            if isinstance(code, int):
                codes.append(code)
            if message:
                parts.append(f"{message} ({code})" if code is not None else message)
            walk(item.get("error_chain"))

    walk(errors)
    return "; ".join(parts), tuple(codes)


class CloudflareClient:
    """An httpx client for one account's token. Use as ``async with`` or call :meth:`aclose`."""

    def __init__(self, base_url: str, api_token: str, timeout: float = 15.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self._client = httpx.AsyncClient(
            base_url=self.base_url + API_PREFIX,
            headers={"Authorization": f"Bearer {api_token}", "Accept": "application/json"},
            timeout=timeout,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- the envelope --------------------------------------------------------------------

    async def _call(
        self, method: str, path: str, *, params: dict[str, Any] | None = None, body: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """One request; returns the whole envelope of a successful answer."""
        try:
            response = await self._client.request(method, path, params=params, json=body)
        except httpx.TimeoutException:
            raise DnsError(f"Cloudflare did not answer within {self.timeout:g} s ({method} {path})") from None
        except httpx.HTTPError as exc:
            raise DnsError(f"Cloudflare unreachable at {self.base_url}: {exc.__class__.__name__}") from None
        status = response.status_code
        try:
            envelope = response.json()
        except ValueError:
            envelope = None
        if not isinstance(envelope, dict):
            if status >= 500:
                raise DnsError(f"Cloudflare failed with HTTP {status}; try again later", status=status)
            raise DnsError(
                f"Cloudflare answered HTTP {status} with a body that is not its JSON envelope", status=status
            )
        if status < 400 and envelope.get("success") is not False:
            return envelope
        text, codes = _error_text(envelope.get("errors"))
        log.warning("cloudflare %s %s: HTTP %s %s", method, path, status, text)
        if status >= 500:
            raise DnsError(
                f"Cloudflare failed with HTTP {status}: {text or 'no reason given'}; try again later", codes, status
            )
        if status == 429:
            raise DnsError("Cloudflare's rate limit was reached; wait a minute and try again", codes, status)
        if status in (401, 403) and not text:
            text = "the API token was refused"
        raise DnsError(f"Cloudflare refused: {text or f'HTTP {status}'}", codes, status)

    # -- zones ----------------------------------------------------------------------------

    async def zone(self, zone_id: str) -> Zone:
        result = (await self._call("GET", f"/zones/{zone_id}"))["result"]
        return Zone(str(result["id"]), str(result["name"]))

    async def zone_by_name(self, name: str) -> Zone | None:
        result = (await self._call("GET", "/zones", params={"name": name}))["result"] or []
        for raw in result:
            if str(raw.get("name", "")).lower() == name.lower():
                return Zone(str(raw["id"]), str(raw["name"]))
        return None

    # -- DNS records ----------------------------------------------------------------------

    async def list_records(self, zone_id: str, *, name: str | None = None, type: str | None = None) -> list[DnsRecord]:
        """Every record of the zone (optionally one name / type), following ``result_info``."""
        records: list[DnsRecord] = []
        params: dict[str, Any] = {"per_page": PAGE_SIZE}
        if name:
            params["name"] = name
        if type:
            params["type"] = type
        for page in range(1, MAX_PAGES + 1):
            envelope = await self._call("GET", f"/zones/{zone_id}/dns_records", params={**params, "page": page})
            records += [DnsRecord.from_api(raw) for raw in envelope.get("result") or []]
            info = envelope.get("result_info") or {}
            total_pages = int(info.get("total_pages") or 1)
            if page >= total_pages or not envelope.get("result"):
                break
        return records

    async def get_record(self, zone_id: str, record_id: str) -> DnsRecord:
        return DnsRecord.from_api((await self._call("GET", f"/zones/{zone_id}/dns_records/{record_id}"))["result"])

    async def create_record(self, zone_id: str, body: dict[str, Any]) -> DnsRecord:
        return DnsRecord.from_api((await self._call("POST", f"/zones/{zone_id}/dns_records", body=body))["result"])

    async def update_record(self, zone_id: str, record_id: str, body: dict[str, Any]) -> DnsRecord:
        envelope = await self._call("PATCH", f"/zones/{zone_id}/dns_records/{record_id}", body=body)
        return DnsRecord.from_api(envelope["result"])

    async def delete_record(self, zone_id: str, record_id: str) -> None:
        await self._call("DELETE", f"/zones/{zone_id}/dns_records/{record_id}")
