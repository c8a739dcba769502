from __future__ import annotations

import pytest

from local_stack.firehose.prefix import MissingPartitionKey, evaluate_prefix, java_pattern_to_strftime
from ohlcv_core.errors import ConfigError
from producers.batching import MAX_BATCH_RECORDS, BatchBuilder

ARRIVAL = 1692888605123  # 2023-08-24 14:50:05 UTC


def _random() -> str:
    return "RND"


def test_java_patterns() -> None:
    assert java_pattern_to_strftime("yyyy/MM/dd/HH") == "%Y/%m/%d/%H"
    assert java_pattern_to_strftime("'year='yyyy") == "year=%Y"
    with pytest.raises(ConfigError):
        java_pattern_to_strftime("yyyy-ww")


def test_partition_keys_from_lambda() -> None:
    prefix = "raw/kind=!{partitionKeyFromLambda:kind}/dt=!{partitionKeyFromLambda:dt}/"
    assert evaluate_prefix(prefix, arrival_ms=ARRIVAL, partition_keys={"kind": "price", "dt": "2023-08-24"},
                           random_string=_random) == "raw/kind=price/dt=2023-08-24/"
    with pytest.raises(MissingPartitionKey):
        evaluate_prefix(prefix, arrival_ms=ARRIVAL, partition_keys={"kind": "price"}, random_string=_random)


def test_error_prefix_and_random_string() -> None:
    prefix = "errors/!{firehose:error-output-type}/!{timestamp:yyyy/MM/dd/HH}/!{firehose:random-string}/"
    assert evaluate_prefix(prefix, arrival_ms=ARRIVAL, partition_keys=None, random_string=_random,
                           error_output_type="processing-failed") == "errors/processing-failed/2023/08/24/14/RND/"
    with pytest.raises(ConfigError):
        evaluate_prefix(prefix, arrival_ms=ARRIVAL, partition_keys=None, random_string=_random)


def test_a_prefix_without_time_gets_the_arrival_hour_appended() -> None:
    assert evaluate_prefix("plain/", arrival_ms=ARRIVAL, partition_keys=None,
                           random_string=_random) == "plain/2023/08/24/14/"


def test_batches_close_at_500_records() -> None:
    builder = BatchBuilder()
    closed = [b for b in (builder.add(b"x") for _ in range(MAX_BATCH_RECORDS + 1)) if b]
    assert [len(b) for b in closed] == [MAX_BATCH_RECORDS]
    assert len(builder) == 1


def test_batches_close_before_4_mib() -> None:
    builder = BatchBuilder()
    record = b"y" * (900 * 1024)
    closed = [b for b in (builder.add(record) for _ in range(5)) if b]
    assert [len(b) for b in closed] == [4]
    assert sum(map(len, closed[0])) <= 4 * 1024 * 1024


def test_an_oversize_record_does_not_fit() -> None:
    builder = BatchBuilder()
    assert not builder.fits(b"z" * (1000 * 1024 + 1))
    with pytest.raises(ValueError, match="exceeds"):
        builder.add(b"z" * (1000 * 1024 + 1))
