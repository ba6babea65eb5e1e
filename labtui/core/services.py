"""Services of the lab (docs/cloudlab.md): discovery, ``scripts.yaml`` and script inputs.

A service is a folder directly under ``<lab>/services/`` holding a regular file
``deploy.sh`` (CloudLab's rule) or ``deploy.yml`` (labtui's extension). Its scripts come
from ``scripts.yaml``; without a usable one the service has CloudLab's single ``deploy``
script. Inputs reach scripts as ``INPUT_<NAME>`` environment variables exactly as in
CloudLab, but labtui also checks them by type *before* a job is queued, so a typo fails in
the form or on the command line instead of half-way through a deploy.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from labtui.core.actor import Actor
from labtui.core.db.engine import Database
from labtui.core.db.models import User
from labtui.core.errors import NotFound, ValidationError
from labtui.core.inputs import check_inputs
from labtui.core.rbac import Rbac

log = logging.getLogger("labtui.services")

SERVICES_DIR = "services"
#: Files whose presence makes a folder a service (CloudLab: deploy.sh only).
DEPLOY_FILES = ("deploy.sh", "deploy.yml")
PLAYBOOK_SUFFIXES = (".yml", ".yaml")
#: Input types the forms know; any other type is a text input (as in CloudLab's UI).
LIST_TYPES = ("list", "ssh_key_select")
DEPLOYMENT_TYPES = ("deployment_id", "deployment_select")
ACTIVE_DEPLOYMENT_FILE = Path("outputs") / "temp_inventory.yaml"


@dataclass(frozen=True)
class InputDef:
    """One input of a script (``scripts.yaml`` ``inputs:`` entry)."""

    name: str
    label: str
    type: str = "string"
    required: bool = False
    default: Any = None
    options: tuple[str, ...] = ()

    @property
    def env_name(self) -> str:
        """CloudLab's mapping: ``INPUT_`` + the name upper-cased as it is (hyphens kept)."""
        return f"INPUT_{self.name.upper()}"

    @property
    def is_list(self) -> bool:
        return self.type in LIST_TYPES

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "type": self.type,
            "required": self.required,
            "default": self.default,
            "options": list(self.options),
        }


@dataclass(frozen=True)
class ScriptDef:
    """One script of a service; ``file`` is relative to the service folder."""

    name: str
    label: str
    file: str
    inputs: tuple[InputDef, ...] = ()

    @property
    def is_playbook(self) -> bool:
        """A ``.yml``/``.yaml`` file runs through ansible-runner; anything else with bash."""
        return self.file.endswith(PLAYBOOK_SUFFIXES)

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "label": self.label,
            "file": self.file,
            "inputs": [i.as_json() for i in self.inputs],
        }


@dataclass(frozen=True)
class ServiceInfo:
    name: str
    path: Path
    scripts: tuple[ScriptDef, ...]
    #: ``outputs/temp_inventory.yaml`` exists (CloudLab's "active deployment").
    active_deployment: bool
    #: The service has its own ``stop.yml``.
    has_stop_playbook: bool
    #: Problems found in ``scripts.yaml`` (the defaults were used where needed).
    warnings: tuple[str, ...] = field(default=())

    def script(self, name: str) -> ScriptDef:
        for s in self.scripts:
            if s.name == name:
                return s
        # The script may be missing because scripts.yaml is broken: say where, on the same line.
        why = f" ({self.warnings[0]})" if self.warnings else ""
        raise ValidationError(f"Script '{name}' not found for service '{self.name}'{why}", "script")

    def as_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "service_dir": str(self.path),
            "scripts": [s.as_json() for s in self.scripts],
            "active_deployment": self.active_deployment,
            "has_stop_playbook": self.has_stop_playbook,
            "warnings": list(self.warnings),
        }


# -- discovery and scripts.yaml -------------------------------------------------------------


def services_root(lab_dir: Path) -> Path:
    return lab_dir / SERVICES_DIR


def deploy_file(service_dir: Path) -> str | None:
    """``deploy.sh`` (CloudLab) or else ``deploy.yml``; None when the folder is no service."""
    for name in DEPLOY_FILES:
        if (service_dir / name).is_file():
            return name
    return None


def discover(lab_dir: Path) -> list[str]:
    """The service names, sorted; a missing ``services/`` folder gives []."""
    root = services_root(lab_dir)
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    return [n for n in names if (root / n).is_dir() and deploy_file(root / n) is not None]


def _default_scripts(service_dir: Path) -> list[ScriptDef]:
    return [ScriptDef("deploy", "Deploy", deploy_file(service_dir) or "deploy.sh")]


def _parse_input(raw: Any, where: str) -> InputDef:
    if not isinstance(raw, Mapping) or not str(raw.get("name") or "").strip():
        raise ValueError(f"{where}: an input needs a name")
    name = str(raw["name"]).strip()
    options = raw.get("options") or ()
    if not isinstance(options, (list, tuple)):
        raise ValueError(f"{where}: options of input '{name}' must be a list")
    return InputDef(
        name=name,
        label=str(raw.get("label") or name),
        type=str(raw.get("type") or "string"),
        required=bool(raw.get("required", False)),
        default=raw.get("default"),
        options=tuple(str(o) for o in options),
    )


def _line(root: yaml.Node | None, *steps: str | int) -> str:
    """``:LINE`` of the node at ``steps`` (mapping keys and list indexes) below ``root``, or
    of the nearest node on the way there (a missing key is reported where its parent is)."""
    node = root
    found = root
    for step in steps:
        if isinstance(node, yaml.MappingNode) and isinstance(step, str):
            node = next((v for k, v in node.value if k.value == step), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(step, int) and step < len(node.value):
            node = node.value[step]
        else:
            node = None
        if node is None:
            break
        found = node
    return f":{found.start_mark.line + 1}" if found is not None else ""


def load_scripts(service_dir: Path) -> tuple[list[ScriptDef], list[str]]:
    """Parse ``scripts.yaml``: (scripts, warnings). CloudLab's default when unusable.

    A warning starts with ``FILE:LINE:`` like a config error, so whoever fixes the lab can
    go straight to it.
    """
    path = service_dir / "scripts.yaml"
    if not path.is_file():
        return _default_scripts(service_dir), []
    try:
        text = path.read_text(encoding="utf-8")
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except OSError as exc:
        return _default_scripts(service_dir), [f"{path}: not readable: {exc.strerror}"]
    except UnicodeDecodeError:
        return _default_scripts(service_dir), [f"{path}: not UTF-8 text, using the default deploy script"]
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or exc.__class__.__name__
        return _default_scripts(service_dir), [f"{path}{line}: not readable YAML: {problem}"]
    if not isinstance(data, Mapping) or not isinstance(data.get("scripts"), list):
        where = f"{path}{_line(root, 'scripts')}"
        return _default_scripts(service_dir), [f"{where}: no 'scripts' list, using the default deploy script"]
    scripts: list[ScriptDef] = []
    warnings: list[str] = []
    seen: set[str] = set()
    for i, raw in enumerate(data["scripts"]):
        where = f"{path}{_line(root, 'scripts', i)}: scripts[{i}]"
        try:
            if not isinstance(raw, Mapping) or not raw.get("name") or not raw.get("file"):
                raise ValueError(f"{where}: a script needs a name and a file")
            name = str(raw["name"]).strip()
            if name in seen:
                raise ValueError(f"{where}: script '{name}' is listed twice")
            raw_inputs = raw.get("inputs") or []
            if not isinstance(raw_inputs, list):
                raise ValueError(f"{path}{_line(root, 'scripts', i, 'inputs')}: scripts[{i}]: inputs must be a list")
            inputs = tuple(
                _parse_input(r, f"{path}{_line(root, 'scripts', i, 'inputs', j)}: scripts[{i}].inputs[{j}]")
                for j, r in enumerate(raw_inputs)
            )
        except ValueError as exc:
            warnings.append(str(exc))
            continue
        seen.add(name)
        scripts.append(ScriptDef(name, str(raw.get("label") or name), str(raw["file"]).strip(), inputs))
    if not scripts:
        return _default_scripts(service_dir), [*warnings, f"{path}: no usable script, using the default"]
    return scripts, warnings


def script_path(service_dir: Path, script: ScriptDef, service: str) -> Path:
    """The script's file, resolved; refused if it leaves the service folder or is missing."""
    base = service_dir.resolve()
    path = (service_dir / script.file).resolve()
    if not path.is_relative_to(base):
        raise ValidationError(
            f"Script file '{script.file}' of service '{service}' is outside the service folder", "script"
        )
    if not path.is_file():
        raise ValidationError(f"Script file '{script.file}' of service '{service}' does not exist", "script")
    return path


def active_deployments(lab_dir: Path) -> list[str]:
    """Services with ``outputs/temp_inventory.yaml`` (any folder, as CloudLab)."""
    root = services_root(lab_dir)
    try:
        names = sorted(os.listdir(root))
    except OSError:
        return []
    return [n for n in names if (root / n / ACTIVE_DEPLOYMENT_FILE).is_file()]


# -- inputs ---------------------------------------------------------------------------------


def _as_list(value: Any) -> list[str]:
    if isinstance(value, (list, tuple)):
        items = [str(v).strip() for v in value if v is not None]
    else:
        items = [v.strip() for v in str(value).split(",")]
    return [v for v in items if v]


def validate_inputs(
    service: str,
    script: ScriptDef,
    inputs: Mapping[str, Any] | None,
    *,
    deployments: list[str] | None = None,
) -> dict[str, Any]:
    """Check ``inputs`` against the script's declarations; returns the normalised values.

    Lists become lists of strings, everything else a string. An absent input takes its
    ``default``; an absent or empty required input is refused, naming it. An input the
    script does not declare is passed on as CloudLab did (``INPUT_<NAME>``), checked as a
    free input (:func:`labtui.core.inputs.check_inputs`); :func:`undeclared` names them.
    """
    given = dict(inputs or {})
    declared = {i.name: i for i in script.inputs}
    values: dict[str, Any] = check_inputs({k: v for k, v in given.items() if k not in declared})
    for spec in script.inputs:
        raw = given.get(spec.name)
        if raw is None and spec.default is not None:
            raw = spec.default
        if spec.is_list:
            items = _as_list(raw) if raw is not None else []
            if not items:
                if spec.required:
                    raise ValidationError(f"Missing required input: {spec.name}", spec.name)
                if raw is None:
                    continue
            values[spec.name] = items
            continue
        if isinstance(raw, (list, tuple, dict)):
            raise ValidationError(f"Input '{spec.name}' takes a single value", spec.name)
        text = "" if raw is None else str(raw)
        if not text.strip():
            if spec.required:
                raise ValidationError(f"Missing required input: {spec.name}", spec.name)
            if raw is None:
                continue
            values[spec.name] = text
            continue
        if spec.type == "select" and spec.options and text not in spec.options:
            raise ValidationError(
                f"Input '{spec.name}' must be one of {', '.join(spec.options)} (got '{text}')", spec.name
            )
        if spec.type in DEPLOYMENT_TYPES and deployments is not None and text not in deployments:
            active = ", ".join(deployments) or "none"
            raise ValidationError(
                f"Input '{spec.name}': '{text}' is not an active deployment (active: {active})", spec.name
            )
        values[spec.name] = text
    return values


def undeclared(script: ScriptDef, inputs: Mapping[str, Any] | None) -> list[str]:
    """The names in ``inputs`` that ``script`` does not declare (shown as "undeclared")."""
    declared = {i.name for i in script.inputs}
    return sorted(name for name in (inputs or {}) if name not in declared)


def resolve_ssh_keys(session: Session, input_name: str, selection: list[str]) -> list[str]:
    """The public keys of the selected users (user ids as CloudLab's UI sent them, or names)."""
    keys: list[str] = []
    for item in selection:
        if item.isdigit():
            user = session.get(User, int(item))
        else:
            user = session.scalar(select(User).where(User.username == item))
        if user is None:
            raise ValidationError(f"Input '{input_name}': no user '{item}'", input_name)
        key = (user.ssh_public_key or "").strip()
        if not key:
            raise ValidationError(f"Input '{input_name}': user '{user.username}' has no SSH public key", input_name)
        keys.append(key)
    return keys


def input_env(session: Session, script: ScriptDef, values: Mapping[str, Any]) -> dict[str, str]:
    """``INPUT_<NAME>`` variables for validated ``values`` (lists comma-joined, keys resolved)."""
    env: dict[str, str] = {}
    specs = {i.name: i for i in script.inputs}
    for name, value in values.items():
        spec = specs.get(name)
        if spec is not None and spec.type == "ssh_key_select":
            value = resolve_ssh_keys(session, name, list(value))
        env[f"INPUT_{name.upper()}"] = ",".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return env


# -- the service ----------------------------------------------------------------------------


#: A service is a folder, so its name is one path component: at most NAME_MAX bytes.
NAME_MAX_BYTES = 255


def _check_name(name: str) -> None:
    """Refuse a name that cannot be a service folder before it becomes a path (a name longer
    than a folder name can be made the OS answer ENAMETOOLONG from deep inside a call)."""
    if not name or name in (".", "..") or "/" in name or "\\" in name or "\0" in name:
        raise NotFound(f"Service '{name}' not found")
    size = len(name.encode("utf-8", "surrogateescape"))
    if size > NAME_MAX_BYTES:
        raise ValidationError(
            f"Service '{name[:40]}...' not found: a service name is at most {NAME_MAX_BYTES} bytes, this one has {size}",
            "service",
        )


class Services:
    """The lab's services, read from the checkout each time (the lab changes under us)."""

    def __init__(self, db: Database, rbac: Rbac, lab_dir: Path) -> None:
        self.db, self.rbac = db, rbac
        self.lab_dir = lab_dir

    @property
    def root(self) -> Path:
        return services_root(self.lab_dir)

    def names(self) -> list[str]:
        return discover(self.lab_dir)

    def path(self, name: str) -> Path:
        """The folder of service ``name``; :class:`NotFound` unless it is a service."""
        _check_name(name)
        path = self.root / name
        if not path.is_dir() or deploy_file(path) is None:
            raise NotFound(f"Service '{name}' not found")
        return path

    def load(self, name: str) -> ServiceInfo:
        """Read one service from disk (no permission check: for core callers)."""
        path = self.path(name)
        scripts, warnings = load_scripts(path)
        for w in warnings:
            log.warning("service %s: %s", name, w)
        return ServiceInfo(
            name=name,
            path=path,
            scripts=tuple(scripts),
            active_deployment=(path / ACTIVE_DEPLOYMENT_FILE).is_file(),
            has_stop_playbook=(path / "stop.yml").is_file(),
            warnings=tuple(warnings),
        )

    def active_deployments(self) -> list[str]:
        return active_deployments(self.lab_dir)

    async def list(self, actor: Actor) -> list[ServiceInfo]:
        await self.db.run(lambda s: self.rbac.require(s, actor, "services.view"))
        return [self.load(n) for n in self.names()]

    async def get(self, actor: Actor, name: str) -> ServiceInfo:
        await self.db.run(lambda s: self.rbac.require(s, actor, "services.view", f"services/{name}"))
        return self.load(name)
