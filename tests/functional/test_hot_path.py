"""The hot path (the stack's LivePath): a quote reaches bars_1m_live through the zero-buffer stream seconds
after it is received, while the record path's 60 s buffer still holds it, and the minute counts each event
once after both paths have delivered it. Through the local stack built from the template: the producer's
code path, both delivery streams, the transform in its sandbox, the live view on the local Athena."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from local_stack.stack import LocalStack, prepare_lake
from ohlcv_core.config import DEFAULT_REGION
from ohlcv_core.keys import LIVE_PREFIX, RAW_PREFIX
from producers.aws import firehose_client
from producers.firehose_sink import FirehoseSink
from producers.hot_path import HotPathCopy
from producers.service import run_producer
from producers.twelvedata_ws import ReceivedFrame
from tests.waiting import wait_for

QUOTES = 30
HOT_PATH = {"LivePath": "true"}
MINUTE = "SELECT open, high, low, close, volume, tick_count, compacted FROM bars_1m_live WHERE symbol = 'HOT'"


def _no_spark() -> Any:
    raise AssertionError("nothing here compacts")


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[LocalStack]:
    stack = LocalStack(prepare_lake(tmp_path / "lake", fresh=True), _no_spark, parameters=HOT_PATH).start()
    try:
        yield stack
    finally:
        stack.stop()


def _objects(stack: LocalStack, prefix: str) -> list[Path]:
    root = stack.s3.bucket_path(stack.stream_settings.destination.bucket) / prefix
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


async def _quotes(minute_s: int) -> AsyncIterator[ReceivedFrame]:
    """QUOTES of one symbol within one minute, received now."""
    for i in range(QUOTES):
        frame = {"event": "price", "symbol": "HOT", "exchange": "NASDAQ", "mic_code": "XNGS",
                 "timestamp": minute_s + i, "price": 100.0 + (i % 7), "day_volume": 1_000 + 10 * i}
        yield ReceivedFrame(int(time.time() * 1000), orjson.dumps(frame).decode())


def test_a_quote_is_live_before_the_raw_zone_has_it_and_counted_once_after(stack: LocalStack) -> None:
    live = stack.live_stream_settings
    assert live is not None and live.destination.buffer_interval_s == 0
    assert stack.stream_settings.destination.buffer_interval_s >= 60
    client = firehose_client(DEFAULT_REGION, stack.firehose.url)
    hot_path = HotPathCopy(client, live.name).start()
    minute_s = int(time.time()) // 60 * 60 - 60  # the minute before this one: not in the future, whole
    received = time.monotonic()
    asyncio.run(run_producer(_quotes(minute_s), FirehoseSink(client, stack.stream_settings.name), hot_path=hot_path))
    hot_path.close()
    assert hot_path.stats.records_sent > 0 and hot_path.stats.records_dropped == 0
    # WHEN the hot path has delivered: the minute is in the live view, the raw zone has nothing yet
    before = wait_for(lambda: stack.athena.query(MINUTE).rows, "the minute in bars_1m_live", 20.0)
    seconds = time.monotonic() - received
    assert _objects(stack, LIVE_PREFIX) and not _objects(stack, RAW_PREFIX)
    assert seconds < 10, f"the hot path took {seconds:.1f} s"
    # THEN it holds every quote once, as the definition of a bar builds it
    prices = [100.0 + (i % 7) for i in range(QUOTES)]
    whole = (prices[0], max(prices), min(prices), prices[-1], float(10 * (QUOTES - 1)), QUOTES, False)
    assert before == [whole]
    # WHEN the record path delivers the same quotes (its buffer forced out): each event still counts once
    stack.firehose.drain()
    assert _objects(stack, RAW_PREFIX)
    assert stack.athena.query(MINUTE).rows == [whole]


def test_without_the_hot_path_the_live_view_waits_for_the_raw_zone(tmp_path: Path) -> None:
    stack = LocalStack(prepare_lake(tmp_path / "lake", fresh=True), _no_spark).start()  # the default
    try:
        assert stack.live_stream_settings is None
        assert [s.name for s in stack.template.delivery_streams()] == [stack.stream_settings.name]
        producer = next(d for d in stack.template.task_definitions() if d.logical_id == "ProducerTaskDefinition")
        assert dict(producer.containers[0].environment)["OHLCV_LIVE_STREAM"] == ""
        client = firehose_client(DEFAULT_REGION, stack.firehose.url)
        asyncio.run(run_producer(_quotes(int(time.time()) // 60 * 60 - 60), FirehoseSink(client,
                                                                                          stack.stream_settings.name)))
        time.sleep(1.5)  # three of the endpoint's delivery ticks: a zero-buffer stream would have delivered
        assert stack.athena.query(MINUTE).rows == []
        stack.firehose.drain()
        assert [r[5] for r in stack.athena.query(MINUTE).rows] == [QUOTES]
    finally:
        stack.stop()
