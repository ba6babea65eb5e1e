"""Reading the audit log (writing happens in each service through :func:`audit.record`)."""

from __future__ import annotations

from sqlalchemy.orm import Session

from labtui.core.actor import Actor
from labtui.core.audit import AuditFilter, AuditRow, query_page
from labtui.core.db.engine import Database
from labtui.core.rbac import Rbac


class AuditLog:
    def __init__(self, db: Database, rbac: Rbac) -> None:
        self.db, self.rbac = db, rbac

    async def page(
        self, actor: Actor, flt: AuditFilter = AuditFilter(), *, before_id: int | None = None, limit: int = 50
    ) -> list[AuditRow]:
        def q(s: Session) -> list[AuditRow]:
            self.rbac.require(s, actor, "system.audit_log")
            return query_page(s, flt, before_id=before_id, limit=limit)

        return await self.db.run(q)
