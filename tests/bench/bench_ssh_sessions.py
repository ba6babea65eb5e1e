"""Benchmark: many SSH sessions to one ``labtui serve --ssh`` (issue 6: 50 sessions opened
over 10 s and kept open on a 2-core machine, p95 connect-to-first-screen under 2 s).

A real ``labtui serve --ssh 127.0.0.1:0`` process serves a fresh data dir (the demo lab;
``ssh.max_sessions_per_user: 0`` so one key-authenticated user may hold them all). Each
client is an asyncssh connection with a PTY (xterm-256color, 100x30); its clock runs from
the start of the TCP connect until the signed-in screen's header (``NAME · roles``) and its
footer (``palette``) have both been written. All sessions stay open until the last one
drew; then the memory of the TUI children is read with psutil: RSS, and PSS (shared pages
divided among the processes sharing them: the honest per-session figure).

Baseline in the same run: one session alone (3 runs, the median), so the figure is also
printed as a ratio "p95 under load / one session alone".

    /work/venv/bin/python tests/bench/bench_ssh_sessions.py [--sessions 50] [--over 10]
"""

from __future__ import annotations

import argparse
import asyncio
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import asyncssh
import psutil

from labtui.core.config import load_config
from labtui.core.runtime import Core, Paths

ANSI = re.compile(rb"\x1b\[[0-9;?<>=]*[ -/]*[@-~]|\x1b[()][0-9A-Za-z]|\x1b[=>]|\x1b\][^\x07]*\x07")
USER = "bench"
SIZE = (100, 30)
TARGET_P95 = 2.0


async def prepare(home: Path) -> tuple[Path, asyncssh.SSHKey]:
    config = home / "config.yaml"
    # One address opens every session: the per-address startup cap must not be what is measured.
    config.write_text(
        "ssh:\n  max_sessions: 0\n  max_sessions_per_user: 0\n  idle_timeout: 0\n  max_startups_per_source: 100\n  max_startups: 100\n"
    )
    core = Core(load_config(config), Paths(home))
    await core.start()
    await core.auth.create_admin(USER, "pw-Bench-12345")
    actor = (await core.auth.login(USER, "pw-Bench-12345")).actor
    key = asyncssh.generate_private_key("ssh-ed25519")
    await core.users.set_ssh_key(actor, key.export_public_key().decode())
    await core.aclose()
    return config, key


async def start_server(home: Path, config: Path) -> tuple[asyncio.subprocess.Process, int]:
    server = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "labtui",
        "--home",
        str(home),
        "--config",
        str(config),
        "serve",
        "--no-scheduler",
        "--ssh",
        "127.0.0.1:0",
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    assert server.stderr is not None
    while True:
        line = (await asyncio.wait_for(server.stderr.readline(), 60)).decode()
        if not line:
            raise SystemExit("labtui serve ended before listening")
        if found := re.search(r"SSH on 127\.0\.0\.1:(\d+)", line):
            return server, int(found.group(1))


class Session:
    def __init__(self) -> None:
        self.conn: asyncssh.SSHClientConnection | None = None
        self.seconds: float | None = None
        self.error = ""
        self.drain: asyncio.Future[None] | None = None  # held: the loop keeps only weak refs

    async def open(self, port: int, key: asyncssh.SSHKey, timeout: float = 60.0) -> None:
        start = time.perf_counter()
        try:
            self.conn = await asyncssh.connect(
                "127.0.0.1",
                port,
                username=USER,
                client_keys=[key],
                known_hosts=None,
                password=None,
            )
            proc = await self.conn.create_process(term_type="xterm-256color", term_size=SIZE, encoding=None)
            tail = b""
            wanted = {f"{USER} \u00b7 roles".encode(), b"palette"}
            while wanted:
                chunk = await asyncio.wait_for(proc.stdout.read(65536), timeout)
                if not chunk:
                    raise ConnectionError("the session ended before its first screen")
                # Only the new output (and a little before it) is searched: the client
                # shares the CPUs with the server, so it must stay cheap.
                text = ANSI.sub(b"", tail + chunk)
                wanted = {w for w in wanted if w not in text}
                tail = chunk[-256:]
            self.seconds = time.perf_counter() - start
            self.drain = asyncio.ensure_future(self._drain(proc))
        except (OSError, asyncssh.Error, TimeoutError, ConnectionError) as exc:
            self.error = f"{type(exc).__name__}: {exc}"

    @staticmethod
    async def _drain(proc: asyncssh.SSHClientProcess[bytes]) -> None:
        """Keep reading (as a terminal would), so no child blocks on a full channel."""
        while await proc.stdout.read(65536):
            pass

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def children_memory(server_pid: int) -> tuple[int, int, int]:
    """(count, total RSS, total PSS) of the session processes (not the fork server they
    are forked from, which is the server's own child)."""
    count = rss = pss = 0
    for child in psutil.Process(server_pid).children(recursive=True):
        try:
            if child.ppid() == server_pid and "labtui.ssh.forkserver" in child.cmdline():
                continue
            info = child.memory_full_info()
        except psutil.Error:
            continue
        count += 1
        rss += info.rss
        pss += getattr(info, "pss", info.rss)
    return count, rss, pss


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def main(sessions: int, over: float) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp)
        config, key = await prepare(home)
        server, port = await start_server(home, config)
        try:
            alone: list[float] = []
            for _ in range(3):
                one = Session()
                await one.open(port, key)
                if one.seconds is None:
                    raise SystemExit(f"a single session failed: {one.error}")
                alone.append(one.seconds)
                one.close()
                await asyncio.sleep(0.5)
            baseline = statistics.median(alone)

            opened = [Session() for _ in range(sessions)]
            gap = over / max(sessions - 1, 1)
            tasks = []
            for index, session in enumerate(opened):
                tasks.append(asyncio.ensure_future(session.open(port, key)))
                if index < sessions - 1:
                    await asyncio.sleep(gap)
            await asyncio.gather(*tasks)
            count, rss, pss = children_memory(server.pid)
            server_rss = psutil.Process(server.pid).memory_info().rss
            times = [s.seconds for s in opened if s.seconds is not None]
            dropped = [s.error for s in opened if s.seconds is None]
            for session in opened:
                session.close()
        finally:
            server.terminate()
            await asyncio.wait_for(server.wait(), 30)

    mib = 1024 * 1024
    p95 = percentile(times, 0.95) if times else float("nan")
    print(f"SSH sessions: {sessions} opened over {over:g} s to one labtui serve, {psutil.cpu_count()} CPU(s)")
    print(f"  one session alone (median of 3): {baseline:.2f} s to the first screen")
    if times:
        print(
            f"  connect -> first screen: p50 {statistics.median(times):.2f} s, p95 {p95:.2f} s, "
            f"max {max(times):.2f} s (target p95 < {TARGET_P95:g} s: {'met' if p95 < TARGET_P95 else 'NOT met'}); "
            f"p95 / alone = {p95 / baseline:.1f}x"
        )
    print(f"  dropped: {len(dropped)}" + (f" ({dropped[0]})" if dropped else ""))
    if count:
        print(
            f"  memory of the {count} session processes: RSS {rss / mib:.0f} MiB total, {rss / count / mib:.1f} MiB each; "
            f"PSS {pss / mib:.0f} MiB total, {pss / count / mib:.1f} MiB each"
        )
    print(f"  server process RSS: {server_rss / mib:.0f} MiB")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sessions", type=int, default=50)
    parser.add_argument(
        "--over", type=float, default=10.0, help="seconds over which the sessions are opened (0: at once)"
    )
    args = parser.parse_args()
    asyncio.run(main(args.sessions, args.over))
