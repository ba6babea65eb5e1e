"""Secrets at rest (docs/secrets.md): private files whatever the umask, secret values sealed
in the database file (WAL included), the upgrade sealing what older versions stored plain,
and the lab's key checked — with real CLI processes, a real ``labtui serve`` and real SQLite
files searched byte by byte."""

from __future__ import annotations

import json
import logging
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import threading
import uuid
from pathlib import Path

import asyncssh
import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session

from labtui.core.actor import Actor
from labtui.core.config import Config, SecretsConfig
from labtui.core.db.engine import Database
from labtui.core.db.inventory import InventoryObject, open_secrets
from labtui.core.db.models import InventoryType
from labtui.core.errors import StartupError
from labtui.core.inventory import adapters
from labtui.core.inventory.objects import find_duplicate
from labtui.core.runtime import Core, Paths, setup_logging
from labtui.core.secretbox import KEY_FILE, SecretBox, SecretUnreadable, new_key, parse_key
from labtui.core.workers import start_workers
from labtui.ssh.server import host_key
from tests.conftest import ADMIN_PASSWORD, MakeCore


def labtui(home: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """The real command, under the usual umask 022 (what made the files world-readable)."""
    env = {k: v for k, v in os.environ.items() if k != "LABTUI_HOME"}
    return subprocess.run(
        [sys.executable, "-m", "labtui", "--home", str(home), *args],
        input=stdin,
        capture_output=True,
        text=True,
        env=env,
        timeout=180,
        check=False,
        umask=0o022,
    )


def mode(path: Path) -> str:
    return stat.filemode(path.stat().st_mode)


def stored_bytes(db: Path) -> bytes:
    """What ``grep -a`` searches: the database file and its side files, as bytes."""
    return b"".join(
        p.read_bytes() for p in (db, db.with_name(db.name + "-wal"), db.with_name(db.name + "-shm")) if p.exists()
    )


def test_init_cli_and_serve_keep_their_files_private_under_umask_022(tmp_path: Path) -> None:
    home = tmp_path / "home"
    made = labtui(home, "init")
    assert made.returncode == 0, made.stderr
    key_file = home / KEY_FILE
    assert (mode(home), mode(home / "config.yaml"), mode(key_file)) == ("drwx------", "-rw-------", "-rw-------")
    assert f"${{file:{key_file}}}" in (home / "config.yaml").read_text()  # the config points at the key
    parse_key(key_file.read_text())
    created = labtui(home, "users", "create-admin", "admin", "--password-stdin", stdin=f"{ADMIN_PASSWORD}\n")
    assert created.returncode == 0, created.stderr
    assert (mode(home / "labtui.db"), mode(home / "labtui.log")) == ("-rw-------", "-rw-------")
    # labtui serve, with the SSH server (its host key): the running database's WAL and shm too.
    env = {k: v for k, v in os.environ.items() if k != "LABTUI_HOME"}
    serve = subprocess.Popen(
        [sys.executable, "-m", "labtui", "--home", str(home), "serve", "--no-scheduler", "--ssh", "127.0.0.1:0"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        umask=0o022,
    )
    watchdog = threading.Timer(120, serve.kill)
    watchdog.start()
    try:
        assert serve.stderr is not None
        seen = []
        for line in serve.stderr:
            seen.append(line)
            if "host key" in line:
                break
        assert any("host key" in line for line in seen), "".join(seen)
        db = home / "labtui.db"
        modes = {
            p.name: mode(p)
            for p in (db, db.with_name("labtui.db-wal"), db.with_name("labtui.db-shm"), home / "labtui.log")
        }
        assert modes == dict.fromkeys(["labtui.db", "labtui.db-wal", "labtui.db-shm", "labtui.log"], "-rw-------")
        host = home / "ssh_host_ed25519_key"
        assert mode(host) == "-rw-------"
        assert host.read_text().startswith("enc:v1:") and b"PRIVATE KEY" not in host.read_bytes()
    finally:
        serve.send_signal(signal.SIGTERM)
        serve.wait(timeout=60)
        watchdog.cancel()
    assert serve.returncode == 0


def test_a_lab_without_a_key_makes_one_and_says_so(tmp_path: Path) -> None:
    home = tmp_path / "home"
    created = labtui(home, "users", "create-admin", "admin", "--password-stdin", stdin=f"{ADMIN_PASSWORD}\n")
    assert created.returncode == 0, created.stderr
    key_file = home / KEY_FILE
    assert mode(key_file) == "-rw-------" and mode(home) == "drwx------"
    key = key_file.read_text().strip()
    log = (home / "labtui.log").read_text()
    assert f"made {key_file} (0600)" in log and key not in log
    # The next process uses the same key (the database's key id matches).
    listed = labtui(home, "users", "list", "--json")
    assert listed.returncode == 0, listed.stderr


async def credential_output(core: Core, value: str) -> None:
    """A service's credential output, synced into the inventory as the deploy hook does."""
    outputs = core.lab_dir / "services" / "hello" / "outputs" / "service_outputs.yaml"
    outputs.parent.mkdir(parents=True, exist_ok=True)
    outputs.write_text(
        json.dumps(
            {
                "outputs": [
                    {
                        "name": "db_password",
                        "type": "credential",
                        "label": "DB password",
                        "username": "root",
                        "value": value,
                    },
                ]
            }
        )
    )
    counts = await adapters.sync_credentials(core, core.inventory_types["credential"], "hello")
    assert counts["added"] == 1


async def test_no_secret_value_in_the_database_file(core: Core, admin: Actor) -> None:
    field_value = f"Field-Secret-{uuid.uuid4().hex}"
    output_value = f"Output-Secret-{uuid.uuid4().hex}"
    cred = await core.inventory.create(admin, "credential", {"name": "db", "username": "root", "secret": field_value})
    await credential_output(core, output_value)
    db = core.paths.database
    assert db.with_name("labtui.db-wal").stat().st_size > 0  # the writes are still in the WAL
    on_disk = stored_bytes(db)
    assert field_value.encode() not in on_disk and output_value.encode() not in on_disk
    assert b"enc:v1:" + core.secrets.key_id.encode() in on_disk
    # Still read back, revealed and replaced through core.
    assert await core.inventory.reveal(admin, cred.id, "secret") == field_value
    synced = [o for o in (await core.inventory.list(admin, type="credential")).items if o.id != cred.id]
    assert await core.inventory.reveal(admin, synced[0].id, "secret") == output_value
    replaced = f"Replaced-{uuid.uuid4().hex}"
    await core.inventory.update(admin, cred.id, {"secret": replaced})
    assert await core.inventory.reveal(admin, cred.id, "secret") == replaced
    assert replaced.encode() not in stored_bytes(db)
    log = core.paths.log
    assert not log.exists() or all(v not in log.read_text() for v in (field_value, output_value, replaced))


async def test_a_unique_secret_field_still_finds_its_duplicate(core: Core, admin: Actor) -> None:
    """Sealed values differ even when equal: the duplicate check opens them to compare."""
    a = await core.inventory.create(admin, "credential", {"name": "a", "secret": "same-value-1"})
    await core.inventory.create(admin, "credential", {"name": "b", "secret": "other-value-2"})
    field = core.inventory_types["credential"].field("secret")
    assert field is not None

    def q(s: Session) -> tuple[int | None, int | None, int | None]:
        type_id = s.scalar(select(InventoryType.id).where(InventoryType.slug == "credential"))
        assert type_id is not None and field is not None
        return (
            find_duplicate(s, type_id, field, "same-value-1"),
            find_duplicate(s, type_id, field, "same-value-1", exclude_id=a.id),
            find_duplicate(s, type_id, field, "nowhere-3"),
        )

    assert await core.db.run(q) == (a.id, None, None)


async def test_a_job_data_dir_is_private_under_umask_022(core: Core, admin: Actor) -> None:
    """(The job worker made its dirs 0700 already; pinned with the data dir around them.)"""
    old = os.umask(0o022)
    workers = await start_workers(core)
    try:
        job = await core.jobs.run_script(admin, "greet", "greet", {"name": "Ada", "mood": "calm", "tags": ["x"]})
        done = await core.jobs.wait(admin, job.id, timeout=90)
    finally:
        await workers.stop()
        os.umask(old)
    assert done.status == "completed"
    job_dir = core.jobs.jobs_dir / job.id
    assert (mode(core.paths.home), mode(job_dir)) == ("drwx------", "drwx------")


def make_old_database(home: Path, values: dict[str, str]) -> int:
    """A data dir as older versions left it: the secret values plain in the row (and in the
    file's pages), no record of a key or of a sealing pass, a plain host key file."""
    con = sqlite3.connect(home / "labtui.db")
    try:
        object_id = con.execute(
            "SELECT id FROM inventory_objects WHERE secrets != '{}' ORDER BY id LIMIT 1"
        ).fetchone()[0]
        con.execute("UPDATE inventory_objects SET secrets = ? WHERE id = ?", (json.dumps(values), object_id))
        con.execute("DELETE FROM app_metadata WHERE key IN ('secrets_key_id', 'secrets_sealed')")
        con.commit()
    finally:
        con.close()
    (home / KEY_FILE).unlink()
    (home / "labtui.log").write_text("an old log\n")
    for path, old_mode in ((home, 0o755), (home / "labtui.db", 0o644), (home / "labtui.log", 0o644)):
        os.chmod(path, old_mode)
    plain_key = asyncssh.generate_private_key("ssh-ed25519")
    (home / "ssh_host_ed25519_key").write_bytes(plain_key.export_private_key())
    return int(object_id)


async def test_the_upgrade_seals_plain_values_of_an_old_database(make_core: MakeCore, tmp_path: Path) -> None:
    core = await make_core()
    await core.auth.create_admin("admin", ADMIN_PASSWORD)
    admin = (await core.auth.login("admin", ADMIN_PASSWORD)).actor
    await core.inventory.create(admin, "credential", {"name": "db", "username": "root", "secret": "placeholder"})
    await core.aclose()
    home = tmp_path / "home"
    legacy = f"Legacy-Plain-{uuid.uuid4().hex}"
    object_id = make_old_database(home, {"secret": legacy})
    old_fingerprint = asyncssh.import_private_key((home / "ssh_host_ed25519_key").read_bytes()).get_fingerprint()
    assert legacy.encode() in stored_bytes(home / "labtui.db")

    core = await make_core()
    root = logging.getLogger("labtui")
    before = (list(root.handlers), root.level, root.propagate)
    setup_logging(core.paths)
    for handler in set(root.handlers) - set(before[0]):  # the logger as the other tests have it
        root.removeHandler(handler)
        handler.close()
    root.setLevel(before[1])
    root.propagate = before[2]
    assert (mode(home), mode(home / "labtui.db"), mode(home / "labtui.log")) == (
        "drwx------",
        "-rw-------",
        "-rw-------",
    )
    assert legacy.encode() not in stored_bytes(home / "labtui.db"), (
        "the plain bytes are wiped from the file, WAL included"
    )
    stored = await core.db.run(lambda s: s.get(InventoryObject, object_id).secrets)
    assert SecretBox.is_sealed(json.loads(stored)["secret"])
    admin = (await core.auth.login("admin", ADMIN_PASSWORD)).actor
    assert await core.inventory.reveal(admin, object_id, "secret") == legacy
    assert await core.db.run(lambda s: open_secrets(s, s.get(InventoryObject, object_id).secrets)) == {"secret": legacy}
    # The old plain host key is sealed in place, and is the same key.
    key = host_key(home)
    assert key.get_fingerprint() == old_fingerprint
    assert (home / "ssh_host_ed25519_key").read_text().startswith("enc:v1:") and mode(
        home / "ssh_host_ed25519_key"
    ) == "-rw-------"
    assert host_key(home).get_fingerprint() == old_fingerprint


async def test_another_key_is_refused_at_startup(make_core: MakeCore, core: Core, admin: Actor) -> None:
    await core.inventory.create(admin, "credential", {"name": "db", "secret": "value-1"})
    other = SecretsConfig(key=new_key())
    wrong = Core(Config(secrets=other), core.paths)
    try:
        with pytest.raises(StartupError, match=rf"secrets key \(id {wrong.secrets.key_id}\) is not the key"):
            await wrong.start()
    finally:
        await wrong.aclose()
    # The right key, given in the config, opens the values.
    same = SecretsConfig(key=(core.paths.home / KEY_FILE).read_text())
    second = await make_core(Config(secrets=same))
    assert second.secrets.key_id == core.secrets.key_id


def test_sealed_values_are_bound_to_key_and_purpose() -> None:
    box = SecretBox(parse_key(new_key()))
    sealed = box.seal("totp-seed-XYZ", "totp")
    assert "totp-seed-XYZ" not in sealed and box.open(sealed, "totp") == "totp-seed-XYZ"
    assert box.seal("totp-seed-XYZ", "totp") != sealed  # a fresh nonce each time
    with pytest.raises(SecretUnreadable, match="damaged"):
        box.open(sealed, "inventory.secret")  # pasted into another place: does not open
    with pytest.raises(SecretUnreadable, match="not this lab's key"):
        SecretBox(parse_key(new_key())).open(sealed, "totp")
    assert box.open("legacy plain", "totp") == "legacy plain"
    assert repr(box) == f"SecretBox(key_id={box.key_id!r})"


def test_the_database_file_is_private_before_sqlite_makes_it(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'labtui.db'}")
    assert mode(tmp_path / "labtui.db") == "-rw-------"
    db.dispose()
    core = Core(Config(), Paths(tmp_path / "home"))
    try:
        assert core.db.file == core.paths.database and mode(core.paths.home) == "drwx------"
    finally:
        core.db.dispose()
