"""Imports every table module so ``Base.metadata`` knows them all.

Later issues add their modules here (jobs, inventory objects, health, ...).
"""

from labtui.core.db import (
    configs,  # noqa: F401
    health,  # noqa: F401
    importmap,  # noqa: F401
    inventory,  # noqa: F401
    jobs,  # noqa: F401
    models,  # noqa: F401
    schedules,  # noqa: F401
    ssh,  # noqa: F401
)
