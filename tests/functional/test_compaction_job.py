"""The compaction job on the shared local Spark session, driven through Glue-style arguments."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pyarrow.parquet as pq
import pytest

from glue_jobs.compact_bars import main, ordered_events
from ohlcv_core.bars import volume_increment
from ohlcv_core.envelope import encode_envelope
from ohlcv_core.normalize import Accepted, normalize

pytestmark = pytest.mark.spark

T0 = 1692888600  # 2023-08-24 14:50:00 UTC


def _record(symbol: str, ts: int, price: float, day_volume: int | None = None, received_ms: int = 0) -> bytes:
    frame: dict[str, Any] = {"event": "price", "symbol": symbol, "timestamp": ts, "price": price}
    if day_volume is not None:
        frame["day_volume"] = day_volume
    outcome = normalize(encode_envelope(orjson.dumps(frame).decode(), received_ms or ts * 1000 + 100,
                                        "twelvedata.ws"), ts * 1000 + 500)
    assert isinstance(outcome, Accepted)
    return outcome.to_json_lines()


def _write_raw(raw: Path, hour: str, name: str, lines: list[bytes], dt: str = "2023-08-24") -> None:
    folder = raw / f"dt={dt}" / f"hour={hour}"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(b"".join(lines))


def _bars(curated: Path, table: str = "bars_1m") -> list[dict[str, Any]]:
    rows = pq.read_table(curated / table).to_pylist()
    return sorted(rows, key=lambda r: (r["symbol"], r["bar_start"]))


def _args(raw: Path, curated: Path, dates: str = "2023-08-24") -> list[str]:
    return ["--JOB_NAME", "compact", "--raw_location", f"{raw}/", "--curated_location", f"{curated}/",
            "--dates", dates, "--enable-metrics", "true"]


def test_duplicates_collapse_and_bars_follow_event_time(spark: Any, tmp_path: Path) -> None:
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    # GIVEN two objects; the second re-sends two events (a reconnect replay) and brings one late event
    _write_raw(raw, "14", "a", [_record("AAPL", T0 + 1, 100.0, 1000), _record("AAPL", T0 + 20, 101.0, 1500),
                                _record("AAPL", T0 + 59, 99.5, 1700), _record("EUR/USD", T0 + 3, 1.08)])
    _write_raw(raw, "14", "b", [_record("AAPL", T0 + 20, 101.0, 1500, received_ms=T0 * 1000 + 90_000),
                                _record("AAPL", T0 + 59, 99.5, 1700, received_ms=T0 * 1000 + 90_000),
                                _record("AAPL", T0 + 10, 102.0, 1200),  # late: arrives after later ticks
                                _record("AAPL", T0 + 61, 100.5, 2000)])
    result = main(_args(raw, curated), spark=spark)
    assert (result.rows_in, result.duplicates_removed, result.bars_out["bars_1m"]) == (8, 2, 3)
    bars = _bars(curated)
    aapl = [b for b in bars if b["symbol"] == "AAPL"]
    assert [(b["open"], b["high"], b["low"], b["close"], b["volume"], b["tick_count"]) for b in aapl] == [
        (100.0, 102.0, 99.5, 99.5, 700, 4),  # first tick has no baseline: 200 + 300 + 200
        (100.5, 100.5, 100.5, 100.5, 300, 1),
    ]
    (eur,) = [b for b in bars if b["symbol"] == "EUR/USD"]
    assert eur["volume"] is None and eur["source"] == "ticks"
    assert {str(b["dt"]) for b in bars} == {"2023-08-24"}


def test_rerunning_gives_identical_output(spark: Any, tmp_path: Path) -> None:
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    _write_raw(raw, "14", "a", [_record("MSFT", T0 + s, 300 + s / 10, 10_000 + s * 7) for s in range(0, 180, 3)])
    main(_args(raw, curated), spark=spark)
    first = _bars(curated)
    main(_args(raw, curated), spark=spark)
    assert _bars(curated) == first
    assert len(first) == 3


def test_only_the_named_dates_are_rewritten(spark: Any, tmp_path: Path) -> None:
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    day2 = T0 + 86_400
    _write_raw(raw, "14", "a", [_record("AAPL", T0, 100.0, 5)])
    _write_raw(raw, "14", "b", [_record("AAPL", day2, 110.0, 5)], dt="2023-08-25")
    main(_args(raw, curated, "2023-08-24,2023-08-25"), spark=spark)
    kept = (curated / "bars_1m" / "dt=2023-08-24").stat().st_mtime_ns
    _write_raw(raw, "15", "c", [_record("AAPL", day2 + 3600, 111.0, 9)], dt="2023-08-25")
    main(_args(raw, curated, "2023-08-25"), spark=spark)
    assert (curated / "bars_1m" / "dt=2023-08-24").stat().st_mtime_ns == kept
    assert [b["close"] for b in _bars(curated)] == [100.0, 110.0, 111.0]


@pytest.mark.parametrize("series", [[100, 150, 150, 40, 90], [None, None], [5, None, 7]])
def test_spark_volume_increments_follow_the_core_rule(spark: Any, series: list[int | None]) -> None:
    rows = [("AAPL", i * 1000, v, 1.0, f"k{i}", i, i, "twelvedata.ws") for i, v in enumerate(series)]
    frame = spark.createDataFrame(rows, "symbol string, event_time_ms bigint, day_volume bigint, price double, "
                                        "idempotency_key string, received_at_ms bigint, arrival_ms bigint, "
                                        "source string")
    got = [r["volume_increment"] for r in ordered_events(frame).orderBy("event_time_ms").collect()]
    expected = [volume_increment(series[i - 1] if i else None, v) for i, v in enumerate(series)]
    assert got == expected


def test_copies_are_marked_and_leave_the_increments_of_the_deduplicated_series(spark: Any) -> None:
    # GIVEN the second event received twice (the copy later), then a third event
    rows = [("AAPL", 0, 100, 1.0, "a", 1, 1, "ws"), ("AAPL", 1000, 150, 1.0, "b", 2, 2, "ws"),
            ("AAPL", 1000, 150, 1.0, "b", 9, 9, "ws"), ("AAPL", 2000, 170, 1.0, "c", 3, 3, "ws")]
    frame = spark.createDataFrame(rows, "symbol string, event_time_ms bigint, day_volume bigint, price double, "
                                        "idempotency_key string, received_at_ms bigint, arrival_ms bigint, "
                                        "source string")
    got = [(r["idempotency_key"], r["received_at_ms"], r["_dup"], r["volume_increment"])
           for r in ordered_events(frame).orderBy("event_time_ms", "received_at_ms").collect()]
    # THEN the copy received later is the one marked, and "c" counts 20 whether or not the copy is there
    assert got == [("a", 1, False, None), ("b", 2, False, 50), ("b", 9, True, 0), ("c", 3, False, 20)]


def test_the_day_before_gives_the_baseline_and_the_daily_reset_counts_whole(spark: Any, tmp_path: Path) -> None:
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    close_d = 1692907190  # 2023-08-24 19:59:50 UTC, the last tick of the trading day
    open_d1 = 1692970205  # 2023-08-25 13:30:05 UTC, the first of the next: day_volume starts again
    _write_raw(raw, "19", "a", [_record("AAPL", close_d - 40, 177.0, 53_990_000),
                                _record("AAPL", close_d, 177.5, 54_000_000)])
    _write_raw(raw, "13", "b", [_record("AAPL", open_d1, 178.0, 120_000),
                                _record("AAPL", open_d1 + 35, 178.5, 150_000)], dt="2023-08-25")
    result = main(_args(raw, curated, "2023-08-25"), spark=spark)
    assert result.rows_in == 2  # the day before is read for its baseline only
    (bar,) = _bars(curated)
    assert str(bar["dt"]) == "2023-08-25" and bar["volume"] == 150_000 and bar["tick_count"] == 2
    assert not (curated / "bars_1m" / "dt=2023-08-24").exists()
