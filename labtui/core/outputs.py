"""A service's runtime outputs: ``outputs/service_outputs.yaml`` written by its playbooks
(docs/cloudlab.md): URLs, credentials and other values.

Credential values never leave core unless someone asks for one: :meth:`ServiceOutputs.list`
hands them out masked, and :meth:`ServiceOutputs.reveal` returns one value after a
permission check and an audit record (``service.output.reveal``, naming the output, never
the value). Reading goes through the same path guard as the file browser, so an
``outputs/service_outputs.yaml`` that is a symlink out of the service folder is refused.
"""

from __future__ import annotations

import builtins
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import yaml
from sqlalchemy.orm import Session

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.db.engine import Database
from labtui.core.errors import NotFound
from labtui.core.files import MAX_BYTES, PathGuard, PathRefused
from labtui.core.rbac import Rbac
from labtui.core.services import Services

log = logging.getLogger("labtui.outputs")

OUTPUTS_FILE = "outputs/service_outputs.yaml"
MASK = "••••••••"
#: Revealing needs what reading the raw file in the file browser needs.
REVEAL_PERMISSION = "services.files.view"


@dataclass(frozen=True)
class OutputItem:
    name: str
    type: str
    label: str
    #: The value; None for a credential that was not revealed.
    value: str | None
    username: str | None = None
    credential_type: str | None = None

    @property
    def is_credential(self) -> bool:
        return self.type == "credential"

    @property
    def shown(self) -> str:
        """What a screen may print: a credential's value masked unless revealed."""
        if self.is_credential and self.value is None:
            return MASK
        return self.value or ""

    def masked(self) -> OutputItem:
        if not self.is_credential:
            return self
        return OutputItem(self.name, self.type, self.label, None, self.username, self.credential_type)

    def as_json(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def parse_outputs(text: str) -> list[OutputItem]:
    """CloudLab's rule: [] unless the YAML is a mapping with an ``outputs`` list."""
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError:
        return []
    if not isinstance(data, Mapping) or not isinstance(data.get("outputs"), list):
        return []
    out: list[OutputItem] = []
    for raw in data["outputs"]:
        if not isinstance(raw, Mapping) or not raw.get("name"):
            continue
        kind = str(raw.get("type") or "text")
        value = raw.get("value")
        out.append(
            OutputItem(
                name=str(raw["name"]),
                type=kind,
                label=str(raw.get("label") or raw["name"]),
                value="" if value is None else str(value),
                username=None if raw.get("username") is None else str(raw["username"]),
                credential_type=str(raw.get("credential_type") or "password") if kind == "credential" else None,
            )
        )
    return out


class ServiceOutputs:
    def __init__(self, db: Database, rbac: Rbac, services: Services) -> None:
        self.db, self.rbac, self.services = db, rbac, services
        self.guard = PathGuard(db, services)

    def _read(self, actor: Actor, service: str) -> list[OutputItem]:
        _, real = self.guard.data_file(actor, service, OUTPUTS_FILE)
        if not real.is_file() or real.stat().st_size > MAX_BYTES:
            return []
        try:
            return parse_outputs(real.read_text(encoding="utf-8", errors="replace"))
        except OSError as exc:
            log.warning("outputs of %s unreadable: %s", service, exc)
            return []

    async def list(self, actor: Actor, service: str) -> list[OutputItem]:
        """The service's outputs, credentials masked."""

        def q(s: Session) -> list[OutputItem]:
            self.rbac.require(s, actor, "services.view", f"services/{service}")
            return [item.masked() for item in self._read(actor, service)]

        return await self.db.run(q)

    async def list_all(self, actor: Actor) -> dict[str, builtins.list[OutputItem]]:
        """Outputs of every service that has some (CloudLab's aggregate view), masked."""
        out: dict[str, list[OutputItem]] = {}
        for name in self.services.names():
            try:
                items = await self.list(actor, name)
            except PathRefused:
                continue  # audited; the other services still show
            if items:
                out[name] = items
        return out

    async def reveal(self, actor: Actor, service: str, name: str) -> OutputItem:
        """One output with its value; a credential's reveal is audited."""

        def q(s: Session) -> OutputItem:
            self.rbac.require(s, actor, REVEAL_PERMISSION, f"services/{service}")
            for item in self._read(actor, service):
                if item.name == name:
                    if item.is_credential:
                        audit.record(
                            s,
                            actor,
                            "service.output.reveal",
                            f"services/{service}",
                            {"output": name, "label": item.label, "credential_type": item.credential_type},
                        )
                    return item
            raise NotFound(f"Service '{service}' has no output '{name}'")

        return await self.db.run(q)


__all__ = ["MASK", "OUTPUTS_FILE", "OutputItem", "ServiceOutputs", "parse_outputs"]
