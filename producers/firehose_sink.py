"""Sends envelopes to Firehose with PutRecordBatch; resends only the records that failed."""

from __future__ import annotations

import logging
import time
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


@dataclass
class SinkStats:
    records_sent: int = 0
    batches_sent: int = 0
    failed_puts: int = 0
    throttled_calls: int = 0


class FirehoseSink:
    def __init__(self, client: FirehoseClient, stream_name: str, *, max_attempts: int = 8,
                 backoff: Backoff | None = None, sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self.stream_name = stream_name
        self._max_attempts = max_attempts
        self._backoff = backoff or Backoff()
        self._sleep = sleep
        self.stats = SinkStats()

    def send(self, records: list[bytes]) -> None:
        """Deliver every record or raise PipelineError; at-least-once (the lake deduplicates)."""
        pending = records
        for _attempt in range(self._max_attempts):
            try:
                response = self._client.put_record_batch(
                    DeliveryStreamName=self.stream_name, Records=[{"Data": r} for r in pending])
            except ClientError as exc:
                code = exc.response.get("Error", {}).get("Code", "")
                if code not in RETRYABLE_CALL_ERRORS:
                    raise PipelineError(f"PutRecordBatch to {self.stream_name} failed: {code}: {exc}") from exc
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
        raise PipelineError(f"{len(pending)} records not accepted by {self.stream_name} after "
                            f"{self._max_attempts} attempts")
