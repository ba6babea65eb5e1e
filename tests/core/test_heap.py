"""labtui.heap: a process freezes its startup heap once."""

from __future__ import annotations

import gc

from labtui import heap


def test_freeze_once_freezes_the_first_time_only() -> None:
    heap.freeze_once()
    frozen = gc.get_freeze_count()
    assert frozen > 10_000  # the interpreter, pytest and labtui's modules at least
    kept = [[] for _ in range(5000)]  # alive, tracked by the collector, made after the freeze
    heap.freeze_once()
    assert gc.get_freeze_count() == frozen and len(kept) == 5000
