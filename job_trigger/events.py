"""Which raw partitions a batch of S3 "Object Created" events (EventBridge shape) touched."""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import unquote_plus

from ohlcv_core.keys import RAW_PREFIX, parse_partition_path
from ohlcv_core.schema import RECORD_KINDS

# The message a trigger leaves on its own queue for dates whose run may not start yet (job_trigger.cadence).
DEFERRED_SOURCE = "ohlcv.job-trigger"
DEFERRED_TYPE = "Job Dates Deferred"


def deferred_event(job: str, dates: Iterable[str], redrive: int, failed_starts: int) -> dict[str, Any]:
    return {"source": DEFERRED_SOURCE, "detail-type": DEFERRED_TYPE,
            "detail": {"jobName": job, "dates": sorted(dates), "redrive": redrive, "failedStarts": failed_starts}}


def deferred_of(event: Any, job: str) -> tuple[list[str], int, int] | None:
    """(dates, redrive, failed starts) of a deferred message for `job`; None for any other event."""
    if not isinstance(event, dict) or (event.get("source"), event.get("detail-type")) != (DEFERRED_SOURCE,
                                                                                       DEFERRED_TYPE):
        return None
    detail = event.get("detail")
    if not isinstance(detail, dict) or detail.get("jobName") != job or not isinstance(detail.get("dates"), list):
        return None
    dates = [d for d in detail["dates"] if isinstance(d, str) and is_partition_date(d)]
    redrive, failed = detail.get("redrive", 0), detail.get("failedStarts", 0)
    return dates, redrive if isinstance(redrive, int) else 0, failed if isinstance(failed, int) else 0


def object_of(event: Any) -> tuple[str, str] | None:
    """(bucket, key) of an Object Created event; None for anything else. S3 sends the key URL-encoded."""
    if not isinstance(event, dict) or event.get("detail-type") != "Object Created":
        return None
    detail = event.get("detail")
    if not isinstance(detail, dict):
        return None
    bucket_info, object_info = detail.get("bucket"), detail.get("object")
    bucket = bucket_info.get("name") if isinstance(bucket_info, dict) else None
    key = object_info.get("key") if isinstance(object_info, dict) else None
    if not isinstance(bucket, str) or not isinstance(key, str):
        return None
    return bucket, unquote_plus(key)


# What the delivery stream writes (yyyy-MM-dd); anything else in a key (`dt=../../x`) is not a partition.
_DATE = re.compile(r"^(19|20|21)\d\d-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")


def is_partition_date(text: str) -> bool:
    return bool(_DATE.match(text))


def touched_dates(events: Iterable[Any], bucket: str, prefix: str = RAW_PREFIX,
                  kinds: Iterable[str] = RECORD_KINDS) -> list[str]:
    dates = set()
    wanted = set(kinds)
    for event in events:
        located = object_of(event)
        if located is None or located[0] != bucket or not located[1].startswith(prefix):
            continue
        partition = parse_partition_path(located[1])
        if partition.get("kind") in wanted and is_partition_date(partition.get("dt", "")):
            dates.add(partition["dt"])
    return sorted(dates)
