"""Health monitoring (issue 5): definitions, check executors, thresholds, the poller, email.

``core.health`` (:class:`~labtui.core.health.service.Health`) is what front ends call; the
poller runs in one process of the lab at a time (:mod:`.poller`).
"""

from labtui.core.health.checks import CheckResult, Prober
from labtui.core.health.definitions import (
    CheckDef,
    Definitions,
    Problem,
    ReloadReport,
    load_definitions,
)
from labtui.core.health.poller import LEASE_NAME, HealthPoller, TickReport
from labtui.core.health.service import (
    CheckStatus,
    Health,
    ResultRow,
    ServiceStatus,
    SilenceInfo,
    StatusPage,
    problems_first,
    split_key,
)
from labtui.core.health.state import CheckState, Transition, overall

__all__ = [
    "LEASE_NAME",
    "CheckDef",
    "CheckResult",
    "CheckState",
    "CheckStatus",
    "Definitions",
    "Health",
    "HealthPoller",
    "Prober",
    "Problem",
    "ReloadReport",
    "ResultRow",
    "ServiceStatus",
    "SilenceInfo",
    "StatusPage",
    "TickReport",
    "Transition",
    "load_definitions",
    "overall",
    "problems_first",
    "split_key",
]
