"""Login-shell mode: OpenSSH's sshd authenticates the key, and the forced command from
``labtui users authorized-keys`` starts labtui as the key's owner."""

from __future__ import annotations

import asyncio
import os
import re
import select
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

import asyncssh
import pytest

from labtui.core.actor import Actor
from labtui.core.runtime import Core
from tests.conftest import add_user

SSHD = shutil.which("sshd") or "/usr/sbin/sshd"
pytestmark = pytest.mark.skipif(
    not (os.path.exists(SSHD) and shutil.which("ssh")), reason="OpenSSH (sshd and ssh) is not installed"
)
ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def test_authorized_keys_line_logs_the_owner_in(core: Core, admin: Actor, tmp_path: Path) -> None:
    viewer = await add_user(core, admin, "keyholder", "viewer")
    key = asyncssh.generate_private_key("ssh-ed25519")
    await core.users.set_ssh_key(viewer, key.export_public_key().decode())
    key_file = tmp_path / "id_ed25519"
    key.write_private_key(str(key_file))
    key_file.chmod(0o600)

    def through_openssh() -> None:  # blocking: sshd, ssh and a PTY, run off the event loop
        lines = subprocess.run(
            [sys.executable, "-m", "labtui", "--home", str(core.paths.home), "users", "authorized-keys"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
        assert lines.startswith("restrict,pty,command=") and "shell --user keyholder" in lines
        (tmp_path / "authorized_keys").write_text(lines)
        host_key = tmp_path / "host_key"
        subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", str(host_key)], check=True)
        port = free_port()
        config = tmp_path / "sshd_config"
        config.write_text(
            f"Port {port}\nListenAddress 127.0.0.1\nHostKey {host_key}\nPidFile {tmp_path / 'sshd.pid'}\n"
            f"AuthorizedKeysFile {tmp_path / 'authorized_keys'}\nStrictModes no\nUsePAM no\n"
            "PasswordAuthentication no\nKbdInteractiveAuthentication no\nPermitRootLogin prohibit-password\n"
            "PermitUserEnvironment no\n"
        )
        Path("/run/sshd").mkdir(mode=0o755, exist_ok=True)  # sshd's privilege-separation dir
        sshd = subprocess.Popen([SSHD, "-D", "-e", "-f", str(config)], stderr=subprocess.DEVNULL)
        try:
            deadline = time.time() + 10
            while time.time() < deadline:
                with socket.socket() as probe:
                    if probe.connect_ex(("127.0.0.1", port)) == 0:
                        break
                time.sleep(0.1)
            user = os.environ.get("USER") or "root"
            master, slave = os.openpty()
            client = subprocess.Popen(
                [
                    "ssh",
                    "-tt",
                    "-i",
                    str(key_file),
                    "-p",
                    str(port),
                    "-o",
                    "StrictHostKeyChecking=no",
                    "-o",
                    "UserKnownHostsFile=/dev/null",
                    "-o",
                    "BatchMode=yes",
                    f"{user}@127.0.0.1",
                ],
                stdin=slave,
                stdout=slave,
                stderr=slave,
                env={**os.environ, "TERM": "xterm-256color"},
            )
            os.close(slave)
            seen = b""
            end = time.time() + 40
            while b"keyholder \xc2\xb7 roles" not in ANSI.sub(b"", seen) and time.time() < end:
                ready, _, _ = select.select([master], [], [], 0.5)
                if ready:
                    try:
                        seen += os.read(master, 65536)
                    except OSError:
                        break
            client.kill()
            os.close(master)
            assert b"keyholder \xc2\xb7 roles" in ANSI.sub(b"", seen), ANSI.sub(b"", seen)[-500:]
        finally:
            sshd.terminate()
            sshd.wait(10)

    await asyncio.to_thread(through_openssh)
    logins = [(r.username, r.origin, r.detail) for r in await core.audit.page(admin) if r.action == "login"]
    assert ("keyholder", "127.0.0.1", {"method": "openssh"}) in logins
