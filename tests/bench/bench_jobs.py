"""Job overhead benchmark: the same 3-task localhost playbook run by a running
``labtui serve`` worker (queued → completed, measured from the queue: the job row's
``finished_at - created_at``) against plain ``ansible-playbook`` (wall time of the process).
Median of 5 each, interleaved in one run after one warm-up each; prints the ratio
(target ≤ 1.15).

Not part of the pytest run. Usage: ``python tests/bench/bench_jobs.py [--runs 5]``.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from labtui.core.actor import Actor
from labtui.core.config import load_config
from labtui.core.jobs.runner import base_env, venv_bin
from labtui.core.runtime import Core, Paths

TARGET = 1.15
PASSWORD = "bench-Admin-123"

PLAYBOOK = """\
- name: Bench
  hosts: localhost
  gather_facts: false
  tasks:
    - name: Say something
      ansible.builtin.debug:
        msg: "bench says hello"
    - name: Remember a value
      ansible.builtin.set_fact:
        answer: 42
    - name: Run a command
      ansible.builtin.command: "true"
      changed_when: false
"""


def make_lab(root: Path) -> Path:
    lab = root / "lab-src"
    service = lab / "services" / "bench"
    service.mkdir(parents=True)
    (service / "deploy.yml").write_text(PLAYBOOK)
    (lab / "inventory").mkdir()
    (lab / "inventory" / "hosts.yml").write_text(
        "all:\n  hosts:\n    localhost:\n      ansible_connection: local\n"
        f"      ansible_python_interpreter: {sys.executable}\n"
    )
    return lab


def plain_run(lab: Path) -> float:
    """One ``ansible-playbook`` run with the environment labtui gives its jobs."""
    env = base_env({"ANSIBLE_FORCE_COLOR": "1"})
    argv = [
        str(venv_bin() / "ansible-playbook"),
        "-i",
        str(lab / "inventory"),
        str(lab / "services" / "bench" / "deploy.yml"),
    ]
    start = time.perf_counter()
    done = subprocess.run(argv, cwd=lab / "services" / "bench", env=env, capture_output=True, text=True)
    took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"plain ansible-playbook failed:\n{done.stdout}\n{done.stderr}")
    return took


async def labtui_run(core: Core, admin: Actor) -> float:
    job = await core.jobs.run_script(admin, "bench")
    reader = Actor.system("bench")
    while True:
        info = await core.jobs.get(reader, job.id)
        if info.is_final:
            break
        await asyncio.sleep(0.02)
    if info.status != "completed" or info.finished_at is None:
        raise SystemExit(f"job {job.id} ended {info.status}")
    return (info.finished_at - info.created_at).total_seconds()


async def main_async(runs: int) -> int:
    with tempfile.TemporaryDirectory(prefix="labtui-bench-jobs-") as tmp:
        root = Path(tmp)
        lab = make_lab(root)
        home = root / "home"
        home.mkdir()
        (home / "config.yaml").write_text(f"lab:\n  repo: {lab}\n")
        core = Core(load_config(home / "config.yaml"), Paths(home))
        await core.start()
        await core.auth.create_admin("admin", PASSWORD)
        admin = (await core.auth.login("admin", PASSWORD)).actor
        env = {k: v for k, v in os.environ.items() if k != "LABTUI_HOME"}
        serve = subprocess.Popen(
            [sys.executable, "-m", "labtui", "--home", str(home), "serve", "--no-scheduler"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        try:
            assert serve.stderr is not None
            line = serve.stderr.readline()
            if "labtui serve: worker" not in line:
                raise SystemExit(f"labtui serve did not start: {line}")
            print("warm-up ...", flush=True)
            plain_run(core.lab_dir)
            await labtui_run(core, admin)
            plain: list[float] = []
            ours: list[float] = []
            for i in range(runs):
                plain.append(plain_run(core.lab_dir))
                ours.append(await labtui_run(core, admin))
                print(f"run {i + 1}: ansible-playbook {plain[-1]:.3f} s, labtui job {ours[-1]:.3f} s", flush=True)
        finally:
            serve.terminate()
            serve.wait(timeout=30)
            await core.aclose()
    p, o = statistics.median(plain), statistics.median(ours)
    ratio = o / p
    ok = ratio <= TARGET
    print(
        f"median of {runs}: ansible-playbook {p:.3f} s, labtui serve job (queued → completed) {o:.3f} s; "
        f"ratio {ratio:.3f} (target ≤ {TARGET}: {'met' if ok else 'MISSED'})"
    )
    return 0 if ok else 1


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    return asyncio.run(main_async(parser.parse_args().runs))


if __name__ == "__main__":
    raise SystemExit(main())
