"""The lockout under attack, on a real SQLite file: user names rotated from one origin, and
many attempts at once (through core and through the real SSH server). docs/auth.md."""

from __future__ import annotations

import asyncio
import dataclasses
import sys

import asyncssh
import pytest
from sqlalchemy import select

from labtui.core.config import AuthConfig, Config, DatabaseConfig
from labtui.core.db.models import AuditRecord, Lockout
from labtui.core.errors import AccountLocked, AuthError
from labtui.core.runtime import Core
from labtui.ssh.server import SshHub, SshLimits
from tests.conftest import ADMIN_PASSWORD, MakeCore
from tests.core.databases import BACKENDS, database_url

ATTEMPTS = 5
ATTACKER = "203.0.113.66"


@pytest.fixture
async def strict(make_core: MakeCore) -> Core:
    """A core that locks after 5 failures for 5 minutes, with an admin and four more users."""
    return await strict_core(make_core, "")


@pytest.fixture(params=BACKENDS)
async def either(request: pytest.FixtureRequest, make_core: MakeCore) -> Core:
    """:func:`strict` on SQLite, and on PostgreSQL when one is given (tests/core/databases.py)."""
    return await strict_core(make_core, database_url(request.param))


async def strict_core(make_core: MakeCore, url: str) -> Core:
    config = Config(auth=AuthConfig(lockout_attempts=ATTEMPTS, lockout_minutes=5), database=DatabaseConfig(url=url))
    core = await make_core(config)
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    admin = (await core.auth.login("admin", ADMIN_PASSWORD)).actor
    for name in ("alice", "bobby", "carol", "derek"):
        await core.users.create(admin, name, f"pw-{name}-123", roles=["viewer"])
    return core


async def actions(core: Core) -> list[tuple[str, str, str]]:
    rows = await core.db.run(lambda s: list(s.scalars(select(AuditRecord).order_by(AuditRecord.id))))
    return [(r.action, r.target, r.origin) for r in rows]


async def passwords_checked(core: Core, origin: str) -> int:
    """How many passwords from ``origin`` were verified: each verification ends in exactly
    one ``login`` or ``login.failed`` record, a refusal before it in ``login.locked``."""
    return sum(1 for action, _, at in await actions(core) if at == origin and action in ("login", "login.failed"))


async def test_rotating_user_names_gets_the_origin_locked(strict: Core) -> None:
    core = strict
    outcomes = []
    for name in ("alice", "bobby", "carol", "derek"):
        for _ in range(ATTEMPTS):
            with pytest.raises(AuthError) as exc:
                await core.auth.login(name, "not-the-password", origin=ATTACKER)
            outcomes.append(type(exc.value))
    # The fifth failure locked the origin; every later attempt was refused unchecked.
    assert outcomes[: ATTEMPTS - 1] == [AuthError] * (ATTEMPTS - 1)
    assert outcomes[ATTEMPTS - 1 :] == [AccountLocked] * (len(outcomes) - ATTEMPTS + 1)
    assert await passwords_checked(core, ATTACKER) == ATTEMPTS
    assert ("login.lockout", f"origin/{ATTACKER}", ATTACKER) in await actions(core)
    # A fifth name with its right password is refused from there while the lock lasts...
    with pytest.raises(AccountLocked):
        await core.auth.login("admin", ADMIN_PASSWORD, origin=ATTACKER)
    # ...and is not locked itself elsewhere; nor are the names tried after the origin locked.
    assert (await core.auth.login("admin", ADMIN_PASSWORD, origin="198.51.100.1")).actor.username == "admin"
    assert (await core.auth.login("derek", "pw-derek-123", origin="198.51.100.1")).actor.username == "derek"


async def test_a_user_lockout_leaves_the_origin_count_alone(strict: Core) -> None:
    """Locking a user clears that user's failures only: the origin's keep counting."""
    core = strict
    for _ in range(ATTEMPTS - 1):
        with pytest.raises(AuthError):
            await core.auth.login("alice", "wrong-one", origin="local")
    with pytest.raises(AuthError):
        await core.auth.login("bobby", "wrong-one", origin=ATTACKER)
    with pytest.raises(AccountLocked):
        await core.auth.login("alice", "wrong-one", origin=ATTACKER)  # alice's 5th: alice locked
    for _ in range(ATTEMPTS - 3):
        with pytest.raises(AuthError):
            await core.auth.login("carol", "wrong-one", origin=ATTACKER)
    with pytest.raises(AccountLocked):
        await core.auth.login("derek", "wrong-one", origin=ATTACKER)  # the origin's 5th
    locks = await core.db.run(lambda s: sorted((r.scope, r.subject) for r in s.scalars(select(Lockout))))
    assert locks == [("origin", ATTACKER), ("user", "alice")]


async def test_parallel_attempts_check_at_most_the_configured_number(either: Core) -> None:
    core = either
    guesses = [f"guess-{i}" for i in range(24)] + [ADMIN_PASSWORD]
    results = await asyncio.gather(
        *(core.auth.login("admin", guess, origin=ATTACKER) for guess in guesses), return_exceptions=True
    )
    assert all(isinstance(r, AuthError) for r in results), [type(r).__name__ for r in results]
    checked = await passwords_checked(core, ATTACKER)
    assert checked <= ATTEMPTS
    assert sum(isinstance(r, AccountLocked) for r in results) >= len(guesses) - ATTEMPTS
    # The right password came last: every place in the count was taken when it asked.
    assert isinstance(results[-1], AccountLocked)
    seen = await actions(core)
    assert ("login.lockout", f"origin/{ATTACKER}", ATTACKER) in seen
    assert ("login.lockout", "user/admin", ATTACKER) in seen
    with pytest.raises(AccountLocked):
        await core.auth.login("alice", "pw-alice-123", origin=ATTACKER)


async def test_an_unknown_name_is_counted_and_locked_like_a_real_one(strict: Core) -> None:
    """No oracle in the lockout either: a name nobody has locks after the same failures."""
    core = strict
    for name in ("ghost", "admin"):
        for attempt in range(ATTEMPTS):
            with pytest.raises(AuthError) as exc:
                await core.auth.login(name, "wrong-one")
            assert isinstance(exc.value, AccountLocked) == (attempt == ATTEMPTS - 1)


async def test_a_right_password_clears_the_users_failures_not_the_origins(strict: Core) -> None:
    core = strict
    for _ in range(ATTEMPTS - 1):
        with pytest.raises(AuthError):
            await core.auth.login("alice", "wrong-one", origin=ATTACKER)
    await core.auth.login("alice", "pw-alice-123", origin=ATTACKER)
    # alice starts afresh, but the origin has spent four of its five.
    with pytest.raises(AccountLocked):
        await core.auth.login("bobby", "wrong-one", origin=ATTACKER)
    with pytest.raises(AuthError) as exc:
        await core.auth.login("alice", "wrong-one", origin="198.51.100.1")
    assert not isinstance(exc.value, AccountLocked)


async def test_parallel_ssh_password_attempts_check_at_most_the_configured_number(strict: Core) -> None:
    core = strict
    # 25 connections at once from one address: above the per-address start-up cap, which
    # would drop most of them before they try (a defence of its own, tested elsewhere).
    limits = dataclasses.replace(SshLimits.from_config(core.config.ssh), max_startups=50, max_startups_per_source=50)
    hub = SshHub(core, [sys.executable, "-m", "labtui", "--home", str(core.paths.home)], limits)
    await hub.start("127.0.0.1", 0)

    async def attempt(password: str) -> bool:
        try:
            async with asyncssh.connect(
                "127.0.0.1", hub.port, username="admin", password=password, known_hosts=None, client_keys=None
            ):
                return True
        except asyncssh.PermissionDenied:
            return False

    try:
        results = await asyncio.gather(*(attempt(f"guess-{i}") for i in range(25)))
        assert not any(results)
        assert await passwords_checked(core, "127.0.0.1") <= ATTEMPTS
        assert ("login.lockout", "origin/127.0.0.1", "127.0.0.1") in await actions(core)
        assert not await attempt(ADMIN_PASSWORD)
    finally:
        await hub.stop()
