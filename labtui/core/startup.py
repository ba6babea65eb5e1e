"""The startup sequence (DESIGN.md §3), each step logged to $LABTUI_HOME/labtui.log.

A step that fails in a way labtui can survive is logged and added to
``core.startup_report``; only a broken database stops startup.
"""

from __future__ import annotations

import logging

from labtui.core.runtime import Core

log = logging.getLogger("labtui.startup")


async def run_startup(core: Core) -> None:
    log.info("database: %s", core.db.create_schema())
    counts = await core.db.run(core.rbac.seed)
    log.info("permissions seeded: %s", counts)
