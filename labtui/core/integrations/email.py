"""Outgoing email behind one small protocol: Sendamatic (HTTP), SMTP, or none.

With ``none`` nothing is sent and callers show the token to the admin instead.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from email.message import EmailMessage
from email.utils import parseaddr
from typing import Protocol

import httpx

from labtui.core.config import EmailConfig
from labtui.core.errors import LabtuiError

log = logging.getLogger(__name__)


class EmailError(LabtuiError):
    """The provider refused or could not be reached."""


class Mailer(Protocol):
    """Sends one message; ``delivers`` is False for the ``none`` provider."""

    delivers: bool

    async def send(self, to: str, subject: str, text: str, html: str | None = None) -> None: ...

    async def aclose(self) -> None: ...


class NoMailer:
    delivers = False

    async def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        log.info("email provider is none: not sending %r to %s", subject, to)

    async def aclose(self) -> None:
        return None


class SendamaticMailer:
    """Sendamatic's send API: POST {base_url}/send with ``x-api-key``."""

    delivers = True

    def __init__(self, base_url: str, api_key: str, sender: str, timeout: float = 10.0) -> None:
        self._sender = sender
        self._client = httpx.AsyncClient(base_url=base_url.rstrip("/"), headers={"x-api-key": api_key}, timeout=timeout)

    async def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        body = {"to": [to], "sender": self._sender, "subject": subject, "text_body": text, "html_body": html or ""}
        try:
            response = await self._client.post("/send", json=body)
        except httpx.HTTPError as exc:
            raise EmailError(f"Sendamatic unreachable: {exc.__class__.__name__}") from None
        if response.status_code >= 400:
            raise EmailError(f"Sendamatic refused the message: HTTP {response.status_code}")

    async def aclose(self) -> None:
        await self._client.aclose()


class SmtpMailer:
    delivers = True

    def __init__(
        self, host: str, port: int, sender: str, username: str = "", password: str = "", starttls: bool = False
    ) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._username, self._password, self._starttls = username, password, starttls

    def _send_blocking(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self._host, self._port, timeout=10) as smtp:
            if self._starttls:
                smtp.starttls()
            if self._username:
                smtp.login(self._username, self._password)
            smtp.send_message(message)

    async def send(self, to: str, subject: str, text: str, html: str | None = None) -> None:
        message = EmailMessage()
        message["From"] = self._sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(text)
        if html:
            message.add_alternative(html, subtype="html")
        try:
            await asyncio.to_thread(self._send_blocking, message)
        except (OSError, smtplib.SMTPException) as exc:
            raise EmailError(f"SMTP {self._host}:{self._port} failed: {exc}") from None

    async def aclose(self) -> None:
        return None


def make_mailer(config: EmailConfig) -> Mailer:
    if config.provider == "sendamatic":
        return SendamaticMailer(config.sendamatic.base_url, config.sendamatic.api_key, config.from_)
    if config.provider == "smtp":
        smtp = config.smtp
        return SmtpMailer(smtp.host, smtp.port, config.from_, smtp.username, smtp.password, smtp.starttls)
    return NoMailer()


def sender_address(sender: str) -> str:
    return parseaddr(sender)[1]
