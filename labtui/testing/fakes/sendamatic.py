"""A fake Sendamatic on 127.0.0.1: a real HTTP server speaking the send API labtui uses.

``POST /send`` with the header ``x-api-key`` and a JSON body
``{"to": [..], "sender": "Name <addr>", "subject": .., "text_body": .., "html_body": ..}``.
A wrong or missing key gets 401 with a JSON error (as the real service does), a malformed
body 400; an accepted message is kept in :attr:`FakeSendamatic.messages` and answered with
Sendamatic's per-recipient result map ``{"addr": [200, "<message id>"]}``.

It runs a ThreadingHTTPServer in a thread, so both sync and async code under test can reach
it, and it is a context manager::

    with FakeSendamatic(api_key="k") as fake:
        ... EmailConfig(provider="sendamatic", sendamatic=SendamaticConfig(base_url=fake.base_url, api_key="k"))
        assert fake.messages[0].to == ["x@example.com"]
"""

from __future__ import annotations

import json
import threading
import uuid
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

from labtui.testing.fakes.serving import ServedInThread

DEFAULT_KEY = "test-credential-id-test-password"


@dataclass(frozen=True)
class SentMessage:
    """One message Sendamatic accepted, as it was posted."""

    to: list[str]
    sender: str
    subject: str
    text_body: str
    html_body: str
    message_id: str
    headers: dict[str, str] = field(default_factory=dict)


def _problem(body: Any) -> str | None:
    """Why a send body is not one Sendamatic would accept, or None."""
    if not isinstance(body, dict):
        return "body must be a JSON object"
    to = body.get("to")
    if not isinstance(to, list) or not to or not all(isinstance(a, str) and "@" in a for a in to):
        return "'to' must be a non-empty list of addresses"
    for key in ("sender", "subject"):
        if not isinstance(body.get(key), str) or not body[key]:
            return f"'{key}' is required"
    if not (body.get("text_body") or body.get("html_body")):
        return "one of 'text_body' or 'html_body' is required"
    return None


class FakeSendamatic(ServedInThread):
    def __init__(self, api_key: str = DEFAULT_KEY) -> None:
        self.api_key = api_key
        #: Accepted messages, oldest first.
        self.messages: list[SentMessage] = []
        #: Requests refused (wrong key, bad body, wrong path), with their status.
        self.refused: list[int] = []
        #: When set, every authenticated send is answered with this status (a provider outage).
        self.fail_status: int | None = None
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        assert self._server is not None, "not started"
        return self._server.server_address[1]

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, payload: Any) -> None:
                if status >= 400:  # recorded before the reply: a client that got it may look at once
                    with fake._lock:
                        fake.refused.append(status)
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                raw = self.rfile.read(length)
                if self.path.rstrip("/") != "/send":
                    self._answer(404, {"error": "not found"})
                    return
                if self.headers.get("x-api-key") != fake.api_key:
                    self._answer(401, {"error": "Invalid API key"})
                    return
                if fake.fail_status is not None:
                    self._answer(fake.fail_status, {"error": "service unavailable"})
                    return
                try:
                    body = json.loads(raw)
                except ValueError:
                    self._answer(400, {"error": "body is not JSON"})
                    return
                problem = _problem(body)
                if problem:
                    self._answer(400, {"error": problem})
                    return
                message = SentMessage(
                    to=list(body["to"]),
                    sender=body["sender"],
                    subject=body["subject"],
                    text_body=body.get("text_body") or "",
                    html_body=body.get("html_body") or "",
                    message_id=f"<{uuid.uuid4().hex}@fake.sendamatic>",
                    headers={k.lower(): v for k, v in self.headers.items()},
                )
                with fake._lock:
                    fake.messages.append(message)
                self._answer(200, {addr: [200, message.message_id] for addr in message.to})

            def do_GET(self) -> None:
                self._answer(405, {"error": "method not allowed"})

            def log_message(self, format: str, *args: object) -> None:
                return

        class Server(ThreadingHTTPServer):
            daemon_threads = True

        return self._serve(Server(("127.0.0.1", 0), Handler))
