"""Secret values at rest, and the data dir's private files (docs/secrets.md).

The database and the data dir hold values a reader of the files must not get: secret
inventory fields, credentials synced from service outputs, the SSH host key, TOTP seeds.
Each is *sealed* here with AES-256-GCM under one key that is kept outside the database
(``secrets.key``, usually ``${file:...}``), so a copied ``labtui.db`` or backup reveals
nothing without the key file too.

A sealed value is text: ``enc:v1:<key id>:<base64url(nonce + ciphertext + tag)>``. The
version tells a sealed value from a plain one stored by older code (which the upgrade then
seals); the key id names the key that sealed it, so a wrong key is reported as such and a
later key rotation can keep the old key for reading. Every value is sealed for a
*purpose* (bound in as associated data): a value cut from one place and pasted into
another does not open there.

The files themselves are private too: :func:`private_dir` and :func:`private_file` make
them 0700 / 0600 whatever the umask.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from labtui.core.errors import ConfigError, LabtuiError

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

log = logging.getLogger("labtui.secrets")

PREFIX = "enc:v1:"
#: The key file made in the data dir when the config names no key.
KEY_FILE = "secret.key"
_KEY_BYTES = 32
_NONCE_BYTES = 12


class SecretUnreadable(LabtuiError):
    """A sealed value does not open: another key sealed it, or it was altered."""


# -- private files --------------------------------------------------------------------------


def private_dir(path: Path) -> Path:
    """``path`` as a directory only its owner can enter (made if missing; an existing one
    is tightened: the data dir of older labtui versions was 0755)."""
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    if path.stat().st_mode & 0o777 != 0o700:
        os.chmod(path, 0o700)
    return path


def private_file(path: Path) -> Path:
    """``path`` exists and is 0600 before anyone writes to it. SQLite and logging create
    their files under the umask (0644 with the usual 022); made here first, they only open
    them. SQLite gives its -wal/-shm/-journal files the main file's mode.

    An existing file is never opened here: closing any descriptor of a database file drops
    every POSIX lock this process holds on it, so a second Database in a process (or a tool
    beside a running one) would silently release the first one's locks, and another process
    could then miss its latest commits."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        tighten(path)
        return path
    os.close(fd)
    return path


def tighten(path: Path) -> None:
    """0600 for a file that already exists (a side file an older version left readable)."""
    try:
        if path.stat().st_mode & 0o777 != 0o600:
            os.chmod(path, 0o600)
    except FileNotFoundError:
        pass


def _write_aside(path: Path, text: str) -> Path:
    """``text`` in a new 0600 file beside ``path`` (to be moved or linked into place)."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.new")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        os.fchmod(out.fileno(), 0o600)  # an older leftover of the same name kept its mode
        out.write(text)
    return tmp


def write_private(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` as a 0600 file, replacing it atomically."""
    tmp = _write_aside(path, text)
    try:
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def create_private(path: Path, text: str) -> bool:
    """Make ``path`` (0600) holding ``text`` unless it exists; True if made. Written aside and
    linked into place, so a process starting at the same moment never reads half a file and
    two never make different ones."""
    if path.exists():
        return False
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = _write_aside(path, text)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        tmp.unlink(missing_ok=True)
    return True


# -- keys -----------------------------------------------------------------------------------


def new_key() -> str:
    """A fresh key as a key file holds it: base64 of 32 random bytes."""
    return base64.b64encode(os.urandom(_KEY_BYTES)).decode("ascii")


def parse_key(text: str, where: str = "secrets.key") -> bytes:
    """The 32 key bytes of a key's text; the error never quotes the text."""
    try:
        raw = base64.b64decode(text.strip(), validate=True)
    except (binascii.Error, ValueError):
        raw = b""
    if len(raw) != _KEY_BYTES:
        raise ConfigError(f"{where}: not a labtui secrets key (base64 of {_KEY_BYTES} bytes; `labtui init` makes one)")
    return raw


def create_key_file(path: Path) -> bool:
    """Make a key file at ``path`` unless one is there (a key is never replaced: what it
    sealed would be lost); True if made."""
    return create_private(path, new_key() + "\n")


def _key_id(key: bytes) -> str:
    return hashlib.sha256(b"labtui secret key id\0" + key).hexdigest()[:8]


class SecretBox:
    """Seals and opens values under the lab's key (and reads values of ``older`` keys)."""

    def __init__(self, key: bytes, *, older: tuple[bytes, ...] = ()) -> None:
        self.key_id = _key_id(key)
        self._sealer = AESGCM(key)
        self._openers = {self.key_id: self._sealer} | {_key_id(k): AESGCM(k) for k in older}

    def __repr__(self) -> str:  # never the key
        return f"SecretBox(key_id={self.key_id!r})"

    @staticmethod
    def is_sealed(value: object) -> bool:
        return isinstance(value, str) and value.startswith(PREFIX)

    def seal(self, plain: str, purpose: str) -> str:
        nonce = os.urandom(_NONCE_BYTES)
        sealed = self._sealer.encrypt(nonce, plain.encode("utf-8"), _aad(purpose))
        return f"{PREFIX}{self.key_id}:{base64.urlsafe_b64encode(nonce + sealed).decode('ascii')}"

    def open(self, stored: str, purpose: str) -> str:
        """The plain text of a sealed value; a plain (legacy) value comes back as it is."""
        if not self.is_sealed(stored):
            return stored
        key_id, _, body = stored[len(PREFIX) :].partition(":")
        opener = self._openers.get(key_id)
        if opener is None:
            raise SecretUnreadable(
                f"A {purpose} value was sealed with secrets key {key_id}, not this lab's key "
                f"{self.key_id}: is secrets.key the lab's key? (docs/secrets.md)"
            )
        try:
            raw = base64.urlsafe_b64decode(body)
            return opener.decrypt(raw[:_NONCE_BYTES], raw[_NONCE_BYTES:], _aad(purpose)).decode("utf-8")
        except (InvalidTag, binascii.Error, ValueError):
            raise SecretUnreadable(f"A stored {purpose} value is damaged and cannot be opened") from None


def _aad(purpose: str) -> bytes:
    return f"labtui:{purpose}".encode()


def sealed_file(path: Path, box: SecretBox, purpose: str, make: Callable[[], str]) -> str:
    """The plain text of a file kept sealed (0600): made from ``make()`` if missing; a plain
    file an older version wrote is sealed in place (it has been readable until now)."""
    if not path.exists():
        plain = make()
        if create_private(path, box.seal(plain, purpose)):
            return plain
    tighten(path)
    stored = path.read_text(encoding="utf-8")
    if box.is_sealed(stored):
        return box.open(stored, purpose)
    write_private(path, box.seal(stored, purpose))
    return stored


# -- the lab's box --------------------------------------------------------------------------

#: The box each data dir's Core uses in this process (for code that only has the data dir).
_BOXES: dict[Path, SecretBox] = {}


def load_box(configured: str, home: Path) -> SecretBox:
    """The lab's box: the configured key (``secrets.key``), else ``$LABTUI_HOME/secret.key``,
    made on first use so a lab without the setting still works (and the log says so)."""
    if configured:
        box = SecretBox(parse_key(configured))
    else:
        path = home / KEY_FILE
        if create_key_file(path):
            log.warning(
                "secrets: no secrets.key in the config: made %s (0600); keep the key outside the "
                "data dir and its backups with secrets.key: ${file:...} (docs/secrets.md)",
                path,
            )
        tighten(path)
        try:
            text = path.read_text(encoding="ascii")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read the secrets key: {exc}") from None
        box = SecretBox(parse_key(text, str(path)))
    _BOXES[home.resolve()] = box
    return box


def box_for_home(home: Path) -> SecretBox:
    """The box a Core of this process opened for ``home``, else the data dir's own key file's."""
    box = _BOXES.get(home.resolve())
    return box if box is not None else load_box("", home)


__all__ = [
    "KEY_FILE",
    "PREFIX",
    "SecretBox",
    "SecretUnreadable",
    "box_for_home",
    "create_key_file",
    "create_private",
    "load_box",
    "new_key",
    "parse_key",
    "private_dir",
    "private_file",
    "sealed_file",
    "tighten",
    "write_private",
]


def secret_box(session: Session) -> SecretBox:
    """The lab's box for a session's sealed columns."""
    box: SecretBox | None = session.info.get("secrets")
    if box is None:
        raise RuntimeError("this database was opened without the lab's secrets key (Database(secrets=...))")
    return box
