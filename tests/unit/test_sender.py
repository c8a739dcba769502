"""The sender past the shutdown deadline: what neither Firehose nor the spool takes is counted and said,
and a wait on a full spool ends when the deadline comes, not when its retry period does."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path
from typing import Any, cast

import pytest
from botocore.exceptions import EndpointConnectionError

from producers.backoff import Backoff
from producers.firehose_sink import DeliveryIncomplete, FirehoseSink
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
    assert sender.stats.quotes_not_kept == 3  # (records that are no envelopes count one quote each)
    assert "3 quotes (in 3 records) were neither delivered nor spooled" in caplog.text


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


class RecoveringFirehose:
    """Refuses every record of its first `refusals` calls, then takes everything, keeping what it took."""

    def __init__(self, refusals: int) -> None:
        self.refusals = refusals
        self.taken: list[bytes] = []

    def put_record_batch(self, *, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, Any]:
        if self.refusals > 0:
            self.refusals -= 1
            return RefusingFirehose().put_record_batch(DeliveryStreamName=DeliveryStreamName, Records=Records)
        self.taken.extend(r["Data"] for r in Records)
        return {"FailedPutCount": 0, "RequestResponses": [{"RecordId": "x"} for _ in Records]}


def _recovering(tmp_path: Path, *, refusals: int, spool_bytes: int, retry_every_s: float
                ) -> tuple[RecoveringFirehose, SpoolingSender, list[float]]:
    """A sender on a Firehose that comes back after `refusals` calls; its waits are recorded, not slept."""
    firehose = RecoveringFirehose(refusals)
    sink = FirehoseSink(cast(Any, firehose), "s", max_attempts=1, sleep=lambda _: None)
    pauses: list[float] = []

    async def pause(seconds: float) -> None:
        pauses.append(seconds)
        await asyncio.sleep(0)

    spool = Spool(tmp_path, max_bytes=spool_bytes, free_margin_bytes=0)
    return firehose, SpoolingSender(sink, spool, retry_every_s=retry_every_s, sleep=pause), pauses


def test_once_firehose_is_back_a_full_spool_drains_at_once_and_order_is_kept(tmp_path: Path) -> None:
    # GIVEN Firehose refusing the first two calls, and a spool with room for two batches of two records
    firehose, sender, pauses = _recovering(tmp_path, refusals=2, spool_bytes=30, retry_every_s=60)
    batches = [[f"{n}a".encode(), f"{n}b".encode()] for n in range(20)]

    async def send_all() -> None:
        for batch in batches:
            await sender.send(batch)
        await sender.drain(force=True)

    # WHEN twenty batches are sent one after another
    asyncio.run(send_all())
    # THEN every record arrives once, in order; the one wait of the retry period is the one while Firehose
    # refused, none after it came back (before: a wait for every spool-full of batches)
    assert firehose.taken == [r for batch in batches for r in batch]
    assert pauses == [60] and sender.stats.records_spooled > 0 and sender.backlog == 0


def test_a_batch_larger_than_the_spools_room_goes_to_firehose_once_it_is_back(tmp_path: Path) -> None:
    # GIVEN a spool whose disk has less room than one batch, and Firehose refusing its first call
    firehose, sender, _ = _recovering(tmp_path, refusals=1, spool_bytes=10, retry_every_s=5)
    batch = [f"record {n}".encode() for n in range(50)]
    # WHEN it is sent
    asyncio.run(asyncio.wait_for(sender.send(batch), timeout=10))
    # THEN the sender tried Firehose again itself instead of waiting forever for room in the spool
    assert firehose.taken == batch and sender.stats.records_spooled == 0 and sender.stats.batches_sent == 1


class UnreachableFirehose:
    """Every call fails to connect, as a Firehose endpoint that refuses connections does."""

    def put_record_batch(self, **_: Any) -> dict[str, Any]:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9/")


def test_shutdown_cuts_a_backoff_short_rather_than_sleeping_it_out() -> None:
    # GIVEN a batch asleep between attempts, its next backoff a minute long
    sink = FirehoseSink(cast(Any, UnreachableFirehose()), "s", max_attempts=5,
                        backoff=Backoff(base_s=60.0, cap_s=60.0))
    outcome: list[BaseException] = []

    def send() -> None:
        try:
            sink.send([b"r"])
        except DeliveryIncomplete as exc:
            outcome.append(exc)

    sending = threading.Thread(target=send)
    sending.start()
    time.sleep(0.2)
    # WHEN shutdown gives up retrying
    sink.give_up_retrying()
    # THEN the batch comes back at once, not delivered, for the spool
    sending.join(timeout=10)
    assert not sending.is_alive()
    (incomplete,) = outcome
    assert isinstance(incomplete, DeliveryIncomplete) and incomplete.pending == [b"r"]
