"""Logins, lockout, sessions, and the single-use invite / reset tokens.

Every attempt is audited (``login``, ``login.failed``, ``login.locked``, ``login.lockout``)
with its origin. Messages never reveal whether an account exists.
"""

from __future__ import annotations

import datetime as dt
import logging
from dataclasses import dataclass

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from labtui.core import audit, validation
from labtui.core.actor import Actor
from labtui.core.config import AuthConfig
from labtui.core.db.base import rowcount, utcnow
from labtui.core.db.engine import Database
from labtui.core.db.locks import lock_subjects
from labtui.core.db.models import (
    AuthSession,
    Lockout,
    LoginAttempt,
    Role,
    User,
    UserToken,
)
from labtui.core.errors import AccountLocked, AuthError, Conflict
from labtui.core.passwords import (
    hash_in_thread,
    needs_rehash,
    new_token,
    token_digest,
    verify_in_thread,
)
from labtui.core.rbac import SUPER_ADMIN, Rbac

log = logging.getLogger(__name__)

BAD_LOGIN = "Invalid username or password"
BAD_TOKEN = "That token is not valid: it may be mistyped, used already, or expired"
INVITE, RESET, HANDOFF = "invite", "reset", "handoff"


@dataclass(frozen=True)
class LoginResult:
    actor: Actor
    token: str


class Auth:
    def __init__(self, db: Database, config: AuthConfig, rbac: Rbac) -> None:
        self.db = db
        self.config = config
        self.rbac = rbac

    # -- first run -------------------------------------------------------------------------

    async def setup_needed(self) -> bool:
        """True while no user exists at all: the TUI shows the setup screen."""
        return await self.db.run(lambda s: s.scalar(select(func.count(User.id))) == 0)

    async def create_admin(
        self, username: str, password: str, *, origin: str = "local", first_run_only: bool = False
    ) -> int:
        """Create an active super-admin. The setup screen passes ``first_run_only``."""
        name = validation.username(username)
        validation.password(password)
        hashed = await hash_in_thread(password)

        def q(s: Session) -> int:
            if first_run_only and s.scalar(select(func.count(User.id))):
                raise Conflict("Setup is done already: log in instead")
            if s.scalar(select(User.id).where(User.username == name)):
                raise Conflict(f"User '{name}' exists already")
            role = s.scalar(select(Role).where(Role.name == SUPER_ADMIN))
            user = User(username=name, password_hash=hashed, is_active=True, invite_accepted_at=utcnow())
            user.roles = [role] if role else []
            s.add(user)
            s.flush()
            audit.record(
                s, Actor(None, "setup" if first_run_only else "cli", origin), "user.create_admin", f"users/{name}"
            )
            return user.id

        return await self.db.run(q)

    # -- login and lockout -----------------------------------------------------------------
    # docs/auth.md: an attempt first takes a place in the count of its user name and of its
    # origin, and only an attempt that got one has its password checked.

    def _reserve(self, s: Session, subjects: list[tuple[str, str]]) -> tuple[list[int], int]:
        """Count this attempt against each subject; returns the rows written and 0, or no rows
        and the minutes to wait when a subject is locked or already has its attempts.

        The rows are written before anything is counted, in this one transaction: on SQLite
        that write takes the database's write lock, so the counts below include every attempt
        that came before and none can slip in beside it (PostgreSQL: the subject locks)."""
        lock_subjects(s, *(f"login:{scope}:{subject}" for scope, subject in subjects))
        now = utcnow()
        window = now - dt.timedelta(minutes=self.config.lockout_minutes)
        rows = [LoginAttempt(scope=scope, subject=subject, at=now) for scope, subject in subjects]
        s.add_all(rows)
        s.flush()
        minutes = self._locked_minutes(s, subjects, now)
        if not minutes and any(
            self._attempts(s, scope, subject, window) > self.config.lockout_attempts for scope, subject in subjects
        ):
            # Attempts still being checked fill the count: this one waits as if they failed.
            minutes = self.config.lockout_minutes
        if minutes:
            s.execute(delete(LoginAttempt).where(LoginAttempt.id.in_([r.id for r in rows])))
            return [], minutes
        # Rows of these subjects older than the window count no more.
        for scope, subject in subjects:
            s.execute(
                delete(LoginAttempt).where(
                    LoginAttempt.scope == scope, LoginAttempt.subject == subject, LoginAttempt.at <= window
                )
            )
        return [r.id for r in rows], 0

    @staticmethod
    def _attempts(s: Session, scope: str, subject: str, since: dt.datetime, *, failed_only: bool = False) -> int:
        stmt = select(func.count(LoginAttempt.id)).where(
            LoginAttempt.scope == scope, LoginAttempt.subject == subject, LoginAttempt.at > since
        )
        if failed_only:
            stmt = stmt.where(LoginAttempt.failed.is_(True))
        return s.scalar(stmt) or 0

    @staticmethod
    def _locked_minutes(s: Session, subjects: list[tuple[str, str]], now: dt.datetime) -> int:
        until = None
        for scope, subject in subjects:
            row = s.scalar(select(func.max(Lockout.until)).where(Lockout.scope == scope, Lockout.subject == subject))
            if row and row > now and (until is None or row > until):
                until = row
        if until is None:
            return 0
        return max(1, int((until - now).total_seconds() + 59) // 60)

    def _fail(
        self, s: Session, subjects: list[tuple[str, str]], reserved: list[int], username: str, origin: str
    ) -> int:
        """Turn this attempt's rows into failures; returns the minutes locked if they brought
        a subject to ``lockout_attempts``. A lockout clears only its own subject's failures:
        the user's and the origin's counts go on independently."""
        lock_subjects(s, *(f"login:{scope}:{subject}" for scope, subject in subjects))
        s.execute(update(LoginAttempt).where(LoginAttempt.id.in_(reserved)).values(failed=True))
        now = utcnow()
        window = now - dt.timedelta(minutes=self.config.lockout_minutes)
        locked = 0
        for scope, subject in subjects:
            count = self._attempts(s, scope, subject, window, failed_only=True)
            if count >= self.config.lockout_attempts:
                s.add(
                    Lockout(scope=scope, subject=subject, until=now + dt.timedelta(minutes=self.config.lockout_minutes))
                )
                s.execute(
                    delete(LoginAttempt).where(
                        LoginAttempt.scope == scope, LoginAttempt.subject == subject, LoginAttempt.failed.is_(True)
                    )
                )
                audit.record(
                    s,
                    Actor(None, username, origin),
                    "login.lockout",
                    f"{scope}/{subject}",
                    {"failures": count, "minutes": self.config.lockout_minutes},
                )
                locked = self.config.lockout_minutes
        return locked

    @staticmethod
    def _succeed(s: Session, subjects: list[tuple[str, str]], reserved: list[int]) -> None:
        """A right password: its own rows go, and the user's failures with them. The origin's
        failures stay: one good account must not wipe what the origin tried on others."""
        s.execute(delete(LoginAttempt).where(LoginAttempt.id.in_(reserved)))
        scope, subject = subjects[0]
        s.execute(
            delete(LoginAttempt).where(
                LoginAttempt.scope == scope, LoginAttempt.subject == subject, LoginAttempt.failed.is_(True)
            )
        )

    async def login(self, username: str, password: str, *, origin: str = "local") -> LoginResult:
        """Check credentials; raises :class:`AuthError` or :class:`AccountLocked`.

        Every attempt costs the same whether the user exists or not: one reservation, one hash
        verification (a dummy hash for unknown users), one transaction recording the outcome."""
        username = username.strip()
        subjects = _lockout_subjects(username, origin)

        def reserve(s: Session) -> tuple[User | None, list[int], int]:
            reserved, minutes = self._reserve(s, subjects)
            if minutes:
                audit.record(
                    s, Actor(None, username, origin), "login.locked", f"users/{username}", {"minutes_left": minutes}
                )
                return None, [], minutes
            return s.scalar(select(User).where(User.username == username)), reserved, 0

        user, reserved, locked = await self.db.run(reserve)
        if locked:
            raise AccountLocked(locked)
        ok = await verify_in_thread(user.password_hash if user else None, password) and bool(user and user.is_active)
        rehash = None
        if ok and user and user.password_hash and needs_rehash(user.password_hash):
            rehash = await hash_in_thread(password)

        def finish(s: Session) -> LoginResult | int:
            if not ok or user is None:
                minutes = self._fail(s, subjects, reserved, username, origin)
                audit.record(s, Actor(None, username, origin), "login.failed", f"users/{username}")
                return minutes
            self._succeed(s, subjects, reserved)
            row = s.get(User, user.id)
            assert row is not None
            row.last_login_at = utcnow()
            if rehash:
                row.password_hash = rehash
            result = self._open_session(s, row, origin)
            audit.record(
                s, result.actor, "login", f"users/{row.username}", {"rehashed": bool(rehash)} if rehash else {}
            )
            return result

        outcome = await self.db.run(finish)
        if isinstance(outcome, int):
            if outcome:
                raise AccountLocked(outcome)
            raise AuthError(BAD_LOGIN)
        return outcome

    def _open_session(self, s: Session, user: User, origin: str) -> LoginResult:
        token = new_token()
        row = AuthSession(
            user_id=user.id,
            token_hash=token_digest(token),
            origin=origin,
            expires_at=utcnow() + dt.timedelta(hours=self.config.session_hours),
        )
        s.add(row)
        s.flush()
        return LoginResult(Actor(user.id, user.username, origin, row.id), token)

    async def resume(self, token: str) -> Actor | None:
        """The actor of a live session token, or None if expired, revoked or unknown."""

        def q(s: Session) -> Actor | None:
            row = s.scalar(select(AuthSession).where(AuthSession.token_hash == token_digest(token)))
            if row is None or row.revoked_at or row.expires_at <= utcnow():
                return None
            user = s.get(User, row.user_id)
            if user is None or not user.is_active:
                return None
            row.last_seen_at = utcnow()
            return Actor(user.id, user.username, row.origin, row.id)

        return await self.db.run(q)

    async def session_alive(self, actor: Actor) -> bool:
        if actor.session_id is None:
            return actor.is_system

        def q(s: Session) -> bool:
            row = s.get(AuthSession, actor.session_id)
            return bool(row and not row.revoked_at and row.expires_at > utcnow())

        return await self.db.run(q)

    async def logout(self, actor: Actor) -> None:
        def q(s: Session) -> None:
            if actor.session_id is not None:
                s.execute(update(AuthSession).where(AuthSession.id == actor.session_id).values(revoked_at=utcnow()))
            audit.record(s, actor, "logout", f"users/{actor.username}")

        await self.db.run(q)

    async def open_session_for(self, user_id: int, origin: str) -> LoginResult:
        """A session for a user someone else authenticated (SSH key, hand-over token)."""

        def q(s: Session) -> LoginResult:
            user = s.get(User, user_id)
            if user is None or not user.is_active:
                raise AuthError(BAD_LOGIN)
            user.last_login_at = utcnow()
            return self._open_session(s, user, origin)

        return await self.db.run(q)

    # -- SSH: public keys and the hand-over to a session's TUI process -----------------------

    def _key_user(self, s: Session, username: str, public_key: str, origin: str) -> User | None:
        """The active, not locked-out user ``public_key`` is registered to, if it is ``username``."""
        from labtui.core.login_keys import keys_of
        from labtui.core.sshkeys import same_key

        user = s.scalar(select(User).where(User.username == username))
        # Locked out by password failures (user or origin): no key logs anyone in meanwhile.
        locked = self._locked_minutes(s, _lockout_subjects(username, origin), utcnow())
        if user is None or not user.is_active or locked:
            return None
        return user if any(same_key(k, public_key) for k in keys_of(s, user)) else None

    async def key_may_log_in(self, username: str, public_key: str, *, origin: str) -> bool:
        """Whether this exact key belongs to this active user: the SSH server's question for
        every key offered, probe or signed. It writes nothing (a probe proves nothing: public
        keys are public); :meth:`login_with_key` opens the session once a signature was
        verified."""
        return await self.db.run(lambda s: self._key_user(s, username, public_key, origin) is not None)

    async def login_with_key(self, username: str, public_key: str, *, origin: str) -> LoginResult:
        """An SSH public-key login, called only after the SSH server verified ``public_key``'s
        signature: the key must (still) be registered to the active user."""

        def q(s: Session) -> LoginResult:
            user = self._key_user(s, username, public_key, origin)
            if user is None:
                audit.record(
                    s, Actor(None, username, origin), "login.failed", f"users/{username}", {"method": "publickey"}
                )
                raise AuthError(BAD_LOGIN)
            user.last_login_at = utcnow()
            result = self._open_session(s, user, origin)
            audit.record(s, result.actor, "login", f"users/{user.username}", {"method": "publickey"})
            return result

        return await self.db.run(q)

    async def key_login_refused(self, username: str, *, origin: str) -> None:
        """Audit an SSH connection that offered only keys not registered to ``username``."""
        await self.db.run(
            lambda s: audit.record(
                s, Actor(None, username, origin), "login.failed", f"users/{username}", {"method": "publickey"}
            )
        )

    async def issue_handoff(self, actor: Actor, seconds: int = 30) -> str:
        """A single-use token that lets a session's TUI process take over ``actor``'s session.

        The SSH server passes it to the child over an inherited pipe, never in argv or env."""
        assert actor.user_id is not None
        uid = actor.user_id
        return await self.db.run(
            lambda s: self.issue_token(s, uid, HANDOFF, dt.timedelta(seconds=seconds), retire=False)
        )

    async def redeem_handoff(self, token: str, *, origin: str) -> LoginResult:
        def q(s: Session) -> LoginResult:
            user = self.redeem_token(s, token, HANDOFF)
            if not user.is_active:
                raise AuthError(BAD_TOKEN)
            return self._open_session(s, user, origin)

        return await self.db.run(q)

    # -- tokens ----------------------------------------------------------------------------

    def issue_token(self, s: Session, user_id: int, kind: str, lifetime: dt.timedelta, *, retire: bool = True) -> str:
        """Create a single-use token; earlier unused tokens of the same kind are retired
        (except hand-overs: one user may open several SSH sessions at once)."""
        if retire:
            s.execute(
                update(UserToken)
                .where(UserToken.user_id == user_id, UserToken.kind == kind, UserToken.used_at.is_(None))
                .values(used_at=utcnow())
            )
        token = new_token()
        s.add(UserToken(user_id=user_id, kind=kind, token_hash=token_digest(token), expires_at=utcnow() + lifetime))
        return token

    def redeem_token(self, s: Session, token: str, kind: str) -> User:
        """Mark the token used (atomically) and return its user, or raise :class:`AuthError`."""
        now = utcnow()
        row = s.scalar(select(UserToken).where(UserToken.token_hash == token_digest(token), UserToken.kind == kind))
        if row is None:
            raise AuthError(BAD_TOKEN)
        claimed = rowcount(
            s.execute(
                update(UserToken)
                .where(UserToken.id == row.id, UserToken.used_at.is_(None), UserToken.expires_at > now)
                .values(used_at=now)
            )
        )
        user = s.get(User, row.user_id)
        if not claimed or user is None:
            raise AuthError(BAD_TOKEN)
        return user

    async def redeem_invite(
        self, token: str, password: str, *, display_name: str = "", origin: str = "local"
    ) -> LoginResult:
        validation.password(password)
        hashed = await hash_in_thread(password)

        def q(s: Session) -> LoginResult:
            user = self.redeem_token(s, token, INVITE)
            user.password_hash = hashed
            user.is_active = True
            user.invite_accepted_at = utcnow()
            if display_name.strip():
                user.display_name = display_name.strip()
            result = self._open_session(s, user, origin)
            audit.record(s, result.actor, "user.invite_accepted", f"users/{user.username}")
            self.rbac.invalidate(user.id)
            return result

        try:
            return await self.db.run(q)
        except AuthError:
            await self._audit_bad_token("invite", origin)
            raise

    async def redeem_reset(self, token: str, password: str, *, origin: str = "local") -> LoginResult:
        validation.password(password)
        hashed = await hash_in_thread(password)

        def q(s: Session) -> LoginResult:
            user = self.redeem_token(s, token, RESET)
            if not user.is_active:
                raise AuthError(BAD_TOKEN)
            user.password_hash = hashed
            _revoke_sessions(s, user.id)
            result = self._open_session(s, user, origin)
            audit.record(s, result.actor, "user.password_reset", f"users/{user.username}", {"via": "token"})
            return result

        try:
            return await self.db.run(q)
        except AuthError:
            await self._audit_bad_token("reset", origin)
            raise

    async def _audit_bad_token(self, kind: str, origin: str) -> None:
        await self.db.run(lambda s: audit.record(s, Actor(None, "anonymous", origin), "token.refused", kind))

    async def request_reset(self, who: str, *, origin: str = "local") -> tuple[User, str] | None:
        """Create a reset token for an active user named or mailed ``who``.

        Returns (user, token) for the caller to mail, or None. Callers tell the person the same
        thing either way, so asking never reveals whether an account exists.
        """
        who = who.strip()

        def q(s: Session) -> tuple[User, str] | None:
            user = s.scalar(
                select(User).where((User.username == who) | (User.email == who.lower()), User.is_active.is_(True))
            )
            audit.record(
                s, Actor(None, "anonymous", origin), "password_reset.requested", "", {"matched": user is not None}
            )
            if user is None or not user.email:
                return None
            token = self.issue_token(s, user.id, RESET, dt.timedelta(minutes=self.config.reset_minutes))
            return user, token

        return await self.db.run(q)

    async def change_password(self, actor: Actor, current: str, new: str) -> None:
        validation.password(new)
        assert actor.user_id is not None
        uid = actor.user_id
        stored = await self.db.run(lambda s: s.get(User, uid).password_hash)  # type: ignore[union-attr]
        if not await verify_in_thread(stored, current):
            await self.db.run(
                lambda s: audit.record(s, actor, "user.password_change_failed", f"users/{actor.username}")
            )
            raise AuthError("The current password is wrong")
        hashed = await hash_in_thread(new)

        def q(s: Session) -> None:
            user = s.get(User, uid)
            assert user is not None
            user.password_hash = hashed
            _revoke_sessions(s, uid, keep=actor.session_id)
            audit.record(s, actor, "user.password_change", f"users/{actor.username}")

        await self.db.run(q)

    async def set_password_cli(self, username: str, password: str) -> None:
        """``labtui users reset-password``: whoever runs it owns the data dir."""
        validation.password(password)
        hashed = await hash_in_thread(password)

        def q(s: Session) -> None:
            user = s.scalar(select(User).where(User.username == username))
            if user is None:
                raise AuthError(f"No user named '{username}'")
            user.password_hash = hashed
            if user.invite_accepted_at is None:
                user.invite_accepted_at = utcnow()
            _revoke_sessions(s, user.id)
            audit.record(s, Actor(None, "cli"), "user.password_reset", f"users/{username}", {"via": "cli"})

        await self.db.run(q)


def _lockout_subjects(username: str, origin: str) -> list[tuple[str, str]]:
    """What an attempt counts against: its user name (any case, so ``Admin`` and ``admin``
    share a count), and its origin unless local (whoever runs labtui locally owns the data)."""
    subjects = [("user", username.lower()[:100])]
    if origin != "local":
        subjects.append(("origin", origin[:100]))
    return subjects


def _revoke_sessions(s: Session, user_id: int, keep: int | None = None) -> None:
    stmt = update(AuthSession).where(AuthSession.user_id == user_id, AuthSession.revoked_at.is_(None))
    if keep is not None:
        stmt = stmt.where(AuthSession.id != keep)
    s.execute(stmt.values(revoked_at=utcnow()))
