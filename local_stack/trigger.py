"""From "Object Created" events to compaction runs: which raw partitions changed, and one run per batch.

Events whose run fails stay pending (nothing is lost); they are retried with the next batch.
"""

from __future__ import annotations

import threading
from typing import Any
from urllib.parse import unquote_plus

from local_stack.glue import JobRun, LocalGlueJob
from ohlcv_core.keys import parse_partition_path


def touched_dates(events: list[dict[str, Any]], bucket: str, prefix: str = "raw/", kind: str = "price") -> list[str]:
    dates = set()
    for event in events:
        detail = event.get("detail", {})
        if detail.get("bucket", {}).get("name") != bucket:
            continue
        key = unquote_plus(detail.get("object", {}).get("key", ""))
        if not key.startswith(prefix):
            continue
        partition = parse_partition_path(key)
        if partition.get("kind") == kind and "dt" in partition:
            dates.add(partition["dt"])
    return sorted(dates)


class CompactionTrigger:
    def __init__(self, job: LocalGlueJob, bucket: str) -> None:
        self._job = job
        self._bucket = bucket
        self._pending: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    def on_object_created(self, event: dict[str, Any]) -> None:
        with self._lock:
            self._pending.append(event)

    @property
    def pending(self) -> int:
        return len(self._pending)

    def run_pending(self) -> JobRun | None:
        with self._lock:
            batch, self._pending = self._pending, []
        dates = touched_dates(batch, self._bucket)
        if not dates:
            return None
        run = self._job.start_job_run({"--dates": ",".join(dates)})
        if run.state != "SUCCEEDED":
            with self._lock:
                self._pending = batch + self._pending
        return run
