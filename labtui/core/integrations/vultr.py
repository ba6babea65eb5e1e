"""The Vultr API v2, the part labtui uses: instances (list, halt, start, reboot, delete) and plans.

One small protocol (:class:`VultrApi`) and its httpx implementation (:class:`VultrClient`),
pointed at ``vultr.base_url`` so tests talk to a fake Vultr on 127.0.0.1. Listings follow
Vultr's cursor pagination (``meta.links.next``) until it is empty.

Every failure ends as a :class:`VultrError` whose message fits a notification: a refused key
(401/403), the rate limit (429; ``Retry-After`` is honoured for a bounded number of retries
and a bounded wait, then the caller gets the error), a server error (5xx; GETs retried once
or twice on 502/503/504), a timeout or an unreachable host. Messages never carry the key:
it lives only in the client's ``Authorization`` header, which nothing logs or prints.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Protocol, Self

import httpx

from labtui.core.config import VultrConfig
from labtui.core.errors import LabtuiError

log = logging.getLogger("labtui.vultr")

#: Vultr's largest page.
PER_PAGE = 500
#: A listing longer than this many pages is a loop in the cursors, not a real account.
MAX_PAGES = 1000
#: GETs are retried on these (a proxy or Vultr hiccup); 500 is an answer, not a hiccup.
RETRY_STATUSES = (502, 503, 504)


class VultrError(LabtuiError):
    """Vultr refused or could not be reached; ``status`` is the HTTP status (None if none)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class VultrAuthError(VultrError):
    """The API key is missing, wrong or lacks access (401/403)."""


class VultrRateLimited(VultrError):
    """Still rate limited (429) after the bounded retries; ``retry_after`` in seconds if known."""

    def __init__(self, message: str, retry_after: float | None) -> None:
        super().__init__(message, 429)
        self.retry_after = retry_after


class VultrUnavailable(VultrError):
    """A server error (5xx), a timeout or an unreachable API."""


class VultrNotConfigured(VultrError):
    """``vultr.api_key`` is empty: the Vultr features are off."""


@dataclass(frozen=True)
class Plan:
    id: str
    monthly_cost: float


class VultrApi(Protocol):
    """What the instances service needs from Vultr."""

    async def list_instances(self) -> list[dict[str, Any]]: ...

    async def list_plans(self) -> list[Plan]: ...

    async def halt(self, instance_id: str) -> None: ...

    async def start(self, instance_id: str) -> None: ...

    async def reboot(self, instance_id: str) -> None: ...

    async def delete(self, instance_id: str) -> None: ...

    async def aclose(self) -> None: ...


def _retry_after(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (Vultr sends seconds; an HTTP date is not used)."""
    raw = response.headers.get("Retry-After", "").strip()
    try:
        return max(0.0, float(raw)) if raw else None
    except ValueError:
        return None


def _reason(response: httpx.Response) -> str:
    """Vultr's ``{"error": "..."}`` text, shortened; else the status phrase."""
    try:
        body = response.json()
    except ValueError:
        body = None
    text = body.get("error") if isinstance(body, dict) else None
    text = str(text or response.reason_phrase or "").strip()
    return text[:200]


class VultrClient:
    """:class:`VultrApi` over httpx. Use as ``async with VultrClient.from_config(cfg) as v:``."""

    def __init__(
        self,
        base_url: str,
        api_key: str,
        *,
        timeout: float = 15.0,
        max_retries: int = 3,
        max_retry_wait: float = 10.0,
        per_page: int = PER_PAGE,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        if not api_key:
            raise VultrNotConfigured("Vultr is not configured: set vultr.api_key (e.g. ${VULTR_API_KEY})")
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.max_retries = max_retries
        self.max_retry_wait = max_retry_wait
        self.per_page = per_page
        self._sleep = sleep
        self._client = httpx.AsyncClient(
            base_url=self.base_url,
            headers={"Authorization": f"Bearer {api_key}", "Accept": "application/json"},
            timeout=timeout,
            transport=transport,
        )

    @classmethod
    def from_config(cls, config: VultrConfig, **kwargs: Any) -> VultrClient:
        return cls(config.base_url, config.api_key, timeout=config.timeout_seconds, **kwargs)

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._client.aclose()

    # -- one request, with the error handling every call shares ----------------------------

    async def _request(self, method: str, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        what = f"{method} {path}"
        attempt = 0
        while True:
            try:
                response = await self._client.request(method, path, params=params)
            except httpx.TimeoutException:
                raise VultrUnavailable(f"Vultr did not answer within {self.timeout:g} s ({what})") from None
            except httpx.HTTPError as exc:
                raise VultrUnavailable(
                    f"Cannot reach Vultr at {self.base_url}: {type(exc).__name__} ({what})"
                ) from None
            status = response.status_code
            if status < 400:
                return response
            if status in (401, 403):
                raise VultrAuthError(
                    f"Vultr refused the API key (HTTP {status}: {_reason(response)}): check vultr.api_key", status
                )
            if status == 429:
                wait = _retry_after(response)
                if attempt >= self.max_retries or (wait is not None and wait > self.max_retry_wait):
                    later = f"; Vultr asks to retry after {wait:g} s" if wait is not None else ""
                    raise VultrRateLimited(f"Vultr rate limit (HTTP 429) after {attempt + 1} attempt(s){later}", wait)
                wait = 1.0 if wait is None else wait
                log.info("vultr: 429 on %s; retrying in %.1f s", what, wait)
                attempt += 1
                await self._sleep(wait)
                continue
            if status >= 500:
                if method == "GET" and status in RETRY_STATUSES and attempt < min(2, self.max_retries):
                    attempt += 1
                    log.info("vultr: HTTP %d on %s; retrying", status, what)
                    await self._sleep(0.25 * attempt)
                    continue
                raise VultrUnavailable(f"Vultr server error (HTTP {status}: {_reason(response)}) on {what}", status)
            if status == 404:
                raise VultrError(f"Vultr has no such resource (HTTP 404) on {what}", status)
            raise VultrError(f"Vultr refused {what} (HTTP {status}: {_reason(response)})", status)

    async def _paged(self, path: str, key: str) -> list[dict[str, Any]]:
        """Every item of a cursor-paginated listing."""
        items: list[dict[str, Any]] = []
        cursor = ""
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            params: dict[str, Any] = {"per_page": self.per_page}
            if cursor:
                params["cursor"] = cursor
            response = await self._request("GET", path, params)
            try:
                body = response.json()
            except ValueError:
                raise VultrError(f"Vultr sent a body that is not JSON for GET {path}") from None
            page = body.get(key) if isinstance(body, dict) else None
            if not isinstance(page, list):
                raise VultrError(f"Vultr's answer to GET {path} has no '{key}' list")
            items.extend(i for i in page if isinstance(i, dict))
            links = (body.get("meta") or {}).get("links") or {}
            cursor = str(links.get("next") or "") if isinstance(links, dict) else ""
            if not cursor:
                return items
            if cursor in seen:
                raise VultrError(f"Vultr's pagination of GET {path} loops (cursor repeated)")
            seen.add(cursor)
        raise VultrError(f"Vultr's listing GET {path} has more than {MAX_PAGES} pages")

    # -- the API ---------------------------------------------------------------------------

    async def list_instances(self) -> list[dict[str, Any]]:
        return await self._paged("/v2/instances", "instances")

    async def list_plans(self) -> list[Plan]:
        plans = []
        for raw in await self._paged("/v2/plans", "plans"):
            try:
                plans.append(Plan(str(raw["id"]), float(raw.get("monthly_cost") or 0)))
            except (KeyError, TypeError, ValueError):
                continue
        return plans

    async def halt(self, instance_id: str) -> None:
        await self._request("POST", f"/v2/instances/{_segment(instance_id)}/halt")

    async def start(self, instance_id: str) -> None:
        await self._request("POST", f"/v2/instances/{_segment(instance_id)}/start")

    async def reboot(self, instance_id: str) -> None:
        await self._request("POST", f"/v2/instances/{_segment(instance_id)}/reboot")

    async def delete(self, instance_id: str) -> None:
        await self._request("DELETE", f"/v2/instances/{_segment(instance_id)}")


def _segment(instance_id: str) -> str:
    """An instance id as one path segment (ids come from the cache, which a person may edit)."""
    if not instance_id or not all(c.isalnum() or c == "-" for c in instance_id):
        raise VultrError(f"Not a Vultr instance id: {instance_id!r}")
    return instance_id
