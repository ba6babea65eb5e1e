"""Health definitions: CloudLab's ``services/<name>/health.yaml`` plus labtui's extensions.

CloudLab's keys and defaults (docs/cloudlab.md) load unchanged. labtui adds, all optional:
an explicit ``url`` (http) or ``host``/``port`` on a check, a per-check ``interval``,
``fail_after``/``recover_after`` thresholds, ``body_regex`` (http), ``user`` and ``key_file``
(ssh_command), and ``<lab>/health/*.yaml`` files at the lab root for targets that are not
services (the service name is the file stem).

CloudLab skipped a broken file silently; here every problem is reported with file, line and
key, and everything else still loads: a bad check drops only that check, a bad service-level
key falls back to its default.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import httpx
import yaml

log = logging.getLogger("labtui.health")

CHECK_TYPES = ("http", "tcp", "icmp", "ssh_command")
DEFAULT_INTERVAL = 60.0
DEFAULT_TIMEOUTS = {"http": 10.0, "tcp": 5.0, "icmp": 5.0, "ssh_command": 10.0}
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
NAME_MAX = 100
SERVICE_KEYS = ("interval", "notifications", "checks")
COMMON_KEYS = ("name", "type", "interval", "timeout", "fail_after", "recover_after", "host")
TYPE_KEYS: dict[str, tuple[str, ...]] = {
    "http": ("url", "path", "port", "method", "expected_status", "tls_verify", "body_regex"),
    "tcp": ("port",),
    "icmp": (),
    "ssh_command": ("command", "expected_output", "user", "port", "key_file"),
}
#: libyaml's loader when present (10,000 checks load ~5x faster); marks work the same.
_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+")
_USER = re.compile(r"[A-Za-z0-9._-]{1,32}")


@dataclass(frozen=True)
class Problem:
    """Something wrong in a definition file: where (file, line, key) and what."""

    file: str
    line: int
    key: str
    message: str

    def __str__(self) -> str:
        key = f" {self.key}:" if self.key else ""
        return f"{self.file}:{self.line}:{key} {self.message}"


@dataclass(frozen=True)
class CheckDef:
    """One check, with every default filled in."""

    service: str
    name: str
    type: str
    interval: float
    timeout: float
    fail_after: int = 1
    recover_after: int = 1
    url: str = ""
    host: str = ""
    port: int | None = None
    path: str = "/"
    method: str = "GET"
    expected_status: int = 200
    tls_verify: bool = True
    body_regex: str = ""
    command: str = "echo ok"
    expected_output: str = ""
    user: str = ""
    key_file: str = ""
    notify: bool = False
    recipients: tuple[str, ...] = ()
    #: Where it was defined (not part of what the check *is*).
    file: str = field(default="", compare=False)
    line: int = field(default=0, compare=False)

    @property
    def key(self) -> str:
        return f"{self.service}/{self.name}"

    @property
    def explicit(self) -> bool:
        """The target is named in the file, so the check runs whether or not the service is deployed."""
        return bool(self.url or self.host)

    def fingerprint(self) -> str:
        data = asdict(self)
        data.pop("file")
        data.pop("line")
        return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ServiceDef:
    name: str
    file: str
    interval: float
    notify: bool
    recipients: tuple[str, ...]
    checks: tuple[CheckDef, ...]


@dataclass
class Definitions:
    """Everything loaded from one scan of the lab."""

    services: dict[str, ServiceDef] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)
    #: Keys labtui does not know (ignored, as CloudLab did, but said).
    warnings: list[Problem] = field(default_factory=list)

    # Cached: the poller asks every tick, and 10,000 checks must not cost a rebuild each time.
    # A Definitions is complete once load_definitions returns and is never changed after.

    @cached_property
    def checks(self) -> dict[str, CheckDef]:
        return {c.key: c for s in self.services.values() for c in s.checks}

    @cached_property
    def _fingerprints(self) -> dict[str, str]:
        return {key: c.fingerprint() for key, c in self.checks.items()}

    def fingerprints(self) -> dict[str, str]:
        return dict(self._fingerprints)

    @cached_property
    def version(self) -> str:
        return version_of(self._fingerprints)

    def check(self, service: str, name: str) -> CheckDef | None:
        svc = self.services.get(service)
        if svc is None:
            return None
        return next((c for c in svc.checks if c.name == name), None)


def version_of(fingerprints: Mapping[str, str]) -> str:
    return hashlib.sha256(json.dumps(sorted(fingerprints.items())).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ReloadReport:
    """What a (re)load changed, check by check (``service/check`` keys)."""

    added: list[str]
    changed: list[str]
    removed: list[str]
    problems: list[Problem]
    warnings: list[Problem]
    services: list[str]

    @property
    def count(self) -> int:
        return len(self.services)

    def as_json(self) -> dict[str, Any]:
        return {
            "services": self.services,
            "count": self.count,
            "added": self.added,
            "changed": self.changed,
            "removed": self.removed,
            "problems": [str(p) for p in self.problems],
            "warnings": [str(w) for w in self.warnings],
        }


def diff(before: Mapping[str, str], after: Mapping[str, str]) -> tuple[list[str], list[str], list[str]]:
    """(added, changed, removed) keys between two fingerprint maps."""
    added = sorted(set(after) - set(before))
    removed = sorted(set(before) - set(after))
    changed = sorted(k for k in set(before) & set(after) if before[k] != after[k])
    return added, changed, removed


# -- loading ---------------------------------------------------------------------------------


def definition_files(lab_dir: Path) -> list[tuple[str, Path]]:
    """(service name, file): ``services/*/health.yaml`` by dir name, then ``health/*.y(a)ml``."""
    found: list[tuple[str, Path]] = []
    services = lab_dir / "services"
    if services.is_dir():
        for d in sorted(services.iterdir(), key=lambda p: p.name):
            f = d / "health.yaml"
            if d.is_dir() and f.is_file():
                found.append((d.name, f))
    root = lab_dir / "health"
    if root.is_dir():
        for f in sorted(root.iterdir(), key=lambda p: p.name):
            if f.is_file() and f.suffix in (".yaml", ".yml"):
                found.append((f.stem, f))
    return found


def load_definitions(lab_dir: Path) -> Definitions:
    """Scan the lab; never raises for a bad file (it goes into ``problems``)."""
    defs = Definitions()
    origin: dict[str, str] = {}
    for service, path in definition_files(lab_dir):
        rel = _relative(path, lab_dir)
        if service in defs.services or service in origin:
            defs.problems.append(
                Problem(rel, 1, "", f"service '{service}' is already defined by {origin[service]}: file skipped")
            )
            continue
        origin[service] = rel
        parser = _FileParser(service, rel)
        svc = parser.parse(path)
        defs.problems.extend(parser.problems)
        defs.warnings.extend(parser.warnings)
        if svc is not None:
            defs.services[service] = svc
    for p in defs.problems:
        log.warning("health definition: %s", p)
    return defs


def _relative(path: Path, root: Path) -> str:
    try:
        return str(path.relative_to(root))
    except ValueError:
        return str(path)


def _line(node: yaml.Node | None) -> int:
    return node.start_mark.line + 1 if node is not None else 1


def _pairs(node: yaml.Node | None) -> dict[str, tuple[yaml.Node, yaml.Node]]:
    """A mapping node's entries by key (for line numbers)."""
    if not isinstance(node, yaml.MappingNode):
        return {}
    return {str(k.value): (k, v) for k, v in node.value if isinstance(k, yaml.ScalarNode)}


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class _Invalid(Exception):
    """A value failed validation; the parser records it as a problem."""

    def __init__(self, key: str, message: str) -> None:
        super().__init__(message)
        self.key = key
        self.message = message


class _FileParser:
    def __init__(self, service: str, rel: str) -> None:
        self.service = service
        self.rel = rel
        self.problems: list[Problem] = []
        self.warnings: list[Problem] = []

    def problem(self, node: yaml.Node | None, key: str, message: str) -> None:
        self.problems.append(Problem(self.rel, _line(node), key, message))

    def parse(self, path: Path) -> ServiceDef | None:
        try:
            text = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            self.problem(None, "", f"cannot read: {exc}")
            return None
        loader = _Loader(text)
        try:
            node = loader.get_single_node()
            data = loader.construct_document(node) if node is not None else None
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            line = mark.line + 1 if mark is not None else 1
            problem = getattr(exc, "problem", None) or str(exc)
            self.problems.append(Problem(self.rel, line, "", f"invalid YAML: {problem}"))
            return None
        finally:
            loader.dispose()
        if not isinstance(data, Mapping) or not isinstance(node, yaml.MappingNode):
            self.problem(node, "", "expected a mapping with a 'checks:' list")
            return None
        top = _pairs(node)
        for key in top:
            if key not in SERVICE_KEYS:
                self.warnings.append(
                    Problem(
                        self.rel, _line(top[key][0]), key, f"unknown key ignored (known: {', '.join(SERVICE_KEYS)})"
                    )
                )
        if "checks" not in data:
            self.problem(node, "checks", "missing: the file defines no checks")
            return None
        interval = DEFAULT_INTERVAL
        if data.get("interval") is not None:
            raw = data["interval"]
            if _is_number(raw) and raw > 0:
                interval = float(raw)
            else:
                self.problem(
                    top["interval"][1],
                    "interval",
                    f"must be a positive number of seconds, got {raw!r} (using {DEFAULT_INTERVAL:g})",
                )
        notify, recipients = self._notifications(data.get("notifications"), top.get("notifications", (None, None))[1])
        raw_checks = data["checks"]
        checks_node = top["checks"][1]
        if not isinstance(raw_checks, list):
            self.problem(checks_node, "checks", "must be a list of checks")
            return None
        item_nodes = checks_node.value if isinstance(checks_node, yaml.SequenceNode) else []
        checks: list[CheckDef] = []
        seen: set[str] = set()
        for i, raw in enumerate(raw_checks):
            item_node = item_nodes[i] if i < len(item_nodes) else checks_node
            where = f"checks[{i}]"
            try:
                check = self._check(raw, item_node, where, interval, notify, recipients)
            except _Invalid as exc:
                entries = _pairs(item_node)
                key_node = entries.get(exc.key.rsplit(".", 1)[-1], (None, item_node))[1]
                self.problem(key_node, exc.key, exc.message)
                continue
            if check.name in seen:
                self.problem(
                    _pairs(item_node).get("name", (None, item_node))[1],
                    f"{where}.name",
                    f"check '{check.name}' is defined twice: this one skipped",
                )
                continue
            seen.add(check.name)
            checks.append(check)
        return ServiceDef(self.service, self.rel, interval, notify, recipients, tuple(checks))

    def _notifications(self, raw: Any, node: yaml.Node | None) -> tuple[bool, tuple[str, ...]]:
        if raw is None:
            return False, ()
        if not isinstance(raw, Mapping):
            self.problem(node, "notifications", "must be a mapping {enabled, recipients}: notifications off")
            return False, ()
        entries = _pairs(node)
        enabled = raw.get("enabled", False)
        if not isinstance(enabled, bool):
            self.problem(
                entries.get("enabled", (None, node))[1],
                "notifications.enabled",
                f"must be true or false, got {enabled!r}: notifications off",
            )
            return False, ()
        recipients = raw.get("recipients") or []
        if isinstance(recipients, str):
            recipients = [recipients]
        if not isinstance(recipients, list) or not all(
            isinstance(r, str) and _EMAIL.fullmatch(r.strip()) for r in recipients
        ):
            self.problem(
                entries.get("recipients", (None, node))[1],
                "notifications.recipients",
                "must be a list of email addresses: notifications off",
            )
            return False, ()
        return enabled, tuple(r.strip() for r in recipients)

    def _check(
        self, raw: Any, node: yaml.Node, where: str, interval: float, notify: bool, recipients: tuple[str, ...]
    ) -> CheckDef:
        if not isinstance(raw, Mapping):
            raise _Invalid(where, "a check must be a mapping with name and type")
        name = raw.get("name", "default")  # CloudLab's default name
        if not isinstance(name, (str, int)) or isinstance(name, bool) or not str(name).strip():
            raise _Invalid(f"{where}.name", f"must be a non-empty name, got {name!r}")
        name = str(name).strip()
        if "/" in name or len(name) > NAME_MAX:
            raise _Invalid(f"{where}.name", f"'{name}' must be at most {NAME_MAX} characters without '/'")
        kind = raw.get("type", "http")
        if kind not in CHECK_TYPES:
            raise _Invalid(f"{where}.type", f"check '{name}': unknown type {kind!r} (known: {', '.join(CHECK_TYPES)})")
        known = set(COMMON_KEYS) | set(TYPE_KEYS[kind])
        entries = _pairs(node)
        for key in raw:
            if key not in known:
                self.warnings.append(
                    Problem(
                        self.rel,
                        _line(entries.get(str(key), (node,))[0]),
                        f"{where}.{key}",
                        f"check '{name}': key not used by a {kind} check, ignored",
                    )
                )
        values: dict[str, Any] = {
            "service": self.service,
            "name": name,
            "type": kind,
            "file": self.rel,
            "line": _line(node),
        }
        values["interval"] = _positive(raw, "interval", where, name, interval)
        values["timeout"] = _positive(raw, "timeout", where, name, DEFAULT_TIMEOUTS[kind])
        values["fail_after"] = _count(raw, "fail_after", where, name)
        values["recover_after"] = _count(raw, "recover_after", where, name)
        values["notify"], values["recipients"] = notify, recipients
        host = raw.get("host")
        if host is not None:
            if not isinstance(host, str) or not host.strip() or any(c.isspace() for c in host.strip()):
                raise _Invalid(f"{where}.host", f"check '{name}': must be a host name or address, got {host!r}")
            values["host"] = host.strip()
        if "port" in raw:
            port = raw["port"]
            if not isinstance(port, int) or isinstance(port, bool) or not 1 <= port <= 65535:
                raise _Invalid(f"{where}.port", f"check '{name}': must be a port number 1-65535, got {port!r}")
            values["port"] = port
        elif kind == "tcp":
            values["port"] = 443  # CloudLab's default
        if kind == "http":
            self._http(raw, where, name, values)
        elif kind == "ssh_command":
            _ssh(raw, where, name, values)
        return CheckDef(**values)

    @staticmethod
    def _http(raw: Mapping[str, Any], where: str, name: str, values: dict[str, Any]) -> None:
        url = raw.get("url")
        if url is not None:
            if not isinstance(url, str):
                raise _Invalid(f"{where}.url", f"check '{name}': bad URL {url!r}")
            try:
                parsed = httpx.URL(url.strip())
            except (httpx.InvalidURL, ValueError) as exc:
                raise _Invalid(f"{where}.url", f"check '{name}': bad URL {url!r}: {exc}") from None
            if parsed.scheme not in ("http", "https") or not parsed.host:
                raise _Invalid(f"{where}.url", f"check '{name}': bad URL {url!r}: needs http:// or https:// and a host")
            values["url"] = url.strip()
        path = raw.get("path", "/")
        if not isinstance(path, str):
            raise _Invalid(f"{where}.path", f"check '{name}': must be a path like /health, got {path!r}")
        values["path"] = path if path.startswith("/") else f"/{path}"
        method = raw.get("method", "GET")
        if not isinstance(method, str) or method.upper() not in HTTP_METHODS:
            raise _Invalid(
                f"{where}.method", f"check '{name}': must be one of {', '.join(HTTP_METHODS)}, got {method!r}"
            )
        values["method"] = method.upper()
        status = raw.get("expected_status", 200)
        if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
            raise _Invalid(
                f"{where}.expected_status", f"check '{name}': must be an HTTP status 100-599, got {status!r}"
            )
        values["expected_status"] = status
        verify = raw.get("tls_verify", True)
        if not isinstance(verify, bool):
            raise _Invalid(f"{where}.tls_verify", f"check '{name}': must be true or false, got {verify!r}")
        values["tls_verify"] = verify
        regex = raw.get("body_regex")
        if regex is not None:
            if not isinstance(regex, str):
                raise _Invalid(f"{where}.body_regex", f"check '{name}': must be a regular expression, got {regex!r}")
            try:
                re.compile(regex)
            except re.error as exc:
                raise _Invalid(f"{where}.body_regex", f"check '{name}': bad regular expression: {exc}") from None
            values["body_regex"] = regex


def _ssh(raw: Mapping[str, Any], where: str, name: str, values: dict[str, Any]) -> None:
    for key, default in (("command", "echo ok"), ("expected_output", ""), ("key_file", "")):
        value = raw.get(key, default)
        if value is None:
            value = default
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise _Invalid(f"{where}.{key}", f"check '{name}': must be text, got {value!r}")
        values[key] = str(value)
    if not values["command"].strip():
        raise _Invalid(f"{where}.command", f"check '{name}': the command is empty")
    user = raw.get("user")
    if user is not None:
        if not isinstance(user, str) or not _USER.fullmatch(user):
            raise _Invalid(
                f"{where}.user", f"check '{name}': must be a user name ([A-Za-z0-9._-], at most 32), got {user!r}"
            )
        values["user"] = user


def _positive(raw: Mapping[str, Any], key: str, where: str, name: str, default: float) -> float:
    value = raw.get(key)
    if value is None:
        return default
    if not _is_number(value) or value <= 0:
        raise _Invalid(f"{where}.{key}", f"check '{name}': must be a positive number of seconds, got {value!r}")
    return float(value)


def _count(raw: Mapping[str, Any], key: str, where: str, name: str) -> int:
    value = raw.get(key, 1)
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise _Invalid(f"{where}.{key}", f"check '{name}': must be a whole number of at least 1, got {value!r}")
    return value
