"""The startup actions engine, clone/pull of the lab repo, and symlinks: real git, real files."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from labtui.core.config import DEMO_LAB, LabConfig
from labtui.core.errors import StartupError
from labtui.core.lab import (
    create_symlinks,
    is_remote,
    read_startup_conf,
    run_startup_actions,
    sync_lab_repo,
)
from labtui.core.startup import lab_config

PY = shlex.quote(sys.executable)


def write_py(tmp_path: Path, name: str, code: str) -> str:
    """A helper script, so RUN lines stay free of YAML and shell quoting puzzles."""
    path = tmp_path / name
    path.write_text(code)
    return f"{PY} {shlex.quote(str(path))}"


def git(*args: str, cwd: Path) -> str:
    env = {
        **os.environ,
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@t",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@t",
    }
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, text=True).stdout


# -- startup actions ---------------------------------------------------------------------


async def test_env_applies_to_later_run_and_not_to_os_environ(tmp_path: Path) -> None:
    show = write_py(
        tmp_path, "show.py", "import os\nopen('seen.txt', 'a').write(os.environ.get('LABTUI_T_VAR', '-') + '\\n')\n"
    )
    actions = tmp_path / "actions.yaml"
    actions.write_text(f"setup:\n  - RUN {show}\n  - ENV LABTUI_T_VAR=a=b c\nsecond:\n  - RUN {show}\n")
    result = await run_startup_actions(actions, cwd=tmp_path / "work")
    # The RUN before ENV sees no variable; the RUN after it does (value split at the first '=').
    assert (tmp_path / "work" / "seen.txt").read_text() == "-\na=b c\n"
    assert result.returned is None
    assert result.env["LABTUI_T_VAR"] == "a=b c"
    assert "LABTUI_T_VAR" not in os.environ
    assert result.ran == [
        f"RUN {shlex.join(shlex.split(show))}",
        "ENV LABTUI_T_VAR",
        f"RUN {shlex.join(shlex.split(show))}",
    ]


async def test_failing_run_stops_with_its_output(tmp_path: Path) -> None:
    fail = write_py(tmp_path, "fail.py", "print('disk is full on /data')\nraise SystemExit(3)\n")
    touch = write_py(tmp_path, "touch.py", "open('after.txt', 'w').write('ran')\n")
    actions = tmp_path / "actions.yaml"
    actions.write_text(f"startup_action:\n  - RUN {fail}\n  - RUN {touch}\n")
    with pytest.raises(StartupError) as err:
        await run_startup_actions(actions, cwd=tmp_path)
    message = str(err.value)
    assert message.startswith(f"{actions}:2: RUN ")
    assert "exit status 3" in message
    assert "disk is full on /data" in message
    assert not (tmp_path / "after.txt").exists()


async def test_run_of_a_missing_program_names_the_line(tmp_path: Path) -> None:
    actions = tmp_path / "actions.yaml"
    actions.write_text("g:\n  - RUN /nonexistent/labtui-no-such-program --flag\n")
    with pytest.raises(StartupError, match=rf"^{actions}:2: RUN /nonexistent/labtui-no-such-program"):
        await run_startup_actions(actions, cwd=tmp_path)


async def test_return_stops_and_returns_its_value(tmp_path: Path) -> None:
    touch = write_py(tmp_path, "touch.py", "open('after.txt', 'w').write('ran')\n")
    actions = tmp_path / "actions.yaml"
    actions.write_text(
        f"a:\n  - ENV X=1\n  - RETURN /app/cloudlabsettings/startup.conf.yaml\n  - RUN {touch}\nb:\n  - RUN {touch}\n"
    )
    result = await run_startup_actions(actions, cwd=tmp_path)
    assert result.returned == "/app/cloudlabsettings/startup.conf.yaml"
    assert not (tmp_path / "after.txt").exists()


async def test_cloudlabs_committed_file_with_null_entries(tmp_path: Path) -> None:
    actions = tmp_path / "startup_action.conf.yaml"
    actions.write_text(
        "startup_action:\n"
        "  - #ENV GIT_SSH_COMMAND=ssh -i /data/key_settings -o IdentitiesOnly=yes\n"
        "  - #CLONE git@github.com:Your-Saviour/cloudlabsettings.git\n"
        "  - #RUN ls /app\n"
        "  - #RUN rm /app/cloudlabsettings\n"
        "  - RETURN /app/cloudlabsettings/startup.conf.yaml\n"
    )
    result = await run_startup_actions(actions, cwd=tmp_path)
    assert result.returned == "/app/cloudlabsettings/startup.conf.yaml"
    assert result.ran == []


async def test_unknown_verb_is_reported_with_its_line_before_anything_runs(tmp_path: Path) -> None:
    touch = write_py(tmp_path, "touch.py", "open('after.txt', 'w').write('ran')\n")
    actions = tmp_path / "actions.yaml"
    actions.write_text(f"a:\n  - RUN {touch}\n  -\n  - COPY a b\n")
    with pytest.raises(StartupError) as err:
        await run_startup_actions(actions, cwd=tmp_path)
    assert str(err.value) == f"{actions}:4: unknown verb 'COPY' (known: ENV, CLONE, RUN, RETURN)"
    assert not (tmp_path / "after.txt").exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a:\n  - RUN ls\nb: RUN ls\n", ":3: group 'b' is not a list of commands"),
        ("a:\n  - ENV NOVALUE\n", ":2: ENV needs NAME=value"),
        ("a:\n  - RUN 'unterminated\n", ":2: RUN: No closing quotation"),
        ("a:\n  - RUN\n", ":2: RUN needs a command"),
        ("a:\n  - {RUN: ls}\n", ":2: group 'a': a command must be one line of text"),
        ("- RUN ls\n", ":1: expected a mapping of group name -> list of commands"),
        ("a:\n  - RUN ls\n\tb: x\n", ":3: invalid YAML: found character"),
    ],
)
async def test_malformed_files_name_file_and_line(tmp_path: Path, text: str, expected: str) -> None:
    actions = tmp_path / "actions.yaml"
    actions.write_text(text)
    with pytest.raises(StartupError) as err:
        await run_startup_actions(actions, cwd=tmp_path)
    assert str(err.value).startswith(f"{actions}{expected}")


async def test_missing_actions_file_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(StartupError, match="cannot read startup actions"):
        await run_startup_actions(tmp_path / "nope.yaml", cwd=tmp_path)


def test_the_returned_startup_config_is_read_relative_to_where_the_actions_ran(tmp_path: Path) -> None:
    settings = tmp_path / "cloudlabsettings"
    settings.mkdir()
    (settings / "startup.conf.yaml").write_text(
        "core_settings: cloudlabsettings/core.yaml\ngit_url: git@github.com:me/cloudlab.git\ngit_key: /data/key_lab\n"
    )
    (settings / "core.yaml").write_text("dns_basename: lab.example\n")
    conf = read_startup_conf("cloudlabsettings/startup.conf.yaml", tmp_path)
    assert (conf.git_url, conf.git_key, conf.dns_basename) == (
        "git@github.com:me/cloudlab.git",
        "/data/key_lab",
        "lab.example",
    )
    assert conf.warnings == ()

    # The returned config gives the lab and its key unless lab.* names them.
    assert (lab_config(LabConfig(), conf).repo, lab_config(LabConfig(), conf).ssh_key) == (
        conf.git_url,
        "/data/key_lab",
    )
    mine = LabConfig(repo="/srv/lab", ssh_key="/k")
    assert lab_config(mine, conf) == mine
    assert lab_config(LabConfig(ssh_key="/k"), conf).ssh_key == "/k"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (None, "cannot read the startup config its RETURN names"),
        ("- a list\n", "must be a mapping"),
        ("git_url: [1]\n", "git_url must be text"),
        ("git_url: 'x\n", "startup.conf.yaml:2: invalid YAML"),
    ],
)
def test_a_bad_returned_startup_config_stops_startup(tmp_path: Path, text: str | None, expected: str) -> None:
    if text is not None:
        (tmp_path / "startup.conf.yaml").write_text(text)
    with pytest.raises(StartupError, match=re.escape(expected)):
        read_startup_conf(str(tmp_path / "startup.conf.yaml"), tmp_path)


def test_a_missing_core_settings_file_is_a_warning(tmp_path: Path) -> None:
    (tmp_path / "startup.conf.yaml").write_text("core_settings: nowhere.yaml\n")
    conf = read_startup_conf("startup.conf.yaml", tmp_path)
    assert conf.dns_basename == "" and "nowhere.yaml does not exist" in conf.warnings[0]


async def test_clone_uses_the_engine_env_and_is_skipped_when_present(tmp_path: Path) -> None:
    origin = tmp_path / "settings"
    origin.mkdir()
    (origin / "startup.conf.yaml").write_text("core_settings: x\n")
    git("init", "-q", cwd=origin)
    git("add", "-A", cwd=origin)
    git("commit", "-qm", "init", cwd=origin)
    actions = tmp_path / "actions.yaml"
    # GIT_TERMINAL_PROMPT must be honoured from ENV too; the clone lands in the cwd.
    actions.write_text(
        f"a:\n  - ENV GIT_TERMINAL_PROMPT=0\n  - CLONE {origin}\n  - RETURN settings/startup.conf.yaml\n"
    )
    work = tmp_path / "work"
    result = await run_startup_actions(actions, cwd=work)
    assert (work / "settings" / "startup.conf.yaml").read_text() == "core_settings: x\n"
    assert result.ran == ["ENV GIT_TERMINAL_PROMPT", f"CLONE {origin}"]
    again = await run_startup_actions(actions, cwd=work)
    assert again.ran == ["ENV GIT_TERMINAL_PROMPT", f"CLONE {origin} (exists)"]


async def test_failing_clone_raises_with_gits_words(tmp_path: Path) -> None:
    actions = tmp_path / "actions.yaml"
    actions.write_text(f"a:\n  - CLONE {tmp_path / 'missing-repo'}\n")
    with pytest.raises(StartupError, match=rf"^{actions}:2: CLONE failed: .*does not exist"):
        await run_startup_actions(actions, cwd=tmp_path / "work")


# -- the lab repo ------------------------------------------------------------------------


def test_remote_urls_and_local_paths() -> None:
    assert is_remote("git@github.com:owner/lab.git")
    assert is_remote("https://example.com/lab.git")
    assert is_remote("file:///srv/lab")
    assert not is_remote("/srv/lab")
    assert not is_remote("./lab")


async def test_default_config_clones_the_bundled_demo_lab(tmp_path: Path) -> None:
    checkout = tmp_path / "lab"
    result = await sync_lab_repo(LabConfig(), checkout, tmp_path / "cache")
    assert result.action == "cloned"
    assert result.source == str(DEMO_LAB)
    assert (checkout / ".git").is_dir()
    assert (checkout / "inventory_types" / "server.yaml").read_bytes() == (
        DEMO_LAB / "inventory_types" / "server.yaml"
    ).read_bytes()
    assert (checkout / "outputs" / ".gitkeep").exists()
    assert git("status", "--porcelain", cwd=checkout) == ""
    # The package folder itself is never turned into a repository.
    assert not (DEMO_LAB / ".git").exists()
    again = await sync_lab_repo(LabConfig(), checkout, tmp_path / "cache")
    assert (again.action, again.warnings) == ("up to date", [])


async def test_pull_picks_up_a_change_to_a_local_folder(tmp_path: Path) -> None:
    source = tmp_path / "mylab"
    (source / "inventory_types").mkdir(parents=True)
    (source / "config.yml").write_text("domain_name: one.example\n")
    config = LabConfig(repo=str(source))
    checkout = tmp_path / "lab"
    assert (await sync_lab_repo(config, checkout, tmp_path / "cache")).action == "cloned"
    (source / "config.yml").write_text("domain_name: two.example\n")
    (source / "inventory_types" / "new.yaml").write_text("slug: new\n")
    result = await sync_lab_repo(config, checkout, tmp_path / "cache")
    assert result.action == "pulled"
    assert (checkout / "config.yml").read_text() == "domain_name: two.example\n"
    assert (checkout / "inventory_types" / "new.yaml").exists()
    assert not (source / ".git").exists()


async def test_pull_of_a_git_repo_and_a_failed_pull_keeps_the_checkout(tmp_path: Path) -> None:
    source = tmp_path / "upstream"
    source.mkdir()
    (source / "config.yml").write_text("domain_name: one\n")
    git("init", "-q", cwd=source)
    git("add", "-A", cwd=source)
    git("commit", "-qm", "one", cwd=source)
    config = LabConfig(repo=str(source))
    checkout = tmp_path / "lab"
    assert (await sync_lab_repo(config, checkout, tmp_path / "cache")).action == "cloned"
    assert not (tmp_path / "cache").exists()  # a real repo is cloned directly, no snapshot

    (source / "config.yml").write_text("domain_name: two\n")
    git("commit", "-qam", "two", cwd=source)
    assert (await sync_lab_repo(config, checkout, tmp_path / "cache")).action == "pulled"
    assert (checkout / "config.yml").read_text() == "domain_name: two\n"

    # Upstream and the checkout both change the same file: the pull cannot fast-forward.
    (checkout / "config.yml").write_text("domain_name: local edit\n")
    git("commit", "-qam", "local", cwd=checkout)
    (source / "config.yml").write_text("domain_name: three\n")
    git("commit", "-qam", "three", cwd=source)
    result = await sync_lab_repo(config, checkout, tmp_path / "cache")
    assert result.action == "kept"
    assert len(result.warnings) == 1 and result.warnings[0].startswith(
        "lab pull failed, using the old checkout: git pull"
    )
    assert (checkout / "config.yml").read_text() == "domain_name: local edit\n"


async def test_pull_disabled_and_checkout_from_another_source(tmp_path: Path) -> None:
    one, two = tmp_path / "one", tmp_path / "two"
    for folder in (one, two):
        folder.mkdir()
        (folder / "name.txt").write_text(folder.name)
    checkout = tmp_path / "lab"
    await sync_lab_repo(LabConfig(repo=str(one)), checkout, tmp_path / "cache")
    (one / "name.txt").write_text("changed")
    kept = await sync_lab_repo(LabConfig(repo=str(one), pull=False), checkout, tmp_path / "cache")
    assert (kept.action, kept.warnings) == ("kept", [])
    assert (checkout / "name.txt").read_text() == "one"
    other = await sync_lab_repo(LabConfig(repo=str(two)), checkout, tmp_path / "cache")
    assert other.action == "kept"
    assert "remove it to clone" in other.warnings[0] and str(two) in other.warnings[0]
    assert (checkout / "name.txt").read_text() == "one"


async def test_branch_is_checked_out(tmp_path: Path) -> None:
    source = tmp_path / "upstream"
    source.mkdir()
    (source / "f.txt").write_text("main")
    git("init", "-q", "-b", "main", cwd=source)
    git("add", "-A", cwd=source)
    git("commit", "-qm", "main", cwd=source)
    git("checkout", "-qb", "lab-dev", cwd=source)
    (source / "f.txt").write_text("dev")
    git("commit", "-qam", "dev", cwd=source)
    git("checkout", "-q", "main", cwd=source)
    await sync_lab_repo(LabConfig(repo=str(source), branch="lab-dev"), tmp_path / "lab", tmp_path / "cache")
    assert (tmp_path / "lab" / "f.txt").read_text() == "dev"


async def test_clone_failure_raises_a_git_error(tmp_path: Path) -> None:
    from labtui.core.lab import GitError

    with pytest.raises(GitError, match="not a folder"):
        await sync_lab_repo(LabConfig(repo=str(tmp_path / "missing")), tmp_path / "lab", tmp_path / "cache")
    with pytest.raises(GitError, match="git clone"):
        await sync_lab_repo(LabConfig(repo="file:///nonexistent/labtui-repo.git"), tmp_path / "lab", tmp_path / "cache")
    assert not (tmp_path / "lab").exists()


# -- symlinks ----------------------------------------------------------------------------


def make_lab(tmp_path: Path) -> Path:
    lab = tmp_path / "lab"
    (lab / "services").mkdir(parents=True)
    (lab / "inventory_types").mkdir()
    (lab / "config.yml").write_text("domain_name: x\n")
    return lab


def test_symlink_is_created_relative_to_the_lab(tmp_path: Path) -> None:
    lab = make_lab(tmp_path)
    root = tmp_path / "root"
    result = create_symlinks(
        {str(root / "services"): "services", str(root / "sub" / "config.yml"): "config.yml"}, lab, tmp_path
    )
    assert (root / "services").resolve() == lab / "services"
    assert (root / "sub" / "config.yml").read_text() == "domain_name: x\n"
    assert result.created == [str(root / "services"), str(root / "sub" / "config.yml")]
    assert result.warnings == []


def test_old_symlink_is_replaced_and_an_equal_one_left(tmp_path: Path) -> None:
    lab = make_lab(tmp_path)
    link = tmp_path / "services"
    link.symlink_to(tmp_path / "elsewhere")  # dangling old link
    result = create_symlinks({str(link): "services"}, lab, tmp_path)
    assert result.replaced == [str(link)]
    assert Path(os.readlink(link)) == lab / "services"
    again = create_symlinks({str(link): "services"}, lab, tmp_path)
    assert again.unchanged == [str(link)] and again.replaced == []


def test_real_file_or_folder_is_never_touched(tmp_path: Path) -> None:
    lab = make_lab(tmp_path)
    real_dir = tmp_path / "inventory"
    (real_dir / "keep").mkdir(parents=True)
    real_file = tmp_path / "config.yml"
    real_file.write_text("mine")
    result = create_symlinks({str(real_dir): "services", "config.yml": "config.yml"}, lab, tmp_path)
    assert not real_dir.is_symlink() and (real_dir / "keep").is_dir()
    assert not real_file.is_symlink() and real_file.read_text() == "mine"
    assert result.warnings == [
        f"symlink {real_dir}: a real folder is there, left untouched",
        f"symlink {real_file}: a real file is there, left untouched",
    ]


def test_missing_target_is_a_warning_and_skipped(tmp_path: Path) -> None:
    lab = make_lab(tmp_path)
    link = tmp_path / "vault"
    result = create_symlinks({str(link): "vault", str(tmp_path / "abs"): str(tmp_path / "nowhere")}, lab, tmp_path)
    assert not link.exists() and not link.is_symlink()
    assert result.warnings == [
        f"symlink {link}: target {lab / 'vault'} does not exist, skipped",
        f"symlink {tmp_path / 'abs'}: target {tmp_path / 'nowhere'} does not exist, skipped",
    ]


async def test_credentials_in_a_repo_url_never_reach_the_message(tmp_path: Path) -> None:
    from labtui.core.lab import GitError

    # Nothing listens on port 1: the clone fails at once, and its message must not show the token.
    with pytest.raises(GitError) as err:
        await sync_lab_repo(
            LabConfig(repo="https://deploy:s3cr3t-token@127.0.0.1:1/lab.git"), tmp_path / "lab", tmp_path / "cache"
        )
    assert "s3cr3t-token" not in str(err.value)
    assert "https://***@127.0.0.1:1/lab.git" in str(err.value)
