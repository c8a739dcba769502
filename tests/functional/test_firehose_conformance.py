"""The producer side of the Firehose API, against moto's Firehose and the local endpoint alike; then what
only the local endpoint can show: partial failures and throttling met by the producer's sink."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from botocore.exceptions import ClientError
from moto import mock_aws

from local_stack.firehose.delivery import DeliveryStream
from local_stack.firehose.server import FirehoseEndpoint, FirehoseFaults
from local_stack.s3 import LocalS3
from ohlcv_core.envelope import encode_envelope
from producers.aws import firehose_client
from producers.backoff import Backoff
from producers.firehose_sink import FirehoseSink
from tests.stream_settings import template_stream

STREAM = "conformance"


@pytest.fixture(params=["moto", "local"])
def firehose(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Any]:
    if request.param == "moto":
        with mock_aws():
            s3: Any = boto3.client("s3", region_name="us-east-1")
            s3.create_bucket(Bucket="landing")
            client = boto3.client("firehose", region_name="us-east-1")
            client.create_delivery_stream(
                DeliveryStreamName=STREAM, DeliveryStreamType="DirectPut",
                ExtendedS3DestinationConfiguration={"RoleARN": "arn:aws:iam::123456789012:role/fh",
                                                    "BucketARN": "arn:aws:s3:::landing"})
            yield client
        return
    settings = template_stream(name=STREAM, destination={"prefix": "landing/"}, dynamic_partitioning=False,
                               processor=None, backup=None)
    endpoint = FirehoseEndpoint({STREAM: DeliveryStream(settings, LocalS3(tmp_path), invoke=None)}).start()
    try:
        yield firehose_client("us-east-1", endpoint.url)
    finally:
        endpoint.stop()


def _records(count: int) -> list[dict[str, bytes]]:
    return [{"Data": encode_envelope(f'{{"event":"price","n":{i}}}', i, "twelvedata.ws")} for i in range(count)]


def test_put_record_batch_answers_one_entry_per_record_in_order(firehose: Any) -> None:
    response = firehose.put_record_batch(DeliveryStreamName=STREAM, Records=_records(25))
    assert response["FailedPutCount"] == 0 and len(response["RequestResponses"]) == 25
    assert all(r["RecordId"] for r in response["RequestResponses"])
    assert len({r["RecordId"] for r in response["RequestResponses"]}) == 25


def test_put_record(firehose: Any) -> None:
    assert firehose.put_record(DeliveryStreamName=STREAM, Record=_records(1)[0])["RecordId"]


def test_describe_and_list(firehose: Any) -> None:
    description = firehose.describe_delivery_stream(DeliveryStreamName=STREAM)["DeliveryStreamDescription"]
    assert description["DeliveryStreamName"] == STREAM and description["DeliveryStreamStatus"] == "ACTIVE"
    assert description["DeliveryStreamType"] == "DirectPut"
    assert STREAM in firehose.list_delivery_streams()["DeliveryStreamNames"]


def test_an_unknown_stream_is_resource_not_found(firehose: Any) -> None:
    with pytest.raises(ClientError) as caught:
        firehose.put_record_batch(DeliveryStreamName="nope", Records=_records(1))
    assert caught.value.response["Error"]["Code"] == "ResourceNotFoundException"


def test_the_sink_delivers_through_either(firehose: Any) -> None:
    sink = FirehoseSink(firehose, STREAM)
    sink.send([r["Data"] for r in _records(700)[:500]])
    assert sink.stats.records_sent == 500 and sink.stats.failed_puts == 0


# -- only the local endpoint can do these ---------------------------------------------------------------


@pytest.fixture
def faulty(tmp_path: Path) -> Iterator[tuple[FirehoseEndpoint, DeliveryStream]]:
    settings = template_stream(name=STREAM, destination={"prefix": "landing/"}, dynamic_partitioning=False,
                               processor=None, backup=None)
    stream = DeliveryStream(settings, LocalS3(tmp_path), invoke=None)
    endpoint = FirehoseEndpoint({STREAM: stream}, faults=FirehoseFaults(throttle_rate=0.3, partial_failure_rate=0.2,
                                                                        seed=7)).start()
    try:
        yield endpoint, stream
    finally:
        endpoint.stop()


def test_partial_failures_and_throttling_lose_nothing_and_resend_only_the_failed(
        faulty: tuple[FirehoseEndpoint, DeliveryStream]) -> None:
    endpoint, stream = faulty
    sleeps: list[float] = []
    sink = FirehoseSink(firehose_client("us-east-1", endpoint.url), STREAM, max_attempts=30,
                        backoff=Backoff(base_s=0.001, cap_s=0.01), sleep=sleeps.append)
    payloads = [r["Data"] for r in _records(1000)]
    for start in range(0, 1000, 500):
        sink.send(payloads[start:start + 500])
    stream.flush()
    assert endpoint.api.failed_puts > 0 and endpoint.api.throttled > 0
    assert sink.stats.failed_puts == endpoint.api.failed_puts  # each failure seen, and resent
    # exactly the records sent, each once: only failed records were resent
    assert stream.stats.records_in == 1000 == sink.stats.records_sent
    written = b"".join(p.read_bytes() for p in sorted(Path(stream._s3.root).rglob("*")) if p.is_file()
                       and ".tmp" not in p.parts)
    assert all(p in written for p in payloads)
    assert len(sleeps) >= endpoint.api.throttled  # backed off on every throttle


def test_the_status_endpoint_shows_streams_and_faults(faulty: tuple[FirehoseEndpoint, DeliveryStream]) -> None:
    endpoint, _ = faulty
    status = requests.get(f"{endpoint.url}/_local/status", timeout=5).json()
    assert status["streams"][0]["name"] == STREAM
    assert set(status["api"]) == {"throttled_calls", "failed_puts", "refused_while_stopping", "refused_connections",
                                  "hung_up"}
