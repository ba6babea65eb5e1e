"""The check executors: http (httpx), tcp (asyncio), icmp (icmplib), ssh_command (asyncssh).

One :class:`Prober` per process holds what the checks share: pooled ``httpx`` clients per
``tls_verify`` setting (:class:`HttpPool`: 5,000 http checks cost 5,000 requests, not
5,000 clients), the one-time ICMP permission probe, and the SSH known-hosts store.

Executors return ``healthy`` or ``unhealthy`` as CloudLab's did, plus ``unknown`` when the
check cannot be judged at all (ICMP not permitted on this system, the target not deployed):
an operator must not be paged because labtui lacks a capability.
"""

from __future__ import annotations

import asyncio
import logging
import os
import re
import time
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from labtui.core.db.health import HEALTHY, UNHEALTHY, UNKNOWN
from labtui.core.health.definitions import CheckDef
from labtui.core.health.targets import HostInfo, HostMap

log = logging.getLogger("labtui.health")

ERROR_MAX = 500
_USERINFO_PASSWORD = re.compile(r"//([^/@:]*):[^/@]*@")
SSH_DEFAULT_USER = "root"
SSH_DEFAULT_PORT = 22


@dataclass(frozen=True)
class CheckResult:
    """One run of one check."""

    status: str
    target: str
    latency_ms: float | None = None
    status_code: int | None = None
    error: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "target": self.target,
            "latency_ms": None if self.latency_ms is None else round(self.latency_ms, 2),
            "status_code": self.status_code,
            "error": self.error,
        }


@dataclass(frozen=True)
class Endpoint:
    """Where one run of a check goes, resolved from the definition and the host map."""

    host: str
    port: int | None = None
    url: str = ""
    user: str = ""
    key_file: str = ""

    def describe(self, kind: str) -> str:
        """The target as stored and shown: a password in a URL is masked."""
        if kind == "http":
            return _USERINFO_PASSWORD.sub(r"//\1:***@", self.url)
        if kind == "tcp":
            return f"{self.host}:{self.port}"
        if kind == "ssh_command":
            return f"{self.user}@{self.host}:{self.port}"
        return self.host


class NotDeployed(Exception):
    """The check resolves through the instance cache and no instance matches its service."""


def endpoint(check: CheckDef, hosts: HostMap, lab_dir: Path | None = None) -> Endpoint:
    """Resolve a check's target; raises :class:`NotDeployed` when the cache has no host."""
    info: HostInfo | None = None
    if not check.explicit:
        info = hosts.get(check.service)
        if info is None:
            raise NotDeployed(f"service '{check.service}' is not deployed: no instance with that Vultr tag or hostname")
    if check.type == "http":
        if check.url:
            return Endpoint(host=httpx.URL(check.url).host, url=check.url)
        name = check.host or (info.fqdn if info else "")
        in_url = f":{check.port}" if check.port else ""
        return Endpoint(host=name, port=check.port, url=f"https://{name}{in_url}{check.path}")
    host = check.host or (info.ip if info else "")
    if check.type == "tcp":
        return Endpoint(host=host, port=check.port or 443)
    if check.type == "ssh_command":
        if info is None:
            info = hosts.find(check.host)  # an explicit host may still be a known instance
        key_file: str = check.key_file
        if key_file and lab_dir is not None and not Path(key_file).expanduser().is_absolute():
            key_file = str(lab_dir / key_file)
        key_file = str(Path(key_file).expanduser()) if key_file else (info.key_file if info else "")
        port = check.port or (info.ssh_port if info else None) or SSH_DEFAULT_PORT
        return Endpoint(host=host, port=port, user=check.user or SSH_DEFAULT_USER, key_file=key_file)
    return Endpoint(host=host)


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= ERROR_MAX else text[: ERROR_MAX - 1] + "…"


def _error_text(exc: BaseException) -> str:
    text = str(exc).strip()
    return _clip(text) if text else exc.__class__.__name__


class Prober:
    """Runs checks; shared by every check of one process. Call :meth:`aclose` at the end."""

    def __init__(self, known_hosts: Path, *, max_connections: int = 100, lab_dir: Path | None = None) -> None:
        self.known_hosts = KnownHosts(known_hosts)
        self.lab_dir = lab_dir
        self._max_connections = max(1, max_connections)
        self._pools: dict[bool, HttpPool] = {}
        self._regex: dict[str, re.Pattern[str]] = {}
        self._icmp_lock: asyncio.Lock | None = None
        self._icmp_probed = False
        #: icmplib's ``privileged`` flag once the probe found a way; None if ICMP is denied.
        self.icmp_privileged: bool | None = None
        #: Why ICMP checks report ``unknown`` (empty when ICMP works).
        self.icmp_denied = ""

    async def run(self, check: CheckDef, hosts: HostMap) -> CheckResult:
        """Run ``check`` once. Never raises (except cancellation): failures are results."""
        try:
            ep = endpoint(check, hosts, self.lab_dir)
        except NotDeployed as exc:
            return CheckResult(UNKNOWN, "", error=str(exc))
        target = ep.describe(check.type)
        try:
            if check.type == "http":
                return await self.http(check, ep, target)
            if check.type == "tcp":
                return await self.tcp(check, ep, target)
            if check.type == "icmp":
                return await self.icmp(check, ep, target)
            if check.type == "ssh_command":
                return await self.ssh(check, ep, target)
            return CheckResult(UNKNOWN, target, error=f"unknown check type {check.type!r}")
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.debug("check %s failed", check.key, exc_info=True)
            return CheckResult(UNHEALTHY, target, error=_error_text(exc))

    # -- http --------------------------------------------------------------------------------

    async def http(self, check: CheckDef, ep: Endpoint, target: str) -> CheckResult:
        pool = self._pools.get(check.tls_verify)
        if pool is None:
            pool = self._pools[check.tls_verify] = HttpPool(check.tls_verify, self._max_connections)
        start = time.monotonic()
        try:
            response = await pool.request(check.method, ep.url, check.timeout)
        except httpx.TimeoutException:
            return CheckResult(UNHEALTHY, target, error=f"Timeout after {check.timeout:g}s")
        except httpx.HTTPError as exc:
            return CheckResult(UNHEALTHY, target, error=_error_text(exc))
        latency = (time.monotonic() - start) * 1000
        code = response.status_code
        if code != check.expected_status:
            return CheckResult(UNHEALTHY, target, latency, code, f"Expected status {check.expected_status}, got {code}")
        if check.body_regex:
            pattern = self._regex.get(check.body_regex)
            if pattern is None:
                pattern = self._regex[check.body_regex] = re.compile(check.body_regex)
            if not pattern.search(response.text):
                return CheckResult(UNHEALTHY, target, latency, code, f"Body does not match /{check.body_regex}/")
        return CheckResult(HEALTHY, target, latency, code)

    # -- tcp ---------------------------------------------------------------------------------

    async def tcp(self, check: CheckDef, ep: Endpoint, target: str) -> CheckResult:
        start = time.monotonic()
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(ep.host, ep.port), check.timeout)
        except TimeoutError:
            return CheckResult(UNHEALTHY, target, error=f"TCP connection timeout after {check.timeout:g}s")
        except OSError as exc:
            return CheckResult(UNHEALTHY, target, error=_error_text(exc))
        latency = (time.monotonic() - start) * 1000
        writer.close()
        with suppress(Exception):
            await asyncio.wait_for(writer.wait_closed(), 1.0)
        return CheckResult(HEALTHY, target, latency)

    # -- icmp --------------------------------------------------------------------------------

    async def icmp_mode(self) -> bool | None:
        """Probe once how ICMP may be used: unprivileged (ping_group_range) or privileged (root)."""
        if self._icmp_probed:
            return self.icmp_privileged
        if self._icmp_lock is None:
            self._icmp_lock = asyncio.Lock()
        async with self._icmp_lock:
            if self._icmp_probed:
                return self.icmp_privileged
            from icmplib import async_ping
            from icmplib.exceptions import ICMPLibError, SocketPermissionError

            for privileged in (False, True):
                try:
                    await async_ping("127.0.0.1", count=1, timeout=1, privileged=privileged)
                except SocketPermissionError:
                    continue
                except (ICMPLibError, OSError) as exc:  # the socket works; the probe host did not answer
                    log.info("icmp probe: %s", exc)
                self.icmp_privileged = privileged
                break
            else:
                self.icmp_denied = icmp_denied_reason()
                log.warning("icmp checks will report unknown: %s", self.icmp_denied)
            self._icmp_probed = True
            return self.icmp_privileged

    async def icmp(self, check: CheckDef, ep: Endpoint, target: str) -> CheckResult:
        privileged = await self.icmp_mode()
        if privileged is None:
            return CheckResult(UNKNOWN, target, error=self.icmp_denied)
        from icmplib import async_ping
        from icmplib.exceptions import NameLookupError, SocketPermissionError

        try:
            host = await async_ping(ep.host, count=1, timeout=check.timeout, privileged=privileged)
        except NameLookupError:
            return CheckResult(UNHEALTHY, target, error=f"Cannot resolve {ep.host}")
        except SocketPermissionError:
            return CheckResult(UNKNOWN, target, error=icmp_denied_reason())
        if not host.is_alive:
            return CheckResult(UNHEALTHY, target, error="Host unreachable")
        return CheckResult(HEALTHY, target, host.avg_rtt)

    # -- ssh_command -------------------------------------------------------------------------

    async def ssh(self, check: CheckDef, ep: Endpoint, target: str) -> CheckResult:
        import asyncssh

        port = ep.port or SSH_DEFAULT_PORT
        trusted = self.known_hosts.trusted(ep.host, port)
        seen: list[asyncssh.SSHKey] = []

        class _Client(asyncssh.SSHClient):
            def validate_host_public_key(self, host: str, addr: str, port: int, key: asyncssh.SSHKey) -> bool:
                # Called only for a key not among the trusted ones: trust on first use when
                # nothing is stored for this host, refuse a changed key otherwise.
                if trusted:
                    return False
                seen.append(key)
                return True

        options: dict[str, Any] = {
            "port": port,
            "username": ep.user,
            "known_hosts": (trusted, [], []),
            "client_factory": _Client,
            "config": [],
            "connect_timeout": check.timeout,
        }
        if ep.key_file:
            options["client_keys"] = [ep.key_file]
            options["agent_path"] = None
        start = time.monotonic()

        async def go() -> tuple[int | None, str, str]:
            async with asyncssh.connect(ep.host, **options) as conn:
                if seen:
                    await self.known_hosts.add(ep.host, port, seen[0])
                result = await conn.run(check.command, check=False)
                out = (
                    result.stdout if isinstance(result.stdout, str) else (result.stdout or b"").decode(errors="replace")
                )
                err = (
                    result.stderr if isinstance(result.stderr, str) else (result.stderr or b"").decode(errors="replace")
                )
                return result.exit_status, out, err

        try:
            exit_status, out, err = await asyncio.wait_for(go(), check.timeout + 5)
        except TimeoutError:
            return CheckResult(UNHEALTHY, target, error=f"SSH timeout after {check.timeout:g}s")
        except asyncssh.HostKeyNotVerifiable:
            return CheckResult(
                UNHEALTHY,
                target,
                error=f"Host key of {ep.host}:{port} does not match the one stored in {self.known_hosts.path} "
                "(if the host was rebuilt, remove its line there)",
            )
        except asyncssh.PermissionDenied:
            return CheckResult(UNHEALTHY, target, error=f"SSH login refused for {ep.user}@{ep.host}")
        except (asyncssh.Error, OSError, ValueError) as exc:
            return CheckResult(UNHEALTHY, target, error=_error_text(exc))
        latency = (time.monotonic() - start) * 1000
        if exit_status != 0:
            return CheckResult(UNHEALTHY, target, latency, error=f"Exit code {exit_status}: {err.strip()[:200]}")
        output = out.strip()
        if check.expected_output and check.expected_output not in output:
            return CheckResult(
                UNHEALTHY, target, latency, error=f"Expected '{check.expected_output}' in output, got: {output[:200]}"
            )
        return CheckResult(HEALTHY, target, latency)

    async def aclose(self) -> None:
        for pool in self._pools.values():
            await pool.aclose()
        self._pools.clear()


class HttpPool:
    """The http checks' clients for one ``tls_verify`` setting.

    One ``httpx.AsyncClient`` with 50 connections spends most of its CPU in the connection
    pool's bookkeeping, which grows with connections x waiting requests (measured: 4.7 ms
    CPU per request, ~200 req/s). Shards of a few connections each keep it at ~0.7 ms and
    ~1,000 req/s. A request goes to its host's shard while that has a free connection (so
    keep-alive connections get reused), else to the least busy shard.
    """

    SHARD_CONNECTIONS = 5

    def __init__(self, verify: bool, max_connections: int) -> None:
        self.verify = verify
        count = max(1, -(-max_connections // self.SHARD_CONNECTIONS))
        self.capacity = max(1, -(-max_connections // count))
        self._clients: list[httpx.AsyncClient | None] = [None] * count
        self._busy = [0] * count

    def _client(self, index: int) -> httpx.AsyncClient:
        client = self._clients[index]
        if client is None:
            n = self.capacity
            client = httpx.AsyncClient(
                verify=self.verify,
                follow_redirects=True,
                limits=httpx.Limits(max_connections=n, max_keepalive_connections=n),
                headers={"User-Agent": "labtui-health"},
            )
            self._clients[index] = client
        return client

    def _pick(self, url: str) -> int:
        preferred = hash(httpx.URL(url).netloc) % len(self._busy)
        if self._busy[preferred] < self.capacity:
            return preferred
        return min(range(len(self._busy)), key=self._busy.__getitem__)

    async def request(self, method: str, url: str, timeout: float) -> httpx.Response:
        index = self._pick(url)
        self._busy[index] += 1
        try:
            return await self._client(index).request(method, url, timeout=timeout)
        finally:
            self._busy[index] -= 1

    async def aclose(self) -> None:
        for client in self._clients:
            if client is not None:
                await client.aclose()
        self._clients = [None] * len(self._clients)


def icmp_denied_reason() -> str:
    try:
        low, high = (int(x) for x in Path("/proc/sys/net/ipv4/ping_group_range").read_text().split())
        groups = f"net.ipv4.ping_group_range is '{low} {high}'"
    except (OSError, ValueError):
        groups = "unprivileged ICMP sockets are not available"
    who = "root" if os.geteuid() == 0 else f"uid {os.geteuid()} (not root)"
    return f"ICMP not permitted here: {groups}, and raw sockets are refused to {who}"


class KnownHosts:
    """SSH host keys the health checks trust, in OpenSSH ``known_hosts`` format.

    A host seen for the first time is trusted and its key stored (trust on first use); from
    then on a different key is refused. Checking is never disabled.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock: asyncio.Lock | None = None
        self._cache: tuple[float, Any] | None = None

    def _loaded(self) -> Any:
        import asyncssh

        try:
            mtime = self.path.stat().st_mtime
        except OSError:
            return None
        if self._cache is None or self._cache[0] != mtime:
            self._cache = (mtime, asyncssh.import_known_hosts(self.path.read_text()))
        return self._cache[1]

    def trusted(self, host: str, port: int) -> list[Any]:
        known = self._loaded()
        if known is None:
            return []
        return list(known.match(host, "", None if port == SSH_DEFAULT_PORT else port)[0])

    async def add(self, host: str, port: int, key: Any) -> None:
        if self._lock is None:
            self._lock = asyncio.Lock()
        async with self._lock:
            if self.trusted(host, port):
                return
            name = host if port == SSH_DEFAULT_PORT else f"[{host}]:{port}"
            line = f"{name} {key.export_public_key().decode().strip()}\n"
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
            with os.fdopen(fd, "a") as fh:
                fh.write(line)
            self._cache = None
            log.info("health: trusted the SSH host key of %s on first use", name)
