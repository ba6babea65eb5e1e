"""Jobs: the queue (:mod:`.queue`), the worker (:mod:`.worker`), the runners
(:mod:`.runner`), output storage (:mod:`.output`), process-tree cancel (:mod:`.cancel`) and
the guard that kills what a dead worker's jobs left running (:mod:`.guard`).

The database is the bus (docs/architecture.md): a job queued in one process runs in whichever
worker claims it, and its output streams to every process that tails it.
"""

from labtui.core.db.jobs import FINAL_STATUSES, STATUSES
from labtui.core.jobs.output import OutputLine
from labtui.core.jobs.queue import JobInfo, Jobs

__all__ = ["FINAL_STATUSES", "STATUSES", "JobInfo", "Jobs", "OutputLine"]
