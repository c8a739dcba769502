"""Copies of the quotes for the stack's hot path (LivePath): the batches of price frames the record path
sends, sent once more to the delivery stream that delivers them within seconds (OHLCV_LIVE_STREAM).

The copies serve freshness only: the record path keeps every quote (retries, spool), so a copy is tried
once and never waits for anything. A batch the bounded queue cannot take, or that Firehose refuses or
does not answer, is dropped, counted (`LiveCopiesDropped`) and logged with its reason; the quotes it held
reach the live view 60-90 s later, through the raw zone, as they would without the hot path.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ohlcv_core.limits import HOT_PATH_LINGER_S
from producers.batching import BatchBuilder

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient

LOG = logging.getLogger(__name__)
QUEUE_BATCHES = 256  # ~5 s of the record path's batches at 2,000 quotes/s: a hot path further behind is not hot


@dataclass
class HotPathStats:
    records_sent: int = 0
    records_dropped: int = 0


class HotPathCopy:
    """`offer` never blocks the record path; a thread of its own gathers the offers of `linger_s` and
    sends them in one PutRecordBatch (more only past its limits)."""

    def __init__(self, client: FirehoseClient, stream_name: str, *, queue_batches: int = QUEUE_BATCHES,
                 linger_s: float = HOT_PATH_LINGER_S) -> None:
        self.stream_name = stream_name
        self._linger_s = linger_s
        self._client = client
        self._queue: queue.Queue[list[bytes] | None] = queue.Queue(maxsize=queue_batches)
        self._thread = threading.Thread(target=self._run, name="hot-path", daemon=True)
        self._lock = threading.Lock()
        self._in_call = 0  # records in the PutRecordBatch call under way
        self.stats = HotPathStats()

    def start(self) -> HotPathCopy:
        self._thread.start()
        return self

    def offer(self, records: list[bytes]) -> None:
        if not records:
            return
        try:
            self._queue.put_nowait(records)
        except queue.Full:
            self._dropped(len(records), "the hot path's queue is full (its stream is slower than the quotes)")

    def close(self, timeout_s: float = 2.0) -> None:
        """Send what is queued within `timeout_s`; what is left is dropped (the record path has it)."""
        with contextlib.suppress(queue.Full):
            self._queue.put(None, timeout=timeout_s)
        self._thread.join(timeout=timeout_s)
        if self._thread.is_alive() and self._in_call:  # counted when the call ends, if the process lasts
            LOG.warning("hot path: %d records still in a PutRecordBatch call to %s at the stop", self._in_call,
                        self.stream_name)
        left = 0
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
            left += len(item or [])
        if left:
            self._dropped(left, "the producer stopped before they were sent")

    def _dropped(self, count: int, reason: str) -> None:
        with self._lock:
            self.stats.records_dropped += count
        LOG.warning("hot path: %d records not copied to %s: %s", count, self.stream_name, reason)

    def _gathered(self, first: list[bytes]) -> tuple[list[bytes], bool]:
        """The records offered within the linger from the first (one call's worth of objects on AWS),
        and whether the stop came."""
        records, deadline = list(first), time.monotonic() + self._linger_s
        while (left := deadline - time.monotonic()) > 0:
            try:
                more = self._queue.get(timeout=left)
            except queue.Empty:
                break
            if more is None:
                return records, True
            records += more
        return records, False

    def _run(self) -> None:
        stopped = False
        while not stopped and (first := self._queue.get()) is not None:
            records, stopped = self._gathered(first)
            builder = BatchBuilder()
            batches = [closed for r in records if (closed := builder.add(r))] + [builder.take()]
            for batch in batches:
                self._put(batch)

    def _put(self, records: list[bytes]) -> None:
        if records:
            self._in_call = len(records)
            try:
                response = self._client.put_record_batch(
                    DeliveryStreamName=self.stream_name, Records=[{"Data": r} for r in records])
            except (ClientError, BotoCoreError) as exc:
                self._dropped(len(records), f"PutRecordBatch failed: {exc}")
                return
            finally:
                self._in_call = 0
            failed = sum(1 for result in response["RequestResponses"] if result.get("ErrorCode"))
            with self._lock:
                self.stats.records_sent += len(records) - failed
            if failed:
                self._dropped(failed, "Firehose refused them in PutRecordBatch")
