"""The startup sequence (docs/architecture.md, startup), each step logged to $LABTUI_HOME/labtui.log.

Order: startup actions -> clone/pull the lab -> symlinks -> database schema -> inventory
types (and their permissions) -> seed permissions and roles -> sync adapters.

It runs once per start of ``labtui serve`` or the TUI (:func:`run_startup`), and its end is
recorded in ``$LABTUI_HOME/startup.json``. A CLI command only reads (:func:`attach`): it
runs the sequence itself only while no start has completed, so startup actions that cannot
run twice (``RUN mkdir X``) and the git pull are not repeated per command.

A step that fails in a way labtui can survive is logged and added to
``core.startup_report`` (the dashboard shows it). Two things stop startup: a failing
startup action (:class:`StartupError`, naming the file and line: labtui must not run on a
half-prepared machine) and a broken database.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import json
import logging
import os
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from labtui.core.config import LabConfig
from labtui.core.inventory.types import TypesReport, load_inventory_types, sync_types_to_db
from labtui.core.lab import (
    GitError,
    StartupConf,
    create_symlinks,
    read_startup_conf,
    redact,
    run_startup_actions,
    startup_conf_path,
    sync_lab_repo,
)
from labtui.core.secretbox import private_file
from labtui.core.sync import run_sync_adapters

if TYPE_CHECKING:
    from labtui.core.runtime import Core, Paths

log = logging.getLogger("labtui.startup")


def _report(core: Core, message: str) -> None:
    log.warning("%s", message)
    core.startup_report.append(message)


def _config_dir(core: Core) -> Path | None:
    """Relative paths in the config are relative to the config file."""
    return core.config.source.parent if core.config.source else None


async def run_startup(core: Core) -> None:
    """The whole sequence, startup actions included (a start of ``serve`` or the TUI)."""
    async with startup_lock(core.paths):
        await _run_recorded(core)


async def attach(core: Core) -> bool:
    """What a CLI command starts: the sequence only while no start has completed in this
    data dir (or its checkout is gone), else the database and the lab as they are.

    Reading needs the schema (an upgraded labtui may add tables before ``serve`` restarts)
    and the inventory types, which live in memory; nothing is cloned, pulled or run.
    Returns whether the whole sequence ran.
    """
    async with startup_lock(core.paths):
        record = read_record(core.paths)
        if record is None or not record.get("ok") or not core.lab_dir.exists():
            log.info("startup: no completed start recorded in %s, starting once", core.paths.home)
            await _run_recorded(core)
            return True
    core.startup_report.clear()
    log.debug("startup: reading the lab started at %s", record.get("finished_at"))
    core.db.create_schema()
    report = await asyncio.to_thread(load_types_readonly, core)
    core.startup_report.extend(f"inventory type skipped: {e}" for e in report.errors)
    return False


def load_types_readonly(core: Core) -> TypesReport:
    """The inventory types and their permissions, in memory only (a CLI command or an SSH
    session reads the lab the last start prepared; the rows are that start's)."""
    report = load_inventory_types(core.lab_dir)
    for type_def in report.types:
        core.rbac.register(type_def.permission_defs())
    core.inventory_types = report.by_slug
    return report


@contextlib.asynccontextmanager
async def startup_lock(paths: Paths) -> AsyncIterator[None]:
    """One startup at a time per data dir: two first CLI commands, or a command beside a
    starting ``serve``, do not both run the actions; the second then finds the record."""
    paths.home.mkdir(parents=True, exist_ok=True)
    fd = os.open(private_file(paths.home / "startup.lock"), os.O_RDWR)
    try:
        await asyncio.to_thread(fcntl.flock, fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def read_record(paths: Paths) -> dict[str, Any] | None:
    """The last start's record, or None if there is none (or it cannot be read: then the
    next command starts again, which is what it would do without one)."""
    try:
        data = json.loads(paths.startup_record.read_text())
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def _write_record(paths: Paths, record: dict[str, Any]) -> None:
    tmp = paths.startup_record.with_name(".startup.json.tmp")
    tmp.unlink(missing_ok=True)
    private_file(tmp).write_text(json.dumps(record, indent=2) + "\n")
    os.replace(tmp, paths.startup_record)


async def _run_recorded(core: Core) -> None:
    record: dict[str, Any] = {"started_at": _now(), "pid": os.getpid(), "ok": False}
    try:
        await _sequence(core, record)
    except BaseException as exc:
        record["error"] = str(exc) or type(exc).__name__
        raise
    else:
        record["ok"] = True
    finally:
        record["finished_at"] = _now()
        record["report"] = list(core.startup_report)
        try:
            _write_record(core.paths, record)
        except OSError as exc:  # a full disk: the start itself stands; the next command starts again
            log.warning("startup: cannot record this start in %s: %s", core.paths.startup_record, exc.strerror)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


async def _sequence(core: Core, record: dict[str, Any]) -> None:
    core.startup_report.clear()
    log.info("startup: data dir %s", core.paths.home)
    conf = await step_startup_actions(core, record)
    await step_lab_repo(core, lab_config(core.config.lab, conf), record)
    step_symlinks(core)
    log.info("database: %s", core.db.create_schema())
    log.info("config versions: seeded %s", ", ".join(await core.configs.seed()) or "none")
    await step_inventory_types(core)
    counts = await core.db.run(core.rbac.seed)
    log.info("permissions seeded: %s", counts)
    await step_cloudlab_import(core)
    await step_sync_adapters(core)
    await step_health_definitions(core)
    log.info("startup: done%s", f", {len(core.startup_report)} problem(s) reported" if core.startup_report else "")


async def step_startup_actions(core: Core, record: dict[str, Any] | None = None) -> StartupConf | None:
    """CloudLab's ``startup_action.conf.yaml``; any failure raises :class:`StartupError`.
    Returns the startup config its ``RETURN`` names, read (CloudLab's ``startup.conf.yaml``)."""
    raw = core.config.lab.startup_actions
    if not raw:
        log.info("startup actions: none configured")
        return None
    path = Path(raw).expanduser()
    base = _config_dir(core)
    if not path.is_absolute() and base is not None:
        path = base / path
    log.info("startup actions: running %s", path)
    result = await run_startup_actions(path, cwd=core.paths.home)
    log.info(
        "startup actions: %d command(s) run%s",
        len(result.ran),
        f", returned {result.returned!r}" if result.returned is not None else "",
    )
    if record is not None:
        record["actions"] = {"file": str(path), "ran": result.ran, "returned": result.returned}
    if not result.returned:
        return None
    returned = startup_conf_path(result.returned, core.paths.home)
    if core.config.lab.repo and not returned.exists():
        # A CloudLab file kept as it was (RETURN /app/cloudlabsettings/...) on a machine
        # where lab.repo says where the lab is: nothing is missing.
        _report(core, f"startup config {returned} (the RETURN of {path}) does not exist: lab.repo is used")
        return None
    conf = read_startup_conf(result.returned, core.paths.home)
    log.info(
        "startup config %s: git_url %s, core_settings %s%s",
        conf.path,
        redact(conf.git_url) or "none",
        conf.core_settings or "none",
        f" (dns_basename {conf.dns_basename})" if conf.dns_basename else "",
    )
    for warning in conf.warnings:
        _report(core, f"startup config: {warning}")
    if record is not None:
        record["startup_conf"] = {
            "path": str(conf.path),
            "git_url": redact(conf.git_url),
            "git_key": conf.git_key,
            "core_settings": conf.core_settings,
            "dns_basename": conf.dns_basename,
        }
    return conf


def lab_config(lab: LabConfig, conf: StartupConf | None) -> LabConfig:
    """The lab to clone: ``lab.repo`` when set, else the ``git_url`` (and ``git_key``) of
    the startup config the actions returned, as CloudLab cloned it."""
    if conf is None or not conf.git_url:
        return lab
    if lab.repo:
        log.info("startup config: git_url %s not used, lab.repo is set", redact(conf.git_url))
        return lab
    return replace(lab, repo=conf.git_url, ssh_key=lab.ssh_key or conf.git_key)


async def step_lab_repo(core: Core, lab: LabConfig | None = None, record: dict[str, Any] | None = None) -> None:
    """Clone or pull the lab; a failure is reported and startup goes on with what is there."""
    lab = lab or core.config.lab
    try:
        result = await sync_lab_repo(lab, core.lab_dir, core.paths.home / "cache", relative_to=_config_dir(core))
    except GitError as exc:
        state = "the old checkout is used" if core.lab_dir.exists() else "no lab is available"
        _report(core, f"lab repo: {exc} ({state})")
        return
    log.info("lab repo %s: %s (checkout %s)", redact(result.source), result.action, core.lab_dir)
    if record is not None:
        record["lab"] = {"source": redact(result.source), "action": result.action, "checkout": str(core.lab_dir)}
    for warning in result.warnings:
        _report(core, f"lab repo: {warning}")


def step_symlinks(core: Core) -> None:
    links = core.config.lab.symlinks
    if not links:
        log.info("symlinks: none configured")
        return
    result = create_symlinks(links, core.lab_dir, core.paths.home)
    log.info(
        "symlinks: %d created, %d replaced, %d unchanged",
        len(result.created),
        len(result.replaced),
        len(result.unchanged),
    )
    for warning in result.warnings:
        _report(core, warning)


async def step_inventory_types(core: Core) -> None:
    """Load the type files, register their permissions (before seeding), upsert the rows."""
    report = await asyncio.to_thread(load_inventory_types, core.lab_dir)
    if report.folder_missing:
        log.info("inventory types: the lab has no inventory_types/ folder")
    for error in report.errors:
        _report(core, f"inventory type skipped: {error}")
    for warning in report.warnings:
        _report(core, f"inventory type: {warning}")
    for type_def in report.types:
        core.rbac.register(type_def.permission_defs())
    await core.db.run(lambda s: sync_types_to_db(s, report))
    core.inventory_types = report.by_slug
    log.info(
        "inventory types: %d loaded (%s); added %s, changed %s, removed %s",
        len(report.types),
        ", ".join(report.by_slug) or "none",
        report.added or "none",
        report.changed or "none",
        report.removed or "none",
    )


async def step_cloudlab_import(core: Core) -> None:
    """Import ``cloudlab.data_dir`` once into an empty database (after types and permissions,
    which the imported objects and roles need; before the sync adapters, which then adopt the
    imported objects). A failed import changes nothing and is reported; startup goes on."""
    from labtui.core.importer import ImportFailed, auto_import

    try:
        report = await auto_import(core)
    except ImportFailed as exc:
        _report(core, f"CloudLab import failed, nothing imported: {exc}")
        return
    if report is None:
        return
    counts = ", ".join(f"{t} {c}" for t, c, _u, _s in report.rows() if c) or "nothing new"
    log.info("CloudLab import from %s: created %s", ", ".join(report.sources), counts)
    for warning in report.warnings:
        log.warning("CloudLab import: %s", warning)


async def step_sync_adapters(core: Core) -> None:
    report = await run_sync_adapters(core)
    for problem in report.problems:
        _report(core, problem)
    log.info(
        "sync adapters: %d ran, %d failed, %d not available yet",
        len(report.ran),
        len(report.failed),
        len(report.pending),
    )


async def step_health_definitions(core: Core) -> None:
    """Check the health definitions (services/*/health.yaml and health/*.yaml) and report bad
    files. Only checked here: adopting them (and reporting what changed) is the poller's and
    ``health reload``'s job, so a reload still reports changes since the last adoption."""
    from labtui.core.health.definitions import load_definitions

    defs = await asyncio.to_thread(load_definitions, core.lab_dir)
    for problem in defs.problems:
        _report(core, f"health: {problem}")
    log.info("health: %d check(s) defined, %d problem(s)", len(defs.checks), len(defs.problems))
