"""Where a check goes: CloudLab's target resolution from the instance cache.

The cache is the Ansible YAML inventory of the lab's instances (``all.hosts.<hostname>``
with ``ansible_host``, ``vultr_tags``, ``ansible_ssh_private_key_file`` ...). For now it is
read from ``<lab>/inventory/vultr.yml`` (what CloudLab's refresh wrote), falling back to the
``instances_cache`` metadata a CloudLab import leaves. A service's checks resolve to the host
whose Vultr tag (first host wins) or hostname (last host wins) equals the service name; the
FQDN is ``<hostname>.<domain_name>`` with ``domain_name`` from the lab's ``config.yml``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

log = logging.getLogger("labtui.health")

CACHE_FILE = Path("inventory") / "vultr.yml"
LAB_CONFIG = "config.yml"


class _CacheLoader(yaml.SafeLoader):
    """The instance cache as labtui writes it: ``!unsafe`` marks text (a label, a tag) that
    Ansible must not template; here it is just that text."""


def _unsafe(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    assert isinstance(node, yaml.ScalarNode)
    return loader.construct_scalar(node)


_CacheLoader.add_constructor("!unsafe", _unsafe)


@dataclass(frozen=True)
class HostInfo:
    """One instance as the checks see it."""

    hostname: str
    ip: str
    fqdn: str
    key_file: str = ""
    ssh_port: int | None = None


@dataclass
class HostMap:
    by_key: dict[str, HostInfo]

    @classmethod
    def empty(cls) -> HostMap:
        return cls({})

    @classmethod
    def from_inventory(cls, inventory: Any, domain: str, lab_dir: Path | None = None) -> HostMap:
        by_key: dict[str, HostInfo] = {}
        for hostname, hv in _hosts(inventory):
            ip = str(hv.get("ansible_host") or hostname)
            key_file = str(hv.get("ansible_ssh_private_key_file") or "")
            if key_file and lab_dir is not None and not Path(key_file).expanduser().is_absolute():
                key_file = str(lab_dir / key_file)
            port = hv.get("ansible_port") or hv.get("ansible_ssh_port")
            info = HostInfo(
                hostname=hostname,
                ip=ip,
                fqdn=f"{hostname}.{domain}" if domain else hostname,
                key_file=str(Path(key_file).expanduser()) if key_file else "",
                ssh_port=int(port) if isinstance(port, int) or (isinstance(port, str) and port.isdigit()) else None,
            )
            tags = hv.get("vultr_tags") or []
            if isinstance(tags, str):
                tags = [tags]
            for tag in tags if isinstance(tags, list) else []:
                by_key.setdefault(str(tag), info)  # first host wins for a tag (CloudLab)
            by_key[hostname] = info  # the last write wins for a hostname (CloudLab)
        return cls(by_key)

    def get(self, service: str) -> HostInfo | None:
        return self.by_key.get(service)

    def find(self, host: str) -> HostInfo | None:
        """The instance named or addressed ``host`` (for an explicit ssh target's key file)."""
        hit = self.by_key.get(host)
        if hit is not None:
            return hit
        return next((h for h in self.by_key.values() if host in (h.ip, h.fqdn)), None)


def _hosts(inventory: Any) -> list[tuple[str, Mapping[str, Any]]]:
    """``all.hosts`` (CloudLab's only source), then hosts found only under ``children``."""
    if not isinstance(inventory, Mapping):
        return []
    root = inventory.get("all")
    if not isinstance(root, Mapping):
        return []
    found: list[tuple[str, Mapping[str, Any]]] = []
    seen: set[str] = set()

    def add(hosts: Any) -> None:
        if not isinstance(hosts, Mapping):
            return
        for name, hv in hosts.items():
            if str(name) not in seen:
                seen.add(str(name))
                found.append((str(name), hv if isinstance(hv, Mapping) else {}))

    add(root.get("hosts"))

    def walk(children: Any, depth: int = 0) -> None:
        if not isinstance(children, Mapping) or depth > 10:
            return
        for group in children.values():
            if isinstance(group, Mapping):
                add(group.get("hosts"))
                walk(group.get("children"), depth + 1)

    walk(root.get("children"))
    return found


def read_domain(lab_dir: Path) -> str:
    """``domain_name`` from the lab's ``config.yml``, or ""."""
    try:
        data = yaml.safe_load((lab_dir / LAB_CONFIG).read_text())
    except (OSError, yaml.YAMLError):
        return ""
    value = data.get("domain_name") if isinstance(data, Mapping) else None
    return str(value).strip() if value else ""


class TargetSource:
    """Builds the host map for a tick; re-reads the files only when they changed."""

    def __init__(self, lab_dir: Path, metadata_cache: Any = None) -> None:
        self.lab_dir = lab_dir
        #: ``instances_cache`` from the database (a CloudLab import); used without the file.
        self.metadata_cache = metadata_cache
        self._stamp: tuple[float, float] | None = None
        self._map = HostMap.empty()

    def _stat(self) -> tuple[float, float]:
        def mtime(p: Path) -> float:
            try:
                return p.stat().st_mtime
            except OSError:
                return -1.0

        return mtime(self.lab_dir / CACHE_FILE), mtime(self.lab_dir / LAB_CONFIG)

    def _build(self) -> HostMap:
        inventory: Any = None
        path = self.lab_dir / CACHE_FILE
        if path.is_file():
            try:
                inventory = yaml.load(path.read_text(), Loader=_CacheLoader)
            except (OSError, yaml.YAMLError) as exc:
                log.warning("instance cache %s unreadable: %s", path, exc)
        if inventory is None:
            inventory = self.metadata_cache
        return HostMap.from_inventory(inventory, read_domain(self.lab_dir), self.lab_dir)

    def current_sync(self) -> HostMap:
        stamp = self._stat()
        if stamp != self._stamp:
            self._map = self._build()
            self._stamp = stamp
        return self._map

    async def current(self) -> HostMap:
        return await asyncio.to_thread(self.current_sync)

    def invalidate(self) -> None:
        self._stamp = None
