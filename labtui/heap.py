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

_frozen = False


def freeze_once() -> None:
    """Collect what is garbage now, then freeze the rest (only the first call does anything).

    A process forked after it inherits the frozen heap and does not freeze again: the SSH fork
    server freezes before forking, so its sessions share those pages for good (PSS per session
    47 -> 37 MiB) and start at once (50 sessions in 10 s: p95 to the first screen 1.3 -> 0.8 s;
    a session collecting and freezing on its own first frame made it 2.9 s)."""
    global _frozen
    if _frozen:
        return
    _frozen = True
    gc.collect()
    gc.freeze()
