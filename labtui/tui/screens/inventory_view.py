"""How inventory values look on screen: table cells by field type, tags in their colours,
the stale / removed flags. Shared by the inventory list, the object detail and the forms.

Secret values never reach this module: core leaves them out of :class:`ObjectInfo` and
reports only whether each is set.
"""

from __future__ import annotations

import json
from typing import Any

from rich.text import Text

from labtui.core.inventory.objects import ObjectInfo
from labtui.core.inventory.tags import TagRef
from labtui.core.inventory.types import FieldDef, InventoryTypeDef

#: Longest cell in a table; the detail screen shows values in full.
CELL_WIDTH = 40
#: Field types shown as table columns (long text, JSON and secrets only on the detail).
COLUMN_TYPES = ("string", "enum", "integer", "boolean", "datetime")


def value_text(f: FieldDef | None, value: Any, *, width: int | None = None) -> str:
    """A stored value as text: booleans as yes/no, JSON compact, blanks as an empty cell."""
    if value is None or value == "":
        return ""
    if isinstance(value, bool) or (f is not None and f.type == "boolean"):
        text = "yes" if value in (True, "true") else "no"
    elif isinstance(value, (dict, list)):
        text = json.dumps(value, sort_keys=True, separators=(", ", ": "))
    else:
        text = str(value)
    if width is not None:
        text = text.replace("\n", " ⏎ ")
        if len(text) > width:
            text = text[: width - 1] + "…"
    return text


def secret_text(is_set: bool) -> str:
    return "set" if is_set else "not set"


def table_fields(type_def: InventoryTypeDef) -> list[FieldDef]:
    """The fields a type's table shows as columns, in the type's order."""
    return [f for f in type_def.fields if f.type in COLUMN_TYPES]


def tags_text(tags: tuple[TagRef, ...] | list[TagRef]) -> Text:
    """Tag names, each in its own colour when it has one (the colour is the lab's data)."""
    out = Text()
    for index, tag in enumerate(tags):
        if index:
            out.append(" ")
        out.append(tag.name, style=f"bold {tag.colour}" if tag.colour else "bold")
    return out


def flags_text(obj: ObjectInfo) -> str:
    """``stale`` (its sync source no longer reports it), ``removed`` (its type file is gone)."""
    flags = []
    if obj.stale:
        flags.append("stale")
    if obj.type_removed:
        flags.append("removed")
    return " ".join(flags)


def row_cells(obj: ObjectInfo, type_def: InventoryTypeDef | None) -> list[str | Text]:
    """One table row: the type's column fields, then tags and flags (all types: type and name)."""
    if type_def is None:
        return [Text(obj.type_label), Text(obj.title), tags_text(obj.tags), Text(flags_text(obj))]
    cells: list[str | Text] = [
        Text(value_text(f, obj.data.get(f.name), width=CELL_WIDTH)) for f in table_fields(type_def)
    ]
    return [*cells, tags_text(obj.tags), Text(flags_text(obj))]


def column_labels(type_def: InventoryTypeDef | None) -> list[str]:
    if type_def is None:
        return ["Type", "Name", "Tags", "Flags"]
    return [f.label or f.name for f in table_fields(type_def)] + ["Tags", "Flags"]


def host_of(obj: ObjectInfo) -> str | None:
    """The host name an SSH terminal resolves for this object (CloudLab resolved by hostname),
    or its address; None when the object names no host."""
    for name in ("hostname", "ip_address", "address", "host", "ip"):
        value = obj.data.get(name)
        if isinstance(value, str) and value.strip():
            return value.strip()
    return None
