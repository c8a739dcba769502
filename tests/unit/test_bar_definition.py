"""The definition of a bar (ohlcv_core.bars), rule by rule, on records small enough to check by hand."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from ohlcv_core.bars import bar_tables, minute_bars

T0 = int(datetime(2024, 3, 8, 14, 30, tzinfo=UTC).timestamp() * 1000)  # a Friday, 09:30 in New York


def _price(seconds: float, price: float, day_volume: int | None = None, *, key: str | None = None,
           received: int = 0, symbol: str = "AAPL", exchange: str | None = "NASDAQ") -> dict[str, Any]:
    return {"symbol": symbol, "exchange": exchange, "event_time_ms": T0 + int(seconds * 1000), "price": price,
            "day_volume": day_volume, "idempotency_key": key or f"{symbol}-{seconds}-{price}-{day_volume}",
            "received_at_ms": T0 + received, "arrival_ms": T0 + received + 10, "source": "twelvedata.ws"}


def _rest(minute: int, close: float, *, interval: str = "1min", received: int = 0, volume: float | None = 10.0,
          exchange: str | None = "NASDAQ", start_ms: int | None = None) -> dict[str, Any]:
    start = T0 + minute * 60_000 if start_ms is None else start_ms
    return {"symbol": "AAPL", "exchange": exchange, "interval": interval, "event_time_ms": start,
            "open": close, "high": close + 1, "low": close - 1, "close": close, "volume": volume,
            "idempotency_key": f"rest-{interval}-{start}-{received}", "received_at_ms": received,
            "arrival_ms": received + 10, "source": "twelvedata.rest.time_series"}


def test_a_minute_is_its_first_last_and_extreme_prices_in_event_order() -> None:
    (bar,) = minute_bars([_price(30, 11.0, 130), _price(5, 10.0, 100), _price(59, 9.5, 160), _price(20, 12.0, 120)])
    assert (bar.open, bar.high, bar.low, bar.close, bar.tick_count) == (10.0, 12.0, 9.5, 9.5, 4)
    # the first event has no baseline; then 20 + 10 + 30
    assert bar.volume == 60.0
    assert (bar.source, bar.final, bar.dt, bar.start_ms) == ("ticks", False, "2024-03-08", T0)


def test_copies_count_once_and_the_first_received_is_kept() -> None:
    first = _price(5, 10.0, 100, key="k", received=5)
    copy = {**_price(5, 10.0, 100, key="k", received=900), "exchange": "LATE COPY"}
    (bar,) = minute_bars([copy, first, _price(10, 10.5, 150)])
    assert bar.tick_count == 2 and bar.exchange == "NASDAQ" and bar.volume == 50.0


def test_a_drop_in_day_volume_starts_a_new_day_and_missing_volumes_give_none() -> None:
    bars = minute_bars([_price(0, 10.0, 900), _price(61, 10.0, 40), _price(125, 10.0, None), _price(130, 10.0, None)])
    assert [b.volume for b in bars] == [None, 40.0, None]


def test_ties_in_event_time_order_by_volume_then_price_with_nulls_first() -> None:
    (bar,) = minute_bars([_price(5, 12.0, 200), _price(5, 11.0, None), _price(5, 10.0, 200)])
    assert (bar.open, bar.close) == (11.0, 12.0)


def test_the_latest_rest_minute_replaces_the_ticks_and_keeps_their_count() -> None:
    ticks = [_price(5, 10.0, 100), _price(10, 10.2, 130)]
    (bar,) = minute_bars(ticks, [_rest(0, 20.0, received=1), _rest(0, 21.0, received=2, exchange=None)])
    assert (bar.close, bar.volume, bar.tick_count, bar.source, bar.final) == (21.0, 10.0, 2, "rest", True)
    assert bar.exchange == "NASDAQ"  # REST sent none: the ticks' venue
    (only_rest,) = minute_bars([], [_rest(3, 20.0, volume=None)])
    assert (only_rest.tick_count, only_rest.volume, only_rest.source) == (0, None, "rest")


def test_rollups_combine_minutes_and_say_where_they_came_from() -> None:
    prices = [_price(m * 60 + 1, 10.0 + m, 100 + 10 * m) for m in range(7)]
    tables = bar_tables(prices, [_rest(1, 50.0)])
    first, second = tables["bars_5m"]
    assert (first.open, first.high, first.close, first.tick_count) == (10.0, 51.0, 14.0, 5)
    assert (first.source, first.final, second.source) == ("mixed", False, "ticks")
    assert first.volume == 10.0 + 10 + 10 + 10  # the REST minute's 10 and three increments of 10 (none before)
    (hour,) = tables["bars_1h"]
    assert hour.tick_count == 7 and hour.start_ms == T0 - 30 * 60_000


def test_a_daily_bar_is_the_venues_trading_day_from_its_midnight() -> None:
    late = _price(9 * 3600, 10.0, 100)  # 23:30 UTC, still Friday in New York
    after_midnight = _price(10 * 3600, 11.0, 200)  # 00:30 UTC on Saturday, 19:30 Friday in New York
    (day,) = bar_tables([late, after_midnight])["bars_1d"]
    assert (day.dt, day.start_ms) == ("2024-03-08", int(datetime(2024, 3, 8, 5, tzinfo=UTC).timestamp() * 1000))
    crypto = [_price(9 * 3600, 10.0, symbol="BTC/USD", exchange="Coinbase Pro"),
              _price(10 * 3600, 11.0, symbol="BTC/USD", exchange="Coinbase Pro")]
    assert [b.dt for b in bar_tables(crypto)["bars_1d"]] == ["2024-03-08", "2024-03-09"]  # UTC days


def test_an_official_bar_replaces_the_rollup_bars_it_overlaps() -> None:
    prices = [_price(m * 60 + 1, 10.0, 100 + m) for m in range(3)]
    midnight_in_new_york = int(datetime(2024, 3, 8, 5, tzinfo=UTC).timestamp() * 1000)
    daily = _rest(0, 99.0, interval="1day", start_ms=midnight_in_new_york)
    (day,) = bar_tables(prices, [daily])["bars_1d"]
    assert (day.close, day.tick_count, day.source, day.final, day.dt) == (99.0, 3, "rest", True, "2024-03-08")
    five = _rest(0, 77.0, interval="5min", start_ms=T0 + 2 * 60_000)  # a venue's bucket, not aligned to UTC's
    (bar,) = bar_tables(prices, [five])["bars_5m"]
    assert (bar.close, bar.tick_count, bar.start_ms) == (77.0, 3, T0 + 2 * 60_000)


def test_of_two_rest_answers_received_together_the_smaller_key_wins() -> None:
    # (compaction's order: received and arrival descending, then the key ascending)
    first, second = _rest(0, 20.0, received=5), _rest(0, 30.0, received=5)
    (bar,) = minute_bars([], [{**second, "idempotency_key": "b"}, {**first, "idempotency_key": "a"}])
    assert bar.close == 20.0
