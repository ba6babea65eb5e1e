"""Imports every table module so ``Base.metadata`` knows them all.

Later issues add their modules here (jobs, inventory objects, health, ...).
"""

from labtui.core.db import models  # noqa: F401
from labtui.core.db import schedules  # noqa: F401
from labtui.core.db import jobs  # noqa: F401
from labtui.core.db import health  # noqa: F401
from labtui.core.db import configs  # noqa: F401
from labtui.core.db import ssh  # noqa: F401
from labtui.core.db import inventory  # noqa: F401
from labtui.core.db import importmap  # noqa: F401
