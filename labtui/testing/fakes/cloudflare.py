"""A fake Cloudflare API v4 on 127.0.0.1: zones and DNS records, in Cloudflare's envelopes.

Endpoints (all under ``/client/v4``, all needing ``Authorization: Bearer <token>``):

- ``GET /zones?name=`` and ``GET /zones/{zone_id}``
- ``GET /zones/{zone_id}/dns_records?page=&per_page=&name=&type=`` (paged: ``result_info``
  with ``page, per_page, count, total_count, total_pages``; ``per_page`` is capped at
  :attr:`FakeCloudflare.max_per_page` so tests can force several pages)
- ``POST /zones/{zone_id}/dns_records``, ``GET|PATCH|DELETE /zones/{zone_id}/dns_records/{id}``

Every answer is ``{"success", "errors", "messages", "result"[, "result_info"]}``. Refusals
use Cloudflare's codes: 10000 "Authentication error" (bad token, HTTP 403), 7003 (unknown
zone), 81044 "Record does not exist.", 81057 "Record already exists." (same type, name and
content), 81053 (an A/AAAA/CNAME clash with a CNAME), 9004 (TXT proxied), 9005/9006 (bad
content). Relative names are expanded with the zone's name, as Cloudflare does.

:attr:`fail_status` makes every authenticated request fail with that status (an outage) and
:attr:`delay_seconds` makes every answer slow (for timeouts). :attr:`requests` records
``(method, path_with_query)`` of everything asked, and :attr:`auth_headers` the
Authorization headers seen (so tests can check the token went only there).
"""

from __future__ import annotations

import ipaddress
import json
import threading
import time
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from labtui.testing.fakes.serving import ServedInThread

DEFAULT_TOKEN = "test-cloudflare-token-0123456789"
ZONE_NAME = "lab.example.com"
ZONE_ID = "023e105f4ecef8ad9ca31a8372d0c353"
PREFIX = "/client/v4"


def envelope(
    result: Any = None, *, errors: list[dict[str, Any]] | None = None, info: dict[str, Any] | None = None
) -> dict[str, Any]:
    out: dict[str, Any] = {"success": not errors, "errors": errors or [], "messages": [], "result": result}
    if info is not None:
        out["result_info"] = info
    return out


class ApiError(Exception):
    def __init__(self, status: int, code: int, message: str) -> None:
        super().__init__(message)
        self.status, self.code, self.message = status, code, message


class FakeCloudflare(ServedInThread):
    def __init__(self, token: str = DEFAULT_TOKEN, zone_name: str = ZONE_NAME, zone_id: str = ZONE_ID) -> None:
        self.token = token
        self.zones: dict[str, str] = {zone_id: zone_name}
        #: Records by zone id, each a Cloudflare record dict.
        self.records: dict[str, list[dict[str, Any]]] = {zone_id: []}
        self.zone_id, self.zone_name = zone_id, zone_name
        self.max_per_page = 5000
        self.fail_status: int | None = None
        self.delay_seconds = 0.0
        self.requests: list[tuple[str, str]] = []
        self.auth_headers: set[str] = set()
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        assert self._server is not None, "not started"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    # -- state helpers for tests -----------------------------------------------------------

    def add_record(self, type: str, name: str, content: str, ttl: int = 1, proxied: bool = False) -> dict[str, Any]:
        with self._lock:
            return self._insert(
                self.zone_id, {"type": type, "name": name, "content": content, "ttl": ttl, "proxied": proxied}
            )

    def find(self, name: str, type: str | None = None) -> list[dict[str, Any]]:
        full = self._qualify(self.zone_id, name)
        return [r for r in self.records[self.zone_id] if r["name"] == full and (type is None or r["type"] == type)]

    # -- the API ------------------------------------------------------------------------------

    def _qualify(self, zone_id: str, name: str) -> str:
        zone = self.zones[zone_id]
        name = name.strip().lower().rstrip(".")
        if name in ("", "@") or name == zone:
            return zone
        return name if name.endswith("." + zone) else f"{name}.{zone}"

    def _check(self, zone_id: str, body: dict[str, Any], record_id: str | None = None) -> dict[str, Any]:
        kind = str(body.get("type", "")).upper()
        if kind not in ("A", "AAAA", "CNAME", "TXT", "MX", "NS", "SRV", "CAA"):
            raise ApiError(400, 1004, "DNS Validation Error")
        name = self._qualify(zone_id, str(body.get("name", "")))
        content = str(body.get("content", ""))
        if kind in ("A", "AAAA"):
            try:
                ok = ipaddress.ip_address(content).version == (4 if kind == "A" else 6)
            except ValueError:
                ok = False
            if not ok:
                raise ApiError(
                    400,
                    9005 if kind == "A" else 9006,
                    f"Content for {kind} record is invalid. Must be a valid IPv{4 if kind == 'A' else 6} address.",
                )
        if body.get("proxied") and kind not in ("A", "AAAA", "CNAME"):
            raise ApiError(400, 9004, "This record type cannot be proxied.")
        ttl = int(body.get("ttl") or 1)
        if ttl != 1 and not 60 <= ttl <= 86400:
            raise ApiError(400, 9020, "Invalid TTL. Must be between 60 and 86400 seconds, or 1 for Automatic.")
        for other in self.records[zone_id]:
            if other["id"] == record_id or other["name"] != name:
                continue
            if other["type"] == kind and other["content"] == content:
                raise ApiError(400, 81057, "Record already exists.")
            if "CNAME" in (kind, other["type"]) and {kind, other["type"]} <= {"A", "AAAA", "CNAME"}:
                raise ApiError(400, 81053, "An A, AAAA, or CNAME record with that host already exists.")
        return {"type": kind, "name": name, "content": content, "ttl": ttl, "proxied": bool(body.get("proxied"))}

    def _insert(self, zone_id: str, body: dict[str, Any]) -> dict[str, Any]:
        clean = self._check(zone_id, body)
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        record = {
            "id": uuid.uuid4().hex,
            "zone_id": zone_id,
            "zone_name": self.zones[zone_id],
            **clean,
            "proxiable": clean["type"] in ("A", "AAAA", "CNAME"),
            "locked": False,
            "meta": {},
            "comment": None,
            "tags": [],
            "created_on": now,
            "modified_on": now,
        }
        self.records[zone_id].append(record)
        return record

    def _record(self, zone_id: str, record_id: str) -> dict[str, Any]:
        for record in self.records[zone_id]:
            if record["id"] == record_id:
                return record
        raise ApiError(404, 81044, "Record does not exist.")

    def _zone(self, zone_id: str) -> str:
        if zone_id not in self.zones:
            raise ApiError(
                404, 7003, f"Could not route to /zones/{zone_id}, perhaps your object identifier is invalid?"
            )
        return zone_id

    def handle(self, method: str, path: str, query: dict[str, list[str]], body: Any) -> tuple[int, dict[str, Any]]:
        def arg(key: str, default: str = "") -> str:
            return query.get(key, [default])[0]

        parts = [p for p in path[len(PREFIX) :].split("/") if p] if path.startswith(PREFIX + "/") else []
        with self._lock:
            if parts == ["zones"] and method == "GET":
                zones = [
                    {"id": i, "name": n, "status": "active"}
                    for i, n in self.zones.items()
                    if not arg("name") or n == arg("name")
                ]
                return 200, envelope(
                    zones,
                    info={"page": 1, "per_page": 20, "count": len(zones), "total_count": len(zones), "total_pages": 1},
                )
            if len(parts) == 2 and parts[0] == "zones" and method == "GET":
                zone_id = self._zone(parts[1])
                return 200, envelope({"id": zone_id, "name": self.zones[zone_id], "status": "active"})
            if len(parts) >= 3 and parts[0] == "zones" and parts[2] == "dns_records":
                zone_id = self._zone(parts[1])
                if len(parts) == 3 and method == "GET":
                    rows = [
                        r
                        for r in self.records[zone_id]
                        if (not arg("name") or r["name"] == arg("name").lower())
                        and (not arg("type") or r["type"] == arg("type"))
                    ]
                    per_page = max(5, min(int(arg("per_page", "100")), self.max_per_page))
                    page = max(1, int(arg("page", "1")))
                    chunk = rows[(page - 1) * per_page : page * per_page]
                    total_pages = max(1, -(-len(rows) // per_page))
                    info = {
                        "page": page,
                        "per_page": per_page,
                        "count": len(chunk),
                        "total_count": len(rows),
                        "total_pages": total_pages,
                    }
                    return 200, envelope([dict(r) for r in chunk], info=info)
                if len(parts) == 3 and method == "POST":
                    if not isinstance(body, dict):
                        raise ApiError(400, 9207, "Request body is invalid.")
                    return 200, envelope(dict(self._insert(zone_id, body)))
                if len(parts) == 4:
                    record = self._record(zone_id, parts[3])
                    if method == "GET":
                        return 200, envelope(dict(record))
                    if method == "PATCH":
                        if not isinstance(body, dict):
                            raise ApiError(400, 9207, "Request body is invalid.")
                        merged = {k: record[k] for k in ("type", "name", "content", "ttl", "proxied")} | body
                        record.update(self._check(zone_id, merged, record["id"]))
                        record["modified_on"] = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
                        return 200, envelope(dict(record))
                    if method == "DELETE":
                        self.records[zone_id].remove(record)
                        return 200, envelope({"id": record["id"]})
        raise ApiError(404, 7000, "No route for that URI")

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _any(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length) if length else b""
                url = urlsplit(self.path)
                auth = self.headers.get("Authorization") or ""
                with fake._lock:
                    fake.requests.append((self.command, self.path))
                    fake.auth_headers.add(auth)
                if fake.delay_seconds:
                    time.sleep(fake.delay_seconds)
                if auth != f"Bearer {fake.token}":
                    self._answer(403, envelope(errors=[{"code": 10000, "message": "Authentication error"}]))
                    return
                if fake.fail_status is not None:
                    self._answer(
                        fake.fail_status,
                        envelope(errors=[{"code": 10000 + fake.fail_status, "message": "Internal server error"}]),
                    )
                    return
                try:
                    body = json.loads(raw) if raw else None
                except ValueError:
                    self._answer(400, envelope(errors=[{"code": 9207, "message": "Request body is invalid."}]))
                    return
                try:
                    status, payload = fake.handle(self.command, url.path, parse_qs(url.query), body)
                except ApiError as exc:
                    status, payload = exc.status, envelope(errors=[{"code": exc.code, "message": exc.message}])
                self._answer(status, payload)

            do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _any

            def log_message(self, format: str, *args: object) -> None:
                return

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        return self._serve(Server(("127.0.0.1", 0), Handler))
