"""An inventory object's values, by field type: what a value must be, what a form's change
means, and the text the search reads. Pure functions of the type's fields, shared by the
object service, the sync adapters and the CloudLab import (which write objects too).
"""

from __future__ import annotations

import datetime as dt
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from labtui.core.errors import ValidationError
from labtui.core.inventory.types import FieldDef, InventoryTypeDef

_TRUE = {"true", "yes", "on", "1"}
_FALSE = {"false", "no", "off", "0"}


# -- values by field type -------------------------------------------------------------------


def is_blank(value: Any) -> bool:
    """No value: None or an empty/blank string (what a cleared form field gives)."""
    return value is None or (isinstance(value, str) and not value.strip())


def check_value(f: FieldDef, value: Any) -> Any:
    """``value`` for field ``f`` in its stored form, or :class:`ValidationError` naming the field."""
    name, kind = f.name, f.type

    def bad(message: str) -> ValidationError:
        return ValidationError(f"Field '{name}' {message}", name)

    if kind in ("string", "text", "secret"):
        if isinstance(value, bool) or not isinstance(value, (str, int, float)):
            raise bad("must be text")
        text = str(value)
        if kind == "string" and ("\n" in text or "\r" in text):
            raise bad("must be a single line")
        return text
    if kind == "enum":
        choice = str(value) if isinstance(value, (str, int, float)) and not isinstance(value, bool) else None
        if choice is None or choice not in f.options:
            raise bad(f"must be one of {', '.join(f.options)} (got {value!r})")
        return choice
    if kind == "integer":
        if isinstance(value, bool):
            raise bad("must be a whole number")
        if isinstance(value, int):
            return value
        if isinstance(value, float) and math.isfinite(value) and value.is_integer():
            return int(value)
        if isinstance(value, str):
            try:
                return int(value.strip())
            except ValueError:
                pass
        raise bad(f"must be a whole number (got {value!r})")
    if kind == "boolean":
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
            return value.strip().lower() in _TRUE
        raise bad(f"must be true or false (got {value!r})")
    if kind == "datetime":
        if isinstance(value, dt.datetime):
            return value.isoformat()
        if isinstance(value, str):
            try:
                return dt.datetime.fromisoformat(value.strip()).isoformat()
            except ValueError:
                pass
        raise bad(f"must be an ISO 8601 date and time, e.g. 2024-05-01T12:00:00+00:00 (got {value!r})")
    if kind == "json":
        if isinstance(value, str):
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:
                raise bad(f"must be valid JSON ({exc.msg} at column {exc.colno})") from None
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            raise bad("must be a JSON value (text, number, true/false, list or mapping)") from None
        return value
    raise bad(f"has an unknown type '{kind}'")  # pragma: no cover - the loader refuses these


def _unknown(type_def: InventoryTypeDef, names: Sequence[str]) -> None:
    for name in names:
        if type_def.field(name) is None:
            fields = ", ".join(f.name for f in type_def.fields) or "none"
            raise ValidationError(f"Unknown field '{name}' for type '{type_def.slug}' (fields: {fields})", name)


def prepare_create(type_def: InventoryTypeDef, values: Mapping[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
    """(data, secrets) for a new object: defaults for absent fields, every value checked."""
    _unknown(type_def, list(values))
    data: dict[str, Any] = {}
    secrets: dict[str, Any] = {}
    for f in type_def.fields:
        value = values.get(f.name, f.default)
        if is_blank(value):
            if f.required:
                raise ValidationError(f"Missing required field: {f.name}", f.name)
            continue
        (secrets if f.type == "secret" else data)[f.name] = check_value(f, value)
    return data, secrets


@dataclass(frozen=True)
class Changes:
    data: dict[str, Any]
    secrets: dict[str, Any]
    #: Non-secret fields whose value changed (name -> new value, None when cleared).
    changed: dict[str, Any]
    #: Secret fields set, replaced or cleared (names only).
    secrets_changed: list[str]
    #: Read-only fields present in the request and ignored.
    ignored: list[str]


def prepare_update(
    type_def: InventoryTypeDef, data: Mapping[str, Any], secrets: Mapping[str, Any], changes: Mapping[str, Any]
) -> Changes:
    """Apply ``changes`` (field -> value; blank clears) to stored values; read-only ignored."""
    _unknown(type_def, list(changes))
    new_data, new_secrets = dict(data), dict(secrets)
    changed: dict[str, Any] = {}
    secret_names: list[str] = []
    ignored: list[str] = []
    for name, value in changes.items():
        f = type_def.field(name)
        assert f is not None
        if f.readonly:
            ignored.append(name)
            continue
        target = new_secrets if f.type == "secret" else new_data
        if is_blank(value):
            if f.required:
                raise ValidationError(f"Missing required field: {name}", name)
            new = None
        else:
            new = check_value(f, value)
        old = target.get(name)
        if new == old and (new is not None or name not in target):
            continue
        if new is None:
            target.pop(name, None)
        else:
            target[name] = new
        if f.type == "secret":
            secret_names.append(name)
        else:
            changed[name] = new
    return Changes(new_data, new_secrets, changed, secret_names, ignored)


def search_text(type_def: InventoryTypeDef | None, data: Mapping[str, Any]) -> str:
    """CloudLab's ``search_text``: the searchable fields' values, lowercased, space-joined,
    in field order, empty values skipped; secret fields never."""
    if type_def is None:
        return ""
    parts: list[str] = []
    for f in type_def.fields:
        if not f.searchable or f.type == "secret":
            continue
        value = data.get(f.name)
        if value is None or value == "" or value is False:
            continue
        parts.append(
            value
            if isinstance(value, str)
            else json.dumps(value, sort_keys=True)
            if isinstance(value, (dict, list))
            else str(value)
        )
    return " ".join(parts).lower()
