"""The hot path's copies never hold the record path up and never vanish silently: each one Firehose did
not take is counted, whatever the reason (a full queue, a refused record, an unreachable endpoint, a stop)."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import AsyncIterator
from typing import Any, cast

import orjson
import pytest
from botocore.exceptions import EndpointConnectionError

from ohlcv_core.envelope import decode_envelopes
from producers.firehose_sink import FirehoseSink
from producers.hot_path import HotPathCopy
from producers.replay import ReceivedRest
from producers.service import run_producer
from producers.twelvedata_ws import ReceivedFrame
from tests.fixtures import load_text


class Firehose:
    """PutRecordBatch as Firehose answers it: each record taken, or refused with its error code; a call
    may be held until `release` is set (a slow endpoint)."""

    def __init__(self, refuse_every: int = 0, release: threading.Event | None = None) -> None:
        self.refuse_every = refuse_every
        self.release = release
        self.taken: list[bytes] = []
        self.calls = 0
        self.entered = threading.Event()

    def put_record_batch(self, *, DeliveryStreamName: str, Records: list[dict[str, bytes]]) -> dict[str, Any]:
        self.calls += 1
        self.entered.set()
        if self.release is not None:
            self.release.wait(timeout=10)
        answers: list[dict[str, str]] = []
        for index, record in enumerate(Records):
            if self.refuse_every and index % self.refuse_every == 0:
                answers.append({"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "slow down"})
            else:
                self.taken.append(record["Data"])
                answers.append({"RecordId": str(index)})
        return {"FailedPutCount": sum(1 for a in answers if "ErrorCode" in a), "RequestResponses": answers}


class Unreachable:
    def put_record_batch(self, **_: Any) -> dict[str, Any]:
        raise EndpointConnectionError(endpoint_url="http://127.0.0.1:9/")


LINGER_S = 0.05


def test_every_copy_is_sent_or_counted_as_dropped() -> None:
    firehose = Firehose(refuse_every=4)
    copy = HotPathCopy(cast(Any, firehose), "live", linger_s=LINGER_S).start()
    for batch in range(10):
        copy.offer([f"{batch}-{i}".encode() for i in range(8)])
    copy.close()
    assert copy.stats.records_sent == len(firehose.taken) == 60
    assert copy.stats.records_dropped == 20


def test_the_offers_of_a_linger_go_in_one_call() -> None:
    firehose = Firehose()
    copy = HotPathCopy(cast(Any, firehose), "live", linger_s=0.5).start()
    for batch in range(50):  # the record path's batches of half a second
        copy.offer([str(batch).encode()])
    copy.close()
    assert (firehose.calls, copy.stats.records_sent) == (1, 50)


def test_a_slow_stream_fills_the_bounded_queue_and_offers_return_at_once() -> None:
    release = threading.Event()
    firehose = Firehose(release=release)
    copy = HotPathCopy(cast(Any, firehose), "live", queue_batches=2, linger_s=LINGER_S).start()
    copy.offer([b"first"])
    assert firehose.entered.wait(timeout=5)  # the first call is held: two offers wait, the rest cannot
    for batch in range(10):
        copy.offer([str(batch).encode()])
    assert copy.stats.records_dropped == 8
    release.set()
    copy.close()
    assert copy.stats.records_sent == 3


def test_an_unreachable_stream_drops_and_counts_every_copy() -> None:
    copy = HotPathCopy(cast(Any, Unreachable()), "live", linger_s=LINGER_S).start()
    copy.offer([b"a", b"b"])
    copy.offer([b"c"])
    copy.close()
    assert (copy.stats.records_sent, copy.stats.records_dropped) == (0, 3)


def test_what_is_left_at_a_stop_is_counted() -> None:
    release = threading.Event()
    firehose = Firehose(release=release)
    copy = HotPathCopy(cast(Any, firehose), "live", linger_s=LINGER_S).start()
    copy.offer([b"first"])
    assert firehose.entered.wait(timeout=5)
    for batch in range(4):
        copy.offer([str(batch).encode()])
    copy.close(timeout_s=0.2)  # the first call is still held: the rest never go
    release.set()
    assert copy.stats.records_dropped == 4


async def _feed() -> AsyncIterator[ReceivedFrame | ReceivedRest]:
    """Streamed quotes of two UTC hours, and a REST time_series answer between them."""
    for i in range(6):
        if i == 3:
            yield ReceivedRest(1_700_000_000_000, load_text("twelvedata/rest-time-series-1min-aapl.json"),
                               {"symbol": "AAPL", "interval": "1min"})
        frame = {"event": "price", "symbol": "AAPL", "timestamp": 1_700_000_000 + 1_800 * i, "price": 100.0 + i}
        yield ReceivedFrame(1_700_000_000_000 + i, orjson.dumps(frame).decode())


@pytest.mark.parametrize("pack_bytes", [0, 4096], ids=["one frame a record", "packed by hour"])
def test_the_hot_path_copies_the_streamed_quotes_and_no_rest_bar(pack_bytes: int) -> None:
    record_path, hot = Firehose(), Firehose()
    copy = HotPathCopy(cast(Any, hot), "live", linger_s=LINGER_S).start()
    asyncio.run(run_producer(_feed(), FirehoseSink(cast(Any, record_path), "prices"), pack_bytes=pack_bytes,
                             linger_s=0.01, hot_path=copy))
    copy.close()

    def sources(records: list[bytes]) -> list[str]:
        return sorted(e["source"] for data in records for e in decode_envelopes(data))

    assert sources(hot.taken) == ["twelvedata.ws"] * 6
    rest = sources(record_path.taken).count("twelvedata.rest.time_series")
    assert rest > 0 and sources(record_path.taken) == sorted(["twelvedata.ws"] * 6 + ["twelvedata.rest.time_series"]
                                                             * rest)
