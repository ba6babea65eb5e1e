"""Benchmark: cold start of ``labtui`` to an interactive login screen, under 1.0 s after the first run.

Measured the way a person sees it: ``labtui --home H`` (the default command: the TUI with
this process's job workers and scheduler, as the README's Quick start runs it) is spawned on a
real pseudo-terminal (TERM=xterm-256color, a 120x40 window) and the clock stops when the login
screen's heading and its Username field have been written to the terminal. The process
group is then killed. ``labtui tui --no-workers`` (the TUI alone) is timed beside it. Beforehand, ``labtui users create-admin`` makes the data dir (so the
login screen shows, not first-run setup) and one untimed warm-up run fills the OS and
bytecode caches; "cold" means a new process each time, as on every login.

In the same run, ``python -c "import textual"`` is timed the same way (spawn on a pty to exit)
as the baseline the figure is compared with; so are two reference points, ``python -c pass``
(the interpreter alone) and ``python -c "import textual.app"`` (what any Textual app imports).

    /work/venv/bin/python tests/bench/bench_startup.py [--runs 5]
"""

from __future__ import annotations

import argparse
import fcntl
import os
import pty
import re
import select
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import termios
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
LABTUI = VENV_BIN / "labtui"
PYTHON = VENV_BIN / "python"
PASSWORD = "pw-Bench-123"
COLUMNS, ROWS = 120, 40
TARGET_S = 1.0
# The login screen (labtui/tui/screens/login.py): its heading and the first field's label.
LOGIN_TEXTS = ("sign in", "Username")
# Escape sequences (CSI, OSC, two-byte ESC x) removed before looking for the text.
ESCAPES = re.compile(rb"\x1b\[[0-?]*[ -/]*[@-~]|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)|\x1b[@-Z\\-_=>]")


def environment() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LABTUI_", "TEXTUAL"))}
    env.update(TERM="xterm-256color", COLORTERM="", COLUMNS=str(COLUMNS), LINES=str(ROWS))
    return env


def spawn_on_pty(argv: list[str]) -> tuple[subprocess.Popen[bytes], int]:
    """Start ``argv`` in its own session with a pty as its controlling terminal."""
    master, slave = pty.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", ROWS, COLUMNS, 0, 0))
    proc = subprocess.Popen(
        argv, stdin=slave, stdout=slave, stderr=slave, env=environment(), start_new_session=True, close_fds=True
    )
    os.close(slave)
    return proc, master


def kill_group(proc: subprocess.Popen[bytes]) -> None:
    """Stop the process we started and anything it started (its own process group)."""
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    proc.wait(timeout=10)


def until_login_screen(argv: list[str], timeout: float = 30.0) -> float:
    """Seconds from spawn until the login screen's texts are on the terminal."""
    start = time.perf_counter()
    proc, master = spawn_on_pty(argv)
    seen = b""
    try:
        while True:
            left = timeout - (time.perf_counter() - start)
            if left <= 0:
                raise TimeoutError(f"no login screen after {timeout:.0f} s; the terminal showed:\n{tail(seen)}")
            ready, _, _ = select.select([master], [], [], min(left, 0.5))
            if not ready:
                continue
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the child closed the terminal (it exited)
                chunk = b""
            if not chunk:
                raise RuntimeError(f"labtui exited ({proc.wait()}) before the login screen:\n{tail(seen)}")
            seen += chunk
            plain = ESCAPES.sub(b"", seen).decode("utf-8", "replace")
            if all(text in plain for text in LOGIN_TEXTS):
                return time.perf_counter() - start
    finally:
        kill_group(proc)
        os.close(master)


def spawn_to_exit(argv: list[str], timeout: float = 30.0) -> float:
    """Seconds from spawn until the process exits (its output drained from the pty)."""
    start = time.perf_counter()
    proc, master = spawn_on_pty(argv)
    try:
        while True:
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                try:
                    if not os.read(master, 65536):
                        break
                except OSError:
                    break
            elif proc.poll() is not None:
                break
            if time.perf_counter() - start > timeout:
                raise TimeoutError(f"{argv} did not exit in {timeout:.0f} s")
        code = proc.wait(timeout=timeout)
        elapsed = time.perf_counter() - start
        if code != 0:
            raise RuntimeError(f"{argv} exited {code}")
        return elapsed
    finally:
        kill_group(proc)
        os.close(master)


def tail(data: bytes, n: int = 1500) -> str:
    return ESCAPES.sub(b"", data).decode("utf-8", "replace")[-n:]


def prepare(home: Path) -> None:
    """First run: the data dir, demo lab checkout, database and the admin."""
    done = subprocess.run(
        [str(LABTUI), "--home", str(home), "users", "create-admin", "admin", "--password-stdin"],
        input=f"{PASSWORD}\n",
        capture_output=True,
        check=False,
        text=True,
        env=environment(),
        timeout=300,
    )
    if done.returncode != 0:
        raise SystemExit(f"labtui users create-admin failed ({done.returncode}):\n{done.stderr}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not LABTUI.exists():
        raise SystemExit(f"{LABTUI} not found: run this with the venv's python")

    with tempfile.TemporaryDirectory(prefix="labtui-bench-start-") as tmp:
        home = Path(tmp) / "home"
        prepare(home)
        default = [str(LABTUI), "--home", str(home)]
        tui = [*default, "tui", "--no-workers"]
        until_login_screen(default)  # warm-up, not timed
        spawn_to_exit([str(PYTHON), "-c", "import textual"])

        starts: list[float] = []
        alone: list[float] = []
        imports: list[float] = []
        bare: list[float] = []
        app_imports: list[float] = []
        for _ in range(args.runs):  # interleaved, so a busy moment hits both alike
            starts.append(until_login_screen(default))
            alone.append(until_login_screen(tui))
            imports.append(spawn_to_exit([str(PYTHON), "-c", "import textual"]))
            bare.append(spawn_to_exit([str(PYTHON), "-c", "pass"]))
            app_imports.append(spawn_to_exit([str(PYTHON), "-c", "import textual.app"]))

    start, base = statistics.median(starts), statistics.median(imports)

    def ms(values: list[float]) -> str:
        return ", ".join(f"{v * 1000:.0f}" for v in values)

    print(f"labtui cold start to the login screen ({COLUMNS}x{ROWS} pty, {args.runs} runs, median):")
    print(f"  labtui                      {start * 1000:7.0f} ms   (runs: {ms(starts)})")
    print(f"  python -c 'import textual'  {base * 1000:7.0f} ms   (runs: {ms(imports)})")
    print(f"  ratio                       {start / base:7.1f} x")
    print("  for reference:")
    print(f"  labtui tui --no-workers     {statistics.median(alone) * 1000:7.0f} ms")
    print(f"  python -c pass              {statistics.median(bare) * 1000:7.0f} ms")
    print(f"  python -c 'import textual.app' {statistics.median(app_imports) * 1000:4.0f} ms")
    verdict = "OK" if start < TARGET_S else "SLOW"
    print(f"cold start {start:.3f} s (target < {TARGET_S:.1f} s): {verdict}")
    return 0 if start < TARGET_S else 1


if __name__ == "__main__":
    sys.exit(main())
