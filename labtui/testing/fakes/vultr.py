"""A fake Vultr API v2 on 127.0.0.1: the endpoints labtui uses, with Vultr's shapes.

- ``GET /v2/instances`` and ``GET /v2/plans``: ``per_page`` (default 100, at most 500) and
  an opaque ``cursor``; the answer carries ``meta: {total, links: {next, prev}}`` where
  ``next`` is empty on the last page;
- ``POST /v2/instances/{id}/halt|start|reboot`` and ``DELETE /v2/instances/{id}``: 204, or
  404 ``{"error": ..., "status": 404}`` for an unknown id;
- every request needs ``Authorization: Bearer <key>``, else 401 as Vultr answers it;
- :meth:`FakeVultr.fail` scripts the next answers: a status (429 with ``Retry-After``, 500,
  503, ...) for the next N requests, optionally only for paths starting with a prefix.

Every request is logged in :attr:`FakeVultr.requests` as ``(method, path)``::

    with FakeVultr(api_key="k") as fake:
        fake.add_instances(250)
        ... VultrConfig(base_url=fake.base_url, api_key="k")
"""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import parse_qs, urlsplit

from labtui.testing.fakes.serving import ServedInThread

DEFAULT_KEY = "TESTVULTRKEY0123456789ABCDEFGHIJ"
REGIONS = ("ewr", "ams", "mel", "syd")
PLANS = {"vc2-1c-1gb": 5.0, "vc2-1c-2gb": 10.0, "vc2-2c-4gb": 20.0, "vhf-2c-4gb": 24.0}


@dataclass
class Scripted:
    status: int
    times: int
    retry_after: str | None
    path_prefix: str


def instance(
    index: int,
    *,
    region: str | None = None,
    plan: str | None = None,
    tags: list[str] | None = None,
    power_status: str = "running",
) -> dict[str, Any]:
    """One instance as Vultr lists it (the fields labtui reads, and a few it does not)."""
    return {
        "id": str(uuid.UUID(int=index + 1)),
        "os": "Ubuntu 22.04 LTS x64",
        "ram": 1024,
        "disk": 25,
        "main_ip": f"10.{index // 65536 % 256}.{index // 256 % 256}.{index % 256}",
        "vcpu_count": 1,
        "region": region or REGIONS[index % len(REGIONS)],
        "plan": plan or list(PLANS)[index % len(PLANS)],
        "date_created": "2024-01-01T00:00:00+00:00",
        "status": "active",
        "power_status": power_status,
        "server_status": "ok",
        "label": f"lab-{index:05d}",
        "hostname": f"host-{index:05d}",
        "internal_ip": "",
        "tags": tags if tags is not None else [f"svc-{index % 7}"],
        "os_id": 1743,
        "features": [],
    }


class FakeVultr(ServedInThread):
    def __init__(self, api_key: str = DEFAULT_KEY, max_per_page: int = 500) -> None:
        self.api_key = api_key
        #: Vultr's cap on ``per_page`` is 500; a lower cap makes small lists span pages.
        self.max_per_page = max_per_page
        #: Instances by id, in listing order.
        self.instances: dict[str, dict[str, Any]] = {}
        self.plans: dict[str, float] = dict(PLANS)
        #: ``(method, path)`` of every request, oldest first (query strings left out).
        self.requests: list[tuple[str, str]] = []
        #: Headers of the last request (to prove what labtui sends).
        self.last_headers: dict[str, str] = {}
        self._script: list[Scripted] = []
        self._lock = threading.Lock()

    # -- state -------------------------------------------------------------------------------

    def add_instances(self, count: int, start: int = 0, **kwargs: Any) -> list[dict[str, Any]]:
        made = [instance(i, **kwargs) for i in range(start, start + count)]
        with self._lock:
            for inst in made:
                self.instances[inst["id"]] = inst
        return made

    def remove(self, instance_id: str) -> None:
        with self._lock:
            del self.instances[instance_id]

    def fail(self, status: int, *, times: int = 1, retry_after: str | None = None, path_prefix: str = "/") -> None:
        """Answer the next ``times`` matching requests with ``status`` (after the key check)."""
        with self._lock:
            self._script.append(Scripted(status, times, retry_after, path_prefix))

    def clear_failures(self) -> None:
        with self._lock:
            self._script.clear()

    def calls(self, method: str, suffix: str = "") -> list[str]:
        return [p for m, p in self.requests if m == method and p.endswith(suffix)]

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    # -- serving -----------------------------------------------------------------------------

    def _scripted(self, path: str) -> Scripted | None:
        with self._lock:
            for s in self._script:
                if path.startswith(s.path_prefix):
                    s.times -= 1
                    if s.times <= 0:
                        self._script.remove(s)
                    return s
        return None

    def _page(
        self, items: list[dict[str, Any]], query: dict[str, list[str]]
    ) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        try:
            per_page = min(self.max_per_page, max(1, int(query.get("per_page", ["100"])[0])))
        except ValueError:
            per_page = 100
        start = 0
        cursor = query.get("cursor", [""])[0]
        if cursor:
            start = int(base64.urlsafe_b64decode(cursor.encode()).decode().removeprefix("next__"))
        end = start + per_page
        next_cursor = base64.urlsafe_b64encode(f"next__{end}".encode()).decode() if end < len(items) else ""
        prev_cursor = base64.urlsafe_b64encode(f"prev__{start}".encode()).decode() if start else ""
        meta = {"total": len(items), "links": {"next": next_cursor, "prev": prev_cursor}}
        return items[start:end], meta

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _answer(self, status: int, payload: Any = None, headers: dict[str, str] | None = None) -> None:
                data = b"" if payload is None else json.dumps(payload).encode()
                self.send_response(status)
                if payload is not None:
                    self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for k, v in (headers or {}).items():
                    self.send_header(k, v)
                self.end_headers()
                self.wfile.write(data)

            def _error(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
                self._answer(status, {"error": message, "status": status}, headers)

            def _handle(self, method: str) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                parts = urlsplit(self.path)
                path = parts.path.rstrip("/")
                with fake._lock:
                    fake.requests.append((method, path))
                    fake.last_headers = {k.lower(): v for k, v in self.headers.items()}
                if self.headers.get("Authorization") != f"Bearer {fake.api_key}":
                    self._error(401, "Invalid API token.")
                    return
                scripted = fake._scripted(path)
                if scripted is not None:
                    extra = {"Retry-After": scripted.retry_after} if scripted.retry_after is not None else None
                    message = (
                        "Rate limit reached - please try your request again later."
                        if scripted.status == 429
                        else "Internal server error."
                    )
                    self._error(scripted.status, message, extra)
                    return
                query = parse_qs(parts.query)
                segments = path.split("/")[1:]  # v2, instances, id, verb
                if method == "GET" and path == "/v2/instances":
                    with fake._lock:
                        items = list(fake.instances.values())
                    page, meta = fake._page(items, query)
                    self._answer(200, {"instances": page, "meta": meta})
                elif method == "GET" and path == "/v2/plans":
                    with fake._lock:
                        plans = [
                            {
                                "id": pid,
                                "vcpu_count": 1,
                                "ram": 1024,
                                "disk": 25,
                                "bandwidth": 1024,
                                "monthly_cost": cost,
                                "type": "vc2",
                                "locations": list(REGIONS),
                            }
                            for pid, cost in fake.plans.items()
                        ]
                    page, meta = fake._page(plans, query)
                    self._answer(200, {"plans": page, "meta": meta})
                elif segments[:2] == ["v2", "instances"] and len(segments) in (3, 4):
                    self._instance_call(method, segments[2], segments[3] if len(segments) == 4 else None)
                else:
                    self._error(404, "Not found.")

            def _instance_call(self, method: str, instance_id: str, verb: str | None) -> None:
                with fake._lock:
                    inst = fake.instances.get(instance_id)
                    if inst is None:
                        pass
                    elif method == "DELETE" and verb is None:
                        del fake.instances[instance_id]
                    elif method == "POST" and verb in ("halt", "start", "reboot"):
                        inst["power_status"] = "stopped" if verb == "halt" else "running"
                    else:
                        inst = {}
                if inst is None:
                    self._error(404, "Invalid instance-id.")
                elif not inst:
                    self._error(405, "Method not allowed.")
                else:
                    self._answer(204)

            def do_GET(self) -> None:
                self._handle("GET")

            def do_POST(self) -> None:
                self._handle("POST")

            def do_DELETE(self) -> None:
                self._handle("DELETE")

            def log_message(self, format: str, *args: object) -> None:
                return

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        return self._serve(Server(("127.0.0.1", 0), Handler))
