"""The audit log: every state change and every login attempt, written in core.

Records are written inside the same transaction as the change they describe. Detail never
holds secrets: keys that look like one are redacted before anything is stored.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy import or_, select, text
from sqlalchemy.orm import Session

from labtui.core.actor import Actor
from labtui.core.db.fts import AUDIT_FTS, match_phrase, matches_at_most
from labtui.core.db.models import AuditRecord

_SECRET_KEY = re.compile(r"pass(word)?|token|secret|api_key|private|vault", re.IGNORECASE)
REDACTED = "***"


def redact(detail: Any) -> Any:
    """A copy of ``detail`` with the values of secret-looking keys replaced."""
    if isinstance(detail, dict):
        return {
            k: (REDACTED if _SECRET_KEY.search(str(k)) and v not in (None, "") else redact(v))
            for k, v in detail.items()
        }
    if isinstance(detail, list):
        return [redact(v) for v in detail]
    return detail


def record(
    session: Session,
    actor: Actor,
    action: str,
    target: str = "",
    detail: dict[str, Any] | None = None,
) -> None:
    """Add one audit record to ``session`` (committed with the caller's change)."""
    session.add(
        AuditRecord(
            user_id=actor.user_id,
            username=actor.username,
            action=action,
            target=target,
            detail=json.dumps(redact(detail or {}), default=str, sort_keys=True),
            origin=actor.origin,
        )
    )


@dataclass(frozen=True)
class AuditFilter:
    """What the audit screen and ``labtui audit list`` filter on."""

    username: str = ""
    action: str = ""
    text: str = ""


@dataclass(frozen=True)
class AuditRow:
    id: int
    created_at: dt.datetime
    username: str
    action: str
    target: str
    detail: dict[str, Any]
    origin: str

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "created_at": self.created_at.isoformat(),
            "username": self.username,
            "action": self.action,
            "target": self.target,
            "detail": self.detail,
            "origin": self.origin,
        }


#: Up to this many text matches, the text index drives a query that also filters by user or action.
TEXT_CAP = 20_000


def query_page(session: Session, flt: AuditFilter, *, before_id: int | None = None, limit: int = 50) -> list[AuditRow]:
    """Newest first, keyset-paged: ``before_id`` is the smallest id of the previous page.

    Keyset paging keeps every page as cheap as the first, even on millions of rows.
    """
    stmt = select(AuditRecord).order_by(AuditRecord.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(AuditRecord.id < before_id)
    if flt.username:
        stmt = stmt.where(AuditRecord.username == flt.username)
    if flt.action:
        if flt.action.endswith("*"):
            stmt = stmt.where(AuditRecord.action.startswith(flt.action[:-1], autoescape=True))
        else:
            stmt = stmt.where(AuditRecord.action == flt.action)
    sqlite = session.get_bind().dialect.name == "sqlite"
    indexed = bool(flt.text) and sqlite and len(flt.text) >= 3
    if indexed and not (flt.username or flt.action):
        # The trigram index finds the newest matches directly, however rare they are.
        ids = session.scalars(
            text(
                f"SELECT rowid FROM {AUDIT_FTS} WHERE {AUDIT_FTS} MATCH :q AND rowid < :before "
                "ORDER BY rowid DESC LIMIT :limit"
            ),
            {"q": match_phrase(flt.text), "before": before_id if before_id is not None else 2**62, "limit": limit},
        ).all()
        stmt = stmt.where(AuditRecord.id.in_(ids))
    elif indexed and matches_at_most(session, AUDIT_FTS, match_phrase(flt.text), TEXT_CAP):
        # Text with a user or action filter: a rare text narrows best through the index.
        stmt = stmt.where(
            AuditRecord.id.in_(
                text(f"SELECT rowid FROM {AUDIT_FTS} WHERE {AUDIT_FTS} MATCH :q").bindparams(q=match_phrase(flt.text))
            )
        )
    elif flt.text:
        # A common text under a user or action filter: their index narrows first. SQLite's
        # LIKE ignores ASCII case already; ilike would lower() five columns a row.
        like = f"%{flt.text}%"
        columns = (AuditRecord.target, AuditRecord.detail, AuditRecord.action, AuditRecord.username, AuditRecord.origin)
        stmt = stmt.where(or_(*(c.like(like) if sqlite else c.ilike(like) for c in columns)))
    return [
        AuditRow(
            id=r.id,
            created_at=r.created_at,
            username=r.username,
            action=r.action,
            target=r.target,
            detail=json.loads(r.detail or "{}"),
            origin=r.origin,
        )
        for r in session.scalars(stmt)
    ]
