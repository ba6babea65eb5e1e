"""Services: CloudLab's discovery rule, scripts.yaml, inputs validated by type, INPUT_* env."""

from __future__ import annotations

from pathlib import Path

import asyncssh
import pytest

from labtui.core.actor import Actor
from labtui.core.errors import NotFound, PermissionDenied, ValidationError
from labtui.core.runtime import Core
from labtui.core.services import (
    InputDef,
    ScriptDef,
    discover,
    input_env,
    load_scripts,
    script_path,
    undeclared,
    validate_inputs,
)
from tests.conftest import add_user


def _service(root: Path, name: str, files: dict[str, str]) -> Path:
    path = root / "services" / name
    path.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (path / rel).write_text(text)
    return path


def test_discovery_follows_cloudlab_rule_plus_deploy_yml(tmp_path: Path) -> None:
    _service(tmp_path, "zeta", {"deploy.sh": "echo z\n"})
    _service(tmp_path, "alpha", {"deploy.yml": "- hosts: localhost\n"})
    _service(tmp_path, "notes", {"README.md": "no deploy file\n"})
    (tmp_path / "services" / "dir-named-deploy" / "deploy.sh").mkdir(parents=True)  # not a regular file
    (tmp_path / "services" / "loose-file.sh").write_text("echo\n")
    assert discover(tmp_path) == ["alpha", "zeta"]
    assert discover(tmp_path / "missing") == []


def test_scripts_yaml_defaults_and_parsing(tmp_path: Path) -> None:
    plain = _service(tmp_path, "plain", {"deploy.sh": ""})
    assert load_scripts(plain) == ([ScriptDef("deploy", "Deploy", "deploy.sh")], [])
    playbook = _service(tmp_path, "pb", {"deploy.yml": ""})
    scripts, _ = load_scripts(playbook)
    assert scripts[0].file == "deploy.yml" and scripts[0].is_playbook

    broken = _service(tmp_path, "broken", {"deploy.sh": "", "scripts.yaml": "scripts: [unclosed\n"})
    scripts, warnings = load_scripts(broken)
    assert [s.name for s in scripts] == ["deploy"] and "not readable YAML" in warnings[0]
    nokey = _service(tmp_path, "nokey", {"deploy.sh": "", "scripts.yaml": "other: 1\n"})
    assert [s.name for s in load_scripts(nokey)[0]] == ["deploy"]

    full = _service(
        tmp_path,
        "full",
        {
            "deploy.sh": "",
            "scripts.yaml": (
                "scripts:\n"
                "  - {name: deploy, label: Deploy, file: deploy.sh}\n"
                "  - name: add-user\n    label: Add User\n    file: add-user.sh\n"
                "    inputs:\n"
                "      - {name: username, label: Username, type: string, required: true}\n"
                "      - {name: shell, type: select, options: [bash, zsh], default: bash}\n"
                "  - {label: no name, file: x.sh}\n"
            ),
        },
    )
    scripts, warnings = load_scripts(full)
    assert [s.name for s in scripts] == ["deploy", "add-user"]
    assert scripts[1].inputs[0] == InputDef("username", "Username", "string", True, None, ())
    assert scripts[1].inputs[1].options == ("bash", "zsh") and scripts[1].inputs[1].label == "shell"
    assert len(warnings) == 1 and "needs a name and a file" in warnings[0]


@pytest.mark.parametrize(
    ("text", "warning"),
    [
        (
            "scripts:\n  - {name: a, file: a.sh}\n  - [unclosed\n",
            ":4: not readable YAML: expected ',' or ']', but got '<stream end>'",
        ),
        ("# the lab's scripts\nscripts: {name: a}\n", ":2: no 'scripts' list, using the default deploy script"),
        ("other: 1\n", ":1: no 'scripts' list, using the default deploy script"),
        (
            "scripts:\n  - {name: a, file: a.sh}\n\n  - {label: nameless, file: b.sh}\n",
            ":4: scripts[1]: a script needs a name and a file",
        ),
        ("scripts:\n  - name: a\n    file: a.sh\n    inputs: text\n", ":4: scripts[0]: inputs must be a list"),
        (
            "scripts:\n  - name: a\n    file: a.sh\n    inputs:\n      - {name: x}\n      - label: y\n",
            ":6: scripts[0].inputs[1]: an input needs a name",
        ),
    ],
)
def test_scripts_yaml_warnings_name_file_and_line(tmp_path: Path, text: str, warning: str) -> None:
    service = _service(tmp_path, "svc", {"deploy.sh": "", "scripts.yaml": text})
    _, warnings = load_scripts(service)
    assert warnings[0] == f"{service / 'scripts.yaml'}{warning}"


def test_scripts_yaml_that_is_not_utf8_is_a_warning(tmp_path: Path) -> None:
    service = _service(tmp_path, "svc", {"deploy.sh": ""})
    (service / "scripts.yaml").write_bytes(b"scripts:\n  - {name: caf\xe9, file: a.sh}\n")
    scripts, warnings = load_scripts(service)
    assert [s.name for s in scripts] == ["deploy"]
    assert warnings == [f"{service / 'scripts.yaml'}: not UTF-8 text, using the default deploy script"]


GREET = ScriptDef(
    "greet",
    "Greet",
    "greet.sh",
    (
        InputDef("name", "Name", "string", True),
        InputDef("mood", "Mood", "select", False, "calm", ("happy", "calm", "grumpy")),
        InputDef("tags", "Tags", "list"),
        InputDef("keys", "Keys", "ssh_key_select"),
    ),
)


def test_validate_inputs_by_type() -> None:
    values = validate_inputs("greet", GREET, {"name": "Ada", "tags": "a, b,,c"})
    assert values == {"name": "Ada", "mood": "calm", "tags": ["a", "b", "c"]}
    assert validate_inputs("greet", GREET, {"name": "Ada", "tags": ["x", "", "y"], "mood": "happy"})["tags"] == [
        "x",
        "y",
    ]

    for bad in ({}, {"name": ""}, {"name": "   "}, {"name": None}):
        with pytest.raises(ValidationError, match="Missing required input: name") as exc:
            validate_inputs("greet", GREET, bad)
        assert exc.value.field == "name"
    with pytest.raises(ValidationError, match="must be one of happy, calm, grumpy") as exc:
        validate_inputs("greet", GREET, {"name": "Ada", "mood": "angry"})
    assert exc.value.field == "mood"
    # An input the script does not declare is passed on, as CloudLab did (INPUT_LEGACY_EXTRA),
    # checked as a free input; a typo of a required one still misses that one.
    extra = validate_inputs("greet", GREET, {"name": "Ada", "legacy_extra": 7, "hosts": ["a", "b"]})
    assert extra["legacy_extra"] == "7" and extra["hosts"] == ["a", "b"]
    assert undeclared(GREET, {"name": "Ada", "legacy_extra": "x"}) == ["legacy_extra"]
    with pytest.raises(ValidationError, match="Missing required input: name"):
        validate_inputs("greet", GREET, {"nmae": "Ada"})
    for steering in ("ansible_connection", "LABTUI_JOB_ID", "hostvars", "bad name"):
        with pytest.raises(ValidationError, match="Input name"):
            validate_inputs("greet", GREET, {"name": "Ada", steering: "x"})
    with pytest.raises(ValidationError, match="takes a single value"):
        validate_inputs("greet", GREET, {"name": ["Ada", "Bob"]})

    required_list = ScriptDef("s", "S", "s.sh", (InputDef("hosts", "Hosts", "list", True),))
    with pytest.raises(ValidationError, match="Missing required input: hosts"):
        validate_inputs("svc", required_list, {"hosts": ["", " "]})

    deploy_pick = ScriptDef("s", "S", "s.sh", (InputDef("target", "Target", "deployment_select", True),))
    assert validate_inputs("svc", deploy_pick, {"target": "web"}, deployments=["web"]) == {"target": "web"}
    with pytest.raises(ValidationError, match="not an active deployment"):
        validate_inputs("svc", deploy_pick, {"target": "db"}, deployments=["web"])


def test_script_path_stays_inside_the_service(tmp_path: Path) -> None:
    svc = _service(tmp_path, "svc", {"deploy.sh": "", "ok.sh": ""})
    (tmp_path / "outside.sh").write_text("")
    assert script_path(svc, ScriptDef("ok", "Ok", "ok.sh"), "svc") == (svc / "ok.sh").resolve()
    with pytest.raises(ValidationError, match="outside the service folder"):
        script_path(svc, ScriptDef("x", "X", "../../outside.sh"), "svc")
    (svc / "link.sh").symlink_to(tmp_path / "outside.sh")
    with pytest.raises(ValidationError, match="outside the service folder"):
        script_path(svc, ScriptDef("x", "X", "link.sh"), "svc")
    with pytest.raises(ValidationError, match="does not exist"):
        script_path(svc, ScriptDef("x", "X", "missing.sh"), "svc")


async def test_input_env_joins_lists_and_resolves_ssh_keys(core: Core, admin: Actor) -> None:
    ada = await add_user(core, admin, "ada", "operator")
    ada_key = asyncssh.generate_private_key("ssh-ed25519", comment="ada@lab").export_public_key().decode().strip()
    admin_key = asyncssh.generate_private_key("ssh-ed25519").export_public_key().decode().strip()
    await core.users.set_ssh_key(ada, ada_key)
    await core.users.set_ssh_key(admin, admin_key)
    bob = await add_user(core, admin, "bob", "operator")
    # CloudLab's UI sent user ids as strings; names work too.
    values = validate_inputs("greet", GREET, {"name": "Ada", "tags": ["a", "b"], "keys": [str(ada.user_id), "admin"]})
    env = await core.db.run(lambda s: input_env(s, GREET, values))
    assert env == {
        "INPUT_NAME": "Ada",
        "INPUT_MOOD": "calm",
        "INPUT_TAGS": "a,b",
        "INPUT_KEYS": f"{ada_key},{admin_key}",
    }
    no_key = validate_inputs("greet", GREET, {"name": "x", "keys": ["bob"]})
    with pytest.raises(ValidationError, match="user 'bob' has no SSH public key"):
        await core.db.run(lambda s: input_env(s, GREET, no_key))
    ghost = validate_inputs("greet", GREET, {"name": "x", "keys": ["ghost"]})
    with pytest.raises(ValidationError, match="no user 'ghost'"):
        await core.db.run(lambda s: input_env(s, GREET, ghost))
    assert bob.username == "bob"


async def test_services_of_the_demo_lab_and_permission(core: Core, admin: Actor) -> None:
    services = {s.name: s for s in await core.services.list(admin)}
    assert {"hello", "slow", "noisy", "broken", "greet"} <= set(services)
    assert [s.name for s in services["greet"].scripts] == ["deploy", "greet"]
    assert services["hello"].scripts[0].file == "deploy.yml" and services["hello"].has_stop_playbook
    with pytest.raises(ValidationError, match="Script 'nope' not found for service 'greet'"):
        services["greet"].script("nope")
    with pytest.raises(NotFound):
        await core.services.get(admin, "../etc")
    await core.rbac.create_role(admin, "nothing", "", set())
    nobody = await add_user(core, admin, "nobody", "nothing")
    with pytest.raises(PermissionDenied):
        await core.services.list(nobody)
