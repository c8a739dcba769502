"""A published bar the ruleset's withhold rules fail is kept out of the curated tables by compaction, the
tick bar of its minute stays, and the quality job lists it in the quarantine as withheld.

The transform refuses such bars at the door (tests/e2e/test_quality_history.py); these reach the raw zone
as a record an older transform let through would, written there directly.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest
from pyspark.sql import DataFrame

from glue_jobs import check_quality, compact_bars
from glue_jobs.compact_bars import CompactionResult
from glue_jobs.evaluate import load_ruleset
from glue_jobs.glue_dq import GlueRuleOutcome
from ohlcv_core.envelope import encode_envelope
from ohlcv_core.normalize import Accepted, normalize
from ohlcv_core.schema import BAR_TABLES
from tests.curated import published_rows
from tests.job_arguments import template_defaults

T0 = 1692888600  # 2023-08-24 14:50:00 UTC, 10:50 in New York
REST = {"meta": {"symbol": "AAPL", "interval": "1min", "currency": "USD", "exchange_timezone": "America/New_York",
                 "exchange": "NASDAQ", "mic_code": "XNGS", "type": "Common Stock"},
        "values": [{"datetime": f"2023-08-24 10:5{m}:00", "open": f"{177 + m}", "high": f"{177.5 + m}",
                    "low": f"{176.5 + m}", "close": f"{177.2 + m}", "volume": f"{1000 + m}"} for m in (2, 1, 0)],
        "status": "ok"}


def _accepted(envelope: bytes, arrival_ms: int) -> list[dict[str, Any]]:
    outcome = normalize(envelope, arrival_ms)
    assert isinstance(outcome, Accepted)
    return [orjson.loads(line) for line in outcome.to_json_lines().splitlines()]


def _raw_zone(raw: Path) -> None:
    ticks = [record for k in range(18) for record in _accepted(encode_envelope(orjson.dumps(
        {"event": "price", "symbol": "AAPL", "exchange": "NASDAQ", "timestamp": T0 + 10 * k,
         "price": 177.0 + k / 10, "day_volume": 5_000 + k}).decode(), (T0 + 10 * k) * 1000, "twelvedata.ws"),
        (T0 + 10 * k) * 1000 + 50)]
    bars = _accepted(encode_envelope(orjson.dumps(REST).decode(), (T0 + 300) * 1000, "twelvedata.rest.time_series",
                                     {"symbol": "AAPL", "interval": "1min"}), (T0 + 300) * 1000)
    impossible = next(b for b in bars if b["bar_datetime"] == "2023-08-24 10:51:00")
    impossible["high"] = impossible["close"] - 1  # below its own close
    for kind, records in (("price", ticks), ("bar", bars)):
        folder = raw / f"kind={kind}" / "dt=2023-08-24" / "hour=14"
        folder.mkdir(parents=True)
        (folder / "part-0").write_bytes(b"".join(orjson.dumps(r, option=orjson.OPT_APPEND_NEWLINE) for r in records))


@pytest.fixture(scope="module")
def compacted(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, CompactionResult]:
    """Three published minutes over the ticks of the same minutes, the middle one impossible, compacted."""
    raw, curated = tmp_path_factory.mktemp("raw"), tmp_path_factory.mktemp("curated")
    _raw_zone(raw)
    result = compact_bars.main([*template_defaults(), "--JOB_NAME", "compact", "--dates", "2023-08-24",
                                "--raw_location", f"{raw}/kind=price/", "--raw_bars_location", f"{raw}/kind=bar/",
                                "--curated_location", f"{curated}/"], spark=spark)
    return raw, curated, result


def test_an_impossible_published_bar_is_withheld_and_the_quarantine_says_so(
        spark: Any, compacted: tuple[Path, Path, CompactionResult]) -> None:
    # GIVEN three published minutes over the ticks of the same minutes, the middle one impossible
    # WHEN compaction runs
    raw, curated, result = compacted
    # THEN the impossible bar is held back with the rule it failed, and its minute keeps the tick bar
    assert result.bars_withheld == 1
    minutes = {r["bar_start"].strftime("%H:%M"): r for r in published_rows(curated)}
    assert {m: r["source"] for m, r in minutes.items()} == {"14:50": "rest", "14:51": "ticks", "14:52": "rest"}
    assert (minutes["14:51"]["open"], minutes["14:51"]["close"]) == (177.6, 178.1)
    (held,) = published_rows(curated, "withheld_bars")
    assert (held["table_name"], held["bar_start"].strftime("%H:%M"), held["rule"]) == (
        "bars_1m", "14:51", "high_bounds_bar")
    assert held["high"] == pytest.approx(177.2)
    # AND the quality job lists it as withheld, failing the rule, while the bars published pass it
    checked = check_quality.main([*template_defaults("QualityJob"), "--curated_location", f"{curated}/",
                                  "--quality_location", f"{curated}/quality/", "--dates", "2023-08-24",
                                  "--raw_location", f"{raw}/kind=price/", "--JOB_RUN_ID", "jr_test"], spark=spark)
    assert checked.withheld == 1 and "high_bounds_bar" in checked.blocking_failed
    quarantined = [r for r in published_rows(curated / "quality", "quarantine") if r["action"] == "withheld"]
    assert [(r["rule"], r["symbol"], r["bar_start"].strftime("%H:%M")) for r in quarantined] == [
        ("high_bounds_bar", "AAPL", "14:51")]
    assert quarantined[0]["reason"].startswith("the high is at least the open and the close")


def test_on_glue_the_outcomes_of_record_are_glue_data_quality_s(
        spark: Any, compacted: tuple[Path, Path, CompactionResult], tmp_path: Path) -> None:
    # GIVEN the same lake, and Glue Data Quality (as EvaluateDataQuality answers) passing every rule but
    # one, which it fails although the job's evaluator passes it
    _, curated, _ = compacted
    ruleset = load_ruleset()
    judged: list[int] = []

    def glue(frame: DataFrame) -> list[GlueRuleOutcome]:
        judged.append(frame.count())
        return [GlueRuleOutcome(rule.text, "Failed" if rule.name in ("high_bounds_bar", "no_spikes") else "Passed",
                                "Glue's reason" if rule.name == "no_spikes" else None) for rule in ruleset.rules]

    metrics: list[str] = []
    # WHEN the job runs with it
    result = check_quality.check(spark, curated_location=f"{curated}/", quality_location=f"{tmp_path}/quality/",
                                 dates=["2023-08-24"], run_id="jr_glue", ruleset=ruleset, glue_dq=glue,
                                 metrics_out=metrics.append)
    # THEN Glue judged the frame the job judged, and its verdicts are the run's
    assert judged == [sum(len(published_rows(curated, t)) for t in BAR_TABLES) + 1]  # the withheld bar too
    assert result.judged_by == "glue" and result.failed == ["high_bounds_bar", "no_spikes"]
    assert [line.split(":")[0] for line in result.disagreements] == ["no_spikes"]
    results = {r["rule"]: r for r in pq.read_table(tmp_path / "quality" / "results").to_pylist()}
    assert {r["judged_by"] for r in results.values()} == {"glue"}
    assert results["no_spikes"]["outcome"] == "Failed"
    assert results["no_spikes"]["message"].startswith("Glue Data Quality: Glue's reason; the job's evaluator: ")
    # AND the disagreement is counted where an alarm can see it
    (job_line,) = [orjson.loads(line) for line in metrics if '"Rule"' not in line]
    assert job_line["EvaluatorDisagreements"] == 1 and job_line["Score"] == 16 / 18
