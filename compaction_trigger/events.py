"""Which raw partitions a batch of S3 "Object Created" events (EventBridge shape) touched."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus

from ohlcv_core.keys import RAW_PREFIX, parse_partition_path
from ohlcv_core.schema import RECORD_KINDS


def object_of(event: Any) -> tuple[str, str] | None:
    """(bucket, key) of an Object Created event; None for anything else. S3 sends the key URL-encoded."""
    if not isinstance(event, dict) or event.get("detail-type") != "Object Created":
        return None
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return None
    bucket = (detail.get("bucket") or {}).get("name")
    key = (detail.get("object") or {}).get("key")
    if not isinstance(bucket, str) or not isinstance(key, str):
        return None
    return bucket, unquote_plus(key)


def touched_dates(events: Iterable[Any], bucket: str, prefix: str = RAW_PREFIX,
                  kinds: Iterable[str] = RECORD_KINDS) -> list[str]:
    dates = set()
    wanted = set(kinds)
    for event in events:
        located = object_of(event)
        if located is None or located[0] != bucket or not located[1].startswith(prefix):
            continue
        partition = parse_partition_path(located[1])
        if partition.get("kind") in wanted and "dt" in partition:
            dates.add(partition["dt"])
    return sorted(dates)
