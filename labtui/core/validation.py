"""CloudLab's rules for user-facing identifiers."""

from __future__ import annotations

import re

from labtui.core.errors import ValidationError

USERNAME_RE = re.compile(r"^[a-zA-Z0-9_]{3,30}$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
MIN_PASSWORD = 8
#: Login names `labtui serve --ssh` keeps for itself (``ssh join@bastion`` redeems a token).
RESERVED_USERNAMES = frozenset({"join"})


def username(value: str) -> str:
    value = value.strip()
    if not USERNAME_RE.match(value):
        raise ValidationError("Usernames are 3 to 30 letters, digits or '_'", "username")
    if value.lower() in RESERVED_USERNAMES:
        raise ValidationError(f"'{value}' is reserved for SSH logins; choose another name", "username")
    return value


def password(value: str) -> str:
    if len(value) < MIN_PASSWORD:
        raise ValidationError(f"Passwords need at least {MIN_PASSWORD} characters", "password")
    return value


def email(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    value = value.strip().lower()
    if not EMAIL_RE.match(value):
        raise ValidationError("That is not an email address", "email")
    return value
