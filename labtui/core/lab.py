"""The lab repo: CloudLab's startup actions engine, clone/pull of the lab, and symlinks.

Three startup steps (docs/architecture.md, docs/cloudlab.md) that prepare the files everything else
reads. Every subprocess takes an argument list (never a shell string) and runs with
``stdin`` closed and ``GIT_TERMINAL_PROMPT=0``, so nothing can wait on the terminal the
TUI draws on. Blocking calls run in threads so the event loop stays free.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import re
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from labtui.core.config import DEMO_LAB, LabConfig
from labtui.core.errors import LabtuiError, StartupError

log = logging.getLogger("labtui.startup")

#: Git's own variables that would point a git call at another repository.
_GIT_LOCATION_VARS = (
    "GIT_DIR",
    "GIT_WORK_TREE",
    "GIT_INDEX_FILE",
    "GIT_OBJECT_DIRECTORY",
    "GIT_ALTERNATE_OBJECT_DIRECTORIES",
    "GIT_COMMON_DIR",
    "GIT_PREFIX",
    "GIT_NAMESPACE",
)

#: Commits of local snapshots have a fixed author so they never depend on the user's git config.
_SNAPSHOT_IDENTITY = {
    "GIT_AUTHOR_NAME": "labtui",
    "GIT_AUTHOR_EMAIL": "labtui@localhost",
    "GIT_COMMITTER_NAME": "labtui",
    "GIT_COMMITTER_EMAIL": "labtui@localhost",
}

CLONE_TIMEOUT = 600.0
PULL_TIMEOUT = 300.0
LOCAL_GIT_TIMEOUT = 60.0


class GitError(LabtuiError):
    """A git command failed; the message holds the command and git's own words."""


_USERINFO = re.compile(r"(\b[a-zA-Z][a-zA-Z0-9+.-]*://)[^/@\s]+@")


def redact(text: str) -> str:
    """Hide credentials in URLs (``https://user:token@host``) before text reaches a log or screen."""
    return _USERINFO.sub(r"\1***@", text)


def _tail(text: str, lines: int = 20) -> str:
    kept = text.strip().splitlines()[-lines:]
    return "\n".join(kept)


def git_env(ssh_key: str = "", base: Mapping[str, str] | None = None) -> dict[str, str]:
    """The environment for a git call: never prompts, and uses ``ssh_key`` if given."""
    env = dict(os.environ if base is None else base)
    for name in _GIT_LOCATION_VARS:
        env.pop(name, None)
    env["GIT_TERMINAL_PROMPT"] = "0"
    if ssh_key:
        key = str(Path(ssh_key).expanduser())
        # BatchMode: a passphrase-protected key fails instead of prompting on the TUI's tty.
        env["GIT_SSH_COMMAND"] = shlex.join(
            [
                "ssh",
                "-i",
                key,
                "-o",
                "IdentitiesOnly=yes",
                "-o",
                "StrictHostKeyChecking=accept-new",
                "-o",
                "BatchMode=yes",
            ]
        )
    return env


def _run(
    argv: Sequence[str], *, cwd: Path | None, env: Mapping[str, str], timeout: float | None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(argv),
        cwd=cwd,
        env=dict(env),
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        errors="replace",
        timeout=timeout,
        check=False,
    )


async def git(
    args: Sequence[str],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    timeout: float | None = LOCAL_GIT_TIMEOUT,
    check: bool = True,
) -> subprocess.CompletedProcess[str]:
    """Run ``git *args`` in a thread; raises :class:`GitError` with git's output on failure."""
    argv = ["git", *args]
    try:
        proc = await asyncio.to_thread(_run, argv, cwd=cwd, env=env or git_env(), timeout=timeout)
    except FileNotFoundError:
        raise GitError("git is not installed (needed to clone the lab repo)") from None
    except subprocess.TimeoutExpired:
        raise GitError(redact(f"{shlex.join(argv)}: no answer after {timeout:.0f} s")) from None
    if check and proc.returncode != 0:
        detail = _tail(proc.stderr or proc.stdout) or f"exit status {proc.returncode}"
        raise GitError(redact(f"{shlex.join(argv)} failed: {detail}"))
    return proc


# -- startup actions (CloudLab's startup_action.conf.yaml) -------------------------------

VERBS = ("ENV", "CLONE", "RUN", "RETURN")


@dataclass(frozen=True)
class ActionCommand:
    """One line of the actions file, with where it came from for error messages."""

    group: str
    verb: str
    arg: str
    file: str
    line: int

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}"


@dataclass
class ActionsResult:
    """What running the actions file did."""

    returned: str | None = None
    env: dict[str, str] = field(default_factory=dict)
    ran: list[str] = field(default_factory=list)


def _null(node: yaml.Node) -> bool:
    return isinstance(node, yaml.ScalarNode) and node.tag == "tag:yaml.org,2002:null"


def parse_actions(path: Path) -> list[ActionCommand]:
    """Read and check the whole file before anything runs, so a typo on the last line
    does not leave a half-run sequence behind. Errors name the file and the line."""
    try:
        text = path.read_text()
    except OSError as exc:
        raise StartupError(f"{path}: cannot read startup actions: {exc.strerror}") from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise StartupError(f"{path}{line}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if root is None or _null(root):
        return []
    if not isinstance(root, yaml.MappingNode):
        raise StartupError(f"{path}:{root.start_mark.line + 1}: expected a mapping of group name -> list of commands")
    commands: list[ActionCommand] = []
    for key_node, group_node in root.value:
        group = str(key_node.value)
        if _null(group_node):
            continue
        if not isinstance(group_node, yaml.SequenceNode):
            raise StartupError(f"{path}:{group_node.start_mark.line + 1}: group '{group}' is not a list of commands")
        for item in group_node.value:
            line = item.start_mark.line + 1
            if _null(item):
                continue  # CloudLab's "- #RUN ..." idiom: a commented-out entry
            if not isinstance(item, yaml.ScalarNode):
                raise StartupError(f"{path}:{line}: group '{group}': a command must be one line of text")
            parts = str(item.value).strip().split(None, 1)
            if not parts:
                continue
            verb, arg = parts[0], (parts[1].strip() if len(parts) > 1 else "")
            cmd = ActionCommand(group, verb, arg, str(path), line)
            _check_command(cmd)
            commands.append(cmd)
    return commands


def _check_command(cmd: ActionCommand) -> None:
    if cmd.verb not in VERBS:
        raise StartupError(f"{cmd.where}: unknown verb '{cmd.verb}' (known: {', '.join(VERBS)})")
    if cmd.verb == "ENV":
        name, sep, _ = cmd.arg.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*", name):
            raise StartupError(f"{cmd.where}: ENV needs NAME=value")
        return
    if cmd.verb == "RETURN":
        return
    try:
        argv = shlex.split(cmd.arg)
    except ValueError as exc:
        raise StartupError(f"{cmd.where}: {cmd.verb}: {exc}") from None
    if not argv:
        raise StartupError(f"{cmd.where}: {cmd.verb} needs {'a URL' if cmd.verb == 'CLONE' else 'a command'}")


def _clone_target(cwd: Path, argv: list[str]) -> Path:
    positional = [a for a in argv if not a.startswith("-")]
    if len(positional) >= 2:
        return cwd / positional[-1]
    name = re.split(r"[/:]", positional[0].rstrip("/"))[-1]
    return cwd / name.removesuffix(".git")


async def run_startup_actions(path: Path, *, cwd: Path, env: Mapping[str, str] | None = None) -> ActionsResult:
    """Run CloudLab's actions file: ``ENV NAME=value``, ``CLONE url``, ``RUN argv…``, ``RETURN value``.

    ``ENV`` changes a working copy of the environment (never ``os.environ``) that later
    commands of this file get. A failing ``RUN`` or ``CLONE`` raises :class:`StartupError`
    with its output. ``CLONE`` of a target that already exists is skipped: the file runs at
    every start of ``labtui serve`` or the TUI (never for a CLI command, docs/architecture.md).
    """
    commands = parse_actions(path)
    result = ActionsResult(env=dict(os.environ if env is None else env))
    cwd.mkdir(parents=True, exist_ok=True)
    for cmd in commands:
        if cmd.verb == "ENV":
            name, _, value = cmd.arg.partition("=")
            result.env[name] = value
            result.ran.append(f"ENV {name}")
            log.info("startup action %s: ENV %s set", cmd.where, name)
        elif cmd.verb == "RETURN":
            result.returned = cmd.arg
            log.info("startup action %s: RETURN %s", cmd.where, cmd.arg)
            return result
        elif cmd.verb == "CLONE":
            argv = shlex.split(cmd.arg)
            target = _clone_target(cwd, argv)
            if target.exists() and any(target.iterdir()):
                log.info("startup action %s: CLONE skipped, %s exists", cmd.where, target)
                result.ran.append(f"CLONE {cmd.arg} (exists)")
                continue
            try:
                await git(["clone", *argv], cwd=cwd, env=git_env(base=result.env), timeout=CLONE_TIMEOUT)
            except GitError as exc:
                raise StartupError(f"{cmd.where}: CLONE failed: {exc}") from None
            result.ran.append(f"CLONE {cmd.arg}")
            log.info("startup action %s: cloned into %s", cmd.where, target)
        else:
            await _run_action(cmd, cwd, result)
    return result


async def _run_action(cmd: ActionCommand, cwd: Path, result: ActionsResult) -> None:
    argv = shlex.split(cmd.arg)
    log.info("startup action %s: RUN %s", cmd.where, shlex.join(argv))
    try:
        proc = await asyncio.to_thread(_run, argv, cwd=cwd, env=result.env, timeout=None)
    except OSError as exc:
        raise StartupError(f"{cmd.where}: RUN {argv[0]}: {exc.strerror or exc}") from None
    output = _tail((proc.stdout or "") + (proc.stderr or ""))
    if proc.returncode != 0:
        shown = f":\n{output}" if output else ""
        raise StartupError(f"{cmd.where}: RUN {shlex.join(argv)} failed with exit status {proc.returncode}{shown}")
    if output:
        log.info("startup action %s output:\n%s", cmd.where, output)
    result.ran.append(f"RUN {shlex.join(argv)}")


@dataclass(frozen=True)
class StartupConf:
    """CloudLab's ``startup.conf.yaml``, the file a ``RETURN`` line names (docs/cloudlab.md)."""

    path: Path
    git_url: str = ""
    git_key: str = ""
    core_settings: str = ""
    #: ``dns_basename`` of the core settings file, when it names one that exists.
    dns_basename: str = ""
    warnings: tuple[str, ...] = ()


def _yaml_mapping(path: Path, what: str) -> dict[str, object]:
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as exc:
        raise StartupError(f"{path}: cannot read {what}: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise StartupError(f"{path}{line}: invalid YAML: {getattr(exc, 'problem', None) or exc}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise StartupError(f"{path}: {what} must be a mapping")
    return {str(k): v for k, v in data.items()}


def startup_conf_path(returned: str, cwd: Path) -> Path:
    path = Path(returned).expanduser()
    return path if path.is_absolute() else cwd / path


def read_startup_conf(returned: str, cwd: Path) -> StartupConf:
    """Read the file a ``RETURN`` names (relative to ``cwd``, where the actions ran, as
    CloudLab's were relative to its working dir). A missing or malformed file is a
    :class:`StartupError`: CloudLab did not start without it either."""
    path = startup_conf_path(returned, cwd)
    data = _yaml_mapping(path, "the startup config its RETURN names")
    values: dict[str, str] = {}
    for key in ("git_url", "git_key", "core_settings"):
        value = data.get(key)
        if value is not None and not isinstance(value, str):
            raise StartupError(f"{path}: {key} must be text")
        values[key] = (value or "").strip()
    warnings: list[str] = []
    dns_basename = ""
    if values["core_settings"]:
        # CloudLab read it relative to its working dir ("/app/" + value).
        core_path = Path(values["core_settings"]).expanduser()
        core_path = core_path if core_path.is_absolute() else cwd / core_path
        if core_path.is_file():
            dns_basename = str(_yaml_mapping(core_path, "core settings").get("dns_basename") or "")
        else:
            warnings.append(f"{path}: core_settings {core_path} does not exist")
    return StartupConf(path, dns_basename=dns_basename, warnings=tuple(warnings), **values)


# -- the lab repo -------------------------------------------------------------------------

_SCP_LIKE = re.compile(r"^[\w.-]+@[\w.-]+:")


def is_remote(repo: str) -> bool:
    """A git URL (``scheme://…`` or ``user@host:path``) rather than a local path."""
    return "://" in repo or bool(_SCP_LIKE.match(repo))


def is_git_repo(path: Path) -> bool:
    """``path`` is the top of a work tree or a bare repository (not a folder inside one)."""
    return (path / ".git").exists() or ((path / "HEAD").is_file() and (path / "objects").is_dir())


@dataclass
class LabRepoResult:
    """What the clone/pull step did, for the log and the startup report."""

    action: str  # cloned | pulled | up to date | kept
    source: str
    warnings: list[str] = field(default_factory=list)


def resolve_repo(config: LabConfig, relative_to: Path | None = None) -> str:
    """The repo to clone: ``lab.repo`` (a relative path is relative to the config file), or the demo."""
    if not config.repo:
        return str(DEMO_LAB)
    if is_remote(config.repo):
        return config.repo
    path = Path(config.repo).expanduser()
    if not path.is_absolute() and relative_to is not None:
        path = relative_to / path
    return str(path.resolve())


async def snapshot_local(source: Path, cache: Path) -> Path:
    """A bare git repo holding the current content of a local folder that is not a repo.

    The folder is used as git's work tree but never written to (it may be a read-only
    package directory); the index and objects live in ``cache``. Each call commits what
    changed, so a later pull picks up edits to the folder.
    """
    if not source.is_dir():
        raise GitError(f"lab repo {source} is not a folder")
    digest = hashlib.sha256(str(source).encode()).hexdigest()[:12]
    snap = cache / f"lab-source-{digest}.git"
    env = {**git_env(), **_SNAPSHOT_IDENTITY}
    base = [
        "-c",
        "core.hooksPath=/dev/null",
        "-c",
        "commit.gpgsign=false",
        f"--git-dir={snap}",
        f"--work-tree={source}",
    ]
    fresh = not (snap / "HEAD").is_file()
    if fresh:
        snap.parent.mkdir(parents=True, exist_ok=True)
        await git(["init", "--quiet", "--bare", "--initial-branch=main", str(snap)], env=env)
        (snap / "info").mkdir(exist_ok=True)
        (snap / "info" / "exclude").write_text("__pycache__/\n*.pyc\n")
    await git([*base, "add", "--all", "."], env=env, cwd=source)
    if fresh:
        changed = True
    else:
        changed = (await git([*base, "diff", "--cached", "--quiet"], env=env, cwd=source, check=False)).returncode != 0
    if changed:
        await git([*base, "commit", "--quiet", "--allow-empty", "-m", f"snapshot of {source}"], env=env, cwd=source)
    return snap


async def sync_lab_repo(
    config: LabConfig, checkout: Path, cache: Path, *, relative_to: Path | None = None
) -> LabRepoResult:
    """Clone the lab at the first start; later pull it (``lab.pull``) with ``--ff-only``.

    A failed clone raises :class:`GitError`. A failed pull, or a checkout that came from
    another source, is a warning: the old checkout stays and labtui starts with it.
    """
    source = resolve_repo(config, relative_to)
    env = git_env(config.ssh_key)
    url = source
    local = not is_remote(source)
    needs_clone = not checkout.exists() or (checkout.is_dir() and not any(checkout.iterdir()))
    if not needs_clone:
        if not is_git_repo(checkout):
            return LabRepoResult(
                "kept", source, [f"lab checkout {checkout} is not a git repository: using it as it is"]
            )
        if not config.pull:
            return LabRepoResult("kept", source)
    if local and not is_git_repo(Path(source)):
        url = str(await snapshot_local(Path(source), cache))
    if needs_clone:
        checkout.parent.mkdir(parents=True, exist_ok=True)
        args = ["clone", "--quiet"]
        if config.branch:
            args += ["--branch", config.branch]
        await git([*args, "--", url, str(checkout)], env=env, timeout=CLONE_TIMEOUT)
        return LabRepoResult("cloned", source)
    origin = (await git(["remote", "get-url", "origin"], cwd=checkout, env=env, check=False)).stdout.strip()
    if origin != url:
        return LabRepoResult(
            "kept",
            source,
            [
                redact(
                    f"lab checkout {checkout} was cloned from {origin or 'elsewhere'}, not {source}: "
                    f"kept as it is (remove it to clone {source})"
                )
            ],
        )
    before = (await git(["rev-parse", "HEAD"], cwd=checkout, env=env, check=False)).stdout.strip()
    try:
        await git(["pull", "--ff-only", "--quiet"], cwd=checkout, env=env, timeout=PULL_TIMEOUT)
    except GitError as exc:
        return LabRepoResult("kept", source, [f"lab pull failed, using the old checkout: {exc}"])
    after = (await git(["rev-parse", "HEAD"], cwd=checkout, env=env, check=False)).stdout.strip()
    return LabRepoResult("pulled" if after != before else "up to date", source)


# -- symlinks -----------------------------------------------------------------------------


@dataclass
class SymlinkResult:
    created: list[str] = field(default_factory=list)
    replaced: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)


def create_symlinks(links: Mapping[str, str], lab_dir: Path, base: Path) -> SymlinkResult:
    """Create ``link -> target`` for each entry (CloudLab's ``create_symlinks``).

    A target is relative to the lab checkout (or absolute); a relative link path is
    relative to ``base`` (the data dir). An old symlink is replaced; a real file or
    folder in the way is never touched; a missing target skips the link. Problems are
    warnings, never errors: the rest of startup does not depend on them.
    """
    result = SymlinkResult()
    for raw_link, raw_target in links.items():
        link = Path(raw_link).expanduser()
        link = link if link.is_absolute() else base / link
        target = Path(raw_target).expanduser()
        target = target if target.is_absolute() else lab_dir / target
        if not target.exists():
            result.warnings.append(f"symlink {link}: target {target} does not exist, skipped")
            continue
        try:
            if link.is_symlink():
                if Path(os.readlink(link)) == target:
                    result.unchanged.append(str(link))
                    continue
                tmp = link.with_name(f".{link.name}.labtui-tmp")
                if tmp.is_symlink():
                    tmp.unlink()
                tmp.symlink_to(target, target_is_directory=target.is_dir())
                os.replace(tmp, link)
                result.replaced.append(str(link))
            elif link.exists():
                kind = "folder" if link.is_dir() else "file"
                result.warnings.append(f"symlink {link}: a real {kind} is there, left untouched")
                continue
            else:
                link.parent.mkdir(parents=True, exist_ok=True)
                link.symlink_to(target, target_is_directory=target.is_dir())
                result.created.append(str(link))
        except OSError as exc:
            result.warnings.append(f"symlink {link}: {exc.strerror or exc}")
    return result
