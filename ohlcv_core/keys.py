"""Idempotency keys and partition keys."""

from __future__ import annotations

import functools
import hashlib
from datetime import UTC, datetime
from typing import TypedDict

import orjson

from ohlcv_core.schema import RecordKind
from ohlcv_core.timeseries import Bar
from ohlcv_core.twelvedata import PriceIdentity

# The raw zone's folder in its bucket: the delivery stream's Prefix starts with it (a test holds the
# template to it), and the compaction trigger reads only objects under it.
RAW_PREFIX = "raw/"
# The hot path's copies (the stack's LiveDeliveryStream): by arrival minute, kept a day, never compacted.
LIVE_PREFIX = "live/"


class PartitionKeys(TypedDict):
    kind: str
    dt: str
    hour: str


def _digest(identity: list[object]) -> str:
    """128 bits of SHA-256 over the canonical JSON of the identity fields, as 32 hex characters."""
    return hashlib.sha256(orjson.dumps(identity)).hexdigest()[:32]


def price_idempotency_key(identity: PriceIdentity) -> str:
    """Same event content => same key, whenever and however often it was received.

    Receive and arrival times are left out on purpose: a reconnect replay or a producer resend
    carries the same event with new receive times and must collapse onto the original.
    """
    return _digest(["price", *identity])


def bar_idempotency_key(bar: Bar) -> str:
    """A re-sent bar collapses; a bar re-published with other values keeps its own key (compaction
    decides between them: the latest received wins)."""
    return _digest(["bar", bar.symbol, bar.instrument.get("exchange"), bar.interval, bar.start_ms, bar.open,
                    bar.high, bar.low, bar.close, bar.volume])


@functools.lru_cache(maxsize=4096)
def _hour_partition(hour_index: int) -> tuple[str, str]:
    moment = datetime.fromtimestamp(hour_index * 3600, tz=UTC)
    return moment.strftime("%Y-%m-%d"), moment.strftime("%H")


def partition_keys(kind: RecordKind, event_time_ms: int) -> PartitionKeys:
    """Raw-zone partition from EVENT time; bounded cardinality (kinds x hours), never by symbol."""
    dt, hour = _hour_partition(event_time_ms // 3_600_000)
    return {"kind": kind, "dt": dt, "hour": hour}


def parse_partition_path(key: str) -> dict[str, str]:
    """`raw/kind=price/dt=2023-08-24/hour=14/x.json` -> {"kind": "price", "dt": ..., "hour": ...}."""
    parts: dict[str, str] = {}
    for segment in key.split("/"):
        name, sep, value = segment.partition("=")
        if sep and name and value:
            parts[name] = value
    return parts
