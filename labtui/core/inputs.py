"""Inputs no declaration describes: an inventory action's free inputs, and the inputs a
script is given beyond what its ``scripts.yaml`` declares (CloudLab exported every given
input as ``INPUT_<NAME>``, declared or not).

They reach the job as ``INPUT_*`` variables and as Ansible extra vars, the strongest of
Ansible's variables, so their names are checked here, in one place (docs/jobs.md).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from labtui.core.errors import ValidationError

INPUT_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_-]{0,63}")
#: ``ansible_*`` extra vars steer the connection and the interpreter
#: (``ansible_ssh_common_args: -o ProxyCommand=...`` runs a command on this machine), and
#: Ansible's magic names are its own.
RESERVED_INPUT = re.compile(
    r"(?i)(ansible|labtui)_.*|hostvars|groups|group_names|inventory_(hostname(_short)?|dir|file)"
    r"|omit|play_hosts|playbook_dir|role_names?|role_path|vars|environment"
)


def check_inputs(inputs: Mapping[str, Any] | None) -> dict[str, Any]:
    """Inputs without a declaration: sane names, text or lists of text."""
    values: dict[str, Any] = {}
    for name, value in (inputs or {}).items():
        if not isinstance(name, str) or not INPUT_NAME.fullmatch(name):
            raise ValidationError(f"Input name {name!r} must be letters, digits, '-' or '_'", "inputs")
        if RESERVED_INPUT.fullmatch(name):
            raise ValidationError(f"Input name {name!r} is Ansible's or labtui's own: choose another", "inputs")
        if isinstance(value, (list, tuple)):
            values[name] = [str(v) for v in value if v is not None]
        elif isinstance(value, dict):
            raise ValidationError(f"Input '{name}' takes text or a list", name)
        else:
            values[name] = "" if value is None else str(value)
    return values
