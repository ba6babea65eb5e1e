"""The exception hierarchy of core.

Every error a person can cause carries a message fit for the screen; the TUI and CLI show
``str(error)`` and never a traceback.
"""

from __future__ import annotations


class LabtuiError(Exception):
    """Base of every error core raises on purpose."""


class ConfigError(LabtuiError):
    """The config file is malformed: the message names file, line and key."""


class ValidationError(LabtuiError):
    """Input that breaks a rule (username, password, cron, ...).

    ``field`` names the offending input so a form can put the message beside it.
    """

    def __init__(self, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class NotFound(LabtuiError):
    """The thing asked for does not exist (or the actor may not know it exists)."""


class Conflict(LabtuiError):
    """The change clashes with existing state (duplicate name, role in use, ...)."""


class PermissionDenied(LabtuiError):
    """The acting user lacks the permission; core has already audited the refusal."""

    def __init__(self, permission: str) -> None:
        super().__init__(f"Permission denied: you need '{permission}'")
        self.permission = permission


class AuthError(LabtuiError):
    """A login, token or session was refused. The message never says which part was wrong."""


class AccountLocked(AuthError):
    """Too many failed logins for this account or origin."""

    def __init__(self, minutes_left: int) -> None:
        plural = "s" if minutes_left != 1 else ""
        super().__init__(f"Too many failed logins: locked, try again in {minutes_left} minute{plural}")
        self.minutes_left = minutes_left


class StartupError(LabtuiError):
    """A startup step failed in a way that stops labtui (names the file and line)."""


class KeyInUse(Conflict):
    """An SSH public key another account holds already: a key logs in one user only, or
    sshd's first matching line would decide who its holder becomes (docs/auth.md)."""

    def __init__(self) -> None:
        super().__init__(
            "That public key belongs to another account: each key logs in one user only, so use a key of your own"
        )


class StorageError(LabtuiError):
    """The data dir or the database cannot be used as it is (read-only, not a folder, not a
    database, corrupt, full): the message names the path and the reason (docs/errors.md)."""
