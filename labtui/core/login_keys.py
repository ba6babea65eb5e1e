"""SSH login keys: several per user, added by the user or by an admin (``users.edit``).

A key belongs to one user only (fingerprints are unique), so a key names its owner. The
CloudLab profile key (``users.ssh_public_key``, for provisioning scripts) also logs in.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.db.engine import Database
from labtui.core.db.models import User, UserSshKey
from labtui.core.errors import Conflict, NotFound, ValidationError
from labtui.core.rbac import Rbac


@dataclass(frozen=True)
class LoginKey:
    fingerprint: str
    key_type: str
    comment: str
    created_at: dt.datetime

    def as_json(self) -> dict[str, str]:
        return {"fingerprint": self.fingerprint, "type": self.key_type, "comment": self.comment, "created_at": self.created_at.isoformat()}


def parse_key(text: str) -> tuple[str, str, str]:
    """(normalised key, fingerprint, comment) of one OpenSSH public key line."""
    import asyncssh

    line = text.strip()
    try:
        key = asyncssh.import_public_key(line)
    except (asyncssh.KeyImportError, ValueError):
        raise ValidationError("That is not an OpenSSH public key", "public_key") from None
    parts = line.split(None, 2)
    comment = parts[2] if len(parts) > 2 else ""
    normalised = " ".join(key.export_public_key().decode().split()[:2])
    return normalised, key.get_fingerprint(), comment[:255]


class LoginKeys:
    def __init__(self, db: Database, rbac: Rbac) -> None:
        self.db, self.rbac = db, rbac

    def _target(self, s: Session, actor: Actor, username: str) -> User:
        user = s.scalar(select(User).where(User.username == username))
        if user is None:
            raise NotFound(f"No user named '{username}'")
        if user.id != actor.user_id:
            self.rbac.require(s, actor, "users.edit", f"users/{username}")
        return user

    async def add(self, actor: Actor, username: str, public_key: str) -> LoginKey:
        key, fingerprint, comment = parse_key(public_key)

        def q(s: Session) -> LoginKey:
            user = self._target(s, actor, username)
            if s.scalar(select(UserSshKey.id).where(UserSshKey.fingerprint == fingerprint)):
                raise Conflict(f"Key {fingerprint} is registered already")
            row = UserSshKey(user_id=user.id, public_key=key, fingerprint=fingerprint, comment=comment)
            s.add(row)
            s.flush()
            audit.record(s, actor, "user.ssh_key_add", f"users/{username}", {"fingerprint": fingerprint})
            return LoginKey(fingerprint, key.split()[0], comment, row.created_at)

        return await self.db.run(q)

    async def list(self, actor: Actor, username: str) -> list[LoginKey]:
        def q(s: Session) -> list[LoginKey]:
            user = self._target(s, actor, username)
            rows = s.scalars(select(UserSshKey).where(UserSshKey.user_id == user.id).order_by(UserSshKey.id))
            return [LoginKey(r.fingerprint, r.public_key.split()[0], r.comment, r.created_at) for r in rows]

        return await self.db.run(q)

    async def remove(self, actor: Actor, username: str, fingerprint: str) -> None:
        def q(s: Session) -> None:
            user = self._target(s, actor, username)
            row = s.scalar(select(UserSshKey).where(UserSshKey.user_id == user.id, UserSshKey.fingerprint == fingerprint))
            if row is None:
                raise NotFound(f"'{username}' has no key {fingerprint}")
            s.delete(row)
            audit.record(s, actor, "user.ssh_key_remove", f"users/{username}", {"fingerprint": fingerprint})

        await self.db.run(q)


def keys_of(s: Session, user: User) -> list[str]:
    """Every public key that logs ``user`` in."""
    keys = list(s.scalars(select(UserSshKey.public_key).where(UserSshKey.user_id == user.id)))
    if user.ssh_public_key:
        keys.append(user.ssh_public_key)
    return keys
