"""Modals of the users screen — invite, assign roles, a user's detail — and the one-time
secret viewer the users and profile screens share (tokens, private keys).

Forms save through a callback into core and keep core's refusal on the form beside the
field, so a typo costs one edit, not retyping everything.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Awaitable, Callable
from contextlib import suppress

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.content import Content
from textual.css.query import NoMatches
from textual.screen import ModalScreen, Screen
from textual.widgets import Button, Input, Label, SelectionList, Static

from labtui.core.errors import LabtuiError
from labtui.core.users import TokenDelivery, UserInfo


def when(at: dt.datetime | None, never: str = "never") -> str:
    """Times are stored and shown in UTC, so every session reads the same."""
    return at.strftime("%Y-%m-%d %H:%M") if at else never


class SecretScreen(ModalScreen[None]):
    """Shows a secret (an invitation or reset token, a private key) exactly once.

    The secret lives only in this modal's widgets — never in a notification, the log or
    the audit — and is gone when it closes. ``c`` copies it to the clipboard (OSC 52, which
    also works over SSH); the text can be selected with the mouse too.
    """

    DEFAULT_CSS = """
    SecretScreen { align: center middle; }
    SecretScreen > Vertical {
        width: 84; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; border-title-color: $text-accent; border-title-style: bold;
        background: $surface; padding: 0 1;
    }
    SecretScreen.-warning > Vertical { border: thick $warning; border-title-color: $text-warning; }
    SecretScreen #explanation { height: auto; margin: 1 0; }
    SecretScreen.-warning #explanation { color: $text-warning; }
    SecretScreen #secret-box { height: auto; max-height: 12; background: $boost; }
    SecretScreen #secret { width: auto; height: auto; padding: 0 1; text-style: bold; }
    SecretScreen Horizontal { height: auto; margin-top: 1; align-horizontal: right; }
    SecretScreen Button { margin-left: 2; }
    """

    BINDINGS = [
        Binding("c", "copy", "Copy"),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, title: str, explanation: str, secret: str, *, warning: bool = False) -> None:
        super().__init__(classes="-warning" if warning else "")
        self.title_text = title
        self.explanation = explanation
        self.secret = secret

    def compose(self) -> ComposeResult:
        with Vertical() as box:
            box.border_title = self.title_text
            yield Static(self.explanation, id="explanation", markup=False)
            with VerticalScroll(id="secret-box"):
                yield Static(self.secret.rstrip("\n"), id="secret", markup=False)
            with Horizontal():
                yield Button("Copy (c)", id="copy")
                yield Button("Done", id="done", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#done", Button).focus()

    @on(Button.Pressed, "#copy")
    def action_copy(self) -> None:
        self.app.copy_to_clipboard(self.secret)
        self.notify("Copied to the clipboard", timeout=3)

    @on(Button.Pressed, "#done")
    def action_close(self) -> None:
        self.dismiss(None)


def show_delivery(screen: Screen[object], delivery: TokenDelivery, what: str, username: str) -> None:
    """After an invite or reset: the delivery message as a notification (it never holds the
    token) and, when the token was not mailed, the token once in a :class:`SecretScreen`."""
    screen.notify(delivery.message, severity="information" if delivery.emailed else "warning", markup=False)
    if delivery.token:
        screen.app.push_screen(
            SecretScreen(
                f"{what} token for {username}",
                f"{delivery.message}. It is shown only this once and works once; "
                "copy it now (c) and pass it on privately.",
                delivery.token,
            )
        )


class FormModal(ModalScreen[object]):
    """Shared frame of the small forms: an error line, Cancel / Save, Esc and ctrl+s."""

    DEFAULT_CSS = """
    FormModal { align: center middle; }
    FormModal > VerticalScroll {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; border-title-color: $text-accent; border-title-style: bold;
        background: $surface; padding: 0 1;
    }
    FormModal Grid { grid-size: 2; grid-columns: 14 1fr; grid-rows: auto; height: auto; }
    FormModal Label.field { padding-top: 1; }
    FormModal .hint { color: $text-muted; height: auto; }
    FormModal SelectionList { height: auto; max-height: 8; }
    FormModal #error { color: $text-error; height: auto; }
    FormModal Horizontal { height: auto; align-horizontal: right; }
    FormModal Button { margin-left: 2; }
    """

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("ctrl+s", "save", "Save")]

    def show_error(self, error: LabtuiError) -> None:
        self.query_one("#error", Static).update(Content(str(error)))
        field = getattr(error, "field", None)
        if field:
            with suppress(NoMatches):  # a field this form does not show
                self.query_one(f"#{field}").focus()

    async def action_save(self) -> None:  # pragma: no cover - overridden
        raise NotImplementedError

    @on(Button.Pressed, "#save")
    async def _save_pressed(self) -> None:
        await self.action_save()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)


class InviteForm(FormModal):
    """Username, email, display name and roles; returns core's :class:`TokenDelivery`."""

    def __init__(
        self,
        invite: Callable[[str, str, str, list[str]], Awaitable[TokenDelivery]],
        role_names: list[str] | None,
    ) -> None:
        super().__init__()
        self.invite = invite
        self.role_names = role_names
        """None when the actor may not assign roles (the list is then not shown)."""
        self.invited_username = ""
        """The username core accepted, once the invitation is made."""

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = "Invite a user"
            with Grid():
                yield Label("Username", classes="field")
                yield Input(id="username", placeholder="3-30 letters, digits or _")
                yield Label("Email", classes="field")
                yield Input(id="email", placeholder="where the invitation goes")
                yield Label("Display name", classes="field")
                yield Input(id="display_name", placeholder="optional")
            if self.role_names is not None:
                yield Static("Roles (space toggles)", classes="hint")
                yield SelectionList[str](*((name, name) for name in self.role_names), id="roles")
            yield Static("", id="error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Invite", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#username", Input).focus()

    @on(Input.Submitted)
    async def _submitted(self) -> None:
        await self.action_save()

    async def action_save(self) -> None:
        roles = list(self.query_one("#roles", SelectionList).selected) if self.role_names is not None else []

        def value(selector: str) -> str:
            return self.query_one(selector, Input).value.strip()

        try:
            delivery = await self.invite(value("#username"), value("#email"), value("#display_name"), roles)
        except LabtuiError as exc:
            self.show_error(exc)
            return
        self.invited_username = value("#username")
        self.dismiss(delivery)


class AssignRolesForm(FormModal):
    """The roles of one user as a checklist; returns the chosen role names."""

    def __init__(self, user: UserInfo, role_names: list[str]) -> None:
        super().__init__()
        self.user = user
        self.role_names = sorted(set(role_names) | set(user.roles))

    def compose(self) -> ComposeResult:
        with VerticalScroll() as box:
            box.border_title = f"Roles of {self.user.username}"
            yield Static("Space toggles a role; ctrl+s saves.", classes="hint")
            yield SelectionList[str](*((n, n, n in self.user.roles) for n in self.role_names), id="roles")
            yield Static("", id="error")
            with Horizontal():
                yield Button("Cancel", id="cancel")
                yield Button("Save", id="save", variant="primary")

    def on_mount(self) -> None:
        self.query_one("#roles", SelectionList).focus()

    async def action_save(self) -> None:
        self.dismiss(sorted(self.query_one("#roles", SelectionList).selected))


class UserDetail(ModalScreen[None]):
    """One account in full. Esc or Enter closes it."""

    DEFAULT_CSS = """
    UserDetail { align: center middle; }
    UserDetail > VerticalScroll {
        width: 76; max-width: 100%; height: auto; max-height: 100%;
        border: thick $accent; border-title-color: $text-accent; border-title-style: bold;
        background: $surface; padding: 1 1;
    }
    UserDetail #fields { height: auto; }
    UserDetail #keys { height: auto; margin-top: 1; color: $text-muted; }
    """

    BINDINGS = [
        Binding("escape", "close", "Close"),
        Binding("enter", "close", "Close", show=False),
    ]

    def __init__(self, user: UserInfo, keys_hint: str = "") -> None:
        super().__init__()
        self.user = user
        self.keys_hint = keys_hint

    def compose(self) -> ComposeResult:
        u = self.user
        fields = [
            ("Username", u.username),
            ("Name", u.display_name or "—"),
            ("Email", u.email or "—"),
            ("Status", u.status),
            ("Roles", ", ".join(u.roles) or "none"),
            ("Last login", when(u.last_login_at) + (" UTC" if u.last_login_at else "")),
            ("SSH key", "registered" if u.has_ssh_key else "none"),
        ]
        text = Content("\n").join(
            Content.assemble((f"{label:<11}", "bold $text-accent"), " ", value) for label, value in fields
        )
        with VerticalScroll() as box:
            box.border_title = f"User {u.username}"
            yield Static(text, id="fields")
            if self.keys_hint:
                yield Static(self.keys_hint, id="keys", markup=False)

    def action_close(self) -> None:
        self.dismiss(None)
