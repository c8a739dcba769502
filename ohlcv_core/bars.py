"""Bar arithmetic: the rules every engine that builds bars must follow (Spark mirrors them; tests check)."""

from __future__ import annotations

MINUTE_MS = 60_000


def minute_start_ms(event_time_ms: int) -> int:
    return event_time_ms - event_time_ms % MINUTE_MS


def volume_increment(previous_day_volume: int | None, day_volume: int | None) -> int | None:
    """Volume traded between two consecutive price events of one symbol.

    `day_volume` is cumulative for the trading day. A drop means the day rolled over, so the new
    value is all volume since the reset. With no previous event the baseline is unknown: None.
    """
    if day_volume is None or previous_day_volume is None:
        return None
    if day_volume >= previous_day_volume:
        return day_volume - previous_day_volume
    return day_volume
