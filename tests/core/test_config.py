"""Config loading: defaults, secrets from the environment or files, and errors naming file,
line and key; the example config never drifts from the model."""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from labtui.core.config import Config, load_config, render_example
from labtui.core.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return path


def test_example_config_matches_the_model_and_loads() -> None:
    example = ROOT / "config.example.yaml"
    assert example.read_text() == render_example(), "regenerate config.example.yaml from render_example()"
    assert load_config(example) == Config()


def test_empty_file_gives_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, ""))
    assert config.auth.lockout_attempts == 5 and config.email.provider == "none"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("auth:\n  lockout_attempts: many\n", ":2: auth.lockout_attempts: expected a whole number"),
        ("lab:\n  pull: sometimes\n", ":2: lab.pull: expected true or false"),
        ("email:\n  provider: pigeon\n", ":2: email.provider: must be one of none, smtp, sendamatic"),
        ("auth:\n  lockout_attempts: 3\n  lockout_mins: 2\n", ":3: auth.lockout_mins: unknown key"),
        ("lab: [1, 2]\n", ":1: lab: expected a mapping"),
        ("lab:\n  repo: 'unclosed\n", "invalid YAML"),
    ],
)
def test_bad_config_names_file_line_and_key(tmp_path: Path, text: str, expected: str) -> None:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as exc:
        load_config(path)
    assert str(exc.value).startswith(str(path)) and expected in str(exc.value)


def test_secrets_come_from_env_and_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    secret = tmp_path / "smtp.secret"
    secret.write_text("from-a-file\n")
    monkeypatch.setenv("LABTUI_TEST_KEY", "from-the-env")
    path = write(
        tmp_path,
        f"email:\n  sendamatic:\n    api_key: ${{LABTUI_TEST_KEY}}\n  smtp:\n    password: ${{file:{secret}}}\n",
    )
    config = load_config(path)
    assert config.email.sendamatic.api_key == "from-the-env"
    assert config.email.smtp.password == "from-a-file"


def test_missing_env_var_is_named(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LABTUI_NOT_SET", raising=False)
    path = write(tmp_path, "email:\n  sendamatic:\n    api_key: ${LABTUI_NOT_SET}\n")
    with pytest.raises(
        ConfigError, match=r":3: email.sendamatic.api_key: environment variable LABTUI_NOT_SET is not set"
    ):
        load_config(path)


# -- ranges of the numbers ----------------------------------------------------------------------


def numeric_fields(
    cls: Any = Config, prefix: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], type, dataclasses.Field[Any]]]:
    """Every int or float key of the config: (YAML path, type, field)."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.metadata.get("internal"):
            continue
        hint = hints[f.name]
        path = (*prefix, f.name.rstrip("_"))
        if dataclasses.is_dataclass(hint):
            yield from numeric_fields(hint, path)
        elif hint in (int, float):
            yield path, hint, f


NUMERIC = list(numeric_fields())


def as_yaml(path: tuple[str, ...], value: object) -> str:
    lines = [f"{'  ' * depth}{key}:" for depth, key in enumerate(path[:-1])]
    return "\n".join([*lines, f"{'  ' * (len(path) - 1)}{path[-1]}: {value}"]) + "\n"


def test_every_number_has_a_range_holding_its_default() -> None:
    """A new numeric key needs ``between=(low, high)`` in its ``_doc`` (docs/errors.md)."""
    assert len(NUMERIC) >= 18
    for path, _hint, f in NUMERIC:
        assert "between" in f.metadata, f"{'.'.join(path)} has no between=(low, high)"
        low, high = f.metadata["between"]
        assert low <= f.default <= high, f"{'.'.join(path)}: the default {f.default} is out of its range"


@pytest.mark.parametrize(("path", "hint", "f"), NUMERIC, ids=[".".join(p) for p, _, _ in NUMERIC])
def test_a_number_is_checked_at_both_ends_of_its_range(
    tmp_path: Path, path: tuple[str, ...], hint: type, f: dataclasses.Field[Any]
) -> None:
    low, high = f.metadata["between"]
    step = 1 if hint is int else low / 2
    key = ".".join(path)
    for inside in (low, high):
        config = load_config(write(tmp_path, as_yaml(path, inside)))
        value: Any = config
        for name in path:
            value = getattr(value, name if hasattr(value, name) else f"{name}_")
        assert value == inside
    for outside in (low - step, high + step):
        with pytest.raises(ConfigError) as exc:
            load_config(write(tmp_path, as_yaml(path, outside)))
        line = len(path)
        assert (
            str(exc.value)
            == f"{tmp_path / 'config.yaml'}:{line}: {key}: must be between {low:g} and {high:g}, got {outside:g}"
        )
