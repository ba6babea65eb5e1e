"""The startup sequence (docs/architecture.md, startup), each step logged to $LABTUI_HOME/labtui.log.

Order: startup actions -> clone/pull the lab -> symlinks -> database schema -> inventory
types (and their permissions) -> seed permissions and roles -> sync adapters.

A step that fails in a way labtui can survive is logged and added to
``core.startup_report`` (the dashboard shows it). Two things stop startup: a failing
startup action (:class:`StartupError`, naming the file and line: labtui must not run on a
half-prepared machine) and a broken database.
"""

from __future__ import annotations

import asyncio
import logging
from pathlib import Path

from labtui.core.inventory.types import load_inventory_types, sync_types_to_db
from labtui.core.lab import (
    GitError,
    create_symlinks,
    redact,
    run_startup_actions,
    sync_lab_repo,
)
from labtui.core.runtime import Core
from labtui.core.sync import run_sync_adapters

log = logging.getLogger("labtui.startup")


def _report(core: Core, message: str) -> None:
    log.warning("%s", message)
    core.startup_report.append(message)


def _config_dir(core: Core) -> Path | None:
    """Relative paths in the config are relative to the config file."""
    return core.config.source.parent if core.config.source else None


async def run_startup(core: Core) -> None:
    core.startup_report.clear()
    log.info("startup: data dir %s", core.paths.home)
    await step_startup_actions(core)
    await step_lab_repo(core)
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


async def step_startup_actions(core: Core) -> None:
    """CloudLab's ``startup_action.conf.yaml``; any failure raises :class:`StartupError`."""
    raw = core.config.lab.startup_actions
    if not raw:
        log.info("startup actions: none configured")
        return
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


async def step_lab_repo(core: Core) -> None:
    """Clone or pull the lab; a failure is reported and startup goes on with what is there."""
    try:
        result = await sync_lab_repo(
            core.config.lab, core.lab_dir, core.paths.home / "cache", relative_to=_config_dir(core)
        )
    except GitError as exc:
        state = "the old checkout is used" if core.lab_dir.exists() else "no lab is available"
        _report(core, f"lab repo: {exc} ({state})")
        return
    log.info("lab repo %s: %s (checkout %s)", redact(result.source), result.action, core.lab_dir)
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
    log.info("sync adapters: %d ran, %d failed, %d not available yet", len(report.ran), len(report.failed), len(report.pending))



async def step_health_definitions(core: Core) -> None:
    """Check the health definitions (services/*/health.yaml and health/*.yaml) and report bad
    files. Only checked here: adopting them (and reporting what changed) is the poller's and
    ``health reload``'s job, so a reload still reports changes since the last adoption."""
    from labtui.core.health.definitions import load_definitions

    defs = await asyncio.to_thread(load_definitions, core.lab_dir)
    for problem in defs.problems:
        _report(core, f"health: {problem}")
    log.info("health: %d check(s) defined, %d problem(s)", len(defs.checks), len(defs.problems))
