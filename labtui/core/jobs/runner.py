"""Running one job's steps: ``bash FILE`` or a playbook through ansible-runner.

Both runners follow CloudLab's output protocol — a ``$ command`` line, then every output
line, then ``[EXIT CODE: n]`` on failure (``[ERROR: msg]`` if it could not run) — and run
with a scrubbed environment: PATH (the venv's ``bin`` first, so ``ansible-playbook`` is the
one labtui ships), HOME, the locale, the ``INPUT_*`` variables and labtui's own
``LABTUI_*`` variables; never the parent's secrets. ansible-runner copies the parent
environment into its artifacts, so its environment is rebuilt before the run.

Extra vars reach ansible-playbook as one YAML mapping tagged ``!unsafe``: they hold what
users typed (inputs, inventory fields, outputs read back), and Ansible would otherwise
template them, so ``{{ lookup('pipe', ...) }}`` in a name ran on the controller
(docs/jobs.md).

Everything here is blocking and runs on the job's own thread.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import subprocess
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import yaml

from labtui.core.jobs.cancel import ProcessTracker

log = logging.getLogger("labtui.jobs")

#: Parent variables a job may see (nothing that could hold a secret).
PASSED_ENV = ("HOME", "LANG", "LC_ALL", "LC_CTYPE", "LANGUAGE", "TZ", "USER", "LOGNAME", "TMPDIR")
PEXPECT_TIMEOUT = 0.2

Emit = Callable[[str], None]


@dataclass(frozen=True)
class Step:
    """One command of a job. ``check=False``: its result does not decide the job (CloudLab's
    generate-inventory step of stop)."""

    kind: str  # bash | playbook
    path: Path
    cwd: Path
    header: str | None = None
    inventory: Path | None = None
    extravars: Mapping[str, Any] = field(default_factory=dict)
    check: bool = True


@dataclass
class RunContext:
    job_id: str
    job_dir: Path
    env: dict[str, str]
    emit: Emit
    #: Many lines at once (a read of a job's pipe: one call, not one per line).
    emit_many: Callable[[list[str]], None]
    tracker: ProcessTracker
    vault_file: Path | None = None
    extravars: dict[str, Any] = field(default_factory=dict)
    #: Niceness the job's processes run at (``jobs.nice``; 0: none added).
    nice: int = 0

    def niced(self, argv: list[str]) -> list[str]:
        """``argv`` run through ``nice`` (which execs it: same pid, same process tree)."""
        nice = max(0, min(19, self.nice))
        binary = shutil.which("nice") if nice else None
        return [binary, "-n", str(nice), *argv] if binary else argv


def venv_bin() -> Path:
    return Path(sys.executable).parent


def base_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The scrubbed environment every job starts from."""
    env = {k: os.environ[k] for k in PASSED_ENV if k in os.environ}
    path = os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")
    env["PATH"] = os.pathsep.join([str(venv_bin()), path])
    env.setdefault("LANG", "C.UTF-8")
    env.setdefault("HOME", str(Path.home()))
    if extra:
        env.update(extra)
    return env


class _Untrusted(dict[str, Any]):
    """The extra vars as a whole, dumped as one mapping tagged ``!unsafe``."""


class _UnsafeDumper(yaml.SafeDumper):
    """Extra vars for ansible-core's YAML loader, untrusted as a whole.

    The tag is on the top mapping, not on each string: ansible-core 2.19 resolves a tagged
    scalar again as if it were unquoted (``!unsafe 'yes'`` loads as ``True``, ``!unsafe ''``
    as ``None``), whereas everything inside a tagged collection is loaded as usual (quoted
    text stays text) and is never trusted as a template.
    """


def _untrusted(dumper: yaml.SafeDumper, values: _Untrusted) -> yaml.MappingNode:
    return dumper.represent_mapping("!unsafe", values.items())


_UnsafeDumper.add_representer(_Untrusted, _untrusted)
_UnsafeDumper.add_representer(tuple, yaml.SafeDumper.represent_list)


def dump_extravars(values: Mapping[str, Any]) -> str:
    """``values`` as an extra-vars file Ansible never templates: a string that looks like a
    Jinja template stays that text (AWX marks user-supplied extra vars the same way)."""
    return yaml.dump(_Untrusted(values), Dumper=_UnsafeDumper, allow_unicode=True, sort_keys=False)


def _decode(raw: bytes) -> str:
    return raw.decode("utf-8", errors="replace").rstrip("\n").rstrip("\r")


def run_steps(steps: list[Step], ctx: RunContext) -> int:
    """Run ``steps`` in order; returns the exit code that decides the job (0 = success)."""
    result = 0
    for step in steps:
        if ctx.tracker.cancelled.is_set():
            return result or -1
        if step.header:
            ctx.emit(step.header)
        try:
            rc = run_bash(step, ctx) if step.kind == "bash" else run_playbook(step, ctx)
        except Exception as exc:  # the job fails with the reason, never the worker
            log.exception("job %s: step %s failed to run", ctx.job_id, step.path)
            ctx.emit(f"[ERROR: {exc}]")
            rc = -1
        else:
            if rc != 0 and not ctx.tracker.cancelled.is_set():
                ctx.emit(f"[EXIT CODE: {rc}]")
        if step.check:
            result = rc
            if rc != 0:
                return rc
    return result


def run_bash(step: Step, ctx: RunContext) -> int:
    argv = ["bash", str(step.path)]
    ctx.emit("$ " + " ".join(argv))
    proc = subprocess.Popen(  # an argument list, no shell
        ctx.niced(argv),
        cwd=step.cwd,
        env=ctx.env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    ctx.tracker.started(proc.pid)
    try:
        assert proc.stdout is not None
        # Whatever the pipe holds, in one read: a flood of lines costs one read and one
        # queue item per 64 KB rather than per line (the reading thread shares the GIL with
        # the writer's; lines it has not read yet wait in the pipe, their latency growing).
        fd, partial = proc.stdout.fileno(), b""
        while chunk := os.read(fd, 65536):
            *whole, partial = (partial + chunk).split(b"\n")
            if whole:
                ctx.emit_many([_decode(raw) for raw in whole])
        if partial:  # the last line had no newline
            ctx.emit(_decode(partial))
    finally:
        rc = proc.wait()
        ctx.tracker.started(None)
    return rc


def _runner_env(runner_env: Mapping[str, str], ours: Mapping[str, str]) -> dict[str, str]:
    """ansible-runner seeds its environment with the parent's: keep only what it added and ours."""
    return {k: v for k, v in runner_env.items() if k in ours or os.environ.get(k) != v}


def _find_child(marker: str) -> Callable[[], int | None]:
    """Find the ansible-playbook started for this job among this process's children."""

    def find() -> int | None:
        try:
            for child in psutil.Process().children():
                try:
                    if any(marker in arg for arg in child.cmdline()):
                        return child.pid
                except psutil.Error:
                    continue
        except psutil.Error:
            return None
        return None

    return find


_FAST_CLOSE_INSTALLED = False


def _install_fast_close() -> None:
    """Drop a fixed 0.1 s sleep from every playbook run.

    ansible-runner ends a run with ``child.close()``; ptyprocess then sleeps
    ``delayafterclose`` (0.1 s) "to give the kernel time" even though the child has already
    exited and been reaped — 20 % of a short play. Only the ``pexpect`` that
    ``ansible_runner.runner`` sees is replaced, with a ``spawn`` that skips the sleep when the
    child is already gone; behaviour is otherwise pexpect's own.
    """
    global _FAST_CLOSE_INSTALLED
    if _FAST_CLOSE_INSTALLED:
        return
    import types

    import ansible_runner.runner as runner_module
    import pexpect

    class Spawn(pexpect.spawn):  # type: ignore[type-arg]  # generic in the stubs only: spawn[bytes] fails at run time
        def close(self, force: bool = True) -> None:
            # types-pexpect leaves out spawn.ptyproc (the ptyprocess.PtyProcess it drives).
            pty = self.ptyproc  # type: ignore[attr-defined]
            if not pty.isalive():
                pty.delayafterclose = 0
            super().close(force)

    proxy = types.ModuleType("pexpect")
    proxy.__dict__.update({k: v for k, v in vars(pexpect).items() if not k.startswith("__")})
    proxy.__dict__["spawn"] = Spawn
    runner_module.pexpect = proxy
    _FAST_CLOSE_INSTALLED = True


def run_playbook(step: Step, ctx: RunContext) -> int:
    from ansible_runner.config.runner import RunnerConfig
    from ansible_runner.runner import Runner

    _install_fast_close()

    # A fresh private data dir per step: ansible-runner's env/* files stick once written.
    pdd = ctx.job_dir / "runner" / step.path.stem
    if pdd.exists():
        shutil.rmtree(pdd)
    env_dir = pdd / "env"
    env_dir.mkdir(parents=True, mode=0o700)
    extravars_file = env_dir / "extravars"
    fd = os.open(extravars_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(dump_extravars({**ctx.extravars, **step.extravars}))
    tmp = ctx.job_dir / "tmp"
    tmp.mkdir(exist_ok=True, mode=0o700)
    # Colours as in a terminal: the log pane renders ANSI, the CLI strips it when piped.
    env = {"ANSIBLE_FORCE_COLOR": "1", **ctx.env, "ANSIBLE_LOCAL_TEMP": str(tmp)}
    cmdline = ""
    if ctx.vault_file is not None:
        cmdline = "--vault-password-file " + shlex.quote(str(ctx.vault_file))
    config = RunnerConfig(
        private_data_dir=str(pdd),
        playbook=str(step.path),
        project_dir=str(step.cwd),
        inventory=str(step.inventory) if step.inventory else None,
        ident=ctx.job_id,
        envvars=env,
        cmdline=cmdline or None,
        quiet=True,
        settings={"pexpect_timeout": PEXPECT_TIMEOUT, "suppress_ansible_output": True},
        suppress_env_files=True,
    )
    config.prepare()
    config.env = _runner_env(config.env, env)
    ctx.emit("$ " + " ".join(config.command))
    config.command = ctx.niced(config.command)

    def on_event(event: dict[str, Any]) -> bool:
        try:
            text = event.get("stdout") or ""
            if text:
                for line in text.splitlines():
                    ctx.emit(line.rstrip("\r"))
        except Exception:  # an exception here would kill the runner silently
            log.exception("job %s: event handler", ctx.job_id)
        return False  # labtui keeps the output in the database, not as event files

    ctx.tracker.started(None, _find_child(str(extravars_file)))
    runner = Runner(config, event_handler=on_event, cancel_callback=ctx.tracker.terminated.is_set)
    try:
        runner.run()
    finally:
        ctx.tracker.started(None)
        # The extra vars hold the inputs: they do not outlive the run.
        shutil.rmtree(env_dir, ignore_errors=True)
        shutil.rmtree(tmp, ignore_errors=True)
    if runner.rc is None:
        return -1
    return int(runner.rc)
