"""`ohlcv compact`, `ohlcv redrive --dead-letters` and `ohlcv migrate-lake` against a running local stack,
through its SQS API (the same calls a deployed stack's queues answer)."""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from local_stack.stack import AT_ONCE, LocalStack, prepare_lake
from ohlcv_cli.lake_args import date_range
from ohlcv_cli.operate import MAX_DATES, compact, migrate_lake, redrive_dead_letters, sqs_client, target_of
from ohlcv_core.config import DEFAULT_REGION
from ohlcv_core.errors import ConfigError
from stack_tools.template import StackTemplate
from tests.curated import publish_earlier_daily_layout, published_files
from tests.functional.test_compaction_job import T0, _record, _write_raw


@pytest.fixture
def stack(spark: Any, tmp_path: Path) -> Any:
    local = LocalStack(prepare_lake(tmp_path / "lake", fresh=True), lambda: spark,
                       parameters={**AT_ONCE, "QualityAfterCompaction": "false"}).start()
    yield local
    local.stop()


def test_compact_takes_a_date_range_no_event_named(stack: LocalStack) -> None:
    # GIVEN raw objects of two dates that reached the raw zone without an event (a lost notification)
    raw = stack.s3.bucket_path(_raw_bucket(stack)) / "raw" / "kind=price"
    _write_raw(raw, "14", "a", [_record("AAPL", T0 + s, 100 + s % 5, 1_000 + s) for s in range(0, 300, 7)])
    _write_raw(raw, "09", "b", [_record("AAPL", T0 + 86_400 + s, 101, 2_000 + s) for s in range(0, 120, 7)],
               dt="2023-08-25")
    assert stack.athena.query("SELECT count(*) FROM bars_1m").rows == [(0,)]
    # WHEN an operator compacts the range
    sqs = sqs_client(DEFAULT_REGION, stack.firehose.url)
    said: list[str] = []
    compact(sqs, target_of(StackTemplate(), sqs), date_range("2023-08-24", "2023-08-26", limit=MAX_DATES), said.append)
    stack.settle()
    # THEN one run took the three dates, and the two with data are curated
    (run,) = stack.glue.runs
    assert run.requested["--dates"] == "2023-08-24,2023-08-25,2023-08-26" and run.state == "SUCCEEDED"
    assert stack.athena.query("SELECT dt, count(*) FROM bars_1m GROUP BY dt ORDER BY dt").rows == [
        ("2023-08-24", 5), ("2023-08-25", 2)]
    assert said == ["3 dates (2023-08-24 to 2023-08-26) queued for ohlcv-local-compact-bars: the next run takes "
                    "them, as soon as none is going"]


def _raw_bucket(stack: LocalStack) -> str:
    return next(b.name for b in stack.template.buckets() if b.logical_id == "RawBucket")


def test_migrate_lake_folds_the_daily_bars_of_a_partition_a_day_into_a_partition_a_year(stack: LocalStack) -> None:
    # GIVEN a lake curated before bars_1d's partitions were years: 400 trading days, a partition each
    curated = stack.s3.bucket_path(next(b.name for b in stack.template.buckets() if b.logical_id == "CuratedBucket"))
    days = [date(2021, 11, 1) + timedelta(days=k) for k in range(400)]  # (none the run rebuilds)
    publish_earlier_daily_layout(curated, days)
    assert stack.athena.query("SELECT count(*) FROM bars_1d").rows == [(0,)]  # the table reads years now
    # WHEN the operator migrates it
    sqs = sqs_client(DEFAULT_REGION, stack.firehose.url)
    said: list[str] = []
    migrate_lake(sqs, target_of(StackTemplate(), sqs), "2023-08-24", said.append)
    stack.settle()
    # THEN one run folded every day into its year, read through Athena's table: a file a year
    (run,) = stack.glue.runs
    assert run.requested["--dates"] == "2023-08-24" and run.state == "SUCCEEDED"
    assert stack.athena.query("SELECT year, count(DISTINCT dt), count(*) FROM bars_1d "
                              "GROUP BY year ORDER BY year").rows == [("2021", 61, 122), ("2022", 339, 678)]
    assert {part: len(files) for part, files in published_files(curated, "bars_1d").items()} == {
        "year=2021": 1, "year=2022": 1}
    assert not list((curated / "bars_1d").glob("dt=*/*"))
    assert said[0].startswith("queued for ohlcv-local-compact-bars: its next run (of 2023-08-24")


def test_dead_letters_go_back_to_their_queue_with_a_fresh_receive_count(stack: LocalStack) -> None:
    # GIVEN a message the trigger cannot read, dead-lettered after the queue's five receives
    (mapping,) = [m for m in stack.mappings if m.settings.function.logical_id == "TriggerFunction"]
    mapping.queue.send("Test message.")
    stack.settle()
    dead_letters = mapping.queue.dead_letters
    assert dead_letters is not None and dead_letters.pending == 1 and mapping.dead_lettered == 1
    # WHEN the operator moves the dead letters back
    sqs = sqs_client(DEFAULT_REGION, stack.firehose.url)
    said: list[str] = []
    moved = redrive_dead_letters(sqs, target_of(StackTemplate(), sqs), said.append)
    # THEN it is in its queue again, received anew (five more tries), and the dead-letter file is emptied
    assert moved == 1 and dead_letters.pending == 0 and mapping.queue.pending == 1
    assert said == ["ohlcv-local-compaction-dlq: 1 messages moved back to the queue they came from",
                    "ohlcv-local-quality-dlq: empty"]
    assert (stack.lake / "sqs" / "ohlcv-local-compaction-dlq.jsonl").read_bytes() == b""
    stack.settle()
    assert mapping.dead_lettered == 2
    (line,) = (stack.lake / "sqs" / "ohlcv-local-compaction-dlq.jsonl").read_bytes().splitlines()
    assert orjson.loads(line)["receiveCount"] == 5


def test_a_range_backwards_or_too_long_is_refused() -> None:
    with pytest.raises(ConfigError, match="before --from"):
        date_range("2024-01-02", "2024-01-01", limit=MAX_DATES)
    with pytest.raises(ConfigError, match="split the range"):
        date_range("1900-01-01", "2099-12-31", limit=MAX_DATES)
    assert len(date_range("1990-01-01", "2023-08-24", limit=MAX_DATES)) == 12_289  # more than a quality run
    with pytest.raises(ConfigError, match="yyyy-MM-dd"):
        date_range("2024-13-01", "2024-12-31", limit=MAX_DATES)
