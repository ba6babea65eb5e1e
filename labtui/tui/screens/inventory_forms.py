"""The object form, generated from the type's fields, and the new / edit / delete flows.

One widget per field type: string, datetime and integer → Input (core checks the value, so
its message lands under the field), text and json → TextArea, enum → Select, boolean →
Switch, secret → a password Input that is never filled in (write-only: blank keeps the
stored value). Read-only fields can be set when an object is made and are shown disabled
when it is edited, as core ignores them on update. Core's refusal stays on the form beside
its field, so a typo costs one edit.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import TYPE_CHECKING, Any

from textual import on
from textual.app import ComposeResult
from textual.containers import Horizontal, VerticalScroll
from textual.content import Content
from textual.css.query import NoMatches
from textual.widget import Widget
from textual.widgets import Button, Input, Label, Select, Static, Switch, TextArea

from labtui.core.errors import LabtuiError
from labtui.core.inventory.objects import ObjectInfo
from labtui.core.inventory.types import FieldDef, InventoryTypeDef
from labtui.tui.screens.inventory_view import secret_text
from labtui.tui.screens.user_forms import FormModal
from labtui.tui.widgets.confirm import ConfirmScreen

if TYPE_CHECKING:
    from labtui.tui.screens.base import LabScreen

#: Core's unique-field refusal names the field only in its message.
_UNIQUE = re.compile(r"unique field: ([A-Za-z0-9_-]+)")
HINTS = {
    "integer": "a whole number",
    "datetime": "ISO 8601, e.g. 2025-06-01T12:00:00+00:00",
    "json": "JSON: text in quotes, a number, true/false, [list] or {mapping}",
}


def widget_id(name: str) -> str:
    return f"field-{name}"


def _initial_text(f: FieldDef, value: Any) -> str:
    if value is None:
        return ""
    if f.type == "json":
        return json.dumps(value, indent=2, sort_keys=True)
    return str(value)


class ObjectForm(FormModal):
    """New or edit: returns the saved :class:`ObjectInfo` (None when cancelled)."""

    DEFAULT_CSS = """
    ObjectForm > VerticalScroll { width: 90; }
    ObjectForm .field { padding-top: 1; text-style: bold; }
    ObjectForm .field-error { color: $text-error; height: auto; display: none; }
    ObjectForm .field-error.-shown { display: block; }
    ObjectForm TextArea { height: 6; }
    ObjectForm Switch { width: auto; }
    """

    def __init__(
        self,
        type_def: InventoryTypeDef,
        save: Callable[[dict[str, Any]], Awaitable[ObjectInfo]],
        obj: ObjectInfo | None = None,
    ) -> None:
        super().__init__()
        self.type_def = type_def
        self.save = save
        self.obj = obj

    @property
    def editing(self) -> bool:
        return self.obj is not None

    def compose(self) -> ComposeResult:
        title = f"Edit {self.type_def.label} {self.obj.title}" if self.obj else f"New {self.type_def.label}"
        with VerticalScroll() as box:
            box.border_title = title
            yield Static("ctrl+s saves, Esc cancels. * marks a required field.", classes="hint")
            for f in self.type_def.fields:
                label = f"{f.label or f.name}{' *' if f.required else ''}"
                if f.readonly:
                    label += " (read-only)" if self.editing else " (read-only once made)"
                yield Label(label, classes="field", markup=False)
                yield self._widget_for(f)
                hint = HINTS.get(f.type)
                if f.type == "secret":
                    hint = (
                        f"write-only: {secret_text(bool(self.obj.secrets.get(f.name)))}; blank keeps it"
                        if self.obj
                        else "write-only: shown only as set / not set once saved"
                    )
                if hint:
                    yield Static(hint, classes="hint", markup=False)
                yield Static("", id=f"error-{f.name}", classes="field-error")
            yield Static("", id="error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save", variant="primary")

    def _widget_for(self, f: FieldDef) -> Widget:
        current = self.obj.data.get(f.name) if self.obj else f.default
        disabled = f.readonly and self.editing
        wid = widget_id(f.name)
        if f.type == "enum":
            value = str(current) if current is not None and str(current) in f.options else Select.NULL
            return Select(
                [(o, o) for o in f.options],
                allow_blank=not f.required or value is Select.NULL,
                value=value,
                id=wid,
                disabled=disabled,
            )
        if f.type == "boolean":
            return Switch(value=current in (True, "true"), id=wid, disabled=disabled)
        if f.type in ("text", "json"):
            return TextArea(_initial_text(f, current), id=wid, disabled=disabled, soft_wrap=True)
        if f.type == "secret":
            return Input(password=True, id=wid, placeholder="new value" if self.editing else "", disabled=disabled)
        return Input(_initial_text(f, current), id=wid, disabled=disabled, placeholder=HINTS.get(f.type, ""))

    def on_mount(self) -> None:
        for f in self.type_def.fields:
            widget = self.query_one(f"#{widget_id(f.name)}")
            if not widget.disabled:
                widget.focus()
                return

    # -- reading the form ------------------------------------------------------------------

    def _read(self, f: FieldDef) -> Any:
        widget = self.query_one(f"#{widget_id(f.name)}")
        if isinstance(widget, Select):
            return "" if widget.value is Select.NULL else widget.value
        if isinstance(widget, Switch):
            return widget.value
        if isinstance(widget, TextArea):
            return widget.text
        assert isinstance(widget, Input)
        return widget.value

    def values(self) -> dict[str, Any]:
        """New: every filled-in field. Edit: the changed ones only (blank clears, except a
        secret, where blank keeps the stored value); read-only fields are left out."""
        out: dict[str, Any] = {}
        for f in self.type_def.fields:
            value = self._read(f)
            blank = isinstance(value, str) and not value.strip()
            if self.obj is None:
                if not blank:
                    out[f.name] = value
                continue
            if f.readonly or (f.type == "secret" and blank):
                continue
            if f.type == "secret":
                out[f.name] = value
            elif f.type == "boolean":
                if value != (self.obj.data.get(f.name) in (True, "true")):
                    out[f.name] = value
            elif value != _initial_text(f, self.obj.data.get(f.name)):
                out[f.name] = value
        return out

    # -- saving ----------------------------------------------------------------------------

    @on(Input.Submitted)
    async def _submitted(self) -> None:
        await self.action_save()

    async def action_save(self) -> None:
        self._clear_errors()
        values = self.values()
        if self.obj is not None and not values:
            self.dismiss(None)
            return
        try:
            saved = await self.save(values)
        except LabtuiError as exc:
            self.show_error(exc)
            return
        self.dismiss(saved)

    def _clear_errors(self) -> None:
        for line in self.query(".field-error"):
            line.remove_class("-shown")
        self.query_one("#error", Static).update("")

    def show_error(self, error: LabtuiError) -> None:
        """Beside the field it names (ValidationError.field, or a unique-field clash); on the
        form's error line otherwise."""
        name = getattr(error, "field", None)
        if not name and (found := _UNIQUE.search(str(error))):
            name = found.group(1)
        if name and self.type_def.field(name) is not None:
            with suppress(NoMatches):
                line = self.query_one(f"#error-{name}", Static)
                line.update(Content(str(error)))
                line.add_class("-shown")
                widget = self.query_one(f"#{widget_id(name)}")
                widget.focus()
                widget.scroll_visible()
                return
        self.query_one("#error", Static).update(Content(str(error)))


# -- the flows both inventory screens use (call from a worker: they wait on modals) ---------


async def new_object(screen: LabScreen, type_def: InventoryTypeDef) -> ObjectInfo | None:
    async def save(values: dict[str, Any]) -> ObjectInfo:
        return await screen.core.inventory.create(screen.actor, type_def.slug, values)

    saved = await screen.app.push_screen_wait(ObjectForm(type_def, save))
    if isinstance(saved, ObjectInfo):
        screen.notify(f"{type_def.label} {saved.title} created", markup=False)
        return saved
    return None


async def edit_object(screen: LabScreen, obj: ObjectInfo) -> ObjectInfo | None:
    type_def = screen.core.inventory.type_def(obj.type)
    if type_def is None or obj.type_removed:
        screen.notify(
            f"Type '{obj.type}' is no longer defined by the lab: its objects are read-only",
            severity="warning",
            markup=False,
        )
        return None

    async def save(values: dict[str, Any]) -> ObjectInfo:
        return await screen.core.inventory.update(screen.actor, obj.id, values)

    saved = await screen.app.push_screen_wait(ObjectForm(type_def, save, obj))
    if isinstance(saved, ObjectInfo):
        screen.notify(f"{saved.type_label} {saved.title} saved", markup=False)
        return saved
    return None


async def delete_object(screen: LabScreen, obj: ObjectInfo) -> bool:
    question = f"Delete {obj.type_label} '{obj.title}'? Its tags links and ACL entries go with it."
    if not await screen.app.push_screen_wait(ConfirmScreen(question, "Delete")):
        return False

    async def delete() -> bool:
        await screen.core.inventory.delete(screen.actor, obj.id)
        return True

    return bool(await screen.call(delete, success=f"{obj.type_label} {obj.title} deleted"))
