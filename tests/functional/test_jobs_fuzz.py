"""The Glue jobs fuzzed: generated raw zones of unusual instruments, zones, dates and values
(tests/fuzz_lake.py) go through the transform's `normalize`, then compaction and quality run over them
as Glue runs them (`main` with the template's arguments). No input the transform accepts may make either
job fail, and nothing it accepted may go missing: each minute with a tick has its bar, each REST bar is
in its table or withheld with its reason. And every bar compaction publishes is the definition's
(ohlcv_core.bars) over the same records, value for value.

`FUZZ_SEEDS` (comma-separated) runs other seeds: a failing seed is a reproducible case."""

from __future__ import annotations

import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from glue_jobs import check_quality, compact_bars
from glue_jobs.evaluate import load_ruleset
from ohlcv_core.bars import OFFICIAL, bar_tables
from tests.bars import as_bar, differences
from tests.curated import published_rows
from tests.fuzz_lake import FuzzCase, fuzz_case, write_raw
from tests.job_arguments import template_defaults

INTERVALS = {"bars_1m": "1min", **{table: interval for table, (interval, _) in OFFICIAL.items()}}
SEEDS = [int(seed) for seed in os.environ.get("FUZZ_SEEDS", "1,2").split(",") if seed.strip()]


def _starts(rows: list[dict[str, Any]], table: str | None = None) -> set[tuple[str, int]]:
    return {(r["symbol"], int(r["bar_start"].timestamp() * 1000)) for r in rows
            if table is None or r["table_name"] == table}


def _describe(case: FuzzCase) -> str:
    return f"seed {case.seed}, dates {case.dates}: " + "; ".join(
        f"{p.symbol} exchange={p.exchange!r} zone={p.zone} scale={p.scale:g} volume={p.volume} {p.shape}"
        for p in case.profiles)


@pytest.mark.parametrize("seed", SEEDS)
def test_no_input_the_transform_accepts_makes_compaction_or_quality_fail(spark: Any, tmp_path: Path,
                                                                          seed: int) -> None:
    # GIVEN a generated raw zone: what the transform accepted of a case's records, filed as Firehose files it
    case = fuzz_case(seed)
    raw, curated, quality = tmp_path / "raw", tmp_path / "curated", tmp_path / "quality"
    write_raw(case, raw)
    dates = ",".join(case.dates)
    said = _describe(case)
    # WHEN compaction and then quality run over its dates, as Glue runs them
    compact_bars.main([*template_defaults(), "--JOB_NAME", "compact", "--raw_location",
                                   f"{raw}/kind=price/", "--raw_bars_location", f"{raw}/kind=bar/",
                                   "--curated_location", f"{curated}/", "--dates", dates], spark=spark)
    checked = check_quality.main([*template_defaults("QualityJob"), "--JOB_NAME", "quality", "--curated_location",
                                  f"{curated}/", "--quality_location", f"{quality}/", "--raw_location",
                                  f"{raw}/kind=price/", "--dates", dates,
                                  "--now", datetime(2025, 1, 2, tzinfo=UTC).isoformat()], spark=spark)
    # THEN both finished; every rule was judged
    assert checked.rules == len(load_ruleset().rules), said
    # AND nothing accepted went missing: each minute with a tick has its bar; each REST bar of 1min and
    # 1day is in its table or withheld
    minutes = _starts(published_rows(curated, "bars_1m"))
    withheld = published_rows(curated, "withheld_bars")
    assert case.price_minutes() - minutes == set(), said
    assert case.rest_bars("1min") - minutes - _starts(withheld, "bars_1m") == set(), said
    days = _starts(published_rows(curated, "bars_1d"))
    assert case.rest_bars("1day") - days - _starts(withheld, "bars_1d") == set(), said
    # AND each table's bars are the definition's, the withheld REST bars left out of its input
    kept_out = {(r["symbol"], int(r["bar_start"].timestamp() * 1000), INTERVALS[r["table_name"]]) for r in withheld}
    prices = [r for a in case.accepted if a.partition["kind"] == "price" for r in a.records]
    bars: list[dict[str, Any]] = [dict(r) for a in case.accepted if a.partition["kind"] == "bar" for r in a.records]
    rest = [r for r in bars if (r["symbol"], r["event_time_ms"], r["interval"]) not in kept_out]
    # (of the run's dates: a year's partition of daily bars also holds days read for their neighbours)
    for table, expected in bar_tables(prices, rest).items():
        got = [as_bar(row) for row in published_rows(curated, table) if row["dt"] in case.dates]
        wrong = differences([b for b in expected if b.dt in case.dates], got)
        assert not wrong, f"{table}, {said}:\n" + "\n".join(wrong[:20])
