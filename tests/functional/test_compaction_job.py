"""The compaction job on the shared local Spark session, driven through Glue-style arguments."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import boto3
import orjson
import pyarrow.parquet as pq
import pytest
from moto import mock_aws

from glue_jobs.compact_bars import main, ordered_events
from ohlcv_core.bars import volume_increment
from ohlcv_core.envelope import encode_envelope
from ohlcv_core.normalize import Accepted, normalize
from tests.curated import published_files, published_rows
from tests.job_arguments import template_defaults

T0 = 1692888600  # 2023-08-24 14:50:00 UTC


def _record(symbol: str, ts: int, price: float, day_volume: int | None = None, *, received_ms: int = 0,
            exchange: str | None = None) -> bytes:
    frame: dict[str, Any] = {"event": "price", "symbol": symbol, "timestamp": ts, "price": price}
    if exchange is not None:
        frame["exchange"] = exchange
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
    return published_rows(curated, table)


def _args(raw: Path, curated: Path, dates: str = "2023-08-24") -> list[str]:
    return [*template_defaults(), "--JOB_NAME", "compact", "--raw_location", f"{raw}/",
            "--curated_location", f"{curated}/", "--dates", dates, "--enable-metrics", "true"]


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
    manifest = curated / "bars_1m" / "dt=2023-08-24" / "symlink.txt"
    kept = (manifest.read_bytes(), manifest.stat().st_mtime_ns)
    _write_raw(raw, "15", "c", [_record("AAPL", day2 + 3600, 111.0, 9)], dt="2023-08-25")
    main(_args(raw, curated, "2023-08-25"), spark=spark)
    assert (manifest.read_bytes(), manifest.stat().st_mtime_ns) == kept
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
    got = sorted((r["idempotency_key"], r["_dup"], r["volume_increment"]) for r in ordered_events(frame).collect())
    # THEN one of the two copies is marked (they differ only in when they were received, which no bar uses),
    # and "c" counts 20 whether or not the copy is there
    assert got == [("a", False, None), ("b", False, 50), ("b", True, 0), ("c", False, 20)]


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


# What the test knows of each symbol's trading day, written out here rather than taken from the job's tables.
ZONES = {"AAPL": "America/New_York", "7203": "Asia/Tokyo", "EUR/USD": "UTC"}
D24 = 1692835200  # 2023-08-24 00:00 UTC


def _rollup(minutes: list[dict[str, Any]], bucket: Callable[[dict[str, Any]], tuple[datetime, str]]
            ) -> list[dict[str, Any]]:
    """Bars of the 1-minute bars, by plain Python: open/close first/last by time, sums, sources agreeing."""
    groups: dict[tuple[str, datetime, str], list[dict[str, Any]]] = {}
    for minute in sorted(minutes, key=lambda m: m["bar_start"]):
        groups.setdefault((minute["symbol"], *bucket(minute)), []).append(minute)
    out = []
    for (symbol, start, dt), group in groups.items():
        volumes = [m["volume"] for m in group if m["volume"] is not None]
        sources = {m["source"] for m in group}
        out.append({"symbol": symbol, "bar_start": start, "dt": dt, "open": group[0]["open"],
                    "high": max(m["high"] for m in group), "low": min(m["low"] for m in group),
                    "close": group[-1]["close"], "volume": sum(volumes) if volumes else None,
                    "tick_count": sum(m["tick_count"] for m in group),
                    "source": sources.pop() if len(sources) == 1 else "mixed",
                    "final": all(m["final"] for m in group)})
    return sorted(out, key=lambda r: (r["symbol"], r["bar_start"]))


def _utc_bucket(seconds: int) -> Callable[[dict[str, Any]], tuple[datetime, str]]:
    def bucket(minute: dict[str, Any]) -> tuple[datetime, str]:
        at = minute["bar_start"].astimezone(UTC)
        start = datetime.fromtimestamp(int(at.timestamp()) // seconds * seconds, UTC)
        return start, at.strftime("%Y-%m-%d")
    return bucket


def _trading_day(minute: dict[str, Any]) -> tuple[datetime, str]:
    zone = ZoneInfo(ZONES[minute["symbol"]])
    day = minute["bar_start"].astimezone(zone).date()
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC), day.isoformat()


def _table(curated: Path, table: str) -> list[dict[str, Any]]:
    return [{**{k: r[k] for k in ("symbol", "open", "high", "low", "close", "volume", "tick_count", "source",
                                  "final")}, "bar_start": r["bar_start"].astimezone(UTC), "dt": str(r["dt"])}
            for r in _bars(curated, table)]


@pytest.mark.parametrize("order", [("2023-08-23", "2023-08-24", "2023-08-25"),
                                   ("2023-08-25", "2023-08-24", "2023-08-23")])
def test_rollups_equal_a_plain_rollup_of_the_minutes_with_trading_days_across_utc_dates(
        spark: Any, tmp_path: Path, order: tuple[str, ...]) -> None:
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    # GIVEN a New York stock trading into its evening (its 24 August runs past UTC midnight), a Tokyo stock
    # whose 24 August starts on UTC's 23rd and whose 25th lies wholly in UTC's 24th, and EUR/USD (UTC days)
    midnight = D24 + 86_400
    events: list[tuple[str, int, float, str | None]]
    events = [("AAPL", t, 170 + (t // 7) % 13 / 4, "NASDAQ") for t in range(midnight - 5400, midnight + 5400, 37)]
    events += [("7203", t, 2500 + (t // 11) % 17, "JPX") for t in range(D24 - 3600, D24 + 1800, 41)]
    events += [("7203", t, 2500 + (t // 11) % 17, "JPX") for t in range(D24 + 50_400, D24 + 59_400, 41)]
    events += [("EUR/USD", t, 1.08 + (t // 13) % 7 / 1e4, None) for t in range(midnight - 3600, midnight + 3600, 53)]
    by_hour: dict[tuple[str, str], list[bytes]] = {}
    for n, (symbol, t, price, exchange) in enumerate(events):
        at = datetime.fromtimestamp(t, UTC)
        by_hour.setdefault((at.strftime("%Y-%m-%d"), at.strftime("%H")), []).append(
            _record(symbol, t, price, None if symbol == "EUR/USD" else 1_000_000 + n * 10, exchange=exchange))
    for (dt, hour), lines in by_hour.items():
        _write_raw(raw, hour, "part", lines, dt=dt)
    # WHEN each UTC date is compacted by its own run
    for dt in order:
        main(_args(raw, curated, dt), spark=spark)
    # THEN every rollup equals the plain one of the 1-minute table: whole trading days, in each venue's zone
    minutes = _table(curated, "bars_1m")
    assert len(minutes) == len({(e[0], e[1] // 60) for e in events})
    assert _table(curated, "bars_5m") == _rollup(minutes, _utc_bucket(300))
    assert _table(curated, "bars_1h") == _rollup(minutes, _utc_bucket(3600))
    daily = _table(curated, "bars_1d")
    assert daily == _rollup(minutes, _trading_day)
    assert [(d["symbol"], d["dt"]) for d in daily] == [
        ("7203", "2023-08-24"), ("7203", "2023-08-25"), ("AAPL", "2023-08-24"),
        ("EUR/USD", "2023-08-24"), ("EUR/USD", "2023-08-25")]


def test_a_run_with_nothing_to_compact_finishes_and_says_so(spark: Any, tmp_path: Path) -> None:
    # GIVEN a date the raw zone holds nothing for (every table's counts are observed while Spark writes:
    # an empty input must report zeros, not leave the run waiting for metrics that never come)
    (tmp_path / "raw").mkdir()
    with mock_aws():  # AND the stack's arguments that publish the run's figures (moto's CloudWatch)
        cloudwatch = boto3.client("cloudwatch", region_name="us-east-1")
        result = main([*_args(tmp_path / "raw", tmp_path / "curated"), "--publish_metrics", "true",
                       "--metrics_namespace", "Mine"], spark=spark, cloudwatch=cloudwatch)
        published = {(m["MetricName"], m["Dimensions"][0]["Value"])
                     for m in cloudwatch.list_metrics(Namespace="Mine")["Metrics"]}
    assert ("BarsPublished", "compaction") in published and ("RunSeconds", "compaction") in published
    assert (result.objects_in, result.rows_in, result.rest_bars_in) == (0, 0, 0)
    assert result.bars_out == {"bars_1m": 0, "bars_5m": 0, "bars_1h": 0, "bars_1d": 0}
    assert not (tmp_path / "curated" / "bars_1m").exists()  # no partition made, not even an empty one


def test_files_are_sized_and_sorted_so_a_reader_of_one_symbol_skips_the_rest(spark: Any, tmp_path: Path) -> None:
    # GIVEN an hour of 40 symbols (2,400 one-minute bars), files of about 1,000 bars, row groups of 10 KB
    raw, curated = tmp_path / "raw", tmp_path / "curated"
    symbols = [f"S{n:02d}" for n in range(40)]
    _write_raw(raw, "14", "a", [_record(symbol, T0 - 600 + m * 60 + n % 50, 100 + n + m / 100, 1_000 + m)
                                for n, symbol in enumerate(symbols) for m in range(60)])
    main([*_args(raw, curated), "--target_file_mb", "0.06", "--row_group_mb", "0.01"], spark=spark)
    (files,) = published_files(curated, "bars_1m").values()
    # THEN the partition is several files of at most the target, which read in order are sorted by symbol, time
    tables = [pq.read_table(f) for f in sorted(files)]
    assert len(tables) == 3 and all(t.num_rows <= 1000 for t in tables)
    rows = [(r["symbol"], r["bar_start"]) for t in tables for r in t.select(["symbol", "bar_start"]).to_pylist()]
    assert rows == sorted(rows) and len(rows) == 2400
    # AND a reader of one symbol, by the files' and row groups' statistics, reads a small share of them
    groups = [pq.ParquetFile(f).metadata.row_group(g) for f in sorted(files)
              for g in range(pq.ParquetFile(f).metadata.num_row_groups)]
    ranges = [(g.column(0).statistics.min, g.column(0).statistics.max) for g in groups]
    assert len(groups) >= 6
    for symbol in symbols:
        assert sum(low <= symbol <= high for low, high in ranges) <= 2, symbol
