"""`make bench` keeps working: every benchmark runs here at a tiny scale (figures reported, no targets
asserted: timings are not tests)."""

from __future__ import annotations

import json
import math
import random
from pathlib import Path
from typing import Any

import duckdb
import pytest

from benchmarks import compaction, freshness, quality
from benchmarks.__main__ import REGISTRY, main
from benchmarks.report import Measurement
from ohlcv_core.curated import manifest_url, render_manifest, written_url

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


@pytest.mark.spark
def test_the_compaction_benchmark_runs_tiny_on_the_shared_session(spark: Any) -> None:
    measurements = compaction.run(tiny=True, spark=spark)
    _sane(measurements)
    assert all(m.baseline for m in measurements)  # each against its baseline of the same run


def _published_copy(duck_out: Path, curated: Path, date: str) -> dict[str, Path]:
    """DuckDB's tables published as the job publishes its own: a run's files, a manifest per partition."""
    copies = {}
    for table in ("bars_1m", *compaction.ROLLUP_BUCKETS):
        folder = Path(written_url(curated.as_posix(), "copy", table, date))
        folder.mkdir(parents=True)
        copies[table] = folder / "part-0.parquet"
        with duckdb.connect() as connection:
            connection.execute(f"COPY (SELECT * FROM read_parquet('{duck_out}/{table}/dt={date}/*.parquet')) "
                               f"TO '{copies[table]}' (FORMAT PARQUET)")
        manifest = Path(manifest_url(curated.as_posix(), table, date))
        manifest.parent.mkdir(parents=True)
        manifest.write_bytes(render_manifest([copies[table].as_posix()]))
    return copies


def test_the_compaction_benchmark_stops_when_the_engines_disagree_on_a_bar(tmp_path: Path) -> None:
    # GIVEN DuckDB's bars of a raw hour, and the same bars published the way the job publishes
    compaction.write_day(tmp_path / "raw", 0, symbols=2, every_s=60, rng=random.Random(3), hours=range(13, 14))
    compaction._duckdb_once(tmp_path / "raw", tmp_path / "duck")
    copies = _published_copy(tmp_path / "duck", tmp_path / "curated", "2023-08-24")
    # THEN they agree, bar for bar: 2 symbols x 60 minutes, 12 five-minute bars each, 1 hour, 1 day
    assert compaction.same_bars(tmp_path / "curated", tmp_path / "duck", "2023-08-24") == 2 * (60 + 12 + 1 + 1)
    # WHEN one published 5-minute bar closes a cent higher
    with duckdb.connect() as connection:
        connection.execute(f"COPY (SELECT * REPLACE (CASE WHEN row_number() OVER () = 7 THEN close + 0.01 "
                           f"ELSE close END AS close) FROM read_parquet('{copies['bars_5m']}')) "
                           f"TO '{tmp_path / 'changed.parquet'}' (FORMAT PARQUET)")
    (tmp_path / "changed.parquet").replace(copies["bars_5m"])
    # THEN the benchmark refuses to compare their times, and says where
    with pytest.raises(RuntimeError, match="bars_5m of 2023-08-24: 1 of Spark's bars are not DuckDB's, 1 of DuckDB's"):
        compaction.same_bars(tmp_path / "curated", tmp_path / "duck", "2023-08-24")
    # AND WHEN the job published no daily bars at all, THEN that is a disagreement too
    _published_copy(tmp_path / "duck", tmp_path / "again", "2023-08-24")
    Path(manifest_url((tmp_path / "again").as_posix(), "bars_1d", "2023-08-24")).unlink()
    with pytest.raises(RuntimeError, match="bars_1d of 2023-08-24: 0 of Spark's bars are not DuckDB's, 2 of DuckDB's"):
        compaction.same_bars(tmp_path / "again", tmp_path / "duck", "2023-08-24")


@pytest.mark.spark
def test_the_quality_benchmark_runs_tiny_and_both_engines_find_the_same_failures(spark: Any) -> None:
    # (quality.run raises unless DuckDB's SQL failed each rule on exactly the rows the job did)
    (measurement,) = quality.run(tiny=True, spark=spark)
    _sane([measurement])
    assert measurement.baseline and "failures" in measurement.metric


@pytest.mark.spark
def test_the_freshness_benchmark_runs_tiny_through_the_local_stack(spark: Any) -> None:
    measurements = freshness.run(tiny=True, spark=spark)
    _sane(measurements)
    live_p95 = measurements[1]
    assert "quotes" in live_p95.metric and not live_p95.metric.startswith("receive→live p95 s (0 ")
