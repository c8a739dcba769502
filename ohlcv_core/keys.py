"""Idempotency keys and partition keys."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import TypedDict

import orjson

from ohlcv_core.schema import RecordKind
from ohlcv_core.twelvedata import PriceEvent


class PartitionKeys(TypedDict):
    kind: str
    dt: str
    hour: str


def price_idempotency_key(event: PriceEvent) -> str:
    """Same event content => same key, whenever and however often it was received.

    Receive and arrival times are left out on purpose: a reconnect replay or a producer resend
    carries the same event with new receive times and must collapse onto the original.
    """
    identity = orjson.dumps(
        ["price", event.symbol, event.exchange, event.timestamp_s, event.price, event.bid, event.ask,
         event.day_volume]
    )
    return hashlib.sha256(identity).hexdigest()[:32]


def partition_keys(kind: RecordKind, event_time_ms: int) -> PartitionKeys:
    """Raw-zone partition from EVENT time; bounded cardinality (kinds x hours), never by symbol."""
    moment = datetime.fromtimestamp(event_time_ms / 1000, tz=UTC)
    return {"kind": kind, "dt": moment.strftime("%Y-%m-%d"), "hour": moment.strftime("%H")}


def parse_partition_path(key: str) -> dict[str, str]:
    """`raw/kind=price/dt=2023-08-24/hour=14/x.json` -> {"kind": "price", "dt": ..., "hour": ...}."""
    parts: dict[str, str] = {}
    for segment in key.split("/"):
        name, sep, value = segment.partition("=")
        if sep and name and value:
            parts[name] = value
    return parts
