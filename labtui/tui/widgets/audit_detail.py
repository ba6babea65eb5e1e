"""One audit record in full: every field, and its detail as pretty-printed JSON."""

from __future__ import annotations

import json
from typing import ClassVar

from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import ModalScreen
from textual.widgets import DataTable, Static

from labtui.core.audit import AuditRow


def when(row: AuditRow) -> str:
    """Audit times are stored in UTC and shown in UTC, so every session reads the same."""
    return row.created_at.strftime("%Y-%m-%d %H:%M:%S")


def short_detail(detail: dict[str, object], width: int = 44) -> str:
    """``key=value`` pairs on one line, cut to ``width`` (the table's Detail column)."""
    text = " ".join(f"{k}={v}" for k, v in detail.items())
    return text if len(text) <= width else text[: width - 1] + "…"


COLUMNS = ("Time (UTC)", "User", "Action", "Target", "Origin", "Detail")


def fill_audit_table(table: DataTable[str], rows: list[AuditRow]) -> None:
    """Replace the rows (newest first). The Detail column gets the width the others leave,
    so the table only scrolls sideways when even those do not fit; Enter shows it all."""
    cells = [(when(r), r.username, r.action, r.target or "—", r.origin) for r in rows]
    table.clear()
    pad = 2 * table.cell_padding
    used = 0
    for i, column in enumerate(table.ordered_columns[: len(COLUMNS) - 1]):
        widest = max([len(COLUMNS[i]), *(len(c[i]) for c in cells)])
        used += max(widest, column.content_width) + pad
    width = table.size.width or table.app.size.width
    room = max(16, width - used - pad - 2)  # 2: the vertical scrollbar, when there is one
    for r, c in zip(rows, cells, strict=True):
        table.add_row(*c, short_detail(r.detail, room), key=str(r.id))


class AuditDetail(ModalScreen[None]):
    """Esc, Enter or ``q`` closes it."""

    DEFAULT_CSS = """
    AuditDetail { align: center middle; }
    AuditDetail > VerticalScroll {
        width: 90; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; border-title-color: $accent; background: $surface; padding: 0 1;
    }
    AuditDetail #fields { height: auto; margin-bottom: 1; }
    AuditDetail #json { height: auto; color: $text; background: $boost; padding: 0 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "close", "Close"),
        Binding("enter", "close", "Close", show=False),
        Binding("q", "close", "Close", show=False),
    ]

    def __init__(self, row: AuditRow) -> None:
        super().__init__()
        self.row = row

    def compose(self) -> ComposeResult:
        r = self.row
        fields = [
            ("Record", f"#{r.id}"),
            ("Time (UTC)", when(r)),
            ("User", r.username),
            ("Action", r.action),
            ("Target", r.target or "—"),
            ("Origin", r.origin),
        ]
        text = Content("\n").join(
            Content.assemble((f"{label:<11}", "bold $accent"), " ", value) for label, value in fields
        )
        with VerticalScroll() as box:
            box.border_title = f"Audit record #{r.id}"
            yield Static(text, id="fields")
            detail = json.dumps(r.detail, indent=2, sort_keys=True, default=str) if r.detail else "(no detail)"
            yield Static(detail, id="json", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
