"""``labtui serve``: run this process's workers headless until SIGTERM or SIGINT.

Job workers (and the scheduler, under its lease) run until stopped; on SIGTERM running jobs
are ended and put back to ``queued`` for another worker — never left ``running``.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys

from labtui.cli.context import CliContext
from labtui.core.workers import ProcessWorkers


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("serve", help="run job workers and the scheduler headless (until SIGTERM)")
    p.add_argument("--no-scheduler", action="store_true", help="run job workers only")
    p.set_defaults(handler=run)


async def run(ctx: CliContext, args: argparse.Namespace) -> int:
    core = await ctx.core()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    workers = ProcessWorkers(core, scheduler=not args.no_scheduler)
    await workers.start()
    name = workers.job_worker.name if workers.job_worker else "-"
    print(
        f"labtui serve: worker {name} running up to {core.config.jobs.max_parallel} job(s); "
        "SIGTERM or Ctrl-C stops it",
        file=sys.stderr,
        flush=True,
    )
    try:
        await stop.wait()
    finally:
        print("labtui serve: stopping (running jobs go back to the queue)", file=sys.stderr, flush=True)
        await workers.stop(requeue=True)
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(sig)
    return 0
