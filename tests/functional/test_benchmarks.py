"""`make bench` keeps working: every benchmark runs here at a tiny scale (figures reported, no targets
asserted: timings are not tests)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import pytest

from benchmarks import compaction, freshness, quality
from benchmarks.__main__ import REGISTRY, main
from benchmarks.report import Measurement

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
