"""Password hashing: argon2id for everything new; bcrypt hashes imported from CloudLab are
accepted and replaced with argon2id at the next successful login."""

from __future__ import annotations

import asyncio
import functools
import hashlib
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()


@functools.cache
def _dummy_hash() -> str:
    """Verified against when the user does not exist, so timing does not reveal it (made on
    first use: hashing at import would add ~0.1 s to every start)."""
    return _hasher.hash(secrets.token_hex(16))


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def verify_password(stored: str | None, password: str) -> bool:
    """True if ``password`` matches ``stored`` (argon2id, or an imported bcrypt hash)."""
    if not stored:
        _verify_argon(_dummy_hash(), password)
        return False
    if stored.startswith(("$2a$", "$2b$", "$2y$")):
        try:
            import bcrypt
        except ImportError:  # pragma: no cover - bcrypt is a dependency
            return False
        # passlib (CloudLab) hashed only the first 72 bytes; bcrypt >= 5 refuses longer input.
        try:
            return bcrypt.checkpw(password.encode()[:72], stored.encode())
        except ValueError:  # a malformed hash: no password matches it
            return False
    return _verify_argon(stored, password)


def _verify_argon(stored: str, password: str) -> bool:
    try:
        return _hasher.verify(stored, password)
    except (VerificationError, InvalidHashError):
        return False


async def hash_in_thread(password: str) -> str:
    """:func:`hash_password` off the event loop (argon2 takes tens of milliseconds, and one
    loop may serve several sessions)."""
    return await asyncio.to_thread(hash_password, password)


async def verify_in_thread(stored: str | None, password: str) -> bool:
    return await asyncio.to_thread(verify_password, stored, password)


def needs_rehash(stored: str) -> bool:
    if not stored.startswith("$argon2id$"):
        return True
    return _hasher.check_needs_rehash(stored)


def new_token() -> str:
    """A random single-use token (what the user sees; only its digest is stored)."""
    return secrets.token_urlsafe(32)


def token_digest(token: str) -> str:
    """sha256 of a token: tokens are random, so a fast digest is as safe as a slow hash."""
    return hashlib.sha256(token.strip().encode()).hexdigest()
