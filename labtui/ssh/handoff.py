"""The hand-over from the SSH server to a session's process: one JSON message on a pipe.

Besides who the session is (docs/ssh.md), the message carries the server's configuration
as the server resolved it: a config with ``${ENV}`` secrets could not be re-read by the
child, whose environment is built from scratch (it must not inherit the server's), and a
copy in a file or on the command line would leak the secrets. The pipe is the session's
own inherited descriptor, read once and closed.
"""

from __future__ import annotations

import dataclasses
import fcntl
import json
import os
import typing
from pathlib import Path
from typing import Any

from labtui.core.config import Config
from labtui.core.errors import ConfigError

#: Largest hand-over accepted (the pipe is grown to hold it: the server writes it whole
#: before the child starts, so a full pipe would block the server).
MAX_HANDOFF = 1 << 20


def config_to_data(config: Config) -> dict[str, Any]:
    """``config`` as JSON-able data, values as resolved (no ``${...}`` left to expand)."""
    data = dataclasses.asdict(config)
    data["source"] = str(config.source) if config.source is not None else None
    return data


def _build(cls: type, data: Any, key: str) -> Any:
    if not isinstance(data, dict):
        raise ConfigError(f"hand-over: {key or 'config'} is not a mapping")
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal") or f.name not in data:
            continue
        hint = hints[f.name]
        path = f"{key}.{f.name}" if key else f.name
        nested = isinstance(hint, type) and dataclasses.is_dataclass(hint)
        values[f.name] = _build(hint, data[f.name], path) if nested else data[f.name]
    return cls(**values)


def config_from_data(data: Any) -> Config:
    """The :class:`Config` :func:`config_to_data` made."""
    config: Config = _build(Config, data, "")
    source = data.get("source")
    config.source = Path(source) if source else None
    return config


def write_handoff(message: dict[str, Any]) -> int:
    """A pipe holding ``message``; returns its read end (the caller passes it on, then
    closes it)."""
    payload = json.dumps(message).encode() + b"\n"
    if len(payload) > MAX_HANDOFF:
        raise ConfigError(f"the session hand-over is too large ({len(payload)} bytes)")
    read_fd, write_fd = os.pipe()
    try:
        if len(payload) > fcntl.fcntl(write_fd, fcntl.F_GETPIPE_SZ):
            fcntl.fcntl(write_fd, fcntl.F_SETPIPE_SZ, len(payload))
        os.write(write_fd, payload)
    except BaseException:
        os.close(read_fd)
        raise
    finally:
        os.close(write_fd)
    return read_fd
