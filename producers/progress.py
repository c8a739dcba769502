"""A progress line for long replays: on a terminal only, at most a few times a second."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TextIO


class Progress:
    def __init__(self, total: int, *, label: str = "replay", stream: TextIO = sys.stderr,
                 clock: Callable[[], float] = time.monotonic, interval_s: float = 0.2, force: bool = False) -> None:
        self._total = max(total, 1)
        self._label = label
        self._stream = stream
        self._clock = clock
        self._interval_s = interval_s
        self._enabled = force or stream.isatty()
        self._started = clock()
        self._shown_at = -interval_s
        self.done = 0

    def update(self, done: int) -> None:
        self.done = done
        now = self._clock()
        if self._enabled and (now - self._shown_at >= self._interval_s or done >= self._total):
            self._shown_at = now
            self._stream.write("\r" + self.line())
            self._stream.flush()

    def line(self) -> str:
        share = min(self.done / self._total, 1.0)
        bar = "#" * int(share * 30)
        return (f"{self._label} {share:4.0%} [{bar:<30}] {self.done:,}/{self._total:,} entries "
                f"{self._clock() - self._started:6.1f} s")

    def close(self) -> None:
        if self._enabled:
            self._stream.write("\n")
            self._stream.flush()
