"""How far an event's time may stray from its arrival: the transform rejects what is outside.

A replay of old recordings through a live stack is a deployment with a wider window (a stack
parameter), not a special case in the code.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ohlcv_core import config
from ohlcv_core.errors import ConfigError, RecordRejected
from ohlcv_core.schema import RecordKind

DAY_S = 86_400


@dataclass(frozen=True, slots=True)
class TimeWindow:
    max_future_s: int = 300
    max_price_age_s: int = 7 * DAY_S
    max_bar_age_s: int = 100 * 365 * DAY_S

    @classmethod
    def from_environ(cls, environ: Mapping[str, str]) -> TimeWindow:
        defaults = cls()
        window = cls(
            max_future_s=config.resolve(None, environ, config.ENV_MAX_FUTURE_S, defaults.max_future_s, int),
            max_price_age_s=config.resolve(None, environ, config.ENV_MAX_PRICE_AGE_S, defaults.max_price_age_s, int),
            max_bar_age_s=config.resolve(None, environ, config.ENV_MAX_BAR_AGE_S, defaults.max_bar_age_s, int),
        )
        for name, value in ((config.ENV_MAX_FUTURE_S, window.max_future_s),
                            (config.ENV_MAX_PRICE_AGE_S, window.max_price_age_s),
                            (config.ENV_MAX_BAR_AGE_S, window.max_bar_age_s)):
            if value < 0:
                raise ConfigError(f"{name} must not be negative, got {value}")
        return window

    def admits_price(self, event_time_ms: int, reference_ms: int) -> bool:
        """The common case in two comparisons; `check` explains a refusal."""
        return (reference_ms - self.max_price_age_s * 1000 <= event_time_ms <= reference_ms + self.max_future_s * 1000
                or reference_ms <= 0)

    def check(self, kind: RecordKind, event_time_ms: int, reference_ms: int) -> None:
        """`reference_ms`: Firehose's arrival time (or, without one, the producer's receive time)."""
        if reference_ms <= 0:
            return
        ahead_s = (event_time_ms - reference_ms) / 1000
        if ahead_s > self.max_future_s:
            raise RecordRejected("timestamp_out_of_window",
                                 f"event time is {ahead_s:.0f} s after arrival (at most {self.max_future_s} s)")
        max_age_s = self.max_price_age_s if kind == "price" else self.max_bar_age_s
        if -ahead_s > max_age_s:
            raise RecordRejected("timestamp_out_of_window",
                                 f"event time is {-ahead_s:.0f} s before arrival (at most {max_age_s} s)")
