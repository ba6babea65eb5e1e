"""Inventory: YAML-defined types, their objects, tags, ACLs and sync adapters (docs/cloudlab.md, inventory types).

This package starts with the type loader (:mod:`labtui.core.inventory.types`); the
inventory issue adds objects, tags and access checks beside it.
"""

from __future__ import annotations

from labtui.core.inventory.types import (
    FIELD_TYPES,
    ActionDef,
    FieldDef,
    InventoryTypeDef,
    TypeLoadError,
    TypesReport,
    load_inventory_types,
)

__all__ = [
    "FIELD_TYPES",
    "ActionDef",
    "FieldDef",
    "InventoryTypeDef",
    "TypeLoadError",
    "TypesReport",
    "load_inventory_types",
]
