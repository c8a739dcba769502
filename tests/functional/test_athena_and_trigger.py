"""Local Athena over the lake (tables from the template, views from sql/), and the compaction trigger."""

from __future__ import annotations

import copy
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from job_trigger.events import touched_dates
from lake_sql.athena import LocalAthena
from local_stack.s3 import LocalS3
from ohlcv_core.curated import MANIFEST_NAME, render_manifest
from ohlcv_core.errors import ConfigError, PipelineError
from stack_tools.template import StackTemplate
from tests.fixtures import load_json

CURATED = "ohlcv-local-curated-000000000000"


def _write_bars(s3: LocalS3, dt: str, rows: list[dict[str, Any]], *, as_s3_uri: bool = False) -> None:
    """Published as the job publishes: the data in a run's folder, the partition's manifest naming it."""
    folder = s3.bucket_path(CURATED) / "data" / "run=t" / "table=bars_1m" / f"dt={dt}"
    folder.mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), folder / "part-0.snappy.parquet")
    uri = (f"s3://{CURATED}/data/run=t/table=bars_1m/dt={dt}/part-0.snappy.parquet" if as_s3_uri
           else (folder / "part-0.snappy.parquet").as_posix())
    manifest = s3.bucket_path(CURATED) / "bars_1m" / f"dt={dt}" / MANIFEST_NAME
    manifest.parent.mkdir(parents=True, exist_ok=True)
    manifest.write_bytes(render_manifest([uri]))


def _bar(symbol: str, minute: int, close: float) -> dict[str, Any]:
    return {"symbol": symbol, "exchange": "NASDAQ", "bar_start": datetime(2023, 8, 24, 14, minute),
            "open": close, "high": close, "low": close, "close": close, "volume": 10.0, "tick_count": 1,
            "source": "ticks", "final": False}


def test_views_from_sql_run_over_the_curated_zone(tmp_path: Path) -> None:
    s3 = LocalS3(tmp_path)
    _write_bars(s3, "2023-08-24", [_bar("AAPL", 50, 177.0), _bar("AAPL", 51, 178.0), _bar("MSFT", 50, 320.0)])
    athena = LocalAthena(StackTemplate(), s3)
    result = athena.query("SELECT symbol, bars, last_close FROM symbol_summary ORDER BY symbol")
    assert result.columns == ("symbol", "bars", "last_close")
    assert result.rows == [("AAPL", 2, 178.0), ("MSFT", 1, 320.0)]
    # Athena's dialect (date_format with %i) works because it is transpiled
    minutes = athena.query("SELECT date_format(bar_start, '%H:%i') FROM bars_1m WHERE dt = '2023-08-24' "
                           "AND symbol = 'AAPL' ORDER BY 1").rows
    assert minutes == [("14:50",), ("14:51",)]


def test_a_symlink_partition_takes_its_dt_from_the_manifest_and_reads_s3_uris_from_the_bucket(
        tmp_path: Path) -> None:
    s3 = LocalS3(tmp_path)
    _write_bars(s3, "2023-08-24", [_bar("AAPL", 50, 177.0)], as_s3_uri=True)
    _write_bars(s3, "2023-08-25", [_bar("MSFT", 51, 320.0)])
    (s3.bucket_path(CURATED) / "bars_1m" / "dt=2023-08-26").mkdir()  # a partition with no manifest: empty
    athena = LocalAthena(StackTemplate(), s3)
    assert athena.query("SELECT dt, symbol, close FROM bars_1m ORDER BY dt").rows == [
        ("2023-08-24", "AAPL", 177.0), ("2023-08-25", "MSFT", 320.0)]
    # a Parquet file left in a partition's folder is no manifest: the query fails, as Athena's would
    pq.write_table(pa.Table.from_pylist([_bar("AAPL", 52, 1.0)]), s3.bucket_path(CURATED) / "bars_1m" / "dt=2023-08-26"
                   / "stray.parquet")
    with pytest.raises(PipelineError, match="symlink table"):
        athena.query("SELECT count(*) FROM bars_1m")


def test_an_empty_lake_has_empty_typed_tables(tmp_path: Path) -> None:
    athena = LocalAthena(StackTemplate(), LocalS3(tmp_path))
    assert athena.query("SELECT count(*) FROM raw_prices").rows == [(0,)]
    assert athena.query("SELECT * FROM symbol_summary").rows == []


def test_invalid_sql_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="Athena SQL"):
        LocalAthena(StackTemplate(), LocalS3(tmp_path)).query("SELECT FROM WHERE (")


def test_the_real_eventbridge_sample_drives_the_trigger_unchanged() -> None:
    sample = load_json("aws-events/s3EventBridgeNotificationObjectCreatedEvent.json")
    assert touched_dates([sample], bucket="example-bucket") == []  # an image upload touches no partition
    raw = copy.deepcopy(sample)
    raw["detail"]["object"]["key"] = "raw/kind%3Dprice/dt%3D2023-08-24/hour%3D14/ohlcv-local-prices-1-x"
    errors = copy.deepcopy(sample)
    errors["detail"]["object"]["key"] = "errors/processing-failed/2023/08/24/14/ohlcv-local-prices-1-y"
    other_bucket = copy.deepcopy(raw)
    other_bucket["detail"]["bucket"]["name"] = "someone-else"
    assert touched_dates([sample, raw, errors, other_bucket], bucket="example-bucket") == ["2023-08-24"]


@pytest.mark.parametrize("sql", ["COPY (SELECT 1 AS x) TO '{target}' (FORMAT PARQUET)",
                                 "CREATE TABLE copied AS SELECT * FROM bars_1m",
                                 "INSERT INTO bars_1m SELECT * FROM bars_1m",
                                 "DELETE FROM bars_1m", "SET threads = 1"])
def test_queries_cannot_write_into_the_lake(tmp_path: Path, sql: str) -> None:
    s3 = LocalS3(tmp_path)
    _write_bars(s3, "2023-08-24", [_bar("AAPL", 50, 177.0)])
    manifest = s3.bucket_path(CURATED) / "bars_1m" / "dt=2023-08-24" / MANIFEST_NAME
    before = manifest.read_bytes()
    with pytest.raises(ConfigError):
        LocalAthena(StackTemplate(), s3).query(sql.format(target=manifest.as_posix()))
    assert manifest.read_bytes() == before
    assert LocalAthena(StackTemplate(), s3).query("DESCRIBE bars_1m").rows  # reading still works


@pytest.mark.parametrize(("sql", "said"), [("INSTALL httpfs", "not INSTALL"), ("ATTACH 'x.db'", "not valid Athena SQL"),
                                           ("SELECT 1; SELECT 2", "give one SQL statement, not 2"),
                                           ("PRAGMA version", "not PRAGMA")])
def test_what_is_not_one_reading_statement_is_named_as_written(tmp_path: Path, sql: str, said: str) -> None:
    with pytest.raises(ConfigError, match=said):
        LocalAthena(StackTemplate(), LocalS3(tmp_path)).query(sql)


@pytest.mark.parametrize("key", ["raw/kind%3Dprice/dt%3D..%2F..%2Fetc/hour%3D14/x",
                                 "raw/kind%3Dprice/dt%3D2023-13-40/x", "raw/kind%3Dprice/dt%3D2023-08-24%3B%20rm/x",
                                 "raw/kind%3Dprice/dt%3D/x",
                                 "raw/kind%3Dprice/dt%3D" + "9" * 5000 + "/x"])
def test_a_hostile_object_key_touches_no_date(key: str) -> None:
    event = copy.deepcopy(load_json("aws-events/s3EventBridgeNotificationObjectCreatedEvent.json"))
    event["detail"]["object"]["key"] = key
    assert touched_dates([event], bucket="example-bucket") == []


@pytest.mark.parametrize("detail", [{"bucket": "x", "object": {"key": 7}}, {"bucket": {"name": ["b"]}}, None, [1]])
def test_a_malformed_event_touches_no_date(detail: Any) -> None:
    event = {"detail-type": "Object Created", "detail": detail}
    assert touched_dates([event, "text", 5, None], bucket="example-bucket") == []
