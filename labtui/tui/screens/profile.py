"""Your own account: display name and email, password, SSH public key, sessions.

Open to every signed-in user (core lets anyone change their own profile). A generated
private key is shown once in a modal and then forgotten: labtui keeps only the public half.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable
from typing import Any

from rich.text import Text
from textual import on, work
from textual.app import ComposeResult
from textual.containers import Grid, Horizontal, VerticalScroll
from textual.widgets import (
    Button,
    DataTable,
    Input,
    Label,
    Static,
    TabbedContent,
    TabPane,
)

from labtui.core.errors import LabtuiError
from labtui.core.users import SessionInfo
from labtui.tui.actions import ScreenAction
from labtui.tui.screens.base import LabScreen
from labtui.tui.screens.user_forms import SecretScreen, when
from labtui.tui.widgets.confirm import ConfirmScreen
from labtui.tui.widgets.footer import LabFooter
from labtui.tui.widgets.lab_table import LabTable

PRIVATE_KEY_WARNING = (
    "This is the private half of your new ed25519 key. It is shown only now and labtui does "
    "not keep it: copy it (c) into a file such as ~/.ssh/labtui_ed25519 and chmod 600 it. "
    "The public half is now registered to your account."
)


def fingerprint(public_key: str) -> str:
    """The SHA256 fingerprint ssh-keygen -l shows, or a note if the stored key is unreadable."""
    import asyncssh

    try:
        return str(asyncssh.import_public_key(public_key).get_fingerprint())
    except (asyncssh.KeyImportError, ValueError):
        return "(unreadable key)"


class ProfileScreen(LabScreen):
    SCREEN_HELP = (
        "Your own account. Account: display name and email (Save or Enter). Password: the "
        "current one, then the new one twice; your other sessions are signed out. SSH key: "
        "g generates an ed25519 pair (the private key is shown once: copy it then), or paste "
        "an OpenSSH public key and save it; Remove unregisters it. Sessions: where you are "
        "signed in; x revokes the selected one."
    )

    DEFAULT_CSS = """
    ProfileScreen TabbedContent { height: 1fr; }
    ProfileScreen TabPane { padding: 0 1; }
    ProfileScreen TabPane > VerticalScroll { max-width: 120; }
    ProfileScreen Grid { grid-size: 2; grid-columns: 16 1fr; grid-rows: auto; height: auto; }
    ProfileScreen Label.field { padding-top: 1; }
    ProfileScreen #username { padding: 1 1 0 1; text-style: bold; }
    ProfileScreen .buttons { height: auto; margin-top: 1; }
    ProfileScreen .buttons Button { margin-right: 2; }
    ProfileScreen .error { height: auto; color: $text-error; }
    ProfileScreen .notice { height: auto; color: $text-success; }
    ProfileScreen #ssh-current { height: auto; margin-top: 1; padding: 0 1; background: $boost; }
    ProfileScreen #ssh-paste-row { height: auto; margin-top: 1; }
    ProfileScreen #ssh-paste { width: 1fr; }
    ProfileScreen #sessions { height: 1fr; }
    ProfileScreen .hint { height: auto; color: $text-muted; }
    """

    ACTIONS = (
        ScreenAction(
            "g",
            "generate_key",
            "New SSH key",
            "Generate an ed25519 pair; the private key is shown once",
            palette="Generate an SSH key",
        ),
        ScreenAction("x", "revoke", "Revoke session", "Revoke the selected session (asks first)"),
    )

    def __init__(self) -> None:
        super().__init__()
        self.public_key: str | None = None
        self.sessions: list[SessionInfo] = []

    def compose(self) -> ComposeResult:
        yield Static(f"Profile · {self.actor.username}", id="title", classes="screen-title")
        with TabbedContent(id="tabs"):
            with TabPane("Account", id="account"), VerticalScroll():
                with Grid():
                    yield Label("Username", classes="field")
                    yield Static(self.actor.username, id="username", markup=False)
                    yield Label("Display name", classes="field")
                    yield Input(id="display_name", placeholder="how others see you")
                    yield Label("Email", classes="field")
                    yield Input(id="email", placeholder="for invitations and password resets")
                yield Static("", id="account-error", classes="error")
                with Horizontal(classes="buttons"):
                    yield Button("Save", id="save-account", variant="primary")
            with TabPane("Password", id="password"), VerticalScroll():
                with Grid():
                    yield Label("Current", classes="field")
                    yield Input(id="current", password=True)
                    yield Label("New", classes="field")
                    yield Input(id="new", password=True, placeholder="at least 8 characters")
                    yield Label("New again", classes="field")
                    yield Input(id="confirm", password=True)
                yield Static("", id="password-error", classes="error")
                yield Static("", id="password-notice", classes="notice")
                with Horizontal(classes="buttons"):
                    yield Button("Change password", id="change-password", variant="primary")
            with TabPane("SSH key", id="ssh"), VerticalScroll():
                yield Static("", id="ssh-current")
                with Horizontal(classes="buttons"):
                    yield Button("Generate (g)", id="generate")
                    yield Button("Remove", id="remove-key", variant="error")
                with Horizontal(id="ssh-paste-row"):
                    yield Input(id="ssh_public_key", placeholder="or paste a public key: ssh-ed25519 AAAA… you@host")
                    yield Button("Save key", id="save-key", variant="primary")
                yield Static("", id="ssh-error", classes="error")
            with TabPane("Sessions", id="sessions-tab"):
                table: DataTable[Any] = LabTable(id="sessions", cursor_type="row", zebra_stripes=True)
                table.add_columns("Origin", "Created (UTC)", "Last seen", "Expires", "")
                yield table
                yield Static("x revokes the selected session; revoking this one signs you out.", classes="hint")
        yield LabFooter()

    def on_mount(self) -> None:
        self.load()

    def action_state(self, action: str) -> bool | None:
        if action == "revoke":
            return self.is_mounted and self.query_one(TabbedContent).active == "sessions-tab"
        return True

    @on(TabbedContent.TabActivated)
    def _tab_changed(self) -> None:
        self.refresh_bindings()

    def palette_commands(self) -> list[tuple[str, str, Callable[[], Any]]]:
        """The declared entries, then the password tab (a place, not a key)."""
        return [
            *super().palette_commands(),
            ("Change my password", "Open the password tab", lambda: self._show_tab("password", "#current")),
        ]

    def _show_tab(self, tab: str, focus: str | None = None) -> None:
        self.query_one(TabbedContent).active = tab
        if focus:
            self.query_one(focus).focus()

    # -- loading -------------------------------------------------------------------------

    @work(exclusive=True, group="profile-load")
    async def load(self) -> None:
        assert self.actor.user_id is not None
        me = await self.call(lambda: self.core.users.get(self.actor, self.actor.user_id))  # type: ignore[arg-type]
        if me is not None:
            self.query_one("#display_name", Input).value = me.display_name or ""
            self.query_one("#email", Input).value = me.email or ""
        await self.load_key()
        await self.load_sessions()

    async def load_key(self) -> None:
        self.public_key = await self.call(lambda: self.core.users.my_ssh_key(self.actor))
        box = self.query_one("#ssh-current", Static)
        if self.public_key:
            box.update(Text.assemble(("Fingerprint ", "bold"), fingerprint(self.public_key), "\n", self.public_key))
        else:
            box.update(Text("No SSH key registered: generate one (g) or paste your public key below."))
        self.query_one("#remove-key", Button).disabled = not self.public_key

    async def load_sessions(self) -> None:
        sessions = await self.call(lambda: self.core.users.my_sessions(self.actor))
        if sessions is None:
            return
        self.sessions = sessions
        table = self.query_one("#sessions", DataTable)
        table.clear()
        for s in sessions:
            marker = Text("this session", style=self.app.theme_variables.get("text-accent", "")) if s.current else ""
            table.add_row(s.origin, when(s.created_at), when(s.last_seen_at), when(s.expires_at), marker, key=str(s.id))

    # -- account -------------------------------------------------------------------------

    @on(Input.Submitted, "#display_name, #email")
    @on(Button.Pressed, "#save-account")
    @work(group="profile-change")
    async def save_account(self) -> None:
        error = self.query_one("#account-error", Static)
        try:
            await self.core.users.update_profile(
                self.actor,
                display_name=self.query_one("#display_name", Input).value,
                email=self.query_one("#email", Input).value.strip() or None,
            )
        except LabtuiError as exc:
            error.update(Text(str(exc)))
            return
        error.update("")
        self.notify("Profile saved")

    # -- password ------------------------------------------------------------------------

    @on(Input.Submitted, "#current")
    def _to_new(self) -> None:
        self.query_one("#new", Input).focus()

    @on(Input.Submitted, "#new")
    def _to_confirm(self) -> None:
        self.query_one("#confirm", Input).focus()

    @on(Input.Submitted, "#confirm")
    @on(Button.Pressed, "#change-password")
    @work(group="profile-change")
    async def change_password(self) -> None:
        error = self.query_one("#password-error", Static)
        notice = self.query_one("#password-notice", Static)
        current, new, again = (self.query_one(f"#{i}", Input) for i in ("current", "new", "confirm"))
        error.update("")
        notice.update("")
        if new.value != again.value:
            error.update("The new passwords differ")
            again.value = ""
            again.focus()
            return
        try:
            await self.core.auth.change_password(self.actor, current.value, new.value)
        except LabtuiError as exc:
            error.update(Text(str(exc)))
            current.value = ""
            current.focus()
            return
        for box in (current, new, again):
            box.value = ""
        notice.update("Password changed; your other sessions were signed out.")
        self.notify("Password changed")
        await self.load_sessions()

    # -- SSH key -------------------------------------------------------------------------

    @on(Button.Pressed, "#generate")
    @work(group="profile-change")
    async def action_generate_key(self) -> None:
        self._show_tab("ssh")
        if self.public_key:
            question = f"Replace your SSH key ({fingerprint(self.public_key)})? The old key stops working."
            if not await self.app.push_screen_wait(ConfirmScreen(question, "Replace")):
                return
        private = await self.call(lambda: self.core.users.generate_ssh_key(self.actor))
        if private is None:
            return
        await self.load_key()
        await self.app.push_screen_wait(
            SecretScreen("Your new private SSH key", PRIVATE_KEY_WARNING, private, warning=True)
        )

    @on(Input.Submitted, "#ssh_public_key")
    @on(Button.Pressed, "#save-key")
    @work(group="profile-change")
    async def save_key(self) -> None:
        box = self.query_one("#ssh_public_key", Input)
        error = self.query_one("#ssh-error", Static)
        if not box.value.strip():
            error.update("Paste a public key first (one line: ssh-ed25519 AAAA… comment)")
            return
        try:
            await self.core.users.set_ssh_key(self.actor, box.value)
        except LabtuiError as exc:
            error.update(Text(str(exc)))
            return
        error.update("")
        box.value = ""
        await self.load_key()
        self.notify("SSH public key saved")

    @on(Button.Pressed, "#remove-key")
    @work(group="profile-change")
    async def remove_key(self) -> None:
        if not self.public_key:
            return
        question = "Remove your SSH public key? You can no longer sign in over SSH with it."
        if not await self.app.push_screen_wait(ConfirmScreen(question, "Remove")):
            return
        await self.call(lambda: self.core.users.set_ssh_key(self.actor, None), success="SSH key removed")
        await self.load_key()

    # -- sessions ------------------------------------------------------------------------

    @work(group="profile-change")
    async def action_revoke(self) -> None:
        table = self.query_one("#sessions", DataTable)
        if not table.row_count:
            return
        key = table.coordinate_to_cell_key(table.cursor_coordinate).row_key.value
        session = next((s for s in self.sessions if str(s.id) == key), None)
        if session is None:
            return
        question = f"Revoke the session from {session.origin} started {when(session.created_at)} UTC?"
        if session.current:
            question = "Revoke this session, the one you are using? You will be signed out."
        if not await self.app.push_screen_wait(ConfirmScreen(question, "Revoke")):
            return
        try:
            await self.core.users.revoke_session(self.actor, session.id)
        except LabtuiError as exc:
            self.notify(str(exc), severity="error", timeout=8, markup=False)
            return
        signed_out = getattr(self.app, "signed_out", None)
        if session.current and callable(signed_out):
            # On the app, not this screen: signing out removes this screen and its workers.
            result = signed_out("This session was revoked: sign in again")
            if inspect.isawaitable(result):
                self.app.run_worker(result, group="sign-out", exclusive=True)
            return
        self.notify("Session revoked")
        await self.load_sessions()
