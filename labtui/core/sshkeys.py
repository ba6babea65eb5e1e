"""OpenSSH public keys: parsing, comparing and fingerprints (asyncssh, imported on use)."""

from __future__ import annotations


def fingerprint(public_key: str) -> str:
    import asyncssh

    return asyncssh.import_public_key(public_key).get_fingerprint()


def same_key(stored: str | None, offered: str) -> bool:
    """Whether two OpenSSH public keys are the same key (comments are ignored)."""
    if not stored:
        return False
    import asyncssh

    try:
        return asyncssh.import_public_key(stored).public_data == asyncssh.import_public_key(offered).public_data
    except (asyncssh.KeyImportError, ValueError):
        return False
