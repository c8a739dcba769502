"""Capped exponential backoff with full jitter; reset after a success."""

from __future__ import annotations

import random
from dataclasses import dataclass, field


@dataclass
class Backoff:
    base_s: float = 0.1
    cap_s: float = 20.0
    rng: random.Random = field(default_factory=random.Random)
    _attempt: int = 0

    def next_delay(self) -> float:
        ceiling = min(self.cap_s, self.base_s * (2 ** self._attempt))
        self._attempt += 1
        return self.rng.uniform(0, ceiling)

    def reset(self) -> None:
        self._attempt = 0
