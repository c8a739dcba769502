"""bars_1d a year a partition: a lake of the earlier layout (a partition a trading day) is folded into years
by the next compaction run, whole, with nothing lost even if that run dies half way."""

from __future__ import annotations

from datetime import UTC, date, timedelta
from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from glue_jobs.compact_bars import main
from glue_jobs.publish import CrashInjected
from ohlcv_core.envelope import encode_envelope
from ohlcv_core.normalize import Accepted, normalize
from tests.curated import publish_earlier_daily_layout, published_files, published_rows
from tests.job_arguments import template_defaults

FIRST = date(2022, 12, 27)  # the earlier layout's days: 2022's last week and 2023's first
DAYS = [FIRST + timedelta(days=k) for k in range(10)]
LIVE = "2023-08-24"  # a day the run compacts from raw ticks
T0 = 1692888600  # 2023-08-24 14:50:00 UTC


def _live_ticks(raw: Path) -> None:
    folder = raw / f"dt={LIVE}" / "hour=14"
    folder.mkdir(parents=True)
    lines = []
    for k in range(5):
        frame = {"event": "price", "symbol": "AAPL", "exchange": "NASDAQ", "timestamp": T0 + 7 * k,
                 "price": 170.0 + k, "day_volume": 1000 + 10 * k}
        outcome = normalize(encode_envelope(orjson.dumps(frame).decode(), (T0 + 7 * k) * 1000 + 100, "twelvedata.ws"),
                            (T0 + 7 * k) * 1000 + 500)
        assert isinstance(outcome, Accepted)
        lines.append(outcome.to_json_lines())
    (folder / "part").write_bytes(b"".join(lines))


def _args(raw: Path, curated: Path, *extra: str) -> list[str]:
    return [*template_defaults(), "--JOB_NAME", "compact", "--raw_location", f"{raw}/",
            "--curated_location", f"{curated}/", "--dates", LIVE, "--keep_superseded_s", "0", *extra]


def _values(rows: list[dict[str, Any]]) -> list[tuple[Any, ...]]:
    return sorted((r["symbol"], r["dt"], r["bar_start"].astimezone(UTC), r["close"], r["source"]) for r in rows)


def test_the_next_run_folds_the_earlier_days_into_their_years_and_retires_them(spark: Any, tmp_path: Path) -> None:
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    earlier = publish_earlier_daily_layout(curated, DAYS)
    _live_ticks(raw)
    # WHEN the next compaction run takes a live day
    result = main(_args(raw, curated), spark=spark)
    # THEN bars_1d is two years' partitions, a file each, holding every earlier day and the live one
    assert {part: len(files) for part, files in published_files(curated, "bars_1d").items()} == {
        "year=2022": 1, "year=2023": 1}
    daily = published_rows(curated, "bars_1d")
    assert _values([r for r in daily if r["dt"] != LIVE]) == _values(earlier)
    (live,) = [r for r in daily if r["dt"] == LIVE]
    assert (live["symbol"], live["open"], live["close"], live["tick_count"]) == ("AAPL", 170.0, 174.0, 5)
    assert result.bars_out["bars_1d"] == 1  # the bars of the trading days it rebuilt (23rd to 25th): one
    # AND the day partitions are gone, manifests and files (no grace asked): nothing of them is left to read
    assert not _day_partitions(curated)
    assert not list((curated / "data" / "run=earlier").rglob("*.parquet"))
    # AND a rerun changes nothing
    main(_args(raw, curated), spark=spark)
    assert _values(published_rows(curated, "bars_1d")) == _values(daily)


@pytest.mark.parametrize("crash_at", ["staged", "publishing", "rollups", "retiring"])
def test_a_run_that_dies_while_folding_loses_no_day(spark: Any, tmp_path: Path, crash_at: str) -> None:
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    earlier = publish_earlier_daily_layout(curated, DAYS)
    _live_ticks(raw)
    with pytest.raises(CrashInjected):
        main(_args(raw, curated, "--crash_at", crash_at), spark=spark)
    # THEN every earlier day is still readable: in its day partition, or already in its year
    readable = [*published_rows(curated, "bars_1d"),
                *[{**row, "dt": part.removeprefix("dt=")} for part, files in _day_partitions(curated).items()
                  for file in files for row in pq.read_table(file).to_pylist()]]
    assert {(r["symbol"], r["dt"]) for r in earlier} <= {(r["symbol"], r["dt"]) for r in readable}
    # AND the next run finishes the fold
    main(_args(raw, curated), spark=spark)
    assert not _day_partitions(curated)
    assert _values([r for r in published_rows(curated, "bars_1d") if r["dt"] != LIVE]) == _values(earlier)


def _day_partitions(curated: Path) -> dict[str, list[str]]:
    """bars_1d's partitions of the earlier layout still published: dt=<day> -> its files."""
    return published_files(curated, "bars_1d", key="dt")
