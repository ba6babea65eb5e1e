"""A public key belongs to one user, across profile keys and registered keys, through core
and through the CLI; a database that already has a shared key still starts, and
``labtui users authorized-keys`` leaves the key out. Real SQLite file, real CLI processes."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from functools import partial
from pathlib import Path

import asyncssh
import pytest
from sqlalchemy import select, update

from labtui.core.actor import Actor
from labtui.core.config import Config, DatabaseConfig
from labtui.core.db.models import AuditRecord, User, UserSshKey
from labtui.core.errors import Conflict, KeyInUse
from labtui.core.login_keys import key_holders
from labtui.core.runtime import Core, Paths
from tests.conftest import MakeCore, add_user
from tests.core.databases import BACKENDS, database_url


def new_key(comment: str = "") -> str:
    return asyncssh.generate_private_key("ssh-ed25519", comment=comment or None).export_public_key().decode().strip()


def blob(public_key: str) -> str:
    return public_key.split()[1]


def labtui(core: Core, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k != "LABTUI_HOME"}
    return subprocess.run(
        [sys.executable, "-m", "labtui", "--home", str(core.paths.home), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


@pytest.fixture
async def pair(core: Core, admin: Actor) -> tuple[Actor, Actor]:
    return await add_user(core, admin, "alice", "viewer"), await add_user(core, admin, "mallory", "viewer")


async def refusals(core: Core) -> list[tuple[str, str]]:
    rows = await core.db.run(
        lambda s: list(s.scalars(select(AuditRecord).where(AuditRecord.action.like("%ssh_key_refused"))))
    )
    return [(r.action, r.target) for r in rows]


async def test_another_users_profile_key_is_refused_as_profile_key(core: Core, pair: tuple[Actor, Actor]) -> None:
    alice, mallory = pair
    key = new_key("alice@laptop")
    await core.users.set_ssh_key(alice, key)
    # The same material under another comment and spacing is the same key.
    kind, data = key.split()[:2]
    with pytest.raises(KeyInUse) as exc:
        await core.users.set_ssh_key(mallory, f"  {kind}   {data} mallory@evil ")
    assert isinstance(exc.value, Conflict) and "alice" not in str(exc.value)
    assert await core.users.my_ssh_key(mallory) is None
    assert await refusals(core) == [("profile.ssh_key_refused", "users/mallory")]
    # Alice may set her own key again, and mallory a key of his own.
    await core.users.set_ssh_key(alice, key)
    await core.users.set_ssh_key(mallory, new_key())


async def test_a_registered_key_and_a_profile_key_exclude_each_other(
    core: Core, admin: Actor, pair: tuple[Actor, Actor]
) -> None:
    alice, mallory = pair
    profile, registered = new_key(), new_key()
    await core.users.set_ssh_key(alice, profile)
    await core.login_keys.add(alice, "alice", registered)
    with pytest.raises(KeyInUse):
        await core.login_keys.add(mallory, "mallory", profile)  # alice's profile key
    with pytest.raises(KeyInUse):
        await core.login_keys.add(admin, "mallory", registered)  # alice's registered key, by an admin
    with pytest.raises(KeyInUse):
        await core.users.set_ssh_key(mallory, registered)
    assert await core.login_keys.list(admin, "mallory") == []
    assert [a for a, _ in await refusals(core)] == [
        "user.ssh_key_refused",
        "user.ssh_key_refused",
        "profile.ssh_key_refused",
    ]
    # One user may hold a key both ways: it is still one owner.
    await core.login_keys.add(alice, "alice", profile)
    assert [
        (name, blob(k)) for name, k in await core.login_keys.authorized(Actor.system("cli")) if name == "alice"
    ] == [("alice", blob(registered)), ("alice", blob(profile))]


@pytest.mark.parametrize("backend", BACKENDS)
async def test_two_users_claiming_one_key_at_once_one_wins(make_core: MakeCore, backend: str) -> None:
    core = await make_core(Config(database=DatabaseConfig(url=database_url(backend))))
    await core.auth.create_admin("admin", "pw-Admin-123")
    admin = (await core.auth.login("admin", "pw-Admin-123")).actor
    alice, mallory = await add_user(core, admin, "alice", "viewer"), await add_user(core, admin, "mallory", "viewer")
    for _ in range(3):
        key = new_key()
        results = await asyncio.gather(
            core.users.set_ssh_key(alice, key), core.login_keys.add(mallory, "mallory", key), return_exceptions=True
        )
        refused = [r for r in results if isinstance(r, BaseException)]
        assert len(refused) == 1 and isinstance(refused[0], KeyInUse), results
        fingerprint = asyncssh.import_public_key(key).get_fingerprint()
        assert len(await core.db.run(partial(key_holders, fingerprint=fingerprint))) == 1


async def test_cli_keys_add_refuses_another_users_key_and_authorized_keys_lists_it_once(
    core: Core, pair: tuple[Actor, Actor], tmp_path: Path
) -> None:
    alice, _ = pair
    key = new_key("alice@laptop")
    await core.users.set_ssh_key(alice, key)
    pub = tmp_path / "stolen.pub"
    pub.write_text(key.replace("alice@laptop", "mallory@box") + "\n")
    added = labtui(core, "users", "keys", "add", "mallory", str(pub))
    assert added.returncode == 1 and "belongs to another account" in added.stderr and "alice" not in added.stderr
    listed = labtui(core, "users", "authorized-keys")
    assert listed.returncode == 0, listed.stderr
    lines = [line for line in listed.stdout.splitlines() if blob(key) in line]
    assert len(lines) == 1 and "shell --user alice" in lines[0]


async def test_a_database_with_a_shared_key_starts_and_authorized_keys_leaves_it_out(make_core: MakeCore) -> None:
    core = await make_core()
    await core.auth.create_admin("admin", "pw-Admin-123")
    admin = (await core.auth.login("admin", "pw-Admin-123")).actor
    alice, mallory = await add_user(core, admin, "alice", "viewer"), await add_user(core, admin, "mallory", "viewer")
    shared, own = new_key(), new_key()
    await core.users.set_ssh_key(alice, shared)
    await core.users.set_ssh_key(mallory, own)
    # Written as an older labtui (or a CloudLab import) could: the shared key under mallory
    # too, as a registered key with another comment.
    fingerprint = asyncssh.import_public_key(shared).get_fingerprint()
    await core.db.run(
        lambda s: s.add(UserSshKey(user_id=mallory.user_id, public_key=shared, fingerprint=fingerprint, comment="copy"))
    )
    await core.db.run(
        lambda s: s.execute(update(User).where(User.username == "admin").values(ssh_public_key=shared + " admin@x"))
    )
    await core.aclose()

    again = await make_core()  # starts as before
    assert await again.auth.setup_needed() is False
    listed = labtui(again, "users", "authorized-keys")
    assert listed.returncode == 0, listed.stderr
    assert blob(shared) not in listed.stdout
    assert [line.rsplit(" ", 1)[-1] for line in listed.stdout.splitlines()] == ["labtui:mallory"]
    logged = Paths(again.paths.home).log.read_text()
    assert f"key {fingerprint} is held by admin, alice, mallory: left out" in logged
