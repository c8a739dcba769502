"""The sender past the shutdown deadline: what neither Firehose nor the spool takes is counted and said,
and a wait on a full spool ends when the deadline comes, not when its retry period does."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any, cast

import pytest

from producers.firehose_sink import FirehoseSink
from producers.sender import SpoolingSender
from producers.spool import Spool


class RefusingFirehose:
    """A Firehose client (boto3's shape) that takes no record of any batch."""

    def put_record_batch(self, *, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, Any]:
        failed = {"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."}
        return {"FailedPutCount": len(Records), "RequestResponses": [failed for _ in Records]}


def _sink() -> FirehoseSink:
    return FirehoseSink(cast(Any, RefusingFirehose()), "s", max_attempts=1, sleep=lambda _: None)


def test_without_a_spool_past_the_deadline_a_refused_batch_is_counted_not_raised(
        caplog: pytest.LogCaptureFixture) -> None:
    sender = SpoolingSender(_sink(), None)
    sender.give_up_keeping()
    asyncio.run(sender.send([b"a", b"b", b"c"]))
    assert sender.stats.records_not_kept == 3 and sender.stats.batches_sent == 0
    assert "3 records were neither delivered nor spooled" in caplog.text


def test_a_wait_on_a_full_spool_ends_at_the_deadline(tmp_path: Path) -> None:
    # GIVEN Firehose refusing and a spool with room for nothing, retried once a minute
    sender = SpoolingSender(_sink(), Spool(tmp_path, max_bytes=4), retry_every_s=60)

    async def scenario() -> float:
        sending = asyncio.create_task(sender.send([b"record"]))
        await asyncio.sleep(0.2)
        assert not sending.done()  # holding intake back: nothing is dropped before the deadline
        started = time.monotonic()
        sender.give_up_keeping()  # WHEN the deadline comes
        await sending
        return time.monotonic() - started

    # THEN the wait ends at once and the batch is counted as not kept
    assert asyncio.run(scenario()) < 1
    assert sender.stats.records_not_kept == 1 and sender.stats.records_spooled == 0
