"""The Ansible vault password: set once, kept in a 0600 file under the data dir.

Jobs get the file's path (``--vault-password-file`` for playbooks, and
``ANSIBLE_VAULT_PASSWORD_FILE`` for the ``ansible-playbook`` calls inside a lab's
``deploy.sh``), never the password itself; the password is not logged, audited or shown.
CloudLab wrote it to ``/tmp/.vault_pass.txt`` from its database; a file only the labtui user
can read is both simpler and safer.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.db.engine import Database
from labtui.core.errors import ValidationError
from labtui.core.rbac import Rbac
from labtui.core.secretbox import write_private

VAULT_FILE = "vault_pass.txt"


class Vault:
    def __init__(self, db: Database, rbac: Rbac, home: Path) -> None:
        self.db, self.rbac = db, rbac
        self.path = home / VAULT_FILE

    def is_set(self) -> bool:
        return self.path.is_file() and self.path.stat().st_size > 0

    def password_file(self) -> Path | None:
        """The file to hand to Ansible, or None when no password was set."""
        return self.path if self.is_set() else None

    async def set(self, actor: Actor, password: str) -> None:
        """Store the password (replacing any old one); needs ``system.settings.edit``."""
        if not password or password.strip() != password or "\n" in password:
            raise ValidationError("The vault password must be one line without leading or trailing spaces", "password")

        def q(s: Session) -> None:
            self.rbac.require(s, actor, "system.settings.edit", "vault")
            _write_private(self.path, password + "\n")
            audit.record(s, actor, "vault.set", "vault", {"replaced": True})

        await self.db.run(q)

    async def clear(self, actor: Actor) -> None:
        def q(s: Session) -> None:
            self.rbac.require(s, actor, "system.settings.edit", "vault")
            self.path.unlink(missing_ok=True)
            audit.record(s, actor, "vault.clear", "vault")

        await self.db.run(q)


def _write_private(path: Path, text: str) -> None:
    """Write ``text`` to a file created 0600 (never world-readable, not even for a moment)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    write_private(path, text)
