"""Inventory type definitions: the lab's ``inventory_types/*.yaml`` (CloudLab's format, docs/cloudlab.md).

Files are read in sorted filename order. An invalid file is reported with its file, line,
type and field, and the other files still load. labtui checks more than CloudLab did
(enum options, duplicate slugs and field names, action keys), because a mistake found at
startup is cheaper than one found when someone presses a button.

Types are frozen dataclasses carrying the sha256 of their file; :func:`sync_types_to_db`
upserts them into ``inventory_types`` with change detection by that hash. Fields and
actions live only in memory, as in CloudLab.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session

from labtui.core.db.models import InventoryType
from labtui.core.permissions_catalog import PermissionDef, inventory_permissions

TYPES_DIR = "inventory_types"

FIELD_TYPES = frozenset({"string", "text", "enum", "integer", "boolean", "datetime", "secret", "json"})
ACTION_TYPES = ("script", "script_stop", "playbook", "dynamic_scripts", "builtin", "ssh")
ACTION_SCOPES = ("object", "type")
#: The sources CloudLab had; adapters for them arrive with later issues.
KNOWN_SYNC_SOURCES = ("vultr_inventory", "service_discovery", "user_sync", "deployment_sync")

_SLUG = re.compile(r"[A-Za-z0-9_-]{1,50}")
_NAME = re.compile(r"[A-Za-z0-9_-]{1,50}")


@dataclass(frozen=True)
class FieldDef:
    """One field of a type. ``options`` and ``default`` are for forms (CloudLab: UI only)."""

    name: str
    type: str
    label: str
    searchable: bool = False
    required: bool = False
    unique: bool = False
    readonly: bool = False
    options: tuple[str, ...] = ()
    default: Any = field(default=None, hash=False)


@dataclass(frozen=True)
class ActionDef:
    """An action on objects (``scope: object``) or on the whole type (``scope: type``)."""

    name: str
    label: str
    scope: str = "object"
    type: str = "script"
    script: str = "deploy.sh"
    playbook: str = ""
    vars_mapping: tuple[tuple[str, str], ...] = ()
    script_name: str = "deploy"
    confirm: str = ""
    destructive: bool = False
    icon: str = ""

    @property
    def vars(self) -> dict[str, str]:
        """``vars_mapping`` as a dict (stored as pairs so the definition stays hashable)."""
        return dict(self.vars_mapping)

    @property
    def is_ssh(self) -> bool:
        """CloudLab's built-in SSH button (``type: builtin``, ``name: ssh``)."""
        return self.type in ("builtin", "ssh") and self.name == "ssh"


@dataclass(frozen=True)
class InventoryTypeDef:
    """One valid type file."""

    slug: str
    label: str
    description: str
    icon: str
    fields: tuple[FieldDef, ...]
    actions: tuple[ActionDef, ...]
    sync: str | None
    filename: str
    config_hash: str

    def field(self, name: str) -> FieldDef | None:
        return next((f for f in self.fields if f.name == name), None)

    def action(self, name: str) -> ActionDef | None:
        return next((a for a in self.actions if a.name == name), None)

    @property
    def searchable_fields(self) -> tuple[str, ...]:
        return tuple(f.name for f in self.fields if f.searchable)

    def permission(self, suffix: str) -> str:
        return f"inventory.{self.slug}.{suffix}"

    def permission_defs(self) -> list[PermissionDef]:
        """``inventory.<slug>.{view,create,edit,delete,<action>}`` with CloudLab's wording."""
        return inventory_permissions(self.slug, self.label, [(a.name, a.label) for a in self.actions])


@dataclass(frozen=True)
class TypeLoadError:
    """Why one file was skipped; ``str()`` is the message for the log and the dashboard."""

    file: str
    line: int | None
    message: str
    slug: str | None = None
    field: str | None = None
    action: str | None = None

    def __str__(self) -> str:
        head = f"{self.file}:{self.line}" if self.line else self.file
        context = [
            f"{kind} '{name}'"
            for kind, name in (("type", self.slug), ("field", self.field), ("action", self.action))
            if name
        ]
        return ": ".join([head, *([", ".join(context)] if context else []), self.message])


@dataclass
class TypesReport:
    """The outcome of loading a lab's type files."""

    types: list[InventoryTypeDef] = field(default_factory=list)
    errors: list[TypeLoadError] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: The lab has no ``inventory_types/`` folder (a lab may have no types: not a problem).
    folder_missing: bool = False
    #: Slugs named by files that failed: their rows are left alone, not marked removed.
    broken_slugs: set[str] = field(default_factory=set)
    #: Filled by :func:`sync_types_to_db`.
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    removed: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)

    @property
    def by_slug(self) -> dict[str, InventoryTypeDef]:
        return {t.slug: t for t in self.types}


class _Invalid(Exception):
    def __init__(self, node: yaml.Node | None, message: str, **where: str | None) -> None:
        super().__init__(message)
        self.line = node.start_mark.line + 1 if node is not None else None
        self.message = message
        self.where = where


class _Reader:
    """Builds one type from YAML nodes, keeping line numbers for every complaint."""

    def __init__(self, loader: yaml.SafeLoader) -> None:
        self.loader = loader
        self.problems: list[_Invalid] = []
        self.warnings: list[str] = []
        self.slug: str | None = None

    def value(self, node: yaml.Node) -> Any:
        return self.loader.construct_object(node, deep=True)

    def mapping(self, node: yaml.Node, what: str, **where: str | None) -> dict[str, tuple[yaml.Node, yaml.Node]]:
        if not isinstance(node, yaml.MappingNode):
            raise _Invalid(node, f"{what} must be a mapping of keys", **where)
        return {str(k.value): (k, v) for k, v in node.value}

    def text(
        self, keys: dict[str, tuple[yaml.Node, yaml.Node]], key: str, default: str = "", **where: str | None
    ) -> str:
        if key not in keys:
            return default
        node = keys[key][1]
        value = self.value(node)
        if value is None:
            return default
        if not isinstance(value, (str, int, float)) or isinstance(value, bool):
            raise _Invalid(node, f"'{key}' must be text", **where)
        return str(value)

    def flag(
        self, keys: dict[str, tuple[yaml.Node, yaml.Node]], key: str, default: bool = False, **where: str | None
    ) -> bool:
        if key not in keys:
            return default
        node = keys[key][1]
        value = self.value(node)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise _Invalid(node, f"'{key}' must be true or false, got {node.value!r}", **where)
        return value

    def list_of(self, keys: dict[str, tuple[yaml.Node, yaml.Node]], key: str, **where: str | None) -> list[yaml.Node]:
        node = keys[key][1]
        if isinstance(node, yaml.ScalarNode) and self.value(node) is None:
            return []
        if not isinstance(node, yaml.SequenceNode):
            raise _Invalid(node, f"'{key}' must be a list", **where)
        return list(node.value)

    def collect(self, fn: Any, *args: Any) -> Any:
        """Run one sub-check; record its problem and go on, so a file reports all of them."""
        try:
            return fn(*args)
        except _Invalid as exc:
            self.problems.append(exc)
            return None

    # -- the type ----------------------------------------------------------------------

    def read_type(self, root: yaml.Node, filename: str, digest: str) -> InventoryTypeDef | None:
        keys = self.mapping(root, "a type file")
        if "slug" not in keys:
            raise _Invalid(root, "missing required key 'slug'")
        slug = self.text(keys, "slug")
        if not _SLUG.fullmatch(slug):
            raise _Invalid(keys["slug"][1], f"slug {slug!r} must be 1-50 letters, digits, '-' or '_'")
        self.slug = slug
        for key in ("label", "fields"):
            if key not in keys:
                raise _Invalid(root, f"missing required key '{key}'")
        label = self.text(keys, "label")
        if not label:
            raise _Invalid(keys["label"][1], "'label' must not be empty")
        description = self.collect(self.text, keys, "description") or ""
        icon = self.collect(self.text, keys, "icon") or ""
        fields = self.collect(self.read_fields, keys)
        actions = self.collect(self.read_actions, keys)
        sync = self.collect(self.read_sync, keys)
        if self.problems:
            return None
        return InventoryTypeDef(slug, label, description, icon, fields, actions, sync, filename, digest)

    def read_fields(self, keys: dict[str, tuple[yaml.Node, yaml.Node]]) -> tuple[FieldDef, ...]:
        out: list[FieldDef] = []
        seen: dict[str, int] = {}
        for node in self.list_of(keys, "fields"):
            f = self.collect(self.read_field, node, seen)
            if f is not None:
                out.append(f)
        return tuple(out)

    def read_field(self, node: yaml.Node, seen: dict[str, int]) -> FieldDef:
        keys = self.mapping(node, "a field")
        if "name" not in keys:
            raise _Invalid(node, "a field needs a 'name'")
        name = self.text(keys, "name")
        if not _NAME.fullmatch(name):
            raise _Invalid(keys["name"][1], f"field name {name!r} must be 1-50 letters, digits, '-' or '_'")
        line = node.start_mark.line + 1
        if name in seen:
            raise _Invalid(node, f"duplicate field name (first defined on line {seen[name]})", field=name)
        seen[name] = line
        if "type" not in keys:
            raise _Invalid(node, "a field needs a 'type'", field=name)
        ftype = self.text(keys, "type", field=name)
        if ftype not in FIELD_TYPES:
            raise _Invalid(
                keys["type"][1], f"unknown field type {ftype!r} (known: {', '.join(sorted(FIELD_TYPES))})", field=name
            )
        options: tuple[str, ...] = ()
        if "options" in keys:
            opt_nodes = self.list_of(keys, "options", field=name)
            values = [self.value(n) for n in opt_nodes]
            if any(isinstance(v, (dict, list)) or v is None for v in values):
                raise _Invalid(keys["options"][1], "'options' must be a list of values", field=name)
            options = tuple(str(v) for v in values)
        if ftype == "enum" and not options:
            raise _Invalid(node, "an enum field needs 'options'", field=name)
        default = self.value(keys["default"][1]) if "default" in keys else None
        return FieldDef(
            name=name,
            type=ftype,
            label=self.text(keys, "label", name.replace("_", " ").title(), field=name),
            searchable=self.flag(keys, "searchable", field=name),
            required=self.flag(keys, "required", field=name),
            unique=self.flag(keys, "unique", field=name),
            readonly=self.flag(keys, "readonly", field=name),
            options=options,
            default=default,
        )

    def read_actions(self, keys: dict[str, tuple[yaml.Node, yaml.Node]]) -> tuple[ActionDef, ...]:
        if "actions" not in keys:
            return ()
        out: list[ActionDef] = []
        seen: set[str] = set()
        for node in self.list_of(keys, "actions"):
            a = self.collect(self.read_action, node, seen)
            if a is not None:
                out.append(a)
        return tuple(out)

    def read_action(self, node: yaml.Node, seen: set[str]) -> ActionDef:
        keys = self.mapping(node, "an action")
        if "name" not in keys:
            raise _Invalid(node, "an action needs a 'name'")
        name = self.text(keys, "name")
        if not _NAME.fullmatch(name):
            raise _Invalid(keys["name"][1], f"action name {name!r} must be 1-50 letters, digits, '-' or '_'")
        if name in seen:
            raise _Invalid(node, "duplicate action name", action=name)
        seen.add(name)
        scope = self.text(keys, "scope", "object", action=name)
        if scope not in ACTION_SCOPES:
            raise _Invalid(
                keys["scope"][1], f"scope must be one of {', '.join(ACTION_SCOPES)}, got {scope!r}", action=name
            )
        atype = self.text(keys, "type", "script", action=name)
        if atype not in ACTION_TYPES:
            raise _Invalid(
                keys["type"][1], f"unknown action type {atype!r} (known: {', '.join(ACTION_TYPES)})", action=name
            )
        pairs: tuple[tuple[str, str], ...] = ()
        if "vars_mapping" in keys and self.value(keys["vars_mapping"][1]) is not None:
            mapping = self.mapping(keys["vars_mapping"][1], "'vars_mapping'", action=name)
            pairs = tuple((k, str(self.value(v))) for k, (_, v) in mapping.items())
        playbook = self.text(keys, "playbook", action=name)
        if atype == "playbook" and not playbook:
            raise _Invalid(node, "a playbook action needs 'playbook'", action=name)
        return ActionDef(
            name=name,
            label=self.text(keys, "label", name.title(), action=name),
            scope=scope,
            type=atype,
            script=self.text(keys, "script", "deploy.sh", action=name),
            playbook=playbook,
            vars_mapping=pairs,
            script_name=self.text(keys, "script_name", "deploy", action=name),
            confirm=self.text(keys, "confirm", action=name),
            destructive=self.flag(keys, "destructive", name == "destroy", action=name),
            icon=self.text(keys, "icon", action=name),
        )

    def read_sync(self, keys: dict[str, tuple[yaml.Node, yaml.Node]]) -> str | None:
        if "sync" not in keys:
            return None
        node = keys["sync"][1]
        value = self.value(node)
        if value is None or value == "":
            return None
        if isinstance(value, str):
            return value
        if isinstance(value, dict):
            source = value.get("source")
            if isinstance(source, str) and source:
                return source
            if source is None:
                # CloudLab's documented {adapter: ...} never synced; say so instead of silently not syncing.
                self.warnings.append(
                    f"line {node.start_mark.line + 1}: 'sync' has no 'source' key, so this type is not synced"
                )
                return None
        raise _Invalid(node, "'sync' must be a source name or {source: name}")


def _parse_file(
    path: Path, filename: str
) -> tuple[InventoryTypeDef | None, list[TypeLoadError], list[str], str | None]:
    """One file: the type, or the errors (and the slug when it could be read)."""
    try:
        raw = path.read_bytes()
        text = raw.decode("utf-8")
    except OSError as exc:
        return None, [TypeLoadError(filename, None, f"cannot read: {exc.strerror}")], [], None
    except UnicodeDecodeError:
        return None, [TypeLoadError(filename, None, "not UTF-8 text")], [], None
    digest = hashlib.sha256(raw).hexdigest()
    loader = yaml.SafeLoader(text)
    reader = _Reader(loader)
    try:
        try:
            root = loader.get_single_node()
        except yaml.YAMLError as exc:
            mark = getattr(exc, "problem_mark", None)
            problem = getattr(exc, "problem", None) or str(exc)
            return (
                None,
                [TypeLoadError(filename, mark.line + 1 if mark else None, f"invalid YAML: {problem}")],
                [],
                None,
            )
        if root is None:
            return None, [TypeLoadError(filename, None, "the file is empty")], [], None
        try:
            type_def = reader.read_type(root, filename, digest)
        except _Invalid as exc:
            reader.problems.insert(0, exc)
            type_def = None
        except yaml.YAMLError as exc:  # e.g. a bad tag met while constructing a value
            mark = getattr(exc, "problem_mark", None)
            reader.problems.insert(0, _Invalid(None, f"invalid YAML: {getattr(exc, 'problem', None) or exc}"))
            if mark:
                reader.problems[0].line = mark.line + 1
            type_def = None
    finally:
        loader.dispose()
    errors = [
        TypeLoadError(filename, p.line, p.message, reader.slug, p.where.get("field"), p.where.get("action"))
        for p in reader.problems
    ]
    warnings = [f"{filename}: type '{reader.slug}': {w}" for w in reader.warnings]
    return type_def, errors, warnings, reader.slug


def load_inventory_types(lab_dir: Path) -> TypesReport:
    """Read ``<lab>/inventory_types/*.yaml|*.yml`` in sorted filename order."""
    report = TypesReport()
    folder = lab_dir / TYPES_DIR
    if not folder.is_dir():
        report.folder_missing = True
        return report
    files = sorted(p for p in folder.iterdir() if p.suffix in (".yaml", ".yml") and p.is_file())
    first_file: dict[str, str] = {}
    for path in files:
        filename = f"{TYPES_DIR}/{path.name}"
        type_def, errors, warnings, slug = _parse_file(path, filename)
        report.warnings += warnings
        if type_def is not None and type_def.slug in first_file:
            errors = [
                TypeLoadError(
                    filename, 1, f"duplicate slug: already defined in {first_file[type_def.slug]}", type_def.slug
                )
            ]
            type_def = None
            slug = None  # the first definition stands; this file does not protect the row
        if type_def is None:
            report.errors += errors
            if slug:
                report.broken_slugs.add(slug)
            continue
        first_file[type_def.slug] = filename
        report.types.append(type_def)
    report.broken_slugs -= set(first_file)
    return report


def sync_types_to_db(session: Session, report: TypesReport) -> TypesReport:
    """Upsert the loaded types by slug (CloudLab's ``sync_types_to_db``) and fill the report.

    A new slug is added; a different file hash updates label, description and icon; a
    type whose file disappeared is flagged ``removed`` (never deleted, nor its objects).
    A type whose file is present but invalid is left as it was.
    """
    rows = {r.slug: r for r in session.scalars(select(InventoryType))}
    for t in report.types:
        row = rows.get(t.slug)
        if row is None:
            session.add(
                InventoryType(
                    slug=t.slug,
                    label=t.label,
                    description=t.description,
                    icon=t.icon,
                    config_hash=t.config_hash,
                    filename=t.filename,
                    removed=False,
                )
            )
            report.added.append(t.slug)
        elif row.config_hash != t.config_hash or row.removed or row.filename != t.filename:
            row.label, row.description, row.icon = t.label, t.description, t.icon
            row.config_hash, row.filename, row.removed = t.config_hash, t.filename, False
            report.changed.append(t.slug)
        else:
            report.unchanged.append(t.slug)
    loaded = {t.slug for t in report.types}
    for slug, row in rows.items():
        if slug not in loaded and slug not in report.broken_slugs and not row.removed:
            row.removed = True
            report.removed.append(slug)
    return report


def permission_defs(types: Iterable[InventoryTypeDef]) -> list[PermissionDef]:
    """Every inventory permission of ``types``, in load order."""
    return [d for t in types for d in t.permission_defs()]
