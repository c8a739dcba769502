"""`make bench` keeps working: every benchmark runs here at a tiny scale (figures reported, no targets
asserted: timings are not tests)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from benchmarks import compaction, daily_layout, freshness, quality
from benchmarks.__main__ import REGISTRY, main
from benchmarks.golden import expected as golden_bars
from benchmarks.golden import load
from benchmarks.raw_days import DAYS, date_of, write_named_day
from benchmarks.report import Measurement

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


def _sane(measurements: list[Measurement]) -> None:
    assert measurements
    for m in measurements:
        assert math.isfinite(m.value) and m.value >= 0, m
        assert m.baseline is None or (math.isfinite(m.baseline) and m.baseline > 0), m


def test_the_registry_names_every_benchmark_module() -> None:
    helpers = {"__init__", "__main__", "report", "golden", "raw_days"}  # what the benchmarks share
    modules = {p.stem for p in BENCHMARKS.glob("*.py")} - helpers
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


def test_the_compaction_benchmark_stops_when_an_engines_bars_are_not_the_golden_ones(tmp_path: Path) -> None:
    # GIVEN the DuckDB baseline's bars of the tiny quiet day
    write_named_day("tiny-quiet", tmp_path / "raw")
    compaction._duckdb_once(tmp_path / "raw", tmp_path / "duck")
    values = compaction.baseline_values(tmp_path / "duck", date_of(0))
    golden = load()["tiny-quiet"]
    # THEN they are the golden bars: 2 symbols x 60 minutes, 12 five-minute bars each, 1 hour, 1 day
    assert compaction.check_golden("DuckDB", values, golden, "tiny-quiet") == 2 * (60 + 12 + 1 + 1)
    # WHEN one 5-minute bar closes a cent higher
    bar = values["bars_5m"][6]
    values["bars_5m"][6] = (*bar[:6], bar[6] + 0.01, *bar[7:])
    # THEN the benchmark refuses to compare the engines' times, and says where
    with pytest.raises(RuntimeError, match="DuckDB's bars_5m of the tiny-quiet day is not the golden bars "
                                           r"\(benchmarks/golden.json\): 24 bars against 24, values differ"):
        compaction.check_golden("DuckDB", values, golden, "tiny-quiet")
    # AND WHEN an engine made no daily bars at all, THEN that is a difference too
    values["bars_5m"][6], values["bars_1d"] = bar, []
    with pytest.raises(RuntimeError, match=r"bars_1d of the tiny-quiet day is not the golden .*: 0 bars against 2"):
        compaction.check_golden("Spark", values, golden, "tiny-quiet")


def test_the_golden_days_are_the_definitions_bars(tmp_path: Path) -> None:
    # (the full days take minutes: `python -m benchmarks.golden` writes them; the tiny ones are checked here)
    for name in ("tiny-quiet", "tiny-busy"):
        write_named_day(name, tmp_path / name)
        assert golden_bars(tmp_path / name) == load()[name], "run `python -m benchmarks.golden`"
    assert set(load()) == set(DAYS)


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
