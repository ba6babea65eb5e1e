"""The executors against real local sockets: http, tcp, icmp, ssh_command; target resolution."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import asyncssh
import pytest

from labtui.core.health.checks import NotDeployed, Prober, endpoint
from labtui.core.health.definitions import CheckDef
from labtui.core.health.targets import HostMap, TargetSource
from labtui.testing.fakes.http_target import HttpTarget


def check(kind: str, **kw: Any) -> CheckDef:
    defaults: dict[str, Any] = {"service": "svc", "name": kind, "type": kind, "interval": 1.0, "timeout": 2.0}
    defaults.update(kw)
    return CheckDef(**defaults)


@pytest.fixture
async def prober(tmp_path: Path) -> AsyncIterator[Prober]:
    p = Prober(tmp_path / "known_hosts")
    yield p
    await p.aclose()


def closed_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


NO_HOSTS = HostMap.empty()


async def test_http_healthy_wrong_status_body_regex_and_redirect(prober: Prober) -> None:
    with HttpTarget(body="all systems go") as web:
        ok = await prober.run(check("http", url=web.url), NO_HOSTS)
        assert ok.status == "healthy" and ok.status_code == 200 and ok.latency_ms is not None and ok.target == web.url
        moved = await prober.run(check("http", url=web.url + "old"), NO_HOSTS)
        assert moved.status == "healthy" and moved.status_code == 200  # the redirect was followed
        body = await prober.run(check("http", url=web.url, body_regex="go$"), NO_HOSTS)
        assert body.status == "healthy"
        nobody = await prober.run(check("http", url=web.url, body_regex="^down"), NO_HOSTS)
        assert nobody.status == "unhealthy" and nobody.error == "Body does not match /^down/"
        web.status = 503
        bad = await prober.run(check("http", url=web.url), NO_HOSTS)
        assert (bad.status, bad.status_code, bad.error) == ("unhealthy", 503, "Expected status 200, got 503")
        assert (await prober.run(check("http", url=web.url, expected_status=503), NO_HOSTS)).status == "healthy"
    gone = await prober.run(check("http", url=web.url), NO_HOSTS)
    assert gone.status == "unhealthy" and gone.status_code is None and gone.error


async def test_tcp_closed_port_unhealthy_listening_healthy(prober: Prober) -> None:
    port = closed_port()
    down = await prober.run(check("tcp", host="127.0.0.1", port=port), NO_HOSTS)
    assert down.status == "unhealthy" and down.target == f"127.0.0.1:{port}" and down.error

    server = await asyncio.start_server(lambda r, w: w.close(), "127.0.0.1", 0)
    try:
        port = server.sockets[0].getsockname()[1]
        up = await prober.run(check("tcp", host="127.0.0.1", port=port), NO_HOSTS)
        assert up.status == "healthy" and up.latency_ms is not None and up.error is None
    finally:
        server.close()
        await server.wait_closed()


async def test_icmp_loopback_healthy_or_unknown_with_reason(prober: Prober) -> None:
    result = await prober.run(check("icmp", host="127.0.0.1"), NO_HOSTS)
    if prober.icmp_privileged is None:
        # ICMP is not permitted on this system: said as unknown with the reason, never unhealthy.
        assert result.status == "unknown" and "ICMP not permitted" in (result.error or "")
    else:
        assert result.status == "healthy" and result.latency_ms is not None
    # The probe runs once; a second check reuses its verdict.
    again = await prober.run(check("icmp", host="127.0.0.1"), NO_HOSTS)
    assert again.status == result.status


def _process(process: Any) -> None:
    """The local SSH server's commands: ``echo ok``, ``fail`` (exit 3), anything else echoed."""
    command = process.command or ""
    if command == "echo ok":
        process.stdout.write("ok\n")
        process.exit(0)
    elif command == "fail":
        process.stderr.write("boom\n")
        process.exit(3)
    else:
        process.stdout.write(f"ran {command}\n")
        process.exit(0)


class SshServer:
    def __init__(self, tmp: Path) -> None:
        self.host_key = asyncssh.generate_private_key("ssh-ed25519")
        self.client_key = asyncssh.generate_private_key("ssh-ed25519")
        self.key_file = tmp / "id_ed25519"
        self.key_file.write_bytes(self.client_key.export_private_key())
        self.key_file.chmod(0o600)
        self.users: list[str] = []
        self.port = 0
        self._server: Any = None

    async def start(self, host_key: Any = None) -> None:
        server = self

        class Server(asyncssh.SSHServer):  # type: ignore[misc]
            def begin_auth(self, username: str) -> bool:
                server.users.append(username)
                return True

        self._server = await asyncssh.create_server(
            Server,
            "127.0.0.1",
            self.port,
            server_host_keys=[host_key or self.host_key],
            authorized_client_keys=asyncssh.import_authorized_keys(self.client_key.export_public_key().decode()),
            process_factory=_process,
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        self._server.close()
        await self._server.wait_closed()


@pytest.fixture
async def ssh_server(tmp_path: Path) -> AsyncIterator[SshServer]:
    server = SshServer(tmp_path)
    await server.start()
    yield server
    await server.stop()


async def test_ssh_command_healthy_with_host_key_trusted_on_first_use(
    prober: Prober, ssh_server: SshServer, tmp_path: Path
) -> None:
    c = check(
        "ssh_command", host="127.0.0.1", port=ssh_server.port, key_file=str(ssh_server.key_file), expected_output="ok"
    )
    result = await prober.run(c, NO_HOSTS)
    assert result.status == "healthy", result.error
    assert result.target == f"root@127.0.0.1:{ssh_server.port}" and ssh_server.users == ["root"]
    stored = (tmp_path / "known_hosts").read_text()
    assert stored.startswith(f"[127.0.0.1]:{ssh_server.port} ssh-ed25519 ")
    assert (tmp_path / "known_hosts").stat().st_mode & 0o777 == 0o600
    # Checked against the stored key from now on (no second line added).
    assert (await prober.run(c, NO_HOSTS)).status == "healthy"
    assert (tmp_path / "known_hosts").read_text() == stored

    wrong = await prober.run(
        check(
            "ssh_command",
            host="127.0.0.1",
            port=ssh_server.port,
            key_file=str(ssh_server.key_file),
            expected_output="nope",
        ),
        NO_HOSTS,
    )
    assert wrong.status == "unhealthy" and wrong.error == "Expected 'nope' in output, got: ok"
    failed = await prober.run(
        check(
            "ssh_command",
            host="127.0.0.1",
            port=ssh_server.port,
            key_file=str(ssh_server.key_file),
            command="fail",
            user="deploy",
        ),
        NO_HOSTS,
    )
    assert failed.status == "unhealthy" and failed.error == "Exit code 3: boom" and ssh_server.users[-1] == "deploy"


async def test_ssh_changed_host_key_is_refused(prober: Prober, ssh_server: SshServer) -> None:
    c = check("ssh_command", host="127.0.0.1", port=ssh_server.port, key_file=str(ssh_server.key_file))
    assert (await prober.run(c, NO_HOSTS)).status == "healthy"
    await ssh_server.stop()
    await ssh_server.start(host_key=asyncssh.generate_private_key("ssh-ed25519"))  # "rebuilt" host, same port
    result = await prober.run(c, NO_HOSTS)
    assert result.status == "unhealthy" and "does not match the one stored" in (result.error or "")


INVENTORY = """\
all:
  hosts:
    web-1:
      ansible_host: 127.0.0.1
      vultr_tags: [shop, frontend]
      ansible_ssh_private_key_file: keys/web.key
      ansible_port: {port}
    web-2:
      ansible_host: 127.0.0.2
      vultr_tags: [shop]
  children:
    db:
      hosts:
        db-1: {{ansible_host: 10.0.0.9}}
"""


def test_target_resolution_from_the_instance_cache(tmp_path: Path) -> None:
    (tmp_path / "inventory").mkdir()
    (tmp_path / "inventory" / "vultr.yml").write_text(INVENTORY.format(port=2222))
    (tmp_path / "config.yml").write_text("domain_name: lab.example\n")
    hosts = TargetSource(tmp_path).current_sync()
    assert hosts.get("shop").hostname == "web-1"  # first host wins for a tag
    assert hosts.get("web-2").ip == "127.0.0.2"  # by hostname
    assert hosts.get("db-1").ip == "10.0.0.9"  # hosts only under children are found too
    assert hosts.get("cart") is None

    ep = endpoint(check("http", service="shop", path="/health"), hosts)
    assert ep.url == "https://web-1.lab.example/health"  # CloudLab: https://<fqdn><path>
    assert endpoint(check("tcp", service="shop", port=80), hosts).describe("tcp") == "127.0.0.1:80"
    ssh = endpoint(check("ssh_command", service="shop"), hosts, tmp_path)
    assert (ssh.user, ssh.port, ssh.key_file) == ("root", 2222, str(tmp_path / "keys" / "web.key"))
    with pytest.raises(NotDeployed):
        endpoint(check("icmp", service="cart"), hosts)
    # An explicit target runs whether or not the service is deployed.
    assert endpoint(check("icmp", service="cart", host="127.0.0.1"), hosts).host == "127.0.0.1"
    assert endpoint(check("http", service="cart", url="http://127.0.0.1:9/x"), hosts).url == "http://127.0.0.1:9/x"


async def test_ssh_check_through_the_cache_uses_the_inventory_key(
    prober: Prober, ssh_server: SshServer, tmp_path: Path
) -> None:
    lab = tmp_path / "lab"
    (lab / "inventory").mkdir(parents=True)
    (lab / "keys").mkdir()
    (lab / "keys" / "web.key").write_bytes(ssh_server.key_file.read_bytes())
    (lab / "keys" / "web.key").chmod(0o600)
    (lab / "inventory" / "vultr.yml").write_text(INVENTORY.format(port=ssh_server.port))
    hosts = TargetSource(lab).current_sync()
    prober.lab_dir = lab
    result = await prober.run(check("ssh_command", service="shop"), hosts)
    assert result.status == "healthy", result.error
    missing = await prober.run(check("ssh_command", service="cart"), hosts)
    assert missing.status == "unknown" and "not deployed" in (missing.error or "")


async def test_password_in_a_url_is_never_stored_or_shown(prober: Prober) -> None:
    with HttpTarget() as web:
        url = web.url.replace("http://", "http://bob:s3cret@")
        result = await prober.run(check("http", url=url), NO_HOSTS)
    assert result.status == "healthy"
    assert result.target == web.url.replace("http://", "http://bob:***@") and "s3cret" not in result.target


ICMP_IN_CHILD = """
import asyncio, json
from pathlib import Path
from labtui.core.health.checks import Prober
from labtui.core.health.definitions import CheckDef
from labtui.core.health.targets import HostMap

async def main():
    prober = Prober(Path("unused"))
    c = CheckDef(service="s", name="ping", type="icmp", interval=1, timeout=1, host="127.0.0.1")
    print(json.dumps((await prober.run(c, HostMap.empty())).as_json()))

asyncio.run(main())
"""


def _group_may_ping() -> bool:
    try:
        low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ping_group_range").read_text().split())
    except (OSError, ValueError):
        return False
    return low <= os.getgid() <= high


@pytest.mark.skipif(
    shutil.which("setpriv") is None or os.geteuid() != 0 or _group_may_ping(),
    reason="needs root, setpriv, and a ping_group_range that excludes this group",
)
def test_icmp_not_permitted_is_unknown_with_the_reason() -> None:
    # A real process without CAP_NET_RAW (dropped from its bounding set) on a system whose
    # ping_group_range refuses unprivileged ICMP sockets: the check must say unknown and why.
    out = subprocess.run(
        ["setpriv", "--bounding-set=-net_raw", sys.executable, "-c", ICMP_IN_CHILD],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    result = json.loads(out.strip().splitlines()[-1])
    assert result["status"] == "unknown"
    assert "ICMP not permitted here: net.ipv4.ping_group_range is" in result["error"]
