"""REST time_series: real captures split by the producer's rule and normalized by the transform's."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from ohlcv_core.envelope import decode_envelope, encode_envelope
from ohlcv_core.errors import RecordRejected
from ohlcv_core.normalize import Accepted, Dropped, normalize
from ohlcv_core.timeseries import parse_time_series, split_time_series
from ohlcv_core.window import TimeWindow
from tests.fixtures import load_text

WIDE = TimeWindow(max_future_s=10**10, max_price_age_s=10**10, max_bar_age_s=10**10)


def _accepted(payload: str, request: dict[str, str], arrival_ms: int = 1_800_000_000_000) -> Accepted:
    outcome = normalize(encode_envelope(payload, arrival_ms - 10, "twelvedata.rest.time_series", request),
                        arrival_ms, WIDE)
    assert isinstance(outcome, Accepted)
    return outcome


def _rows(payload: str, request: dict[str, str]) -> list[dict[str, Any]]:
    return [dict(r) for r in _accepted(payload, request).records]


def test_exchange_zone_minutes_become_utc_and_strings_become_numbers() -> None:
    body = load_text("twelvedata/rest-time-series-1min-aapl.json")
    parts = split_time_series(body, {"symbol": "AAPL", "interval": "1min"})
    # 10:40-11:09 New York (EDT) = 14:40-15:09 UTC: two UTC hours, two envelopes
    assert len(parts) == 2
    rows = [row for payload, request in parts for row in _rows(payload, request)]
    assert len(rows) == 30
    first = min(rows, key=lambda r: r["event_time_ms"])
    assert first["bar_datetime"] == "2023-08-24 10:40:00" and first["time_zone"] == "America/New_York"
    assert first["event_time_ms"] == 1692888000000  # 2023-08-24 14:40:00 UTC
    assert (first["open"], first["high"], first["low"], first["close"], first["volume"]) == (
        178.16, 178.2206, 178.03999, 178.07001, 175143.0)
    assert (first["kind"], first["symbol"], first["mic_code"], first["interval"]) == ("bar", "AAPL", "XNGS", "1min")


def test_partition_keys_come_from_the_bars_utc_hour() -> None:
    body = load_text("twelvedata/rest-time-series-1min-aapl.json")
    partitions = [_accepted(p, r).partition for p, r in split_time_series(body, {"symbol": "AAPL"})]
    assert partitions == [{"kind": "bar", "dt": "2023-08-24", "hour": "14"},
                          {"kind": "bar", "dt": "2023-08-24", "hour": "15"}]


def test_daily_bars_are_dates_at_midnight_in_the_exchange_zone() -> None:
    body = load_text("twelvedata/rest-time-series-1day-ibm.json")
    parts = split_time_series(body, {"symbol": "IBM", "interval": "1day"})
    values = orjson.loads(body)["values"]
    assert len(parts) == len(values)  # one UTC hour each
    rows = [row for payload, request in parts for row in _rows(payload, request)]
    newest = max(rows, key=lambda r: r["event_time_ms"])
    assert newest["bar_datetime"] == "2021-07-01"
    assert newest["event_time_ms"] == 1625112000000  # 2021-07-01 00:00 New York = 04:00 UTC


def test_a_batch_response_splits_per_symbol() -> None:
    body = load_text("twelvedata/rest-batch-time-series-1h-spx-aapl.json")
    parts = split_time_series(body, {"symbol": "SPX,AAPL", "interval": "1h", "apikey": "secret"})
    assert {r["symbol"] for _, r in parts} == {"SPX", "AAPL"}
    rows = [row for payload, request in parts for row in _rows(payload, request)]
    assert {r["symbol"] for r in rows} == {"SPX", "AAPL"}
    assert len(rows) == sum(len(v["values"]) for v in orjson.loads(body).values())
    envelope = decode_envelope(encode_envelope(parts[0][0], 1, "twelvedata.rest.time_series", parts[0][1]))
    assert "apikey" not in envelope["request"]


def test_forex_without_zone_or_volume_is_read_as_utc() -> None:
    body = load_text("twelvedata/rest-batch-time-series-1day-forex.json")
    parts = split_time_series(body, {"symbol": "USD/CZK,USD/EUR,USD/GBP,USD/CHF", "interval": "1day"})
    rows = [row for payload, request in parts for row in _rows(payload, request)]
    assert {r["time_zone"] for r in rows} == {"UTC"}
    assert {r["volume"] for r in rows} == {None}
    czk = [r for r in rows if r["symbol"] == "USD/CZK" and r["bar_datetime"] == "2023-08-04"]
    assert czk[0]["event_time_ms"] == 1691107200000 and czk[0]["currency_base"] == "US Dollar"


def test_a_requested_timezone_overrides_the_exchange_zone() -> None:
    body = load_text("twelvedata/rest-time-series-1min-aapl-2021-03-01.json")
    (row,) = _rows(body, {"symbol": "AAPL", "interval": "1min", "timezone": "UTC"})
    assert row["time_zone"] == "UTC" and row["event_time_ms"] == 1614614340000  # 15:59 UTC
    (row,) = _rows(body, {"symbol": "AAPL", "interval": "1min"})
    assert row["event_time_ms"] == 1614632340000  # 15:59 New York (EST) = 20:59 UTC
    assert row["mic_code"] is None


def test_the_docs_example_parses() -> None:
    (row,) = _rows(load_text("twelvedata/docs-rest-time-series-1min-aapl.json"), {})
    assert (row["symbol"], row["mic_code"], row["close"]) == ("AAPL", "XNAS", 148.85001)


def test_api_errors_and_empty_responses_carry_no_bars() -> None:
    error = load_text("twelvedata/rest-error-429-minute.json")
    outcome = normalize(encode_envelope(error, 1, "twelvedata.rest.time_series", {"symbol": "AAPL"}), 2, WIDE)
    assert outcome == Dropped("rest-error-429")
    empty = '{"meta":{"symbol":"AAPL","interval":"1min"},"values":[],"status":"ok"}'
    assert normalize(encode_envelope(empty, 1, "twelvedata.rest.time_series"), 2, WIDE) == Dropped("empty-time-series")


def _one_bar(**values: str) -> str:
    bar = {"datetime": "2023-08-24 10:40:00", "open": "10", "high": "12", "low": "9", "close": "11", "volume": "5"}
    bar.update(values)
    return orjson.dumps({"meta": {"symbol": "AAPL", "interval": "1min", "exchange_timezone": "America/New_York"},
                         "values": [bar], "status": "ok"}).decode()


@pytest.mark.parametrize(("payload", "code"), [
    (_one_bar(high="10.5"), "invalid_bar"),           # high below close
    (_one_bar(low="10.5"), "invalid_bar"),            # low above open
    (_one_bar(open="0"), "invalid_price"),
    (_one_bar(close="NaN"), "invalid_price"),
    (_one_bar(close="1e999"), "invalid_price"),
    (_one_bar(open="abc"), "invalid_price"),
    (_one_bar(volume="-1"), "invalid_volume"),
    (_one_bar(datetime="24/08/2023"), "invalid_timestamp"),
    (_one_bar().replace('"1min"', '"7min"'), "invalid_interval"),
    (_one_bar().replace('"America/New_York"', '"Mars/Olympus"'), "invalid_timestamp"),
    (_one_bar().replace('"America/New_York"', '"America"'), "invalid_timestamp"),  # a folder of the database
    (_one_bar().replace('"America/New_York"', '"' + "x" * 300 + '"'), "invalid_timestamp"),
    (_one_bar().replace('"America/New_York"', '"../../etc/passwd"'), "invalid_timestamp"),
    (_one_bar().replace('"America/New_York"', '"America/"'), "invalid_timestamp"),
    ('{"values":[]', "not_json"),
])
def test_bad_bars_are_rejected_with_a_reason(payload: str, code: str) -> None:
    with pytest.raises(RecordRejected) as caught:
        normalize(encode_envelope(payload, 1, "twelvedata.rest.time_series", {"symbol": "AAPL"}), 2, WIDE)
    assert caught.value.code == code
    assert "site-packages" not in str(caught.value) and "zoneinfo" not in str(caught.value)


def test_bars_of_several_hours_in_one_envelope_are_rejected_not_misfiled() -> None:
    body = load_text("twelvedata/rest-time-series-1min-aapl.json")
    with pytest.raises(RecordRejected) as caught:
        normalize(encode_envelope(body, 1, "twelvedata.rest.time_series"), 2, WIDE)
    assert caught.value.code == "spans_partitions"


def test_missing_meta_falls_back_to_the_request() -> None:
    body = '{"values":[{"datetime":"2023-08-24 10:40:00","open":"1","high":"1","low":"1","close":"1"}],"status":"ok"}'
    bars, _ = parse_time_series(body, {"symbol": "eur/usd", "interval": "1min"})
    assert (bars[0].symbol, bars[0].interval, bars[0].time_zone) == ("EUR/USD", "1min", "UTC")


def test_resent_bars_share_keys_and_changed_values_do_not() -> None:
    key = _rows(_one_bar(), {})[0]["idempotency_key"]
    assert _rows(_one_bar(), {})[0]["idempotency_key"] == key
    assert _rows(_one_bar(close="11.5"), {})[0]["idempotency_key"] != key
