"""SSH login keys: several per user, added by the user or by an admin (``users.edit``).

The CloudLab profile key (``users.ssh_public_key``, for provisioning scripts) also logs in.
A key belongs to one user only, across registered keys and profile keys, so a key names its
owner: OpenSSH's login-shell mode (``labtui users authorized-keys``) logs a key in as the
first line that lists it, whoever set it there. Keys are compared by their material (the
fingerprint), never by the comment. docs/auth.md says what happens to a database that
already has a key under two users.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.db.engine import Database
from labtui.core.db.locks import lock_subjects
from labtui.core.db.models import User, UserSshKey
from labtui.core.errors import Conflict, KeyInUse, NotFound, ValidationError
from labtui.core.rbac import Rbac

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class LoginKey:
    fingerprint: str
    key_type: str
    comment: str
    created_at: dt.datetime

    def as_json(self) -> dict[str, str]:
        return {
            "fingerprint": self.fingerprint,
            "type": self.key_type,
            "comment": self.comment,
            "created_at": self.created_at.isoformat(),
        }


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
            lock_subjects(s, key_lock(fingerprint))
            if s.scalar(
                select(UserSshKey.id).where(UserSshKey.user_id == user.id, UserSshKey.fingerprint == fingerprint)
            ):
                raise Conflict(f"Key {fingerprint} is registered already")
            row = UserSshKey(user_id=user.id, public_key=key, fingerprint=fingerprint, comment=comment)
            s.add(row)
            try:
                s.flush()
            except IntegrityError:  # another user's registered key (the fingerprint is unique)
                raise KeyInUse() from None
            ensure_sole_holder(s, user.id, fingerprint)
            audit.record(s, actor, "user.ssh_key_add", f"users/{username}", {"fingerprint": fingerprint})
            return LoginKey(fingerprint, key.split()[0], comment, row.created_at)

        try:
            return await self.db.run(q)
        except KeyInUse:
            await self.db.run(lambda s: record_refusal(s, actor, "user.ssh_key_refused", username, fingerprint))
            raise

    async def authorized(self, actor: Actor) -> list[tuple[str, str]]:
        """(username, ``type base64``) of every key that logs an active user in, each key once,
        for ``labtui users authorized-keys``.

        A key two accounts hold (a database from before keys had one owner, or an import) is
        left out and logged: OpenSSH would log whoever holds it in as the first listed.
        Until an admin removes all but one, it logs in nobody through sshd."""

        def q(s: Session) -> list[tuple[str, str]]:
            self.rbac.require(s, actor, "users.view")
            return _authorized(s)

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
            row = s.scalar(
                select(UserSshKey).where(UserSshKey.user_id == user.id, UserSshKey.fingerprint == fingerprint)
            )
            if row is None:
                raise NotFound(f"'{username}' has no key {fingerprint}")
            s.delete(row)
            audit.record(s, actor, "user.ssh_key_remove", f"users/{username}", {"fingerprint": fingerprint})

        await self.db.run(q)


def _authorized(s: Session) -> list[tuple[str, str]]:
    """Every user's keys are read, inactive ones too: an inactive holder still makes a key
    ambiguous (reactivated, it would be listed again)."""
    holders: dict[str, set[str]] = {}
    listed: list[tuple[str, str, str]] = []
    for user in s.scalars(select(User).order_by(User.username)):
        seen: set[str] = set()
        for text in keys_of(s, user):
            try:
                key, fingerprint, _ = parse_key(text)
            except ValidationError:
                log.warning("authorized-keys: a stored key of %s is not an OpenSSH public key: left out", user.username)
                continue
            holders.setdefault(fingerprint, set()).add(user.username)
            if user.is_active and fingerprint not in seen:
                seen.add(fingerprint)
                listed.append((user.username, key, fingerprint))
    for fingerprint, names in sorted(holders.items()):
        if len(names) > 1:
            log.warning(
                "authorized-keys: key %s is held by %s: left out until all but one of them drop it",
                fingerprint,
                ", ".join(sorted(names)),
            )
    return [(name, key) for name, key, fingerprint in listed if len(holders[fingerprint]) == 1]


def keys_of(s: Session, user: User) -> list[str]:
    """Every public key that logs ``user`` in."""
    keys = list(s.scalars(select(UserSshKey.public_key).where(UserSshKey.user_id == user.id)))
    if user.ssh_public_key:
        keys.append(user.ssh_public_key)
    return keys


def key_lock(fingerprint: str) -> str:
    """The name of the lock that orders claims of one key (docs/auth.md)."""
    return f"sshkey:{fingerprint}"


def key_holders(s: Session, fingerprint: str) -> set[int]:
    """Ids of the users the key logs in: as a registered key, or as the profile key. Profile
    keys are stored as typed, so each is parsed (a lab has tens of users, not thousands)."""
    holders = set(s.scalars(select(UserSshKey.user_id).where(UserSshKey.fingerprint == fingerprint)))
    for user_id, text in s.execute(select(User.id, User.ssh_public_key).where(User.ssh_public_key.is_not(None))):
        if user_id not in holders and _fingerprint(text) == fingerprint:
            holders.add(user_id)
    return holders


def ensure_sole_holder(s: Session, user_id: int, fingerprint: str) -> None:
    """Raise :class:`KeyInUse` if a user other than ``user_id`` holds the key.

    Call it after writing the key in the same transaction (and under :func:`key_lock`): on
    SQLite that write holds the write lock, so of two users claiming one key at once the
    second sees the first's key and is refused."""
    if key_holders(s, fingerprint) - {user_id}:
        raise KeyInUse()


def record_refusal(s: Session, actor: Actor, action: str, username: str, fingerprint: str) -> None:
    """Audit a refused claim of another account's key (in its own transaction: the claim's
    was rolled back). The other account is not named, here or in the message."""
    audit.record(
        s, actor, action, f"users/{username}", {"fingerprint": fingerprint, "reason": "key held by another account"}
    )


def _fingerprint(text: str | None) -> str | None:
    try:
        return parse_key(text or "")[1]
    except ValidationError:
        return None
