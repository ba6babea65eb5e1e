"""User administration and the profile: invitations, roles, deactivation, SSH keys, sessions."""

from __future__ import annotations

import builtins
import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from labtui.core import audit, validation
from labtui.core.actor import Actor
from labtui.core.auth import INVITE, RESET, Auth
from labtui.core.db.base import utcnow
from labtui.core.db.engine import Database
from labtui.core.db.locks import lock_subjects
from labtui.core.db.models import AuthSession, Role, User
from labtui.core.errors import Conflict, KeyInUse, NotFound, ValidationError
from labtui.core.integrations.email import EmailError, Mailer
from labtui.core.login_keys import (
    ensure_sole_holder,
    key_lock,
    parse_key,
    record_refusal,
)
from labtui.core.rbac import Rbac

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UserInfo:
    id: int
    username: str
    email: str | None
    display_name: str | None
    status: str
    roles: tuple[str, ...]
    last_login_at: dt.datetime | None
    has_ssh_key: bool

    def as_json(self) -> dict[str, object]:
        return {
            "id": self.id,
            "username": self.username,
            "email": self.email,
            "display_name": self.display_name,
            "status": self.status,
            "roles": list(self.roles),
            "last_login_at": self.last_login_at.isoformat() if self.last_login_at else None,
        }


@dataclass(frozen=True)
class TokenDelivery:
    """How a token reached its owner: mailed, or (provider ``none``) shown once to the admin."""

    emailed: bool
    token: str | None
    message: str


@dataclass(frozen=True)
class SessionInfo:
    id: int
    origin: str
    created_at: dt.datetime
    last_seen_at: dt.datetime
    expires_at: dt.datetime
    current: bool


def _info(u: User) -> UserInfo:
    return UserInfo(
        u.id,
        u.username,
        u.email,
        u.display_name,
        u.status,
        tuple(sorted(r.name for r in u.roles)),
        u.last_login_at,
        bool(u.ssh_public_key),
    )


class Users:
    def __init__(self, db: Database, rbac: Rbac, auth: Auth, mailer: Mailer) -> None:
        self.db, self.rbac, self.auth, self.mailer = db, rbac, auth, mailer

    async def list(self, actor: Actor) -> list[UserInfo]:
        def q(s: Session) -> list[UserInfo]:
            self.rbac.require(s, actor, "users.view")
            return [_info(u) for u in s.scalars(select(User).order_by(User.username))]

        return await self.db.run(q)

    async def get(self, actor: Actor, user_id: int) -> UserInfo:
        def q(s: Session) -> UserInfo:
            if user_id != actor.user_id:
                self.rbac.require(s, actor, "users.view")
            user = s.get(User, user_id)
            if user is None:
                raise NotFound("No such user")
            return _info(user)

        return await self.db.run(q)

    async def create(
        self, actor: Actor, username: str, password: str, *, roles: builtins.list[str], email: str | None = None
    ) -> int:
        """An active account with a password (``labtui users create``)."""
        from labtui.core.passwords import hash_in_thread

        name = validation.username(username)
        mail = validation.email(email)
        validation.password(password)
        hashed = await hash_in_thread(password)

        def q(s: Session) -> int:
            self.rbac.require(s, actor, "users.create")
            self._check_unique(s, name, mail)
            user = User(username=name, email=mail, password_hash=hashed, is_active=True, invite_accepted_at=utcnow())
            user.roles = _roles_by_name(s, roles)
            s.add(user)
            s.flush()
            audit.record(s, actor, "user.create", f"users/{name}", {"roles": sorted(roles), "email": mail})
            return user.id

        return await self.db.run(q)

    def _check_unique(self, s: Session, name: str, mail: str | None, user_id: int | None = None) -> None:
        if s.scalar(select(User.id).where(func.lower(User.username) == name.lower(), User.id != (user_id or -1))):
            raise ValidationError(f"Username '{name}' is taken", "username")
        if mail and s.scalar(select(User.id).where(User.email == mail, User.id != (user_id or -1))):
            raise ValidationError("Email already in use", "email")

    async def invite(
        self, actor: Actor, username: str, email: str, *, roles: builtins.list[str], display_name: str = ""
    ) -> TokenDelivery:
        name = validation.username(username)
        mail = validation.email(email)
        if mail is None:
            raise ValidationError("An invitation needs an email address", "email")

        def q(s: Session) -> str:
            self.rbac.require(s, actor, "users.create")
            if roles:
                self.rbac.require(s, actor, "users.assign_roles")
            self._check_unique(s, name, mail)
            user = User(
                username=name,
                email=mail,
                display_name=display_name.strip() or None,
                is_active=False,
                invited_by_id=actor.user_id,
            )
            user.roles = _roles_by_name(s, roles)
            s.add(user)
            s.flush()
            token = self.auth.issue_token(s, user.id, INVITE, dt.timedelta(hours=self.auth.config.invite_hours))
            audit.record(s, actor, "user.invite", f"users/{name}", {"email": mail, "roles": sorted(roles)})
            return token

        token = await self.db.run(q)
        hours = self.auth.config.invite_hours
        return await self._deliver(
            mail,
            token,
            "Your labtui invitation",
            f"You have been invited to labtui as '{name}'.\n\n"
            f'On the labtui login screen choose "I have an invitation" and enter this token:\n\n{token}\n\n'
            f"It works once and expires in {hours} hours.\n",
        )

    async def send_reset(self, to: str, token: str) -> TokenDelivery:
        minutes = self.auth.config.reset_minutes
        return await self._deliver(
            to,
            token,
            "Your labtui password reset",
            "Someone asked to reset your labtui password. If it was you, choose "
            f'"Reset password" on the login screen and enter this token:\n\n{token}\n\n'
            f"It works once and expires in {minutes} minutes. If it was not you, ignore this mail.\n",
        )

    async def _deliver(self, to: str | None, token: str, subject: str, text: str) -> TokenDelivery:
        if to and self.mailer.delivers:
            try:
                await self.mailer.send(to, subject, text)
                return TokenDelivery(True, None, f"Sent to {to}")
            except EmailError as exc:
                log.warning("email to %s failed: %s", to, exc)
                return TokenDelivery(False, token, f"Email failed ({exc}); give the token in person")
        return TokenDelivery(False, token, "Email is off: give this token to the user in person")

    async def forgot_password(self, who: str, *, origin: str = "local") -> None:
        """Self-service reset from the login screen: mails a token if the account exists."""
        found = await self.auth.request_reset(who, origin=origin)
        if found and self.mailer.delivers:
            user, token = found
            await self.send_reset(user.email or "", token)

    async def admin_reset(self, actor: Actor, user_id: int) -> TokenDelivery:
        def q(s: Session) -> tuple[str | None, str]:
            self.rbac.require(s, actor, "users.edit")
            user = s.get(User, user_id)
            if user is None:
                raise NotFound("No such user")
            token = self.auth.issue_token(s, user.id, RESET, dt.timedelta(minutes=self.auth.config.reset_minutes))
            audit.record(s, actor, "user.password_reset_issued", f"users/{user.username}")
            return user.email, token

        email, token = await self.db.run(q)
        if not email:
            return TokenDelivery(False, token, "No email on file: give this token to the user in person")
        return await self.send_reset(email, token)

    async def set_active(self, actor: Actor, user_id: int, active: bool) -> None:
        def q(s: Session) -> None:
            self.rbac.require(s, actor, "users.delete" if not active else "users.edit")
            if user_id == actor.user_id and not active:
                raise Conflict("You cannot deactivate yourself")
            user = s.get(User, user_id)
            if user is None:
                raise NotFound("No such user")
            if active and user.password_hash is None:
                raise Conflict("This user has not accepted the invitation yet")
            user.is_active = active
            if not active:
                s.execute(
                    update(AuthSession)
                    .where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
                    .values(revoked_at=utcnow())
                )
            audit.record(s, actor, "user.activate" if active else "user.deactivate", f"users/{user.username}")
            self.rbac.invalidate(user_id)

        await self.db.run(q)

    async def set_roles(self, actor: Actor, user_id: int, roles: builtins.list[str]) -> None:
        def q(s: Session) -> None:
            self.rbac.require(s, actor, "users.assign_roles")
            user = s.get(User, user_id)
            if user is None:
                raise NotFound("No such user")
            before = {r.name for r in user.roles}
            user.roles = _roles_by_name(s, roles)
            audit.record(
                s,
                actor,
                "user.roles",
                f"users/{user.username}",
                {"added": sorted(set(roles) - before), "removed": sorted(before - set(roles))},
            )
            self.rbac.invalidate(user_id)

        await self.db.run(q)

    # -- profile (the actor's own account) -------------------------------------------------

    async def update_profile(self, actor: Actor, *, display_name: str, email: str | None) -> None:
        mail = validation.email(email)

        def q(s: Session) -> None:
            user = s.get(User, actor.user_id)
            assert user is not None
            self._check_unique(s, user.username, mail, user.id)
            user.display_name = display_name.strip() or None
            user.email = mail
            audit.record(
                s, actor, "profile.update", f"users/{user.username}", {"display_name": user.display_name, "email": mail}
            )

        await self.db.run(q)

    async def generate_ssh_key(self, actor: Actor) -> str:
        """An ed25519 pair: stores the public half, returns the private half (shown once)."""
        import asyncssh

        key = asyncssh.generate_private_key("ssh-ed25519", comment=f"{actor.username}@labtui")
        public = key.export_public_key().decode().strip()
        private = key.export_private_key().decode()
        await self.set_ssh_key(actor, public, generated=True)
        return private

    async def set_ssh_key(self, actor: Actor, public_key: str | None, *, generated: bool = False) -> None:
        """Set (or with None, remove) the actor's profile key; a key another account holds,
        as its profile key or a registered one, is refused with :class:`KeyInUse`."""
        key_text = (public_key or "").strip() or None
        fingerprint = None
        if key_text:
            try:
                fingerprint = parse_key(key_text)[1]
            except ValidationError:
                raise ValidationError("That is not an OpenSSH public key", "ssh_public_key") from None

        def q(s: Session) -> None:
            user = s.get(User, actor.user_id)
            assert user is not None
            if fingerprint:
                lock_subjects(s, key_lock(fingerprint))
            user.ssh_public_key = key_text
            if fingerprint:
                s.flush()  # the write first, then the check: see ensure_sole_holder
                ensure_sole_holder(s, user.id, fingerprint)
            action = "profile.ssh_key_set" if key_text else "profile.ssh_key_removed"
            audit.record(
                s, actor, action, f"users/{user.username}", {"fingerprint": fingerprint, "generated": generated}
            )

        try:
            await self.db.run(q)
        except KeyInUse:
            await self.db.run(
                lambda s: record_refusal(s, actor, "profile.ssh_key_refused", actor.username, fingerprint or "")
            )
            raise

    async def my_ssh_key(self, actor: Actor) -> str | None:
        return await self.db.run(lambda s: s.get(User, actor.user_id).ssh_public_key)  # type: ignore[union-attr]

    async def my_sessions(self, actor: Actor) -> builtins.list[SessionInfo]:
        def q(s: Session) -> list[SessionInfo]:
            rows = s.scalars(
                select(AuthSession)
                .where(
                    AuthSession.user_id == actor.user_id,
                    AuthSession.revoked_at.is_(None),
                    AuthSession.expires_at > utcnow(),
                )
                .order_by(AuthSession.id.desc())
            )
            return [
                SessionInfo(r.id, r.origin, r.created_at, r.last_seen_at, r.expires_at, r.id == actor.session_id)
                for r in rows
            ]

        return await self.db.run(q)

    async def revoke_session(self, actor: Actor, session_id: int) -> None:
        def q(s: Session) -> None:
            row = s.get(AuthSession, session_id)
            if row is None or row.user_id != actor.user_id:
                raise NotFound("No such session")
            row.revoked_at = utcnow()
            audit.record(s, actor, "session.revoke", f"sessions/{session_id}", {"origin": row.origin})

        await self.db.run(q)


def _roles_by_name(s: Session, names: list[str]) -> list[Role]:
    rows = list(s.scalars(select(Role).where(Role.name.in_(names))))
    missing = set(names) - {r.name for r in rows}
    if missing:
        raise ValidationError(f"Unknown role(s): {', '.join(sorted(missing))}", "roles")
    return rows
