"""`ohlcv redrive`: records the transform refused, sent through it again once it takes them; a second
re-drive leaves the tables as they are; what still fails is reported with its reason."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from glue_jobs.store import LocalStore
from local_stack.stack import AT_ONCE, LocalStack, prepare_lake
from ohlcv_cli.demo import REPLAY_PARAMETERS
from ohlcv_cli.redrive import RedriveReport, redrive
from ohlcv_core.config import DEFAULT_REGION
from ohlcv_core.envelope import encode_envelope
from ohlcv_core.window import TimeWindow
from producers.aws import firehose_client
from producers.firehose_sink import FirehoseSink

START = 1_692_888_600  # 2023-08-24 14:50 UTC: older than a default stack's price window (7 days)


def _records() -> list[bytes]:
    """20 envelopes in 12 records: 10 alone, and two packs of five, the second holding a bad price."""
    prices = [orjson.dumps({"event": "price", "symbol": "AAPL", "exchange": "NASDAQ", "timestamp": START + 10 * i,
                            "price": 177.0 + i / 100, "day_volume": 1_000 + i}).decode() for i in range(18)]
    bad = ['{"event":"price","symbol":"MSFT","timestamp":1692888600,"price":0}', '{"event":"price","symbol":"BT']
    envelopes = [encode_envelope(f, (START + i) * 1000, "twelvedata.ws", sized=i < 10)
                 for i, f in enumerate([*prices[:9], bad[0], *prices[9:], bad[1]])]
    return [b"".join(envelopes[:5]), b"".join(envelopes[5:10]), *envelopes[10:]]


def _hours() -> tuple[datetime, datetime]:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now - timedelta(hours=1), now + timedelta(hours=2)


def _redrive(stack: LocalStack, source: str = "errors", dry_run: bool = False) -> RedriveReport:
    settings = stack.stream_settings
    assert settings.processor is not None
    start, end = _hours()
    sink = FirehoseSink(firehose_client(DEFAULT_REGION, stack.firehose.url), settings.name)
    return redrive(LocalStore(), stack.s3.bucket_path(settings.destination.bucket).as_posix(), sink,
                   source=source, start=start, end=end,  # type: ignore[arg-type]
                   window=TimeWindow.from_environ(settings.processor.environment), dry_run=dry_run)


def _bars(stack: LocalStack) -> list[tuple[Any, ...]]:
    return stack.athena.query("SELECT symbol, bar_start, open, high, low, close, volume FROM bars_1m "
                              "ORDER BY bar_start").rows


def test_refused_records_pass_once_the_transform_takes_them_and_a_second_redrive_changes_nothing(
        spark: Any, tmp_path: Path) -> None:
    lake = prepare_lake(tmp_path / "lake", fresh=True)
    # GIVEN a stack whose transform refused old prices: all 12 records are under the error prefix
    stack = LocalStack(lake, lambda: spark, parameters=AT_ONCE).start()
    try:
        firehose_client(DEFAULT_REGION, stack.firehose.url).put_record_batch(
            DeliveryStreamName=stack.stream_settings.name, Records=[{"Data": r} for r in _records()])
        stack.close_intake()
        stack.settle()
    finally:
        stack.stop()
    assert stack.streams[stack.stream_settings.name].stats.failed == 12
    # WHEN the stack is redeployed with the window opened, and the errors are redriven
    stack = LocalStack(lake, lambda: spark, parameters={**REPLAY_PARAMETERS, "QualityAfterCompaction": "false"}).start()
    try:
        dry = _redrive(stack, dry_run=True)
        first = _redrive(stack)
        stack.settle()
        bars_after_first = _bars(stack)
        second = _redrive(stack)
        stack.settle()
        bars_after_second = _bars(stack)
        backup = _redrive(stack, source="backup", dry_run=True)
    finally:
        stack.stop()
    # THEN what now passes was sent and compacted (the packs unpacked: the good prices of the pack with a bad
    # one pass), what still fails says why, and a second re-drive (sent again, at-least-once) leaves the
    # tables exactly as they were
    assert (dry.found, dry.sent) == (20, 18)
    assert (first.found, first.sent, first.unreadable) == (20, 18, 0)
    assert first.still_failing == {"invalid_price": 1, "not_json": 1}
    assert "price must be a finite positive number" in first.examples["invalid_price"]
    assert len(bars_after_first) == 3 and bars_after_first[0][0] == "AAPL"
    assert second.sent == 18 and bars_after_second == bars_after_first
    # the source backup holds the producer's envelopes as they arrived: all 20, found by their headers
    assert backup.found >= 20 and backup.unreadable == 0
    assert any("invalid_price: 1" in line for line in first.lines())


def test_against_a_deployed_stack_it_reads_s3_and_takes_the_window_from_the_function(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import base64
    import io
    import zipfile

    import boto3
    from moto import mock_aws

    from ohlcv_cli.main import main

    hour = datetime.now(UTC).strftime("%Y/%m/%d/%H")
    lines = b"".join(orjson.dumps({"errorCode": "Lambda.ProcessingFailed", "rawData": base64.b64encode(e).decode()})
                     + b"\n" for e in _records())
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("handler.py", "def lambda_handler(event, context):\n    return event\n")
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        for bucket in ("raw", "delivered"):
            s3.create_bucket(Bucket=bucket)
        s3.put_object(Bucket="raw", Key=f"errors/processing-failed/{hour}/stack-prices-1-x", Body=lines)
        role = boto3.client("iam", region_name="us-east-1").create_role(
            RoleName="r", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        boto3.client("lambda", region_name="us-east-1").create_function(
            FunctionName="transform", Runtime="python3.11", Role=role, Handler="handler.lambda_handler",
            Code={"ZipFile": code.getvalue()}, Environment={"Variables": {"OHLCV_MAX_PRICE_AGE_S": "3153600000"}})
        boto3.client("firehose", region_name="us-east-1").create_delivery_stream(
            DeliveryStreamName="prices", ExtendedS3DestinationConfiguration={
                "RoleARN": role, "BucketARN": "arn:aws:s3:::delivered"})
        start, end = _hours()
        assert main(["redrive", "--from", start.strftime("%Y-%m-%dT%H"), "--to", end.strftime("%Y-%m-%dT%H"),
                     "--bucket", "s3://raw/", "--stream", "prices", "--function", "transform",
                     "--region", "us-east-1"]) == 0
        delivered = b"".join(s3.get_object(Bucket="delivered", Key=o["Key"])["Body"].read()
                             for o in s3.list_objects_v2(Bucket="delivered").get("Contents", []))
    report = capsys.readouterr().out
    assert "1 objects, 20 records: 18 now pass and were sent, 2 still fail" in report
    assert delivered.count(b'"symbol":"AAPL"') == 18
