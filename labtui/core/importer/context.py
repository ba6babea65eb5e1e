"""State shared by the apply steps of one import: the session, the report, labtui ids by
natural key, the import map, and where the import is (for an error naming the record)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from sqlalchemy import insert, select
from sqlalchemy.orm import Session

from labtui.core.db.base import table_of
from labtui.core.db.importmap import ImportMap
from labtui.core.importer.records import Snapshot
from labtui.core.importer.report import ImportReport
from labtui.core.inventory.types import InventoryTypeDef

SOURCE = "cloudlab"


@dataclass(frozen=True)
class ConfigWrite:
    """A config file of the checkout to bring to CloudLab's latest version, after the commit."""

    service: str
    filename: str
    path: Path
    content: str
    version: int
    created: bool


@dataclass
class Context:
    session: Session
    report: ImportReport
    overwrite: bool
    #: The lab's inventory types (their fields give secrets and search text).
    types: Mapping[str, InventoryTypeDef]
    now: dt.datetime
    snap: Snapshot | None = None
    #: The lab checkout (its scripts.yaml say which inputs a schedule's script declares).
    lab_dir: Path | None = None
    #: The record being applied, for an error message: "jobs record id=ab12cd34".
    where: str = ""
    #: labtui ids by natural key, filled as the steps go.
    users: dict[str, int] = field(default_factory=dict)
    roles: dict[str, int] = field(default_factory=dict)
    tags: dict[str, int] = field(default_factory=dict)
    type_ids: dict[str, int] = field(default_factory=dict)
    schedules: dict[str, int] = field(default_factory=dict)
    #: CloudLab object id -> labtui object id (this snapshot's).
    objects: dict[int, int] = field(default_factory=dict)
    #: (table, key) handled by an earlier source of this run: a later (older) one skips them.
    claimed: set[tuple[str, str]] = field(default_factory=set)
    #: Config files to write once the import is committed (never on a dry run).
    config_writes: list[ConfigWrite] = field(default_factory=list)
    _map: dict[str, dict[str, str]] = field(default_factory=dict)
    _pending: list[dict[str, object]] = field(default_factory=list)

    @property
    def legacy(self) -> bool:
        """The legacy JSON generation only adds what is missing; it never updates."""
        return self.snap is not None and self.snap.kind == "json"

    def at(self, table: str, record: str) -> None:
        self.where = f"{table} record {record}"

    def claim(self, table: str, key: str) -> bool:
        """False if an earlier source of this run handled ``key`` (the caller skips it)."""
        if (table, key) in self.claimed:
            return False
        self.claimed.add((table, key))
        return True

    # -- the import map --------------------------------------------------------------------

    def mapped(self, kind: str, key: str) -> str | None:
        if kind not in self._map:
            self._map[kind] = dict(
                self.session.execute(
                    select(ImportMap.source_key, ImportMap.target_id).where(
                        ImportMap.source == SOURCE, ImportMap.kind == kind
                    )
                ).all()
            )
        return self._map[kind].get(key)

    def remember(self, kind: str, key: str, target: object) -> None:
        target_id = str(target)
        current = self.mapped(kind, key)
        if current == target_id:
            return
        self._map[kind][key] = target_id
        if current is not None:
            row = self.session.get(ImportMap, (SOURCE, kind, key))
            if row is not None:
                row.target_id, row.imported_at = target_id, self.now
                return
            for pending in self._pending:  # mapped earlier in this run, not flushed yet
                if pending["kind"] == kind and pending["source_key"] == key:
                    pending["target_id"] = target_id
                    return
        self._pending.append(
            {"source": SOURCE, "kind": kind, "source_key": key, "target_id": target_id, "imported_at": self.now}
        )
        if len(self._pending) >= 5000:
            self.flush_map()

    def unchanged(self, kind: str, key: str, record: object) -> bool:
        """True if CloudLab's ``record`` is what the last import of ``key`` read: CloudLab did
        not change it since, so whatever labtui did to the row since stands. Remembers the
        record's digest for the next import either way."""
        digest = hashlib.sha256(json.dumps(record, sort_keys=True, default=str).encode()).hexdigest()
        same = self.mapped(f"{kind}#digest", key) == digest
        self.remember(f"{kind}#digest", key, digest)
        return same

    def flush_map(self) -> None:
        if self._pending:
            self.session.execute(insert(table_of(ImportMap)), self._pending)
            self._pending = []
