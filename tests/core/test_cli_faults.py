"""Faults a person can cause, through the real ``labtui`` command in a subprocess: each is one
line on stderr, exit status 2 and no traceback (docs/errors.md). An exception nobody foresaw
is one line too, pointing to labtui.log, which holds its traceback.

The data dir is made read-only with a read-only bind mount in a private mount namespace
(``unshare``): chmod does not stop root, who runs these tests in CI.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from labtui.core.config import DEMO_LAB
from tests.cloudlab_fixtures import build_sqlite
from tests.core.test_cli import on_terminal

PASSWORD = "pw-Admin-123"


def labtui(
    home: Path, *args: str, stdin: bytes = b"", config: Path | None = None, prefix: tuple[str, ...] = ()
) -> subprocess.CompletedProcess[str]:
    """``labtui --home HOME [--config C] ARGS`` with raw bytes on stdin (it may not be UTF-8)."""
    cmd = [*prefix, sys.executable, "-m", "labtui", "--home", str(home)]
    if config is not None:
        cmd += ["--config", str(config)]
    env = {k: v for k, v in os.environ.items() if k != "LABTUI_HOME"}
    proc = subprocess.run([*cmd, *args], input=stdin, capture_output=True, env=env, timeout=120, check=False)
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(errors="replace"), proc.stderr.decode(errors="replace")
    )


def one_line(result: subprocess.CompletedProcess[str], code: int = 2) -> str:
    """The single stderr line of a refused command (checked: exit status, no traceback)."""
    lines = result.stderr.strip().splitlines()
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr and len(lines) == 1, result.stderr
    return lines[0]


@pytest.fixture(scope="module")
def seeded_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data dir with the demo lab cloned and a super-admin ``admin`` (made once per module)."""
    home = tmp_path_factory.mktemp("seeded") / "home"
    made = labtui(home, "users", "create-admin", "admin", "--password-stdin", stdin=f"{PASSWORD}\n".encode())
    assert made.returncode == 0, made.stderr
    return home


@pytest.fixture
def admin_home(seeded_home: Path, tmp_path: Path) -> Path:
    """A private copy of :func:`seeded_home`; its lab checkout is pointed at the copy's own
    snapshot of the demo lab, as if cloned here (else every command warns it came from elsewhere)."""
    home = tmp_path / "home"
    shutil.copytree(seeded_home, home, symlinks=True)
    (snapshot,) = (home / "cache").glob("lab-source-*.git")
    subprocess.run(["git", "-C", str(home / "lab"), "remote", "set-url", "origin", str(snapshot)], check=True)
    return home


# -- storage --------------------------------------------------------------------------------


def test_a_file_that_is_not_a_database_is_named(admin_home: Path) -> None:
    db = admin_home / "labtui.db"
    for extra in ("labtui.db-wal", "labtui.db-shm"):
        (admin_home / extra).unlink(missing_ok=True)
    db.write_bytes(b"this is not an SQLite file, it only sits where one should be\n" * 40)
    line = one_line(labtui(admin_home, "users", "list"))
    assert line == f"labtui: {db} is not a labtui database (or is corrupt): file is not a database"


def _read_only_prefix(path: Path) -> tuple[str, ...]:
    """A command prefix that runs the rest with ``path`` bind-mounted read-only over itself,
    in a mount namespace of its own (gone when the process ends)."""
    if os.geteuid() != 0 or shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("needs root with unshare and mount for a read-only bind mount")
    mount = [
        "unshare",
        "--mount",
        "--propagation",
        "private",
        "--",
        sys.executable,
        "-c",
        textwrap.dedent("""
        import os, subprocess, sys
        subprocess.run(["mount", "--bind", "-o", "ro", sys.argv[1], sys.argv[1]], check=True)
        os.execvp(sys.argv[2], sys.argv[2:])
    """),
        str(path),
    ]
    probe = subprocess.run([*mount, "touch", str(path / "probe")], capture_output=True, text=True, check=False)
    if "Read-only file system" not in probe.stderr:
        pytest.skip(f"no read-only bind mount here: {probe.stderr.strip()}")
    return tuple(mount)


@pytest.mark.parametrize("populated", [True, False], ids=["in-use", "empty"])
def test_a_read_only_data_dir_is_one_line(admin_home: Path, tmp_path: Path, populated: bool) -> None:
    home = admin_home if populated else tmp_path / "empty-home"
    home.mkdir(exist_ok=True)
    line = one_line(labtui(home, "users", "list", prefix=_read_only_prefix(home)))
    assert line == f"labtui: data dir {home}: cannot write in it: Read-only file system"


def test_a_file_in_place_of_the_data_dir_is_one_line(tmp_path: Path) -> None:
    home = tmp_path / "home"
    home.write_text("not a folder\n")
    line = one_line(labtui(home, "users", "list"))
    assert line == f"labtui: data dir {home}: not a folder (a file is in its place)"


# -- names and standard input ---------------------------------------------------------------------

LONG = "s" * 300


@pytest.mark.parametrize(
    "args",
    [
        ("jobs", "run", LONG, "--as", "admin"),
        ("jobs", "stop", LONG, "--as", "admin"),
        ("configs", "list", LONG, "--as", "admin"),
        ("schedules", "add", "nightly", "--cron", "0 3 * * *", "--service", LONG, "--as", "admin"),
    ],
    ids=["jobs-run", "jobs-stop", "configs-list", "schedules-add"],
)
def test_a_service_name_longer_than_a_folder_name_is_refused(admin_home: Path, args: tuple[str, ...]) -> None:
    line = one_line(labtui(admin_home, *args))
    assert line == f"labtui: Service '{LONG[:40]}...' not found: a service name is at most 255 bytes, this one has 300"


@pytest.mark.parametrize(
    "args",
    [
        ("users", "create", "xavier", "--password-stdin"),
        ("users", "create-admin", "xavier", "--password-stdin"),
        ("users", "reset-password", "admin", "--password-stdin"),
        ("vault", "set", "--password-stdin"),
    ],
    ids=["create", "create-admin", "reset-password", "vault-set"],
)
def test_a_password_that_is_not_utf8_is_refused(admin_home: Path, args: tuple[str, ...]) -> None:
    line = one_line(labtui(admin_home, *args, stdin=b"\xff\xfe-pw-Admin-123\n"))
    assert line == "labtui: --password-stdin: standard input is not UTF-8 text"


def test_config_content_that_is_not_utf8_is_refused(admin_home: Path) -> None:
    result = labtui(
        admin_home, "configs", "save", "hello", "config.yaml", "-", "--as", "admin", stdin=b"greeting: \xff\n"
    )
    assert one_line(result) == "labtui: configs save -: standard input is not UTF-8 text"


# -- config ranges, cron ranges, scripts.yaml ------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("ssh:\n  max_sessions: -5\n", "ssh.max_sessions: must be between 0 and 10000, got -5"),
        ("jobs:\n  lease_seconds: 0\n", "jobs.lease_seconds: must be between 1 and 3600, got 0"),
        ("auth:\n  lockout_attempts: 0\n", "auth.lockout_attempts: must be between 1 and 1000, got 0"),
        ("vultr:\n  timeout_seconds: .nan\n", "vultr.timeout_seconds: must be between 0.1 and 600, got nan"),
    ],
)
def test_a_number_out_of_its_range_is_a_bad_config(tmp_path: Path, text: str, says: str) -> None:
    config = tmp_path / "config.yaml"
    config.write_text(text)
    line = one_line(labtui(tmp_path / "home", "users", "list", config=config))
    assert line == f"labtui: bad config: {config}:2: {says}"


@pytest.mark.parametrize(
    ("args", "expr", "field"),
    [
        (
            ("schedules", "add", "wrap", "--service", "hello", "--as", "admin", "--cron"),
            "5-1 * * * *",
            "minute range 5-1",
        ),
        (
            ("schedules", "add", "wrap", "--service", "hello", "--as", "admin", "--cron"),
            "0 3 * * fri-mon",
            "weekday range fri-mon",
        ),
        (("schedules", "preview"), "0 22-2 * * *", "hour range 22-2"),
    ],
)
def test_a_backwards_cron_range_is_refused(admin_home: Path, args: tuple[str, ...], expr: str, field: str) -> None:
    line = one_line(labtui(admin_home, *args, expr))
    assert line.startswith(f"labtui: Invalid cron expression '{expr}': the {field} runs backwards")
    listed = labtui(admin_home, "schedules", "list", "--as", "admin").stdout.splitlines()
    assert listed and not any(row.startswith("wrap ") for row in listed)


def test_a_backwards_cron_range_is_not_imported(admin_home: Path, tmp_path: Path) -> None:
    built = build_sqlite(tmp_path / "cloudlab.db")
    with sqlite3.connect(built.path) as conn:
        conn.execute("UPDATE scheduled_jobs SET cron_expression = '30 5-1 * * *' WHERE name = 'nightly web deploy'")
    result = labtui(admin_home, "import-cloudlab", "--db", str(built.path))
    assert result.returncode == 0 and "Traceback" not in result.stderr, result.stderr
    assert (
        "warning: scheduled_jobs: 'nightly web deploy' skipped: Invalid cron expression '30 5-1 * * *': "
        "the hour range 5-1 runs backwards"
    ) in result.stdout
    listed = labtui(admin_home, "schedules", "list", "--as", "admin").stdout
    assert "refresh instances" in listed and "nightly web deploy" not in listed


def test_a_bad_scripts_yaml_is_reported_with_its_line(tmp_path: Path) -> None:
    lab = tmp_path / "lab-src"
    shutil.copytree(DEMO_LAB, lab)
    scripts = lab / "services" / "hello" / "scripts.yaml"
    scripts.write_text(
        "scripts:\n"
        "  - {name: deploy, file: deploy.sh}\n"
        "  - name: greet\n"
        "    file: greet.sh\n"
        "    inputs:\n"
        "      - {label: no name}\n"
    )
    config = tmp_path / "config.yaml"
    config.write_text(f"lab:\n  repo: {lab}\n")
    home = tmp_path / "home"
    made = labtui(
        home, "users", "create-admin", "admin", "--password-stdin", stdin=f"{PASSWORD}\n".encode(), config=config
    )
    assert made.returncode == 0, made.stderr
    checkout = home / "lab" / "services" / "hello" / "scripts.yaml"
    where = f"{checkout}:6: scripts[1].inputs[0]: an input needs a name"
    listed = labtui(home, "services", "list", config=config)
    assert listed.returncode == 0 and f"warning: hello: {where}" in listed.stdout.splitlines()
    line = one_line(labtui(home, "jobs", "run", "hello", "greet", "--as", "admin", config=config))
    assert line == f"labtui: Script 'greet' not found for service 'hello' ({where})"


# -- the last resort --------------------------------------------------------------------------------


def _run_with_handler(home: Path, body: str) -> subprocess.CompletedProcess[str]:
    """The real ``labtui.cli.main`` with one extra subcommand ``boom`` whose handler is ``body``:
    a fault no command has on purpose (that would be a bug, and bugs get fixed)."""
    code = textwrap.dedent("""
        import sys
        from sqlalchemy import text
        import labtui.cli as cli

        built = cli.build_parser

        def build_parser():
            parser = built()
            sub = next(a for a in parser._actions if a.dest == "command")
            async def boom(ctx, args):
                core = await ctx.core()
        {body}
            sub.add_parser("boom").set_defaults(handler=boom)
            return parser

        cli.build_parser = build_parser
        sys.exit(cli.main(sys.argv[1:]))
    """).format(body=textwrap.indent(textwrap.dedent(body), " " * 8))
    env = {k: v for k, v in os.environ.items() if k != "LABTUI_HOME"}
    return subprocess.run(
        [sys.executable, "-c", code, "--home", str(home), "boom"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )


def test_an_unforeseen_error_points_to_its_traceback_in_the_log(admin_home: Path) -> None:
    result = _run_with_handler(
        admin_home,
        """
        def inner():
            raise RuntimeError("the handler tripped")
        inner()
    """,
    )
    log = admin_home / "labtui.log"
    assert one_line(result, code=1) == f"labtui: internal error (RuntimeError); the traceback is in {log}"
    text = log.read_text()
    assert "Traceback (most recent call last):" in text and "RuntimeError: the handler tripped" in text
    assert ", in inner" in text


def test_the_logged_traceback_of_a_failed_statement_keeps_its_parameters_out(admin_home: Path) -> None:
    secret = "token-5f3a9c1e-never-logged"
    result = _run_with_handler(
        admin_home,
        f"""
        await core.db.run(lambda s: s.execute(text("SELECT * FROM no_such_table WHERE token = :t"), {{"t": "{secret}"}}))
    """,
    )
    assert one_line(result, code=1).startswith("labtui: internal error (OperationalError)")
    text = (admin_home / "labtui.log").read_text()
    assert "OperationalError: no such table: no_such_table" in text
    assert secret not in text and secret not in result.stderr


def test_a_typed_password_that_is_not_utf8_is_refused(admin_home: Path) -> None:
    status, shown = on_terminal(
        admin_home, ["users", "reset-password", "admin"], [b"\xff\xfe-typed-1", b"\xff\xfe-typed-1"]
    )
    assert status == 2 and "Traceback" not in shown, shown
    assert "labtui: The password typed is not UTF-8 text" in shown
