"""What an import did (or, with ``--dry-run``, would do): per-table counts and warnings."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from labtui.core.errors import LabtuiError

#: The report's tables, in the order they are applied and printed.
TABLES = (
    "users",
    "roles",
    "permissions",
    "user_roles",
    "role_permissions",
    "inventory_types",
    "inventory_tags",
    "inventory_objects",
    "object_tags",
    "object_acl",
    "tag_permissions",
    "scheduled_jobs",
    "jobs",
    "job_output",
    "audit_log",
    "config_versions",
    "config_files",
    "health_check_results",
    "health_check_state",
    "app_metadata",
    "vault",
    "tokens",
)


class ImportFailed(LabtuiError):
    """The import stopped; nothing was written. The message names the file and the record."""


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    skipped: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"created": self.created, "updated": self.updated, "skipped": self.skipped}


@dataclass
class ImportReport:
    sources: list[str] = field(default_factory=list)
    dry_run: bool = False
    counts: dict[str, Counts] = field(default_factory=lambda: {t: Counts() for t in TABLES})
    warnings: list[str] = field(default_factory=list)

    def created(self, table: str, n: int = 1) -> None:
        self.counts[table].created += n

    def updated(self, table: str, n: int = 1) -> None:
        self.counts[table].updated += n

    def skipped(self, table: str, n: int = 1) -> None:
        self.counts[table].skipped += n

    def warn(self, message: str) -> None:
        self.warnings.append(message)

    @property
    def changed(self) -> bool:
        return any(c.created or c.updated for c in self.counts.values())

    def rows(self) -> list[tuple[str, int, int, int]]:
        """(table, created, updated, skipped) for every table with something to say."""
        return [
            (t, c.created, c.updated, c.skipped) for t, c in self.counts.items() if c.created or c.updated or c.skipped
        ]

    def audit_detail(self) -> dict[str, Any]:
        """The counts as audit detail: a list of rows, so no table name is taken for a secret's key."""
        return {
            "sources": self.sources,
            "tables": [{"table": t, "created": c, "updated": u, "skipped": s} for t, c, u, s in self.rows()],
            "warnings": len(self.warnings),
        }

    def as_json(self) -> dict[str, Any]:
        return {
            "sources": self.sources,
            "dry_run": self.dry_run,
            "tables": {t: c.as_dict() for t, c in self.counts.items()},
            "warnings": self.warnings,
        }
