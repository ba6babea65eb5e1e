"""Who is acting: passed to every core call that reads or changes state."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Actor:
    """A logged-in user (or labtui itself) and where the request came from.

    ``origin`` is ``local`` for the local console, or the SSH peer address.
    """

    user_id: int | None
    username: str
    origin: str = "local"
    session_id: int | None = None

    @classmethod
    def system(cls, name: str = "labtui") -> Actor:
        """labtui acting on its own (startup, scheduler); bypasses permission checks."""
        return cls(user_id=None, username=name, origin="local")

    @property
    def is_system(self) -> bool:
        return self.user_id is None
