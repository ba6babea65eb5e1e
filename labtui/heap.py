"""Keep the garbage collector off the objects a labtui process keeps for its whole life.

A started labtui process holds a few hundred thousand long-lived objects (modules, classes,
Textual's and SQLAlchemy's machinery, the lab's definitions). Python's full collections walk
all of them, and a screen that builds many small objects (the health screen's 10,000 check
statuses) triggers such collections: on the health bench they were most of the first read
(144 ms with them, 53 ms after :func:`freeze_once`) and the cause of its stalls of a frame or
more. ``gc.freeze()`` moves what is alive now into a generation no collection looks at; what
is made afterwards is collected as before. Once per process: objects frozen that die later
are never reclaimed, which is fine for startup state and not for a whole test run's.
"""

from __future__ import annotations

import gc
import os

#: The process that froze its heap (a forked child freezes its own once more).
_frozen_in: int | None = None


def freeze_once() -> None:
    """Collect what is garbage now, then freeze the rest (only a process's first call does
    anything)."""
    global _frozen_in
    if _frozen_in == os.getpid():
        return
    _frozen_in = os.getpid()
    gc.collect()
    gc.freeze()
