"""The demo pipeline end to end on the bundled feed, checked against an independent reading of the recording.

The recording is read here with the standard library only, not with the project's parsing, so that a
shared mistake cannot hide; the bars expected of its events are the definition's (ohlcv_core.bars), which
compaction, the live view and the benchmarks are each checked against.
"""

from __future__ import annotations

import base64
import gzip
import json
import math
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from feeds import DEMO_FEED
from glue_jobs.evaluate import load_ruleset
from lake_sql.athena import LocalAthena
from local_stack.cloudwatch import log_entries
from local_stack.s3 import LocalS3
from ohlcv_cli.demo import DemoResult, format_report, run_demo
from ohlcv_core.bars import bar_tables
from ohlcv_core.schema import BAR_TABLES
from stack_tools.queries import named_query
from stack_tools.template import StackTemplate
from tests.curated import published_rows


def _recording_frames() -> list[str]:
    lines = gzip.decompress(DEMO_FEED.read_bytes()).decode().splitlines()
    return [e["frame"] for e in map(json.loads, lines[1:]) if e["type"] == "ws" and e["dir"] == "in"]


def _recorded_rest() -> dict[str, dict[str, Any]]:
    lines = gzip.decompress(DEMO_FEED.read_bytes()).decode().splitlines()
    return {e["params"]["symbol"]: json.loads(e["body"]) for e in map(json.loads, lines[1:]) if e["type"] == "rest"}


def _valid_price(frame: str) -> dict[str, Any] | None:
    try:
        obj = json.loads(frame)
    except json.JSONDecodeError:
        return None
    price = obj.get("price")
    if obj.get("event") != "price" or isinstance(price, bool) or not isinstance(price, int | float):
        return None
    return obj if math.isfinite(price) and price > 0 else None


def _as_record(event: dict[str, Any]) -> dict[str, Any]:
    """A recorded price event as the raw zone's record, its key its content."""
    return {"symbol": event["symbol"], "exchange": event.get("exchange"), "event_time_ms": event["timestamp"] * 1000,
            "price": event["price"], "day_volume": event.get("day_volume"),
            "idempotency_key": json.dumps(event, sort_keys=True), "received_at_ms": 0, "arrival_ms": 0,
            "source": "recording"}


def _rest_records() -> list[dict[str, Any]]:
    """The recorded REST bars as the raw zone's records: each datetime in its exchange's zone."""
    records = []
    for symbol, response in _recorded_rest().items():
        meta = response["meta"]
        for values in response["values"]:
            start = datetime.strptime(values["datetime"], "%Y-%m-%d %H:%M:%S").replace(
                tzinfo=ZoneInfo(meta.get("exchange_timezone") or "UTC"))
            records.append({"symbol": symbol, "exchange": meta.get("exchange"), "interval": meta["interval"],
                            "event_time_ms": int(start.timestamp() * 1000),
                            **{k: float(values[k]) for k in ("open", "high", "low", "close")},
                            "volume": float(values["volume"]) if "volume" in values else None,
                            "idempotency_key": f"{symbol} {values['datetime']}", "received_at_ms": 0,
                            "arrival_ms": 0, "source": "recording"})
    return records


def _expected_with_rest() -> dict[tuple[str, datetime], dict[str, Any]]:
    """The recording's 1-minute bars by the definition (ohlcv_core.bars), read from the file here: the
    published REST minutes the demo loads replace the tick bars of theirs (tick counts kept)."""
    events = [_as_record(e) for e in map(_valid_price, _recording_frames()) if e]
    bars = bar_tables(events, _rest_records())["bars_1m"]
    return {(b.symbol, datetime.fromtimestamp(b.start_ms / 1000, tz=UTC)):
            {"open": b.open, "high": b.high, "low": b.low, "close": b.close, "volume": b.volume,
             "tick_count": b.tick_count} for b in bars}


@pytest.fixture(scope="module")
def demo(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    return run_demo(DEMO_FEED, tmp_path_factory.mktemp("lake"), spark=lambda: spark, speed=0)


def _json_lines(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for path in sorted(folder.rglob("*")) if path.is_file()
            for line in path.read_text().splitlines()]


def test_every_price_event_lands_in_the_raw_zone_exactly_once(demo: DemoResult) -> None:
    expected = [e for e in map(_valid_price, _recording_frames()) if e]
    raw = _json_lines(demo.zones.raw / "kind=price")
    identity = Counter((r["symbol"], r["event_time_ms"], r["price"], r["day_volume"], r["bid"], r["ask"]) for r in raw)
    assert identity == Counter((e["symbol"], e["timestamp"] * 1000, e["price"], e.get("day_volume"), e.get("bid"),
                                e.get("ask")) for e in expected)
    assert len({r["idempotency_key"] for r in raw}) == len(raw) == len(expected)
    # partitions are the events' own UTC hours
    for path in (demo.zones.raw / "kind=price").rglob("*"):
        if path.is_file():
            hour = path.parent.name.removeprefix("hour=")
            for line in path.read_text().splitlines():
                assert datetime.fromtimestamp(json.loads(line)["event_time_ms"] / 1000, tz=UTC).strftime("%H") == hour


def test_curated_bars_equal_an_independent_computation(demo: DemoResult) -> None:
    expected = _expected_with_rest()
    rows = published_rows(demo.zones.curated)
    got = {(r["symbol"], r["bar_start"]): {k: r[k] for k in ("open", "high", "low", "close", "volume", "tick_count")}
           for r in rows}
    assert got == expected
    assert len(rows) == len(got) == 90


def test_aapl_bars_are_the_real_published_bars(demo: DemoResult) -> None:
    real = {datetime.strptime(v["datetime"], "%Y-%m-%d %H:%M:%S"): v for v in _recorded_rest()["AAPL"]["values"]}
    rows = sorted((r for r in published_rows(demo.zones.curated) if r["symbol"] == "AAPL"),
                  key=lambda r: r["bar_start"])
    assert rows and demo.rest_bars["AAPL"] == len(rows)
    for row in rows:  # the first minute included: its volume is the published one, not the stream's
        bar = real[row["bar_start"].astimezone(ZoneInfo("America/New_York")).replace(tzinfo=None)]
        assert (row["open"], row["high"], row["low"], row["close"], row["volume"]) == tuple(
            float(bar[k]) for k in ("open", "high", "low", "close", "volume"))
        assert (row["source"], row["final"]) == ("rest", True)


def test_malformed_frames_are_kept_under_the_error_prefix_with_their_reasons(demo: DemoResult) -> None:
    malformed = [f for f in _recording_frames() if _valid_price(f) is None and '"event":"price"' in f]
    assert len(malformed) == 2
    errors = _json_lines(demo.zones.errors)
    # the envelope: a JSON header line, then the frame exactly as received
    payloads = sorted(base64.b64decode(e["rawData"]).partition(b"\n")[2].decode() for e in errors)
    assert payloads == sorted(malformed)
    reasons = {r.payload: (r.symbol, r.reason_code) for r in demo.rejected}
    assert sorted(reasons.values()) == [("BTC/USD", "not_json"), ("MSFT", "invalid_price")]
    assert all(r.object_path.is_relative_to(demo.zones.errors) for r in demo.rejected)


def test_nothing_else_is_lost(demo: DemoResult) -> None:
    frames = _recording_frames()
    control = sum(1 for f in frames if _valid_price(f) is None and '"event":"price"' not in f)
    prices = sum(1 for f in frames if _valid_price(f))
    fh = demo.firehose
    assert demo.envelopes_sent == demo.frames_received and demo.records_sent == fh.records_in - demo.rest_records
    assert fh.delivered + fh.dropped + fh.failed == fh.records_in
    # the prices went packed, each broken frame alone: only those two records failed
    assert prices > fh.delivered - demo.rest_records > 0 and fh.failed == 2
    # the stand-in answers the subscription itself; recorded replies to the recorder are not replayed
    assert fh.dropped == 1 and control >= 1


def test_the_summary_names_every_symbol_and_the_zones(demo: DemoResult) -> None:
    report = format_report(demo)
    for symbol in ("AAPL", "MSFT", "EUR/USD", "USD/JPY", "XAU/USD", "BTC/USD"):
        assert f"\n{symbol}" in report
    by_symbol = {s.symbol: s for s in demo.symbols}
    assert by_symbol["MSFT"].rejected == 1 and by_symbol["AAPL"].rejected == 0
    assert by_symbol["AAPL"].last_close == 177.94
    assert by_symbol["EUR/USD"].volume is None
    assert str(demo.zones.raw) in report and str(demo.zones.curated) in report


def test_compaction_triggers_a_quality_run_whose_results_are_queryable(demo: DemoResult) -> None:
    # GIVEN the demo's compaction run succeeded, WHEN its Succeeded event reached the quality trigger
    assert demo.run is not None and demo.quality_run is not None
    assert demo.quality_run.state == "SUCCEEDED" and demo.quality_run.started_on >= (demo.run.completed_on or 0)
    result = demo.quality_run.result
    # THEN the quality job checked the dates the compaction touched, with every rule of the ruleset
    assert result.dates == tuple(demo.run.result.dates) == ("2023-08-24",)
    athena = LocalAthena(StackTemplate(), LocalS3(demo.zones.logs.parent / "s3"))
    outcomes = athena.query(f"SELECT rule, outcome, rows_checked FROM quality_results "
                            f"WHERE run_id = '{demo.quality_run.id}' ORDER BY rule").rows
    assert sorted(rule for rule, _, _ in outcomes) == sorted(r.name for r in load_ruleset().rules)
    # the planted bad frames (MSFT at price 0, a torn BTC/USD frame) were refused by the transform, so no
    # impossible bar reached the curated tables for the quality job to find: every rule passes
    assert {outcome for _, outcome, _ in outcomes} == {"Passed"} and demo.quality_failures == []
    checked = dict((rule, rows) for rule, _, rows in outcomes)
    assert checked["positive_prices"] == checked["high_bounds_bar"] == sum(
        len(published_rows(demo.zones.curated, table)) for table in BAR_TABLES)
    assert min(r["low"] for r in published_rows(demo.zones.curated) if r["symbol"] == "MSFT") > 0
    assert athena.query("SELECT count(*) FROM quality_quarantine WHERE dt = '2023-08-24'").rows == [(0,)]
    report = format_report(demo)
    assert f"quality run {demo.quality_run.id}: SUCCEEDED" in report and "score 1.00" in report


def test_the_intraday_and_daily_queries_equal_the_recordings_bars(demo: DemoResult) -> None:
    # GIVEN the bars computed from the recording without the pipeline (REST minutes over ticks, as above)
    expected = _expected_with_rest()
    athena = LocalAthena(StackTemplate(), LocalS3(demo.zones.logs.parent / "s3"))
    symbols = sorted({symbol for symbol, _ in expected})
    window = {"symbols": ",".join(symbols), "from": "2023-08-24", "to": "2023-08-24"}
    # WHEN the candles and the daily statistics are asked for through sql/queries/
    candles = named_query("intraday_candles")
    rows = athena.query(candles.sql, candles.bind(window)).rows
    # THEN each minute is the recording's, once, compacted
    assert {(r[0], r[1].replace(tzinfo=UTC)): (r[2], r[3], r[4], r[5], r[6]) for r in rows} == {
        key: (b["open"], b["high"], b["low"], b["close"], b["volume"]) for key, b in expected.items()}
    assert len(rows) == len(expected) and {r[-1] for r in rows} == {True}
    stats = named_query("daily_stats")
    daily = {r[0]: r[2:] for r in athena.query(stats.sql, stats.bind(window)).rows}
    for symbol in symbols:
        bars = [b for (s, _), b in sorted(expected.items()) if s == symbol]
        volumes = [b["volume"] for b in bars if b["volume"] is not None]
        assert daily[symbol][0] == len(bars)
        assert daily[symbol][1] == pytest.approx(sum(b["open"] for b in bars) / len(bars), rel=1e-12)
        assert daily[symbol][2] == pytest.approx(sum(b["close"] for b in bars) / len(bars), rel=1e-12)
        assert daily[symbol][3:5] == (max(b["high"] for b in bars), min(b["low"] for b in bars))
        assert daily[symbol][5] == (sum(volumes) if volumes else None)


def test_one_filter_finds_the_log_lines_of_every_unit_by_a_field(demo: DemoResult) -> None:
    # Logs Insights over the stack's log groups, locally: JSON lines with the Lambdas' keys everywhere
    lines = log_entries(demo.zones.logs, {"level": "INFO"})
    services = {line["service"] for line in lines}
    assert {"producer", "firehose_transform", "compaction_trigger", "quality_trigger", "compaction",
            "quality"} <= services, services
    assert all({"level", "location", "message", "timestamp", "service"} <= set(line) for line in lines)
    started = log_entries(demo.zones.logs, {"service": "compaction", "level": "INFO"})
    assert any(line["message"].startswith("compaction finished") for line in started)
