"""The producer's metrics as CloudWatch Embedded Metric Format lines (stdout: ECS's log driver ships them
and CloudWatch extracts the metrics). Values are per interval: each line holds what happened since the
previous one."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping

from ohlcv_core import config
from ohlcv_core.emf import emf_line

SERVICE = "producer"
RESERVOIR = 10_000


class LatencySample:
    """Receive-to-put latencies of an interval: a bounded random sample, percentiles on demand."""

    def __init__(self, size: int = RESERVOIR, rng: random.Random | None = None) -> None:
        self._size = size
        self._rng = rng or random.Random(0)
        self._values: list[float] = []
        self._seen = 0

    def add(self, value_ms: float) -> None:
        self._seen += 1
        if len(self._values) < self._size:
            self._values.append(value_ms)
        else:
            slot = self._rng.randrange(self._seen)
            if slot < self._size:
                self._values[slot] = value_ms

    def percentile(self, share: float) -> float | None:
        if not self._values:
            return None
        ordered = sorted(self._values)
        return ordered[min(len(ordered) - 1, int(share * len(ordered)))]

    def reset(self) -> None:
        self._values, self._seen = [], 0


class ProducerMetrics:
    def __init__(self, clock: Callable[[], float] = time.time,
                 namespace: str = config.DEFAULT_METRICS_NAMESPACE) -> None:
        self._clock = clock
        self._namespace = namespace
        self._previous: dict[str, float] = {}
        self._previous_by_symbol: dict[str, int] = {}
        self.latency = LatencySample()

    def lines(self, counters: Mapping[str, float], by_symbol: Mapping[str, int],
              gauges: Mapping[str, float]) -> list[str]:
        """One line of service metrics (counter deltas, gauges, latency percentiles), one per symbol."""
        now_ms = int(self._clock() * 1000)
        metrics: dict[str, tuple[float, str]] = {
            name: (value - self._previous.get(name, 0), "Count") for name, value in counters.items()}
        metrics.update({name: (value, "Count") for name, value in gauges.items()})
        for name, share in (("ReceiveToPutP50Ms", 0.5), ("ReceiveToPutP99Ms", 0.99)):
            value = self.latency.percentile(share)
            if value is not None:
                metrics[name] = (value, "Milliseconds")
        self._previous = dict(counters)
        self.latency.reset()
        out = [emf_line(self._namespace, now_ms, {"service": SERVICE}, metrics)]
        for symbol, count in sorted(by_symbol.items()):
            delta = count - self._previous_by_symbol.get(symbol, 0)
            out.append(emf_line(self._namespace, now_ms, {"service": SERVICE, "symbol": symbol},
                                {"Messages": (delta, "Count")}))
        self._previous_by_symbol = dict(by_symbol)
        return out
