"""Waiting in a test for something another thread or process brings about: polled, bounded, and a
failure that names what never came."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


def wait_for(condition: Callable[[], T], what: str, timeout_s: float, every_s: float = 0.1) -> T:
    """The condition's first truthy value within `timeout_s`; AssertionError naming `what` if none comes."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if value := condition():
            return value
        time.sleep(every_s)
    raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
