"""The SSH client behind the terminal pane: credentials, host-key trust and the audit.

The TUI's terminal widget only moves bytes and draws them; everything that needs a rule
lives here, without Textual:

- **Credentials** resolve as CloudLab's ``resolve_ssh_credentials`` (docs/cloudlab.md): the
  first ``<lab>/services/*/outputs/temp_inventory.yaml`` (in name order, where CloudLab had
  none) whose ``all.hosts`` has the host and whose ``ansible_ssh_private_key_file`` exists
  gives address, user (default ``root``) and key. Callers with their own fields (an
  inventory object) build an :class:`SshTarget` directly. A user override must match
  ``^[a-zA-Z0-9._-]{1,32}$``.
- **Host keys** are trusted on first use and stored in ``ssh_known_hosts`` (shared by every
  labtui process); a different key later is refused with both fingerprints. Checking is
  never disabled (CloudLab's ``known_hosts=None`` is what this replaces), and nothing of
  the labtui process's own ``~/.ssh`` (config, known_hosts, agent, default keys) is used.
- **Permission** ``instances.ssh`` is checked before any connection; connects, refusals,
  failures and disconnects are audited. Keystrokes and output never are.
"""

from __future__ import annotations

import asyncio
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import asyncssh
import yaml
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from labtui.core import audit
from labtui.core.actor import Actor
from labtui.core.db.base import utcnow
from labtui.core.db.engine import Database
from labtui.core.db.ssh import SshKnownHost
from labtui.core.errors import LabtuiError, NotFound, ValidationError
from labtui.core.rbac import Rbac

log = logging.getLogger("labtui.ssh.client")

PERMISSION = "instances.ssh"
#: Removing a stored host key re-opens trust-on-first-use for that host: an admin's call.
FORGET_PERMISSION = "system.settings.edit"
USER_PATTERN = re.compile(r"^[a-zA-Z0-9._-]{1,32}$")
DEFAULT_TERM = "xterm-256color"
CONNECT_TIMEOUT = 15.0
KEEPALIVE_SECONDS = 30.0
#: How long a clean close may take before the connection is simply dropped.
CLOSE_TIMEOUT = 3.0
READ_SIZE = 65536


class SshError(LabtuiError):
    """The connection could not be made or was refused; the message says why."""


class HostKeyChanged(SshError):
    """The server offered a key other than the one stored on first use."""

    def __init__(self, host: str, port: int, stored: str, presented: str) -> None:
        super().__init__(
            f"Host key of {host}:{port} has CHANGED: labtui trusts {stored} but the server now "
            f"offers {presented}. Connection refused: this is either a reinstalled host or "
            "someone intercepting the connection. Once you have checked, an admin can forget "
            "the stored key."
        )
        self.host, self.port = host, port
        self.stored, self.presented = stored, presented


# -- targets and credentials ------------------------------------------------------------------


def validate_user(user: str) -> str:
    """A remote login name (CloudLab's ``?user=`` rule)."""
    user = user.strip()
    if not USER_PATTERN.fullmatch(user):
        raise ValidationError("SSH user names are 1 to 32 of letters, digits, '.', '_' and '-'", "user")
    return user


@dataclass(frozen=True)
class SshTarget:
    """Where to connect and as whom. ``password`` never appears in a repr, log or audit."""

    host: str
    port: int = 22
    username: str = "root"
    key_file: str | None = None
    password: str | None = field(default=None, repr=False)
    #: The name the host is known by (inventory hostname); ``host`` is its address.
    name: str = ""
    #: Where the credentials came from: ``service:<name>`` or ``explicit``.
    source: str = "explicit"

    def __post_init__(self) -> None:
        if not self.host or any(c.isspace() for c in self.host) or self.host.startswith("-"):
            raise ValidationError(f"Not a host address: {self.host!r}", "host")
        if not 0 < int(self.port) < 65536:
            raise ValidationError(f"Not a port: {self.port}", "port")
        validate_user(self.username)

    @property
    def label(self) -> str:
        """``user@name`` as tabs and messages show it."""
        return f"{self.username}@{self.name or self.host}"

    @property
    def audit_target(self) -> str:
        return f"ssh/{self.name or self.host}"

    def as_user(self, user: str | None) -> SshTarget:
        """The same target with the login name overridden (validated), or unchanged."""
        if user is None or not user.strip():
            return self
        return replace(self, username=validate_user(user))


def resolve_from_services(services_root: Path, hostname: str) -> SshTarget | None:
    """CloudLab's credential resolution for ``hostname``, or None when no service knows it.

    A relative key path is taken relative to the service's directory (CloudLab's were
    absolute in its container)."""
    if not services_root.is_dir():
        return None
    for service_dir in sorted(p for p in services_root.iterdir() if p.is_dir()):
        inventory = service_dir / "outputs" / "temp_inventory.yaml"
        try:
            data = yaml.safe_load(inventory.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, yaml.YAMLError):
            continue
        hosts = ((data or {}).get("all") or {}).get("hosts") if isinstance(data, dict) else None
        if not isinstance(hosts, dict) or hostname not in hosts:
            continue
        entry = hosts.get(hostname) or {}
        if not isinstance(entry, dict):
            continue
        key = entry.get("ansible_ssh_private_key_file")
        if not key:
            continue
        key_path = Path(str(key)).expanduser()
        if not key_path.is_absolute():
            key_path = service_dir / key_path
        if not key_path.is_file():
            continue
        port = entry.get("ansible_port", 22)
        try:
            return SshTarget(
                host=str(entry.get("ansible_host") or hostname),
                port=int(port),
                username=str(entry.get("ansible_user") or "root"),
                key_file=str(key_path),
                name=hostname,
                source=f"service:{service_dir.name}",
            )
        except (ValidationError, ValueError, TypeError) as exc:
            log.warning("unusable SSH entry for %s in %s: %s", hostname, inventory, exc)
            continue
    return None


# -- known hosts ------------------------------------------------------------------------------


@dataclass(frozen=True)
class KnownHost:
    host: str
    port: int
    key_type: str
    fingerprint: str
    added_by: str
    added_at: Any
    last_seen_at: Any

    def as_json(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "port": self.port,
            "key_type": self.key_type,
            "fingerprint": self.fingerprint,
            "added_by": self.added_by,
            "added_at": self.added_at.isoformat(),
            "last_seen_at": self.last_seen_at.isoformat(),
        }


def fingerprint(key: asyncssh.SSHKey) -> str:
    """``SHA256:...`` as OpenSSH prints it."""
    return key.get_fingerprint("sha256")


def _host_key_of(row: SshKnownHost) -> asyncssh.SSHKey:
    return asyncssh.import_public_key(row.public_key)


class _TofuClient(asyncssh.SSHClient):
    """Accepts the stored key only; with none stored, any key (stored after login)."""

    def __init__(self, stored: asyncssh.SSHKey | None) -> None:
        self.stored = stored
        self.presented: asyncssh.SSHKey | None = None

    def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
        self.presented = key
        return self.stored is None or key.public_data == self.stored.public_data


def _no_known_hosts(host: str, addr: str, port: int | None) -> tuple[list[Any], list[Any], list[Any]]:
    """Nothing is trusted up front, so every key goes to :class:`_TofuClient`."""
    return [], [], []


# -- an open shell ----------------------------------------------------------------------------


class RemoteShell:
    """One remote shell on a PTY: bytes out of :meth:`read`, bytes into :meth:`write`.

    :meth:`close` is idempotent and writes the disconnect audit record exactly once,
    whoever ends the session (the user, the remote shell exiting, the network)."""

    def __init__(
        self,
        terminals: SshTerminals,
        actor: Actor,
        target: SshTarget,
        conn: asyncssh.SSHClientConnection,
        process: asyncssh.SSHClientProcess[bytes],
        host_key_fingerprint: str,
        first_use: bool,
    ) -> None:
        self.target = target
        self.fingerprint = host_key_fingerprint
        self.first_use = first_use
        self.bytes_in = 0
        self.bytes_out = 0
        self._terminals, self._actor = terminals, actor
        self._conn, self._process = conn, process
        self._opened = time.monotonic()
        self._closed = False
        self._close_lock = asyncio.Lock()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def exit_status(self) -> int | None:
        return self._process.exit_status

    async def read(self, size: int = READ_SIZE) -> bytes:
        """The next output (stdout and stderr merged, as on a terminal); ``b""`` at the end."""
        if self._closed:
            return b""
        try:
            data = await self._process.stdout.read(size)
        except (asyncssh.Error, OSError, asyncio.IncompleteReadError) as exc:
            log.info("ssh read from %s ended: %s", self.target.label, exc)
            return b""
        self.bytes_in += len(data)
        return data

    def write(self, data: bytes) -> None:
        """Keys and terminal replies to the remote side (dropped once closed)."""
        if self._closed or not data:
            return
        try:
            self._process.stdin.write(data)
        except (asyncssh.Error, OSError, BrokenPipeError) as exc:
            log.info("ssh write to %s failed: %s", self.target.label, exc)
            return
        self.bytes_out += len(data)

    def resize(self, cols: int, rows: int) -> None:
        """Tell the remote PTY its new size (the shell gets SIGWINCH)."""
        if self._closed or cols <= 0 or rows <= 0:
            return
        try:
            self._process.change_terminal_size(cols, rows)
        except (asyncssh.Error, OSError) as exc:
            log.info("ssh resize of %s failed: %s", self.target.label, exc)

    async def close(self, reason: str = "closed by user") -> None:
        async with self._close_lock:
            if self._closed:
                return
            self._closed = True
            self._process.close()
            self._conn.close()
            try:
                await asyncio.wait_for(self._conn.wait_closed(), CLOSE_TIMEOUT)
            except (TimeoutError, asyncssh.Error, OSError):
                self._conn.abort()
            detail = {
                "host": self.target.host,
                "port": self.target.port,
                "user": self.target.username,
                "reason": reason,
                "exit_status": self.exit_status,
                "seconds": round(time.monotonic() - self._opened, 1),
                "bytes_in": self.bytes_in,
                "bytes_out": self.bytes_out,
            }
            try:
                await self._terminals._audit(self._actor, "ssh.disconnect", self.target.audit_target, detail)
            except Exception:  # the shell is gone either way; keep the reason in the log
                log.exception("could not audit the disconnect from %s", self.target.label)


# -- the service ------------------------------------------------------------------------------


class SshTerminals:
    """Opens audited remote shells for the terminal pane, and keeps the host-key store."""

    def __init__(self, db: Database, rbac: Rbac, services_root: Path | Callable[[], Path]) -> None:
        self.db, self.rbac = db, rbac
        self._services_root = services_root

    @property
    def services_root(self) -> Path:
        root = self._services_root
        return root() if callable(root) else root

    async def resolve(self, hostname: str, *, user: str | None = None) -> SshTarget:
        """CloudLab's credentials for ``hostname`` (with an optional user override)."""
        override = validate_user(user) if user else None
        target = await asyncio.to_thread(resolve_from_services, self.services_root, hostname)
        if target is None:
            raise NotFound(
                f"No SSH credentials for '{hostname}': no service's outputs/temp_inventory.yaml "
                "lists it with an existing key file"
            )
        return target.as_user(override)

    async def open_host(
        self, actor: Actor, hostname: str, *, user: str | None = None, cols: int = 80, rows: int = 24
    ) -> RemoteShell:
        """Check the permission, resolve ``hostname`` as CloudLab did, and open a shell."""
        await self._require(actor, PERMISSION, f"ssh/{hostname}")
        return await self.open(actor, await self.resolve(hostname, user=user), cols=cols, rows=rows)

    async def open(
        self,
        actor: Actor,
        target: SshTarget,
        *,
        cols: int = 80,
        rows: int = 24,
        term_type: str = DEFAULT_TERM,
        connect_timeout: float = CONNECT_TIMEOUT,
    ) -> RemoteShell:
        """Connect, verify the host key, log in and start a shell on a PTY of ``cols``×``rows``."""
        await self._require(actor, PERMISSION, target.audit_target)
        key_pair = await self._load_key(target)
        stored = await self.db.run(lambda s: _stored_row(s, target))
        stored_key = _host_key_of(stored) if stored is not None else None
        client = _TofuClient(stored_key)
        options: dict[str, Any] = {
            "username": target.username,
            "known_hosts": _no_known_hosts,
            "server_host_key_algs": _algs_for(stored_key),
            "client_keys": [key_pair] if key_pair is not None else None,
            "password": target.password,
            "preferred_auth": "publickey,password" if target.password else "publickey",
            # Nothing from the labtui process's own SSH setup.
            "config": None,
            "agent_path": None,
            "x509_trusted_certs": None,
            "gss_host": None,
            "kbdint_auth": False,
            "connect_timeout": connect_timeout,
            "login_timeout": connect_timeout,
            "keepalive_interval": KEEPALIVE_SECONDS,
        }
        if key_pair is None:
            options.pop("client_keys")
            options["public_key_auth"] = False
        try:
            conn = await asyncssh.connect(target.host, target.port, client_factory=lambda: client, **options)
        except asyncssh.HostKeyNotVerifiable as exc:
            if stored is not None and client.presented is not None:
                offered = fingerprint(client.presented)
                await self._audit(
                    actor,
                    "ssh.hostkey_refused",
                    target.audit_target,
                    {**_where(target), "stored": stored.fingerprint, "presented": offered},
                )
                raise HostKeyChanged(target.host, target.port, stored.fingerprint, offered) from None
            raise await self._failed(actor, target, f"host key not accepted: {exc.reason}") from None
        except asyncssh.KeyExchangeFailed as exc:
            if stored is not None:
                # The server no longer offers the pinned key type: a changed key as well.
                await self._audit(
                    actor,
                    "ssh.hostkey_refused",
                    target.audit_target,
                    {**_where(target), "stored": stored.fingerprint, "presented": f"no {stored.key_type} key"},
                )
                raise HostKeyChanged(
                    target.host, target.port, stored.fingerprint, f"no {stored.key_type} key at all"
                ) from None
            raise await self._failed(actor, target, f"key exchange failed: {exc.reason}") from None
        except asyncssh.PermissionDenied:
            raise await self._failed(actor, target, f"authentication failed for {target.username}") from None
        except asyncssh.Error as exc:
            raise await self._failed(actor, target, exc.reason or type(exc).__name__) from None
        except TimeoutError:
            raise await self._failed(actor, target, "timed out") from None
        except OSError as exc:
            raise await self._failed(actor, target, exc.strerror or str(exc)) from None

        try:
            presented = client.presented or conn.get_server_host_key()
            assert presented is not None, "asyncssh validated no host key"
            first_use = await self.db.run(lambda s: self._trust(s, actor, target, presented, stored))
            process = await conn.create_process(
                term_type=term_type,
                term_size=(max(cols, 1), max(rows, 1)),
                encoding=None,
                stderr=asyncssh.STDOUT,
            )
        except HostKeyChanged:
            conn.abort()
            raise
        except (asyncssh.Error, OSError) as exc:
            conn.abort()
            reason = getattr(exc, "reason", "") or str(exc)
            raise await self._failed(actor, target, f"no shell: {reason}") from None
        except BaseException:
            conn.abort()
            raise
        shell = RemoteShell(self, actor, target, conn, process, fingerprint(presented), first_use)
        return shell

    # -- known hosts ---------------------------------------------------------------------------

    async def known_hosts(self, actor: Actor) -> list[KnownHost]:
        """Every stored host key (anyone who may open terminals may see them)."""

        def q(s: Session) -> list[KnownHost]:
            self.rbac.require(s, actor, PERMISSION)
            rows = s.scalars(select(SshKnownHost).order_by(SshKnownHost.host, SshKnownHost.port))
            return [
                KnownHost(r.host, r.port, r.key_type, r.fingerprint, r.added_by_username, r.added_at, r.last_seen_at)
                for r in rows
            ]

        return await self.db.run(q)

    async def forget_host(self, actor: Actor, host: str, port: int = 22) -> str:
        """Remove a stored key (after a host was reinstalled); returns its fingerprint."""
        host_l = host.strip().lower()

        def q(s: Session) -> str:
            self.rbac.require(s, actor, FORGET_PERMISSION)
            row = s.scalar(select(SshKnownHost).where(SshKnownHost.host == host_l, SshKnownHost.port == port))
            if row is None:
                raise NotFound(f"No stored host key for {host}:{port}")
            audit.record(
                s, actor, "ssh.hostkey_forget", f"ssh/{host_l}", {"port": port, "fingerprint": row.fingerprint}
            )
            s.delete(row)
            return row.fingerprint

        return await self.db.run(q)

    # -- internals -----------------------------------------------------------------------------

    async def _require(self, actor: Actor, codename: str, target: str) -> None:
        await self.db.run(lambda s: self.rbac.require(s, actor, codename, target))

    async def _audit(self, actor: Actor, action: str, target: str, detail: dict[str, Any]) -> None:
        await self.db.run(lambda s: audit.record(s, actor, action, target, detail))

    async def _failed(self, actor: Actor, target: SshTarget, reason: str) -> SshError:
        await self._audit(actor, "ssh.connect_failed", target.audit_target, {**_where(target), "reason": reason})
        return SshError(f"Cannot open a terminal to {target.label} ({target.host}:{target.port}): {reason}")

    @staticmethod
    async def _load_key(target: SshTarget) -> asyncssh.SSHKey | None:
        if not target.key_file:
            if target.password is None:
                raise ValidationError(f"No SSH key or password for {target.label}", "key_file")
            return None
        path = target.key_file

        def load() -> asyncssh.SSHKey:
            return asyncssh.read_private_key(path)

        try:
            return await asyncio.to_thread(load)
        except (OSError, asyncssh.KeyImportError) as exc:
            # A passphrase-protected key cannot be used: nothing here may prompt.
            raise SshError(f"Cannot use the SSH key {path}: {exc}") from None

    def _trust(
        self,
        s: Session,
        actor: Actor,
        target: SshTarget,
        presented: asyncssh.SSHKey,
        stored: SshKnownHost | None,
    ) -> bool:
        """Store the key on first use (and audit the connect); True when it was stored now."""
        host = target.host.lower()
        presented_fp = fingerprint(presented)
        first_use = False
        row = s.scalar(select(SshKnownHost).where(SshKnownHost.host == host, SshKnownHost.port == target.port))
        if row is None and stored is None:
            row = SshKnownHost(
                host=host,
                port=target.port,
                key_type=presented.get_algorithm(),
                public_key=_openssh_line(presented),
                fingerprint=presented_fp,
                added_by_id=actor.user_id,
                added_by_username=actor.username,
            )
            try:
                with s.begin_nested():
                    s.add(row)
            except IntegrityError:  # another labtui process stored one a moment ago
                row = s.scalar(select(SshKnownHost).where(SshKnownHost.host == host, SshKnownHost.port == target.port))
            else:
                first_use = True
        if row is None or row.fingerprint != presented_fp:
            # Stored meanwhile by someone else, or removed and re-added: never trust silently.
            stored_fp = row.fingerprint if row is not None else "nothing (the stored key was removed)"
            with self.db.session() as own:
                audit.record(
                    own,
                    actor,
                    "ssh.hostkey_refused",
                    target.audit_target,
                    {**_where(target), "stored": stored_fp, "presented": presented_fp},
                )
            raise HostKeyChanged(target.host, target.port, stored_fp, presented_fp)
        row.last_seen_at = utcnow()
        audit.record(
            s,
            actor,
            "ssh.connect",
            target.audit_target,
            {
                **_where(target),
                "fingerprint": presented_fp,
                "host_key": "trusted on first use" if first_use else "known",
                "source": target.source,
            },
        )
        return first_use


def _stored_row(s: Session, target: SshTarget) -> SshKnownHost | None:
    row = s.scalar(
        select(SshKnownHost).where(SshKnownHost.host == target.host.lower(), SshKnownHost.port == target.port)
    )
    if row is not None:
        s.expunge(row)
    return row


def _openssh_line(key: asyncssh.SSHKey) -> str:
    """``type base64`` without the comment."""
    return " ".join(key.export_public_key("openssh").decode().split()[:2])


def _algs_for(key: asyncssh.SSHKey | None) -> Any:
    """Ask the server for the stored key's type, so it presents that key (not another type)."""
    if key is None:
        return "default"
    return [a.decode() for a in key.sig_algorithms]


def _where(target: SshTarget) -> dict[str, Any]:
    return {"host": target.host, "port": target.port, "user": target.username}
