"""The terminal pane's SSH client against a real SSH server on 127.0.0.1 with a real shell:
host keys trusted on first use and refused when changed, the permission, CloudLab's
credential resolution, and the audit (connects and disconnects, never keystrokes)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from labtui.core.actor import Actor
from labtui.core.audit import AuditFilter, query_page
from labtui.core.errors import NotFound, PermissionDenied, ValidationError
from labtui.core.runtime import Core
from labtui.core.sshclient import (
    HostKeyChanged,
    RemoteShell,
    SshError,
    SshTarget,
    SshTerminals,
    resolve_from_services,
    validate_user,
)
from labtui.testing.fakes.ssh_server import FakeSshServer
from tests.conftest import add_user


@pytest.fixture
async def server(tmp_path: Path) -> AsyncIterator[FakeSshServer]:
    srv = FakeSshServer(tmp_path / "sshd")
    await srv.start()
    yield srv
    await srv.stop()


def terminals(core: Core) -> SshTerminals:
    return SshTerminals(core.db, core.rbac, lambda: core.services.root)


def target_of(server: FakeSshServer, user: str = "root") -> SshTarget:
    return SshTarget("127.0.0.1", server.port, user, str(server.client_key_file), name="lab-host")


async def read_until(shell: RemoteShell, needle: bytes, timeout: float = 10.0) -> bytes:
    seen = b""

    async def loop() -> bytes:
        nonlocal seen
        while needle not in seen:
            data = await shell.read()
            if not data:
                break
            seen += data
        return seen

    return await asyncio.wait_for(loop(), timeout)


def audit_rows(core: Core, action: str) -> list[dict[str, object]]:
    with core.db.session() as s:
        return [r.as_json() for r in query_page(s, AuditFilter(action=action), limit=100)]


async def test_first_use_stores_the_key_and_a_real_shell_answers(
    core: Core, admin: Actor, server: FakeSshServer
) -> None:
    svc = terminals(core)
    shell = await svc.open(admin, target_of(server), cols=100, rows=30)
    assert shell.first_use and shell.fingerprint == server.fingerprint
    shell.write(b"echo hel''lo; stty size\r")
    out = await read_until(shell, b"30 100")
    assert b"hello" in out
    await shell.close()

    [known] = await svc.known_hosts(admin)
    assert (known.host, known.port, known.key_type, known.fingerprint) == (
        "127.0.0.1",
        server.port,
        "ssh-ed25519",
        server.fingerprint,
    )
    assert known.added_by == "admin"
    [connect] = audit_rows(core, "ssh.connect")
    assert connect["detail"]["host_key"] == "trusted on first use"  # type: ignore[index]
    assert connect["detail"]["fingerprint"] == server.fingerprint  # type: ignore[index]
    assert connect["target"] == "ssh/lab-host"
    [disconnect] = audit_rows(core, "ssh.disconnect")
    assert disconnect["detail"]["reason"] == "closed by user"  # type: ignore[index]
    assert disconnect["detail"]["bytes_out"] > 0  # type: ignore[index]
    # Keystrokes and output never reach the audit.
    assert all("hello" not in str(r) for r in audit_rows(core, "ssh.*"))

    # The second time the key is known: same fingerprint, no new row.
    again = await svc.open(admin, target_of(server))
    assert not again.first_use
    await again.close()
    assert audit_rows(core, "ssh.connect")[0]["detail"]["host_key"] == "known"  # type: ignore[index]
    assert len(await svc.known_hosts(admin)) == 1


async def test_a_changed_host_key_is_refused_with_both_fingerprints(
    core: Core, admin: Actor, server: FakeSshServer
) -> None:
    svc = terminals(core)
    shell = await svc.open(admin, target_of(server))
    await shell.close()
    old = server.fingerprint

    await server.restart(new_host_key=True)
    new = server.fingerprint
    assert new != old
    with pytest.raises(HostKeyChanged) as refused:
        await svc.open(admin, target_of(server))
    message = str(refused.value)
    assert old in message and new in message and "CHANGED" in message
    [row] = audit_rows(core, "ssh.hostkey_refused")
    assert row["detail"]["stored"] == old and row["detail"]["presented"] == new  # type: ignore[index]
    # Nobody logged in to the impostor: the refusal comes before authentication.
    assert server.logins == ["root"]

    # Another labtui process sharing the database refuses it too.
    assert (await svc.known_hosts(admin))[0].fingerprint == old

    # After an admin forgets the old key, the new one is trusted on first use.
    assert await svc.forget_host(admin, "127.0.0.1", server.port) == old
    shell = await svc.open(admin, target_of(server))
    assert shell.first_use and shell.fingerprint == new
    await shell.close()


async def test_opening_needs_instances_ssh(core: Core, admin: Actor, server: FakeSshServer) -> None:
    viewer = await add_user(core, admin, "vera", "viewer")
    svc = terminals(core)
    with pytest.raises(PermissionDenied, match="instances.ssh"):
        await svc.open(viewer, target_of(server))
    assert server.attempts == []  # refused before any connection
    [denied] = audit_rows(core, "permission.denied")
    assert denied["username"] == "vera" and denied["detail"] == {"permission": "instances.ssh"}
    assert audit_rows(core, "ssh.connect") == []
    with pytest.raises(PermissionDenied):
        await svc.forget_host(viewer, "127.0.0.1", server.port)

    operator = await add_user(core, admin, "otto", "operator")
    shell = await svc.open(operator, target_of(server))
    await shell.close()
    assert audit_rows(core, "ssh.connect")[0]["username"] == "otto"


async def test_user_override_is_validated_and_used(core: Core, admin: Actor, server: FakeSshServer) -> None:
    for bad in ("", "root;id", "a" * 33, "-oProxyCommand=x", "with space", "ünï"):
        with pytest.raises(ValidationError):
            validate_user(bad)
    assert validate_user("deploy.user-1_x") == "deploy.user-1_x"
    svc = terminals(core)
    shell = await svc.open(admin, target_of(server).as_user("deploy"))
    await shell.close()
    assert server.logins == ["deploy"]
    with pytest.raises(ValidationError):
        target_of(server).as_user("x y")


async def test_remote_exit_ends_reads_and_the_disconnect_is_audited_once(
    core: Core, admin: Actor, server: FakeSshServer
) -> None:
    shell = await terminals(core).open(admin, target_of(server))
    shell.write(b"exit 3\r")
    await read_until(shell, b"\x00never")  # reads until the end of output
    assert await shell.read() == b""
    await shell.close("remote closed")
    await shell.close("again")
    assert shell.exit_status == 3
    [row] = audit_rows(core, "ssh.disconnect")
    assert row["detail"]["reason"] == "remote closed" and row["detail"]["exit_status"] == 3  # type: ignore[index]


async def test_failures_are_clear_and_audited(core: Core, admin: Actor, server: FakeSshServer, tmp_path: Path) -> None:
    svc = terminals(core)
    other = FakeSshServer(tmp_path / "other")  # a key the server does not authorize
    bad_key = SshTarget("127.0.0.1", server.port, "root", str(other.client_key_file))
    with pytest.raises(SshError, match="authentication failed"):
        await svc.open(admin, bad_key)
    await server.stop()
    with pytest.raises(SshError, match="Cannot open a terminal to root@lab-host"):
        await svc.open(admin, target_of(server))
    missing = SshTarget("127.0.0.1", 22, "root", str(tmp_path / "no-such-key"))
    with pytest.raises(SshError, match="Cannot use the SSH key"):
        await svc.open(admin, missing)
    reasons = [r["detail"]["reason"] for r in audit_rows(core, "ssh.connect_failed")]  # type: ignore[index]
    assert len(reasons) == 2 and "authentication failed for root" in reasons


def write_inventory(services: Path, service: str, hosts: dict[str, dict[str, object]]) -> None:
    import yaml

    out = services / service / "outputs"
    out.mkdir(parents=True)
    (out / "temp_inventory.yaml").write_text(yaml.safe_dump({"all": {"hosts": hosts}}))


async def test_credentials_resolve_as_cloudlab(core: Core, admin: Actor, server: FakeSshServer, tmp_path: Path) -> None:
    services = core.services.root
    key = str(server.client_key_file)
    write_inventory(
        services, "a-broken", {"web1": {"ansible_host": "10.9.9.9", "ansible_ssh_private_key_file": "/nonexistent"}}
    )
    write_inventory(
        services,
        "b-k3s",
        {
            "web1": {"ansible_host": "127.0.0.1", "ansible_port": server.port, "ansible_ssh_private_key_file": key},
            "db1": {"ansible_host": "10.0.0.7", "ansible_user": "ubuntu", "ansible_ssh_private_key_file": key},
        },
    )
    (services / "c-junk" / "outputs").mkdir(parents=True)
    (services / "c-junk" / "outputs" / "temp_inventory.yaml").write_text("all: [unclosed")

    web = resolve_from_services(services, "web1")
    assert web is not None
    # The entry whose key file is missing is skipped; user defaults to root.
    assert (web.host, web.port, web.username, web.key_file, web.source) == (
        "127.0.0.1",
        server.port,
        "root",
        key,
        "service:b-k3s",
    )
    db = resolve_from_services(services, "db1")
    assert db is not None and (db.host, db.port, db.username) == ("10.0.0.7", 22, "ubuntu")
    assert resolve_from_services(services, "nope") is None

    svc = terminals(core)
    with pytest.raises(NotFound, match="No SSH credentials for 'nope'"):
        await svc.resolve("nope")
    shell = await svc.open_host(admin, "web1", user="ops", cols=90, rows=20)
    shell.write(b"stty size\r")
    await read_until(shell, b"20 90")
    await shell.close()
    assert server.logins == ["ops"]
    assert audit_rows(core, "ssh.connect")[0]["detail"]["source"] == "service:b-k3s"  # type: ignore[index]


async def test_the_store_is_shared_by_processes(make_core: object, server: FakeSshServer) -> None:
    """Two Cores on one data dir (two labtui processes): a key one trusted binds the other."""
    from tests.conftest import ADMIN_PASSWORD

    first = await make_core()  # type: ignore[operator]
    await first.auth.create_admin("admin", ADMIN_PASSWORD)
    second = await make_core()  # type: ignore[operator]
    a1 = (await first.auth.login("admin", ADMIN_PASSWORD)).actor
    a2 = (await second.auth.login("admin", ADMIN_PASSWORD)).actor
    shell = await terminals(first).open(a1, target_of(server))
    await shell.close()
    await server.restart(new_host_key=True)
    with pytest.raises(HostKeyChanged):
        await terminals(second).open(a2, target_of(server))


def test_core_module_does_not_import_textual() -> None:
    import subprocess
    import sys

    code = "import sys, labtui.core.sshclient; print('textual' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
