"""Email on a transition: one message per recipient through the configured provider.

CloudLab's message (docs/cloudlab.md), its subject tagged by ``health.mail_subject_prefix``:
``[labtui] SERVICE/CHECK — DOWN`` or ``— RECOVERED`` (``[CloudLab]`` for a lab moved from
CloudLab, so mail filters keep working); the text body has the service, the
check, old -> new status, the latency and the error. A failing provider is logged and never
stops the poller.
"""

from __future__ import annotations

import asyncio
import html
import logging
from collections.abc import Sequence

from labtui.core.health.state import Transition
from labtui.core.integrations.email import EmailError, Mailer

log = logging.getLogger("labtui.health")

#: Emails in flight at once (a mass outage must not open hundreds of SMTP sessions).
SEND_CONCURRENCY = 4


def subject(t: Transition, prefix: str = "labtui") -> str:
    return f"[{prefix}] {t.service}/{t.check} — {t.direction}"


def _latency(t: Transition) -> str:
    return f"{t.latency_ms:.0f}ms" if t.latency_ms is not None else "N/A"


def text_body(t: Transition) -> str:
    return (
        "\n".join(
            [
                f"Health Check {t.direction}",
                "",
                f"Service: {t.service}",
                f"Check: {t.check}",
                f"Target: {t.target or 'N/A'}",
                f"Status: {t.old} -> {t.new}",
                f"Response Time: {_latency(t)}",
                f"Error: {t.error or 'N/A'}",
                f"Time: {t.at.strftime('%Y-%m-%d %H:%M:%S UTC')}",
            ]
        )
        + "\n"
    )


def html_body(t: Transition) -> str:
    colour = "#22c55e" if t.direction == "RECOVERED" else "#ef4444"
    rows = [
        ("Service", t.service),
        ("Check", t.check),
        ("Target", t.target or "N/A"),
        ("Status", f"{t.old} → {t.new}"),
        ("Response Time", _latency(t)),
        ("Error", t.error or "N/A"),
        ("Time", t.at.strftime("%Y-%m-%d %H:%M:%S UTC")),
    ]
    cells = "".join(
        f"<tr><td style='padding:4px 12px 4px 0'><b>{html.escape(k)}</b></td><td>{html.escape(v)}</td></tr>"
        for k, v in rows
    )
    return (
        f"<div style='border-left:4px solid {colour};padding:8px 16px;font-family:sans-serif'>"
        f"<h2 style='color:{colour};margin:0 0 8px'>HEALTH CHECK {t.direction}</h2>"
        f"<table>{cells}</table></div>"
    )


async def send_transition(mailer: Mailer, recipients: Sequence[str], t: Transition, prefix: str = "labtui") -> int:
    """Mail ``t`` to each recipient; returns how many were accepted by the provider."""
    sem = asyncio.Semaphore(SEND_CONCURRENCY)
    subj, text, body = subject(t, prefix), text_body(t), html_body(t)

    async def one(to: str) -> bool:
        async with sem:
            try:
                await mailer.send(to, subj, text, body)
            except EmailError as exc:
                log.warning("health email %r to %s failed: %s", subj, to, exc)
                return False
            except Exception:
                log.exception("health email %r to %s failed", subj, to)
                return False
            return True

    sent = await asyncio.gather(*(one(r) for r in recipients))
    return sum(1 for ok in sent if ok) if mailer.delivers else 0
