"""``labtui serve``: run this process's workers headless until SIGTERM or SIGINT.

Job workers (and the scheduler, under its lease) run until stopped; on SIGTERM running jobs
are ended and put back to ``queued`` for another worker — never left ``running``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from typing import TYPE_CHECKING

from labtui.cli.context import CliContext
from labtui.core.errors import ValidationError
from labtui.core.runtime import Core
from labtui.core.workers import ProcessWorkers
from labtui.heap import freeze_once

if TYPE_CHECKING:
    from labtui.ssh.server import SshHub


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run job workers and the scheduler headless (until SIGTERM)")
    p.add_argument("--no-scheduler", action="store_true", help="run job workers only")
    p.add_argument("--ssh", metavar="HOST:PORT", help="also serve the TUI over SSH on this address")
    p.set_defaults(handler=run)


async def run(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core(full=True)  # a start: the startup actions and the pull run here
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    workers = ProcessWorkers(core, scheduler=not args.no_scheduler)
    await workers.start()
    hub = await _start_ssh(ctx, core, args.ssh) if args.ssh else None
    freeze_once()  # started: what is alive now lives as long as the process (labtui/heap.py)
    name = workers.job_worker.name if workers.job_worker else "-"
    print(
        f"labtui serve: worker {name} running up to {core.config.jobs.max_parallel} job(s); SIGTERM or Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        print("labtui serve: stopping (running jobs go back to the queue)", file=sys.stderr, flush=True)
        if hub is not None:
            await hub.stop()
        await workers.stop(requeue=True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return 0


async def _start_ssh(ctx: CliContext, core: Core, address: str) -> SshHub:
    from labtui.ssh.server import SshHub

    host, sep, port = address.rpartition(":")
    if not sep or not port.isdigit():
        raise ValidationError(f"--ssh wants HOST:PORT, not '{address}'", "ssh")
    child = [sys.executable, "-m", "labtui", "--home", str(ctx.paths.home)]
    if core.config.source is not None:
        child += ["--config", str(core.config.source)]
    hub = SshHub(core, child, fork_entry="labtui.cli.session_entry")
    fingerprint = await hub.start(host or "127.0.0.1", int(port))
    print(f"labtui serve: SSH on {host}:{hub.port}, host key {fingerprint}", file=sys.stderr, flush=True)
    return hub
