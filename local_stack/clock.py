"""The local stack's time: a base clock (real time, or a test's) plus the waits a drain skipped.

Queues, mappings and schedules read it. `LocalStack.settle` drives events to their end at once: when
nothing runs and the only messages left are invisible (a delay, a visibility timeout), it skips to the
moment the next one is due, as if the wait had passed, so a drain keeps SQS's timing without sleeping
through it. A stack serving in real time (`ohlcv local up`) never skips.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable


class StackClock:
    def __init__(self, base: Callable[[], float] = time.time) -> None:
        self._base = base
        self._skipped = 0.0
        self._lock = threading.Lock()

    def __call__(self) -> float:
        with self._lock:
            return self._base() + self._skipped

    @property
    def skipped_s(self) -> float:
        return self._skipped

    def skip_to(self, moment: float) -> None:
        """Move to `moment` if it is later than now (time never runs back)."""
        with self._lock:
            self._skipped += max(0.0, moment - (self._base() + self._skipped))
