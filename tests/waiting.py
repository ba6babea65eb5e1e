"""Waiting in tests for something to become true, polled on the event loop: the one helper
core tests use instead of sleeping a guessed time (TUI tests wait through the Pilot with
``tests.tui.conftest.wait_for``, which also lets the app draw)."""

from __future__ import annotations

import asyncio
import inspect
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


async def until(condition: Callable[[], T | Awaitable[T]], *, timeout: float = 10.0, what: str = "the condition") -> T:
    """Poll ``condition`` (plain or async) until it returns something true, and return that;
    an AssertionError naming ``what`` after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if inspect.isawaitable(value):
            value = await value
        if value:
            return value  # type: ignore[return-value]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        await asyncio.sleep(0.02)
