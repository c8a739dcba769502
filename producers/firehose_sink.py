"""Sends envelopes to Firehose with PutRecordBatch; resends only the records that failed."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from botocore.exceptions import BotoCoreError, ClientError

from ohlcv_core.errors import PipelineError
from producers.backoff import Backoff

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient

LOG = logging.getLogger(__name__)
RETRYABLE_CALL_ERRORS = frozenset({"ServiceUnavailableException", "ThrottlingException", "InternalFailure"})


class DeliveryIncomplete(PipelineError):
    """Firehose did not take every record: `pending` are the ones it did not take (the rest it has)."""

    def __init__(self, pending: list[bytes], message: str) -> None:
        super().__init__(message)
        self.pending = pending


@dataclass
class SinkStats:
    records_sent: int = 0
    batches_sent: int = 0
    failed_puts: int = 0
    throttled_calls: int = 0


class FirehoseSink:
    def __init__(self, client: FirehoseClient, stream_name: str, *, max_attempts: int = 8,
                 backoff: Backoff | None = None, sleep: Callable[[float], object] | None = None,
                 give_up: threading.Event | None = None, fail_fast: threading.Event | None = None) -> None:
        self._client = client
        self.stream_name = stream_name
        self._max_attempts = max_attempts
        self._backoff = backoff or Backoff()
        self._give_up = give_up or threading.Event()
        # A backoff that shutdown cuts short: a batch asleep between attempts when SIGTERM comes would
        # otherwise hold its thread for up to the backoff's cap (5 s) past the moment it should give up.
        self._sleep = sleep or self._give_up.wait
        self._fail_fast = fail_fast or threading.Event()
        self.stats = SinkStats()

    def give_up_retrying(self) -> None:
        """On shutdown: one attempt per batch, then the caller spools what Firehose did not take."""
        self._give_up.set()

    def stop_trying(self) -> None:
        """Past the shutdown deadline: no more attempts; every batch goes straight to the spool."""
        self._give_up.set()
        self._fail_fast.set()

    def send(self, records: list[bytes]) -> None:
        """Deliver every record or raise PipelineError; at-least-once (the lake deduplicates)."""
        pending = records
        if self._fail_fast.is_set():
            raise DeliveryIncomplete(pending, "past the shutdown deadline: not sent")
        for attempt in range(self._max_attempts):
            if attempt and self._give_up.is_set():
                break
            try:
                response = self._client.put_record_batch(
                    DeliveryStreamName=self.stream_name, Records=[{"Data": r} for r in pending])
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code not in RETRYABLE_CALL_ERRORS:
                    raise DeliveryIncomplete(pending, f"PutRecordBatch to {self.stream_name} failed: "
                                                      f"{code}: {exc}") from exc
                self.stats.throttled_calls += 1
                LOG.warning("PutRecordBatch throttled (%s); backing off", code)
                self._sleep(self._backoff.next_delay())
                continue
            except BotoCoreError as exc:
                LOG.warning("PutRecordBatch did not reach Firehose (%s); backing off", exc)
                self._sleep(self._backoff.next_delay())
                continue
            failed = [r for r, result in zip(pending, response["RequestResponses"], strict=True)
                      if result.get("ErrorCode")]
            self.stats.records_sent += len(pending) - len(failed)
            self.stats.batches_sent += 1
            if not failed:
                self._backoff.reset()
                return
            self.stats.failed_puts += len(failed)
            LOG.warning("%d of %d records failed in PutRecordBatch; resending only those", len(failed), len(pending))
            pending = failed
            self._sleep(self._backoff.next_delay())
        raise DeliveryIncomplete(pending, f"{len(pending)} of {len(records)} records not accepted by "
                                          f"{self.stream_name} after {attempt + 1} attempt(s)")
