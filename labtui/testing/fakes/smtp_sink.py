"""An SMTP sink on 127.0.0.1: aiosmtpd's Controller on a free port, keeping what it receives.

Each message is parsed (``email.policy.default``, so ``get_body()`` and friends work) and kept
with its envelope recipients. A context manager::

    with SmtpSink() as sink:
        ... SmtpConfig(host="127.0.0.1", port=sink.port)
        assert sink.messages[0]["To"] == "x@example.com"

The port is bound by the server itself (port 0), so parallel tests never race for one.
:func:`refused_port` gives a port nothing listens on, for "the SMTP server is down".
"""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Awaitable
from email.message import EmailMessage
from typing import Any, Self

from aiosmtpd.controller import Controller


class _Handler:
    """aiosmtpd handler: parse and keep every message."""

    def __init__(self, sink: SmtpSink) -> None:
        self._sink = sink

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode()
        message = email.message_from_bytes(raw, policy=email.policy.default)
        with self._sink._lock:
            self._sink.envelopes.append((envelope.mail_from, list(envelope.rcpt_tos)))
            self._sink.messages.append(message)
        return "250 OK"


class _FreePortController(Controller):
    """Controller that binds port 0 and then knows its real port (the stock one would try to
    connect to port 0 to wake the server up)."""

    def _create_server(self) -> Awaitable[Any]:
        async def bind() -> Any:
            server = await self.loop.create_server(
                self._factory_invoker, host=self.hostname, port=self.port, ssl=self.ssl_context
            )
            self.port = server.sockets[0].getsockname()[1]
            return server

        return bind()


class SmtpSink:
    def __init__(self) -> None:
        #: Parsed messages, oldest first.
        self.messages: list[EmailMessage] = []
        #: (MAIL FROM, RCPT TOs) of each message, in the same order.
        self.envelopes: list[tuple[str, list[str]]] = []
        self._lock = threading.Lock()
        self._controller: _FreePortController | None = None

    @property
    def host(self) -> str:
        return "127.0.0.1"

    @property
    def port(self) -> int:
        assert self._controller is not None, "not started"
        return int(self._controller.port)

    def subjects(self) -> list[str]:
        return [str(m["Subject"]) for m in self.messages]

    def text(self, index: int = -1) -> str:
        """The plain-text body of a message (the last one by default)."""
        part = self.messages[index].get_body(preferencelist=("plain",))
        return part.get_content() if part is not None else ""

    def start(self) -> Self:
        self._controller = _FreePortController(_Handler(self), hostname="127.0.0.1", port=0)
        self._controller.start()
        return self

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def refused_port() -> tuple[socket.socket, int]:
    """A port on 127.0.0.1 that refuses connections: bound but not listening, and held (keep
    the socket open while you use the port) so no other test can start a server there."""
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    return sock, sock.getsockname()[1]
