"""The real producer against real servers on loopback: the stand-in, the local Firehose, and moto's Firehose."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws

from feeds import DEMO_FEED
from local_stack.firehose.delivery import DeliveryStream
from local_stack.firehose.server import FirehoseEndpoint
from local_stack.s3 import LocalS3
from local_stack.twelvedata.server import TwelveDataStandIn, running_in_thread
from ohlcv_core.envelope import decode_envelopes, encode_envelope
from ohlcv_core.errors import PipelineError
from ohlcv_core.recording import read_recording
from producers.aws import firehose_client
from producers.firehose_sink import FirehoseSink
from producers.main import produce
from producers.service import run_producer
from producers.settings import ProducerSettings
from producers.twelvedata_ws import ReceivedFrame
from stack_tools.template import StackTemplate
from tests.doubles import CapturingLambda
from tests.stream_settings import template_stream


def test_every_frame_the_stand_in_sends_reaches_firehose_in_an_envelope(tmp_path: Path) -> None:
    s3 = LocalS3(tmp_path / "s3")
    settings = template_stream(destination={"prefix": "landing/"}, dynamic_partitioning=False)
    capture = CapturingLambda()
    stream = DeliveryStream(settings, s3, invoke=capture)
    endpoint = FirehoseEndpoint({settings.name: stream}).start()
    recording = read_recording(DEMO_FEED)
    try:
        with running_in_thread(TwelveDataStandIn(recording, speed=0)) as stand_in:
            producer_settings = ProducerSettings.resolve(
                ws_url=stand_in.ws_url, symbols=("AAPL", "EUR/USD"), stream_name=settings.name,
                firehose_endpoint=endpoint.url, exit_on_close=True, no_repair=True, environ={})
            stats, sink = asyncio.run(produce(producer_settings, firehose_client("us-east-1", endpoint.url)))
            frames_sent = stand_in.stats.frames_sent
    finally:
        endpoint.stop()
    envelopes = [e for data in capture.records for e in decode_envelopes(data)]
    # THEN every frame (plus the live subscribe-status) arrived once, byte for byte, the price frames
    # packed into a few records, each UTC hour's in the order they came (packs of two hours are two
    # records, which Firehose may take in either order)
    assert stats.frames_received == frames_sent + 1 == stats.envelopes_queued == len(envelopes)
    assert sink.stats.records_sent == stats.records_made < len(envelopes) / 20
    assert orjson.loads(envelopes[0]["payload"])["event"] == "subscribe-status"
    expected = [f.text.encode() for f in stand_in.catalog.frames if f.symbol in ("AAPL", "EUR/USD")]
    arrived = [e["payload"] for e in envelopes[1:]]
    assert sorted(arrived) == sorted(expected)

    def by_hour(payloads: list[bytes]) -> dict[int, list[bytes]]:
        hours: dict[int, list[bytes]] = {}
        for payload in payloads:
            hours.setdefault(orjson.loads(payload)["timestamp"] // 3600, []).append(payload)
        return hours
    assert by_hour(arrived) == by_hour(expected)
    assert all(e["source"] == "twelvedata.ws" and e["received_at_ms"] > 0 for e in envelopes)


@mock_aws
def test_the_sink_keeps_the_firehose_api_contract_with_moto() -> None:
    s3: Any = boto3.client("s3", region_name="us-east-1")
    s3.create_bucket(Bucket="landing")
    iam: Any = boto3.client("iam", region_name="us-east-1")
    role = iam.create_role(RoleName="fh", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    firehose = boto3.client("firehose", region_name="us-east-1")
    firehose.create_delivery_stream(DeliveryStreamName="prices", DeliveryStreamType="DirectPut",
                                    ExtendedS3DestinationConfiguration={"RoleARN": role,
                                                                        "BucketARN": "arn:aws:s3:::landing"})
    records = [encode_envelope(f'{{"event":"price","n":{i}}}', i, "twelvedata.ws") for i in range(1203)]
    sink = FirehoseSink(firehose, "prices")
    for start in range(0, len(records), 500):
        sink.send(records[start:start + 500])
    assert sink.stats.records_sent == 1203 and sink.stats.failed_puts == 0
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="landing")["Contents"]]
    body = b"".join(s3.get_object(Bucket="landing", Key=k)["Body"].read() for k in keys)
    assert body.count(b'"v":1') == 1203


async def _frames(count: int) -> AsyncIterator[ReceivedFrame]:
    for index in range(count):
        yield ReceivedFrame(index, f'{{"event":"price","n":{index}}}')


def test_batches_respect_the_limits_and_nothing_is_left_behind(tmp_path: Path) -> None:
    s3 = LocalS3(tmp_path / "s3")
    settings = template_stream(destination={"prefix": "landing/"}, dynamic_partitioning=False)
    stream = DeliveryStream(settings, s3, invoke=None)
    endpoint = FirehoseEndpoint({settings.name: stream}).start()
    try:
        sink = FirehoseSink(firehose_client("us-east-1", endpoint.url), settings.name)
        stats = asyncio.run(run_producer(_frames(1234), sink, queue_size=100, linger_s=0.05))
    finally:
        endpoint.stop()
    assert stats.frames_received == stats.envelopes_queued == sink.stats.records_sent == stream.stats.records_in == 1234
    assert sink.stats.batches_sent >= 3  # 500-record limit


def test_a_sink_failure_stops_the_producer_with_the_error(tmp_path: Path) -> None:
    settings = StackTemplate().delivery_stream()
    endpoint = FirehoseEndpoint({settings.name: DeliveryStream(settings, LocalS3(tmp_path), invoke=None)}).start()
    try:
        sink = FirehoseSink(firehose_client("us-east-1", endpoint.url), "no-such-stream")
        with pytest.raises(PipelineError, match="ResourceNotFoundException"):
            asyncio.run(run_producer(_frames(50_000), sink, queue_size=10))
    finally:
        endpoint.stop()


def test_quotes_of_an_hour_go_packed_within_the_linger_while_the_source_stays_open(tmp_path: Path) -> None:
    # GIVEN a source that gives three prices of one hour, a heartbeat and a price of the next hour, then
    # stays open until the producer has sent them
    s3 = LocalS3(tmp_path / "s3")
    settings = template_stream(destination={"prefix": "landing/"}, dynamic_partitioning=False)
    capture = CapturingLambda()
    endpoint = FirehoseEndpoint({settings.name: DeliveryStream(settings, s3, invoke=capture)}).start()
    sent: list[int] = []
    all_sent = asyncio.Event()

    def price(second: int) -> str:
        return orjson.dumps({"event": "price", "symbol": "AAPL", "timestamp": 1692888600 + second,
                             "price": 177.5}).decode()

    async def source() -> AsyncIterator[ReceivedFrame]:
        for index, text in enumerate([price(0), price(1), '{"event":"heartbeat","status":"ok"}', price(2),
                                      price(3600)]):
            yield ReceivedFrame(index, text)
        await all_sent.wait()

    def on_sent(received: list[int]) -> None:
        sent.extend(received)
        if len(sent) == 5:
            all_sent.set()

    async def produce() -> None:
        sink = FirehoseSink(firehose_client("us-east-1", endpoint.url), settings.name)
        await asyncio.wait_for(run_producer(source(), sink, linger_s=0.05, on_sent=on_sent), timeout=30)

    try:
        # WHEN the producer runs with a 50 ms linger
        asyncio.run(produce())
    finally:
        endpoint.stop()
    # THEN everything went before the source ended (the linger closed the packs), the hour's prices as one
    # record, the next hour's price and the heartbeat each as a record of their own
    packs = sorted([[e["payload"] for e in decode_envelopes(r)] for r in capture.records], key=len)
    assert packs == [[b'{"event":"heartbeat","status":"ok"}'], [price(3600).encode()],
                     [price(0).encode(), price(1).encode(), price(2).encode()]]
