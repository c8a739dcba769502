"""The Firehose stand-in through boto3, configured from the template, delivering with the real transform."""

from __future__ import annotations

import base64
import gzip
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import boto3
import orjson
import pytest
from botocore.exceptions import ClientError

from firehose_transform.transform import transform_records
from local_stack.firehose.delivery import DeliveryStream
from local_stack.firehose.processing import failing_sometimes
from local_stack.firehose.server import FirehoseEndpoint
from local_stack.lambda_runtime import LocalLambda
from local_stack.s3 import LocalS3
from ohlcv_core.envelope import decode_envelope, encode_envelope
from ohlcv_core.window import TimeWindow
from stack_tools.template import DEFAULT_TEMPLATE, StackTemplate
from tests.fixtures import load_text
from tests.stream_settings import template_stream

OBJECT_NAME = re.compile(r"^ohlcv-local-prices-1-\d{4}-\d\d-\d\d-\d\d-\d\d-\d\d-[0-9a-f-]{36}$")
AAPL = load_text("twelvedata/ws-price-aapl-with-mic.json").strip()


REPLAY = {"MaxPriceAgeSeconds": "3153600000"}  # the captures are from 2023; these tests run later


def in_process_transform(event: dict[str, Any]) -> Any:
    """The transform's decision function, called in-process; the sandboxed handler has its own test."""
    response, _ = transform_records(event["records"], TimeWindow.from_environ(
        {"OHLCV_MAX_PRICE_AGE_S": REPLAY["MaxPriceAgeSeconds"]}))
    return response


class Clock:
    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def s3(tmp_path: Path) -> LocalS3:
    return LocalS3(tmp_path / "s3")


@pytest.fixture
def events(s3: LocalS3) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    s3.subscribe(received.append)
    return received


@pytest.fixture
def stream(s3: LocalS3) -> DeliveryStream:
    return DeliveryStream(StackTemplate().delivery_stream(), s3, in_process_transform)


@pytest.fixture
def endpoint(stream: DeliveryStream) -> Iterator[FirehoseEndpoint]:
    server = FirehoseEndpoint({stream.settings.name: stream}).start()
    yield server
    server.stop()


@pytest.fixture
def client(endpoint: FirehoseEndpoint) -> Any:
    return boto3.client("firehose", endpoint_url=endpoint.url, region_name="us-east-1",
                        aws_access_key_id="local", aws_secret_access_key="local")


def _files(root: Path, *, with_backup: bool = False) -> list[Path]:
    """Objects written; the source-record backup (under source/) only when asked for."""
    return sorted(p for p in root.rglob("*") if p.is_file() and ".tmp" not in p.parts
                  and (with_backup or "source" not in p.relative_to(root).parts))


def test_describe_and_list_reflect_the_template(client: Any) -> None:
    settings = StackTemplate().delivery_stream()
    description = client.describe_delivery_stream(DeliveryStreamName=settings.name)["DeliveryStreamDescription"]
    destination = description["Destinations"][0]["ExtendedS3DestinationDescription"]
    assert description["DeliveryStreamStatus"] == "ACTIVE"
    assert destination["Prefix"] == settings.destination.prefix
    assert destination["BufferingHints"] == {"SizeInMBs": 64, "IntervalInSeconds": 60}
    assert client.list_delivery_streams()["DeliveryStreamNames"] == [settings.name]


def test_api_errors_have_the_service_shapes(client: Any, stream: DeliveryStream) -> None:
    with pytest.raises(ClientError) as missing:
        client.put_record(DeliveryStreamName="nope", Record={"Data": b"x"})
    assert missing.value.response["Error"]["Code"] == "ResourceNotFoundException"
    with pytest.raises(ClientError) as too_many:
        client.put_record_batch(DeliveryStreamName=stream.settings.name, Records=[{"Data": b"x"}] * 501)
    assert too_many.value.response["Error"]["Code"] == "ValidationException"
    with pytest.raises(ClientError) as too_big:
        client.put_record(DeliveryStreamName=stream.settings.name, Record={"Data": b"x" * (1000 * 1024 + 1)})
    assert too_big.value.response["Error"]["Code"] == "ValidationException"
    assert stream.stats.records_in == 0


def test_delivery_partitions_by_event_time_with_firehose_naming(
        client: Any, endpoint: FirehoseEndpoint, s3: LocalS3, events: list[dict[str, Any]]) -> None:
    frames = [AAPL, '{"event":"heartbeat","status":"ok"}', "not json at all",
              '{"event":"price","symbol":"EUR/USD","timestamp":1692921600,"price":1.08}']
    response = client.put_record_batch(
        DeliveryStreamName="ohlcv-local-prices",
        Records=[{"Data": encode_envelope(f, 1684508044000, "twelvedata.ws")} for f in frames])
    assert response["FailedPutCount"] == 0 and len(response["RequestResponses"]) == 4
    endpoint.drain()
    bucket = s3.bucket_path("ohlcv-local-raw-000000000000")
    written = {str(p.relative_to(bucket).parent): p for p in _files(bucket)}
    assert set(written) == {"raw/kind=price/dt=2023-05-19/hour=14", "raw/kind=price/dt=2023-08-25/hour=00",
                            next(k for k in written if k.startswith("errors/processing-failed/"))}
    for path in written.values():
        assert OBJECT_NAME.match(path.name), path.name
    aapl = [orjson.loads(line) for line in written["raw/kind=price/dt=2023-05-19/hour=14"].read_bytes().splitlines()]
    assert [r["symbol"] for r in aapl] == ["AAPL"]
    error_path = next(p for k, p in written.items() if k.startswith("errors/"))
    (error,) = [orjson.loads(line) for line in error_path.read_bytes().splitlines()]
    assert set(error) == {"attemptsMade", "arrivalTimestamp", "errorCode", "errorMessage", "attemptEndingTimestamp",
                          "rawData", "lambdaArn"}
    assert error["errorCode"] == "Lambda.ProcessingFailed"
    assert decode_envelope(base64.b64decode(error["rawData"]))["payload"] == b"not json at all"
    # one Object Created event per object, key URL-encoded as S3 sends it
    keys = sorted(k for k in (unquote_plus(e["detail"]["object"]["key"]) for e in events)
                  if not k.startswith("source/"))
    assert keys == sorted(str(p.relative_to(bucket)) for p in written.values())
    assert all("%3D" in e["detail"]["object"]["key"] for e in events if "raw/" in e["detail"]["object"]["key"])


def _objects(s3: LocalS3) -> list[Path]:
    return [p for p in _files(s3.root) if "/raw/" in p.as_posix()]


def test_the_processor_hints_then_the_destination_hints_decide_when_to_deliver(s3: LocalS3) -> None:
    clock = Clock()
    invocations: list[int] = []

    def counting(event: dict[str, Any]) -> Any:
        invocations.append(len(event["records"]))
        return in_process_transform(event)

    settings = template_stream(processor_buffer_interval_s=10,
                               destination={"buffer_size_bytes": 100_000, "buffer_interval_s": 60})
    stream = DeliveryStream(settings, s3, counting, clock=clock)
    stream.put([encode_envelope(AAPL, 1, "twelvedata.ws")])
    stream.tick()
    assert invocations == []  # the processor's interval has not passed
    clock.now += 10
    stream.tick()
    assert invocations == [1] and _objects(s3) == []  # transformed, now waiting for the S3 interval
    clock.now += 59
    stream.tick()
    assert _objects(s3) == []
    clock.now += 1  # 60 s after the record reached the destination buffer (70 s after it arrived)
    stream.tick()
    assert len(_objects(s3)) == 1 and stream.buffered_bytes == 0


def test_each_partition_has_its_own_buffer_and_object(s3: LocalS3) -> None:
    clock = Clock()
    settings = template_stream(processor_buffer_interval_s=0,
                               destination={"buffer_size_bytes": 100_000, "buffer_interval_s": 60})
    stream = DeliveryStream(settings, s3, in_process_transform, clock=clock)
    hour_14 = encode_envelope(AAPL, 1, "twelvedata.ws")
    hour_15 = encode_envelope(AAPL.replace("1684508044", "1684511644"), 1, "twelvedata.ws")
    stream.put([hour_14])
    stream.tick()
    clock.now += 30
    stream.put([hour_15, hour_14])
    stream.tick()
    clock.now += 30  # hour 14's buffer is 60 s old, hour 15's only 30 s
    stream.tick()
    (first,) = _objects(s3)
    assert "hour=14" in first.as_posix() and len(first.read_bytes().splitlines()) == 2
    assert stream.status()["open_partitions"] == 1
    stream.flush()
    assert {p.parent.name for p in _objects(s3)} == {"hour=14", "hour=15"}


def test_a_size_hint_reached_delivers_before_the_interval(s3: LocalS3) -> None:
    settings = template_stream(processor_buffer_interval_s=0,
                               destination={"buffer_size_bytes": 1000, "buffer_interval_s": 900})
    stream = DeliveryStream(settings, s3, in_process_transform, clock=Clock())
    stream.put([encode_envelope(AAPL, 1, "twelvedata.ws")] * 5)  # five rows of ~400 bytes: over 1000
    stream.tick()
    assert len(_objects(s3)) == 1


def test_a_response_that_breaks_the_contract_is_retried_then_failed_whole(s3: LocalS3) -> None:
    calls: list[int] = []

    def forgetful(event: dict[str, Any]) -> Any:
        calls.append(len(event["records"]))
        response = in_process_transform(event)
        response["records"] = response["records"][1:]  # one recordId missing
        return response

    stream = DeliveryStream(StackTemplate().delivery_stream(), s3, forgetful)
    stream.put([encode_envelope(AAPL, 1, "twelvedata.ws")] * 3)
    stream.flush()
    assert len(calls) == stream.settings.processor_retries + 1
    errors = [orjson.loads(line) for p in _files(s3.root) for line in p.read_bytes().splitlines()]
    assert len(errors) == 3
    assert {e["errorCode"] for e in errors} == {"Lambda.InvalidResponse"}
    assert all("missing" in e["errorMessage"] for e in errors)


def test_the_stand_in_follows_a_changed_template(tmp_path: Path, s3: LocalS3) -> None:
    # GIVEN a template whose Prefix and buffer interval were edited
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8")
    edited = text.replace('Prefix: "raw/kind=', 'Prefix: "landing/kind=').replace("IntervalInSeconds: 60",
                                                                                  "IntervalInSeconds: 120")
    path = tmp_path / "template.yaml"
    path.write_text(edited, encoding="utf-8")
    settings = StackTemplate(path).delivery_stream()
    assert settings.destination.buffer_interval_s == 120
    stream = DeliveryStream(settings, s3, in_process_transform)
    stream.put([encode_envelope(AAPL, 1, "twelvedata.ws")])
    stream.flush()
    (written,) = _files(s3.root)
    assert "landing/kind=price/dt=2023-05-19/hour=14" in written.as_posix()


def test_the_lambda_runs_in_its_own_sandbox_with_the_template_environment(tmp_path: Path, s3: LocalS3) -> None:
    settings = StackTemplate(parameters=REPLAY).delivery_stream()
    assert settings.processor is not None
    function = LocalLambda(settings.processor, tmp_path / "logs")
    try:
        stream = DeliveryStream(settings, s3, function.invoke)
        stream.put([encode_envelope(AAPL, 1, "twelvedata.ws"), encode_envelope("{", 1, "twelvedata.ws")])
        stream.flush()
    finally:
        function.close()
    assert (stream.stats.delivered, stream.stats.failed) == (1, 1)
    log = [orjson.loads(line) for line in function.log_path.read_text().splitlines() if line.startswith("{")]
    assert any(entry.get("reason_code") == "not_json" for entry in log)
    assert any(entry.get("function_name") == settings.processor.function_name for entry in log)
    assert any("_aws" in entry for entry in log), "EMF metrics line expected in the function's log"


def test_source_records_are_backed_up_untransformed_as_the_template_says(s3: LocalS3) -> None:
    settings = StackTemplate().delivery_stream()
    assert settings.backup is not None and settings.backup.compression == "GZIP"
    stream = DeliveryStream(settings, s3, in_process_transform)
    records = [encode_envelope(AAPL, 1, "twelvedata.ws"), encode_envelope("not json", 2, "twelvedata.ws")]
    stream.put(records)
    stream.flush()
    (backup,) = [p for p in _files(s3.root, with_backup=True) if "/source/" in p.as_posix()]
    assert backup.name.endswith(".gz") and OBJECT_NAME.match(backup.name.removesuffix(".gz"))
    assert gzip.decompress(backup.read_bytes()) == b"".join(records)  # every record, failed ones too
    assert stream.stats.backup_objects == 1


def test_gzip_compression_follows_the_template(tmp_path: Path, s3: LocalS3) -> None:
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8").replace(
        "        CompressionFormat: UNCOMPRESSED\n", "        CompressionFormat: GZIP\n", 1)
    path = tmp_path / "template.yaml"
    path.write_text(text, encoding="utf-8")
    stream = DeliveryStream(StackTemplate(path).delivery_stream(), s3, in_process_transform)
    stream.put([encode_envelope(AAPL, 1, "twelvedata.ws")])
    stream.flush()
    (written,) = _objects(s3)
    assert written.name.endswith(".gz")
    assert orjson.loads(gzip.decompress(written.read_bytes()))["symbol"] == "AAPL"


def test_injected_lambda_errors_are_retried_then_kept_under_the_error_prefix(s3: LocalS3) -> None:
    settings = StackTemplate().delivery_stream()
    stream = DeliveryStream(settings, s3, failing_sometimes(in_process_transform, rate=1.0))
    stream.put([encode_envelope(AAPL, 1, "twelvedata.ws")] * 2)
    stream.flush()
    errors = [orjson.loads(line) for p in _files(s3.root) for line in p.read_bytes().splitlines()]
    assert [e["errorCode"] for e in errors] == ["Lambda.FunctionError"] * 2
    assert {e["attemptsMade"] for e in errors} == {settings.processor_retries + 1}
    assert "injected Lambda error" in errors[0]["errorMessage"]


class RefusingS3(LocalS3):
    """S3 refusing its next few writes (a full disk, an outage), then taking them again."""

    def __init__(self, root: Path, refusals: int) -> None:
        super().__init__(root)
        self.refusals = refusals

    def put_object(self, bucket: str, key: str, body: bytes) -> dict[str, Any]:
        if self.refusals > 0:
            self.refusals -= 1
            raise OSError("No space left on device")
        return super().put_object(bucket, key, body)


@pytest.mark.parametrize("refusals", [1, 2, 3, 4])
def test_writes_s3_refuses_are_kept_and_written_later_nothing_lost(tmp_path: Path, refusals: int) -> None:
    # GIVEN records for two partitions, one the transform fails, and the source-record backup; S3 refuses
    # the first writes, whichever they are
    s3 = RefusingS3(tmp_path / "s3", refusals)
    stream = DeliveryStream(StackTemplate().delivery_stream(), s3, in_process_transform)
    hour_15 = AAPL.replace("1684508044", "1684511644")
    records = [encode_envelope(frame, 1, "twelvedata.ws") for frame in (AAPL, hour_15, "not json")]
    stream.put(records)
    # WHEN the stream delivers until S3 takes everything
    attempts = 0
    while True:
        attempts += 1
        try:
            stream.flush()
            break
        except OSError:
            assert attempts <= refusals
    # THEN every record is written once: both partitions, the failed one under the error prefix, the backup
    assert sorted(p.parent.name for p in _files(s3.root) if "raw" in p.parts) == ["hour=14", "hour=15"]
    (error_file,) = [p for p in _files(s3.root) if "errors" in p.parts]
    (error,) = [orjson.loads(line) for line in error_file.read_bytes().splitlines()]
    assert base64.b64decode(error["rawData"]) == records[2]
    (backup,) = [p for p in _files(s3.root, with_backup=True) if "source" in p.parts]
    assert gzip.decompress(backup.read_bytes()) == b"".join(records)
    assert stream.stats.delivered == 2 and stream.stats.failed == 1
