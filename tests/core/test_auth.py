"""Logins, lockout, sessions and single-use tokens, on a real SQLite file."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from sqlalchemy import select, update

from labtui.core.actor import Actor
from labtui.core.config import AuthConfig, Config
from labtui.core.db.models import AuditRecord, User, UserToken
from labtui.core.errors import AccountLocked, AuthError, Conflict, ValidationError
from labtui.core.runtime import Core
from tests.conftest import ADMIN_PASSWORD, MakeCore


async def audit_rows(core: Core) -> list[AuditRecord]:
    return await core.db.run(lambda s: list(s.scalars(select(AuditRecord).order_by(AuditRecord.id))))


async def test_setup_then_login_is_audited(core: Core) -> None:
    assert await core.auth.setup_needed()
    await core.auth.create_admin("admin", ADMIN_PASSWORD, first_run_only=True)
    assert not await core.auth.setup_needed()
    with pytest.raises(Conflict):
        await core.auth.create_admin("other", ADMIN_PASSWORD, first_run_only=True)
    result = await core.auth.login("admin", ADMIN_PASSWORD)
    assert result.actor.username == "admin" and result.actor.session_id
    assert await core.auth.resume(result.token) == result.actor
    last = (await audit_rows(core))[-1]
    assert (last.action, last.username, last.origin) == ("login", "admin", "local")


async def test_stored_hash_is_argon2id(core: Core, admin: Actor) -> None:
    stored = await core.db.run(lambda s: s.scalar(select(User.password_hash).where(User.username == "admin")))
    assert stored.startswith("$argon2id$") and ADMIN_PASSWORD not in stored


async def test_wrong_password_never_says_which_part(core: Core, admin: Actor) -> None:
    with pytest.raises(AuthError) as wrong_pw:
        await core.auth.login("admin", "nope-nope")
    with pytest.raises(AuthError) as no_user:
        await core.auth.login("ghost", "nope-nope")
    assert str(wrong_pw.value) == str(no_user.value)


async def test_five_failures_lock_the_user_then_lock_expires(make_core: MakeCore) -> None:
    core = await make_core(Config(auth=AuthConfig(lockout_attempts=5, lockout_minutes=5)))
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    for _ in range(4):
        with pytest.raises(AuthError) as exc:
            await core.auth.login("admin", "wrong", origin="10.0.0.9")
        assert not isinstance(exc.value, AccountLocked)
    with pytest.raises(AccountLocked, match="locked, try again in 5 minutes"):
        await core.auth.login("admin", "wrong", origin="10.0.0.9")
    # Even the right password is refused while locked.
    with pytest.raises(AccountLocked):
        await core.auth.login("admin", ADMIN_PASSWORD)
    actions = [(r.action, r.origin) for r in await audit_rows(core)]
    assert actions.count(("login.failed", "10.0.0.9")) == 5
    assert ("login.lockout", "10.0.0.9") in actions and ("login.locked", "local") in actions
    # Expire the lockout: the right password works again.
    from labtui.core.db.models import Lockout

    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    await core.db.run(lambda s: s.execute(update(Lockout).values(until=past)))
    assert (await core.auth.login("admin", ADMIN_PASSWORD)).actor.username == "admin"


async def test_failures_from_one_origin_lock_that_origin(make_core: MakeCore) -> None:
    core = await make_core(Config(auth=AuthConfig(lockout_attempts=3, lockout_minutes=5)))
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    for name in ("alice", "bobby", "carol"):
        with pytest.raises(AuthError):
            await core.auth.login(name, "wrong", origin="192.0.2.7")
    with pytest.raises(AccountLocked):
        await core.auth.login("admin", ADMIN_PASSWORD, origin="192.0.2.7")
    assert (await core.auth.login("admin", ADMIN_PASSWORD, origin="192.0.2.8")).actor


async def test_invite_token_is_single_use_and_hashed(core: Core, admin: Actor) -> None:
    delivery = await core.users.invite(admin, "bob", "Bob@Example.org", roles=["viewer"])
    assert delivery.token and not delivery.emailed
    stored = await core.db.run(lambda s: [t.token_hash for t in s.scalars(select(UserToken))])
    assert delivery.token not in stored
    result = await core.auth.redeem_invite(delivery.token, "bob-password-1", origin="192.0.2.1")
    assert result.actor.username == "bob"
    with pytest.raises(AuthError):
        await core.auth.redeem_invite(delivery.token, "bob-password-2")
    assert (await core.auth.login("bob", "bob-password-1")).actor.username == "bob"
    # The token appears nowhere in the audit log.
    dump = json.dumps([(r.action, r.target, r.detail) for r in await audit_rows(core)])
    assert delivery.token not in dump and "bob-password-1" not in dump


async def test_expired_invite_fails(core: Core, admin: Actor) -> None:
    delivery = await core.users.invite(admin, "carol", "carol@example.org", roles=[])
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    await core.db.run(lambda s: s.execute(update(UserToken).values(expires_at=past)))
    with pytest.raises(AuthError):
        await core.auth.redeem_invite(delivery.token or "", "carol-password")


async def test_reset_token_expires_in_an_hour_and_revokes_sessions(core: Core, admin: Actor) -> None:
    await core.users.update_profile(admin, display_name="Admin", email="admin@example.org")
    found = await core.auth.request_reset("admin@example.org")
    assert found is not None
    user, token = found
    row = await core.db.run(lambda s: s.scalar(select(UserToken).where(UserToken.kind == "reset")))
    assert dt.timedelta(minutes=59) < row.expires_at - row.created_at <= dt.timedelta(minutes=60)
    await core.auth.redeem_reset(token, "new-password-1")
    assert not await core.auth.session_alive(admin)
    with pytest.raises(AuthError):
        await core.auth.login("admin", ADMIN_PASSWORD)
    assert await core.auth.request_reset("nobody@example.org") is None


async def test_a_newer_reset_retires_the_older_token(core: Core, admin: Actor) -> None:
    await core.users.update_profile(admin, display_name="", email="admin@example.org")
    first = await core.auth.request_reset("admin")
    second = await core.auth.request_reset("admin")
    assert first and second
    with pytest.raises(AuthError):
        await core.auth.redeem_reset(first[1], "new-password-1")
    await core.auth.redeem_reset(second[1], "new-password-2")


async def test_password_change_revokes_other_sessions(core: Core, admin: Actor) -> None:
    other = (await core.auth.login("admin", ADMIN_PASSWORD, origin="198.51.100.4")).actor
    with pytest.raises(AuthError):
        await core.auth.change_password(admin, "wrong-current", "new-password-1")
    await core.auth.change_password(admin, ADMIN_PASSWORD, "new-password-1")
    assert await core.auth.session_alive(admin)
    assert not await core.auth.session_alive(other)


async def test_logout_revokes_session(core: Core, admin: Actor) -> None:
    await core.auth.logout(admin)
    assert not await core.auth.session_alive(admin)


@pytest.mark.parametrize(
    ("username", "password", "field"),
    [("ab", "long-enough", "username"), ("bad name", "long-enough", "username"), ("goodname", "short", "password")],
)
async def test_identifier_rules(core: Core, username: str, password: str, field: str) -> None:
    with pytest.raises(ValidationError) as exc:
        await core.auth.create_admin(username, password)
    assert exc.value.field == field


async def test_deactivated_user_cannot_log_in_and_sessions_end(core: Core, admin: Actor) -> None:
    from tests.conftest import add_user

    bob = await add_user(core, admin, "bob", "viewer")
    with pytest.raises(Conflict):
        await core.users.set_active(admin, admin.user_id or 0, False)
    await core.users.set_active(admin, bob.user_id or 0, False)
    assert not await core.auth.session_alive(bob)
    with pytest.raises(AuthError):
        await core.auth.login("bob", "password-123")


async def test_join_is_reserved_for_the_ssh_join_login(core: Core, admin: Actor) -> None:
    for name in ("join", "JOIN"):
        with pytest.raises(ValidationError, match="reserved for SSH logins"):
            await core.users.create(admin, name, "pw-Join-12345", roles=["viewer"])
        with pytest.raises(ValidationError, match="reserved for SSH logins"):
            await core.users.invite(admin, name, "join@lab.example", roles=["viewer"])
