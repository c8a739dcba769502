"""`make bench` keeps working: every benchmark runs here at a tiny scale (figures reported, no targets
asserted: timings are not tests)."""

from __future__ import annotations

import json
import math
import random
import shutil
from pathlib import Path
from typing import Any

import duckdb
import pytest

from benchmarks import compaction, daily_layout, freshness, quality
from benchmarks.__main__ import REGISTRY, main
from benchmarks.report import Measurement
from glue_jobs.publish import Publisher
from glue_jobs.store import LocalStore
from ohlcv_core.curated import partition_of, partitions_of, written_url
from ohlcv_core.schema import YEAR_PARTITIONED

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _sane(measurements: list[Measurement]) -> None:
    assert measurements
    for m in measurements:
        assert math.isfinite(m.value) and m.value >= 0, m
        assert m.baseline is None or (math.isfinite(m.baseline) and m.baseline > 0), m


def test_the_registry_names_every_benchmark_module() -> None:
    modules = {p.stem for p in BENCHMARKS.glob("*.py")} - {"__init__", "__main__", "report"}
    assert set(REGISTRY) == modules


def test_the_benchmarks_without_spark_run_tiny_through_the_runner(tmp_path: Path,
                                                                           capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "results.json"
    assert main(["--tiny", "--out", str(out), "transform", "producer", "backfill", "sql", "dashboard"]) == 0
    results = json.loads(out.read_text())
    assert results["tiny"] is True
    _sane([Measurement(**{k: v for k, v in m.items() if k != "ratio"}) for m in results["measurements"]])
    assert {m["benchmark"] for m in results["measurements"]} == {"transform", "producer", "backfill", "sql",
                                                                 "dashboard"}
    assert "ratio" in capsys.readouterr().out  # the table is printed


def test_the_compaction_benchmark_runs_tiny_on_the_shared_session(spark: Any) -> None:
    measurements = compaction.run(tiny=True, spark=spark)
    _sane(measurements)
    assert all(m.baseline for m in measurements)  # each against its baseline of the same run


def _publish(duck_out: Path, curated: Path, date: str, tables: tuple[str, ...]) -> dict[str, Path]:
    """DuckDB's files of `tables`, published by the job's own Publisher as one run's Spark write."""
    publisher = Publisher(LocalStore(), curated.as_posix(), keep_superseded_s=0)
    publisher.begin("copy", {table: partitions_of(table, [date]) for table in tables})
    copies = {}
    for table in tables:
        (made,) = (duck_out / table / f"dt={date}").glob("*.parquet")
        folder = Path(written_url(curated.as_posix(), "copy", table, partition_of(table, date)))
        copies[table] = folder / "part-0.parquet"
        copies[table].parent.mkdir(parents=True)
        if table in YEAR_PARTITIONED:  # a year's partition holds its days' dt in a column
            with duckdb.connect() as connection:
                connection.execute(f"COPY (SELECT *, '{date}' AS dt FROM read_parquet('{made}')) "
                                   f"TO '{copies[table]}' (FORMAT PARQUET)")
        else:
            shutil.copyfile(made, copies[table])
    written = publisher.written("copy")
    for table in tables:
        publisher.publish(table, partitions_of(table, [date]), written)
    return copies


def test_the_compaction_benchmark_stops_when_the_engines_disagree_on_a_bar(tmp_path: Path) -> None:
    # GIVEN DuckDB's bars of a raw hour, and the same bars published the way the job publishes
    date, tables = compaction._date(0), ("bars_1m", *compaction.ROLLUP_BUCKETS)
    compaction.write_day(tmp_path / "raw", 0, symbols=2, every_s=60, rng=random.Random(3), hours=range(13, 14))
    compaction._duckdb_once(tmp_path / "raw", tmp_path / "duck")
    copies = _publish(tmp_path / "duck", tmp_path / "curated", date, tables)
    # THEN they agree, bar for bar: 2 symbols x 60 minutes, 12 five-minute bars each, 1 hour, 1 day
    assert compaction.same_bars(tmp_path / "curated", tmp_path / "duck", date) == 2 * (60 + 12 + 1 + 1)
    # WHEN one published 5-minute bar closes a cent higher
    with duckdb.connect() as connection:
        connection.execute("COPY (SELECT * REPLACE (CASE WHEN row_number() OVER () = 7 THEN close + 0.01 "
                           f"ELSE close END AS close) FROM read_parquet('{copies['bars_5m']}')) "
                           f"TO '{tmp_path / 'changed.parquet'}' (FORMAT PARQUET)")
    (tmp_path / "changed.parquet").replace(copies["bars_5m"])
    # THEN the benchmark refuses to compare their times, and says where
    with pytest.raises(RuntimeError, match=f"bars_5m of {date}: 1 of Spark's bars are not DuckDB's, 1 of DuckDB's"):
        compaction.same_bars(tmp_path / "curated", tmp_path / "duck", date)
    # AND WHEN the job published no daily bars at all, THEN that is a disagreement too
    _publish(tmp_path / "duck", tmp_path / "again", date, tables[:-1])
    with pytest.raises(RuntimeError, match=f"bars_1d of {date}: 0 of Spark's bars are not DuckDB's, 2 of DuckDB's"):
        compaction.same_bars(tmp_path / "again", tmp_path / "duck", date)


def test_the_quality_benchmark_runs_tiny_and_both_engines_find_the_same_failures(spark: Any) -> None:
    # (quality.run raises unless DuckDB's SQL failed each rule on exactly the rows the job did)
    (measurement,) = quality.run(tiny=True, spark=spark)
    _sane([measurement])
    assert measurement.baseline and "failures" in measurement.metric


def test_the_freshness_benchmark_runs_tiny_through_the_local_stack(spark: Any) -> None:
    measurements = freshness.run(tiny=True, spark=spark)
    _sane(measurements)
    live_p95 = measurements[1]
    assert "quotes" in live_p95.metric and not live_p95.metric.startswith("receive→live p95 s (0 ")


def test_the_daily_layout_benchmark_runs_tiny_and_the_years_read_fewer_objects(spark: Any) -> None:
    # (daily_layout.run raises unless both layouts and the local Athena give the same answer)
    objects, query, migration = daily_layout.run(tiny=True, spark=spark)
    _sane([objects, query, migration])
    assert objects.value == 4 and objects.baseline == 2 * 522  # 2 years: a manifest and a file each
