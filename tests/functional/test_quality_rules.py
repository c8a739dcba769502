"""Each rule of the packaged ruleset, on data that passes it and data that breaks it: the evaluator's
counts equal the ones worked out by hand beside each case.

The clean data: AAPL (NASDAQ, so the NYSE calendar) minutes of a whole session (2023-08-23) and the first
hour of the next (2023-08-24, checked at 14:31 UTC while the market is open), with REST minutes the
ticks agree with and a REST daily bar equal to its minutes; 80 AAPL daily bars before; BTC/USD minutes
(24/7); EUR/USD hourly bars over a forex weekend. Every rule passes it; each case changes one thing.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from glue_jobs import quality_checks, sessions
from glue_jobs.check_quality import check
from glue_jobs.compact_bars import BAR_NAMES
from glue_jobs.evaluate import Evaluation, evaluate, load_ruleset
from glue_jobs.publish import Publisher
from glue_jobs.store import LocalStore
from ohlcv_core.calendars import ALWAYS, FOREX
from ohlcv_core.curated import written_url
from ohlcv_core.schema import BAR_COLUMNS

DAY1, DAY2 = "2023-08-23", "2023-08-24"
NOW = datetime(2023, 8, 24, 14, 31, tzinfo=UTC).timestamp()
MARKETS = {"AAPL": "XNYS", "BTC/USD": ALWAYS, "EUR/USD": FOREX}
Row = dict[str, Any]


def _bar(table: str, symbol: str, exchange: str | None, start_ms: int, close: float, prev: float, *,  # noqa: PLR0917 - a bar reads best as its six facts in a row
         source: str = "rest", volume: float | None = 1000.0, dt: str | None = None) -> Row:
    start = datetime.fromtimestamp(start_ms / 1000, tz=UTC).replace(tzinfo=None)
    return {"table_name": table, "symbol": symbol, "exchange": exchange, "bar_start": start, "open": prev,
            "high": max(prev, close) + 0.01, "low": min(prev, close) - 0.01, "close": close, "volume": volume,
            "tick_count": 5, "source": source, "final": source == "rest", "dt": dt or start.date().isoformat()}


def _walk(rng: random.Random, count: int, start: float, step: float) -> list[float]:
    prices, price = [], start
    for _ in range(count):
        price = round(price * (1 + rng.uniform(-step, step)), 4)
        prices.append(price)
    return prices


def clean_rows() -> list[Row]:
    rng = random.Random(7)
    rows: list[Row] = []
    day1 = sessions.session_minutes("XNYS", date(2023, 8, 23), date(2023, 8, 23))
    day2 = sessions.session_minutes("XNYS", date(2023, 8, 24), date(2023, 8, 24))[:60]
    closes = _walk(rng, len(day1) + len(day2), 180.0, 0.0008)
    prev = 180.0
    for minute, close in zip(day1 + day2, closes, strict=True):
        rows.append(_bar("bars_1m", "AAPL", "NASDAQ", minute, close, prev))
        prev = close
    first1 = rows[0]
    session1 = rows[:len(day1)]
    daily_days = sessions.trading_days("XNYS", date(2023, 4, 1), date(2023, 8, 22))[-80:]
    daily = _walk(rng, len(daily_days), 170.0, 0.01)
    prev = 170.0
    for day, close in zip(daily_days, daily, strict=True):
        start = int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000) + 4 * 3_600_000
        rows.append(_bar("bars_1d", "AAPL", "NASDAQ", start, close, prev, dt=day))
        prev = close
    rows.append({**_bar("bars_1d", "AAPL", "NASDAQ", int(datetime(2023, 8, 23, 4, tzinfo=UTC).timestamp() * 1000),
                        session1[-1]["close"], first1["open"], dt=DAY1),
                 "open": first1["open"], "high": max(r["high"] for r in session1),
                 "low": min(r["low"] for r in session1)})
    btc = sessions.session_minutes(ALWAYS, date(2023, 8, 24), date(2023, 8, 24))[800:900]
    prev = 26000.0
    for minute, close in zip(btc, _walk(rng, len(btc), 26000.0, 0.0005), strict=True):
        rows.append(_bar("bars_1m", "BTC/USD", "Coinbase Pro", minute, close, prev, source="ticks"))
        prev = close
    hours = sessions.session_hours(FOREX, date(2023, 8, 18), date(2023, 8, 24)) or []
    prev = 1.09
    for hour, close in zip(hours, _walk(rng, len(hours), 1.09, 0.0005), strict=True):
        rows.append(_bar("bars_1h", "EUR/USD", None, hour, close, prev, volume=None))
        prev = close
    return rows


def ticks_of(rows: list[Row]) -> list[Row]:
    """The ticks' minutes for the REST minutes (one a minute): the same close and volume (none is a
    series' first)."""
    minutes = {(r["symbol"], int(r["bar_start"].replace(tzinfo=UTC).timestamp() * 1000)): r
               for r in rows if r["table_name"] == "bars_1m" and r["source"] == "rest"}
    return [{"symbol": symbol, "minute_ms": minute, "close": r["close"], "volume": r["volume"],
             "first_of_series": False} for (symbol, minute), r in minutes.items()]


def _market(symbol: str) -> str:
    return MARKETS[symbol.split(".", 1)[0]]


def _days(first: date, last: date) -> list[date]:
    return [first + timedelta(days=k) for k in range((last - first).days + 1)]


def _evaluate(spark: Any, rows: list[Row], ticks: list[Row] | None, now_s: float) -> Evaluation:
    schema = "table_name string, " + ", ".join(f"{c.name} {c.type}" for c in BAR_COLUMNS) + ", dt string"
    bars: DataFrame = spark.createDataFrame(rows, schema)
    tick_frame = spark.createDataFrame(ticks if ticks is not None else ticks_of(rows),
                                       "symbol string, minute_ms bigint, close double, volume double, "
                                       "first_of_series boolean")
    grid = quality_checks.session_grid(spark, MARKETS.values(), _days(date(2023, 8, 17), date(2023, 8, 24)),
                                       _days(date(2023, 3, 1), date(2023, 8, 24)))
    markets = {r["symbol"]: _market(r["symbol"]) for r in rows}
    open_now = {s: sessions.open_at(m, int(now_s * 1000)) for s, m in markets.items()}
    today = datetime.fromtimestamp(now_s, tz=UTC).date().isoformat()
    dates = sorted({r["dt"] for r in rows if r["dt"] >= "2023-08-18"}) or [DAY2]
    checked = quality_checks.checked_bars(bars, grid=grid, markets=markets, ticks=tick_frame, open_now=open_now,
                                          today=today, dates=dates).withColumn("withheld", F.lit(False))
    return evaluate(spark, checked, load_ruleset(), now_s=now_s)


def judge(spark: Any, rows: list[Row], ticks: list[Row] | None = None, now_s: float = NOW) -> dict[str, int]:
    """{rule: rows failed} of the rules that failed (RowCount: -1); the ticks agree with `rows` unless given."""
    evaluation = _evaluate(spark, rows, ticks, now_s)
    return {o.rule.name: (o.rows_failed if o.rule.row_level else -1)
            for o in evaluation.outcomes if o.outcome == "Failed"}


def judge_apart(spark: Any, cases: dict[str, list[Row]]) -> dict[str, dict[str, int]]:
    """judge() of each case's rows, in one evaluation: each case's symbols get the case's name as a
    suffix, so no series, gap or key of one case meets another's; {case: {rule: rows failed}}."""
    rows = [{**r, "symbol": f"{r['symbol']}.{case}"} for case, case_rows in cases.items() for r in case_rows]
    found: dict[str, dict[str, int]] = {case: {} for case in cases}
    for row in _evaluate(spark, rows, None, NOW).failures.groupBy("symbol", "rule").count().collect():
        counts = found[row["symbol"].split(".", 1)[1]]
        counts[row["rule"]] = counts.get(row["rule"], 0) + row["count"]
    return found


@pytest.fixture(scope="module")
def clean() -> list[Row]:
    return clean_rows()


def test_the_clean_data_passes_every_rule(spark: Any, clean: list[Row]) -> None:
    assert judge(spark, clean) == {}


def _index(rows: list[Row], table: str, symbol: str, dt: str, nth: int) -> int:
    found = [i for i, r in enumerate(rows) if (r["table_name"], r["symbol"], r["dt"]) == (table, symbol, dt)]
    return found[nth]


def _set(rows: list[Row], index: int, **values: Any) -> list[Row]:
    changed = list(rows)
    changed[index] = {**rows[index], **values}
    return changed


def _aapl(rows: list[Row], nth: int, dt: str = DAY2) -> int:
    return _index(rows, "bars_1m", "AAPL", dt, nth)


def _flat(rows: list[Row], first: int, count: int) -> list[Row]:
    """`count` bars from `first` on that do not move (high = low = the close before)."""
    changed = list(rows)
    price = changed[first - 1]["close"]
    for index in range(first, first + count):
        changed[index] = {**changed[index], "open": price, "high": price, "low": price, "close": price}
    changed[first + count] = {**changed[first + count], "open": price,
                              "high": max(price, changed[first + count]["close"]) + 0.01,
                              "low": min(price, changed[first + count]["close"]) - 0.01}
    return changed


def _spike(rows: list[Row], index: int) -> list[Row]:
    """One minute 5% up, the next back down: two returns of about 5% among returns of 0.08% at most."""
    changed = list(rows)
    base = changed[index - 1]["close"]
    up, after = round(base * 1.05, 4), changed[index + 1]["close"]
    changed[index] = {**changed[index], "open": base, "high": up + 0.01, "low": base - 0.01, "close": up}
    changed[index + 1] = {**changed[index + 1], "open": up, "high": up + 0.01, "low": min(after, up) - 0.01}
    return changed


def _copy(rows: list[Row], source: int, target: int) -> list[Row]:
    return _set(rows, target, **{k: rows[source][k] for k in ("open", "high", "low", "close", "volume")})


def _without(rows: list[Row], *indexes: int) -> list[Row]:
    return [r for i, r in enumerate(rows) if i not in set(indexes)]


CASES: dict[str, tuple[Callable[[list[Row]], list[Row]], dict[str, int]]] = {
    # no rows at all on the dates checked
    # a minute twice: both copies fail (and no session minute is missing for it)
    "unique_bars": (lambda rows: [*rows, rows[_aapl(rows, 10)]], {"unique_bars": 2}),
    "complete_bars": (lambda rows: _set(rows, _aapl(rows, 20), close=None), {"complete_bars": 1}),
    "high_bounds_bar": (lambda rows: _set(rows, _aapl(rows, 5), high=rows[_aapl(rows, 5)]["close"] - 0.02),
                        {"high_bounds_bar": 1}),
    "low_bounds_bar": (lambda rows: _set(rows, _aapl(rows, 6), low=rows[_aapl(rows, 6)]["open"] + 0.5),
                       {"low_bounds_bar": 1}),
    "positive_prices": (lambda rows: _set(rows, _aapl(rows, 7), low=0.0), {"positive_prices": 1}),
    "volume_not_negative": (lambda rows: _set(rows, _aapl(rows, 8), volume=-5.0), {"volume_not_negative": 1}),
    # three minutes of the session gone: the minute after them says so
    "minutes_complete": (lambda rows: _without(rows, *(_aapl(rows, n) for n in (30, 31, 32))),
                         {"minutes_complete": 1}),
    # a weekday hour of EUR/USD gone (the weekend between is no gap)
    "hours_complete": (lambda rows: _without(rows, _index(rows, "bars_1h", "EUR/USD", "2023-08-22", 5)),
                       {"hours_complete": 1}),
    # a trading day gone from the daily history: the day after it says so
    "sessions_complete": (lambda rows: _without(rows, _index(rows, "bars_1d", "AAPL", "2023-08-21", 0)),
                          {"sessions_complete": 1}),
    # 31 minutes in a row that do not move: the 31st is one too many
    "price_moves_in_session": (lambda rows: _flat(rows, _aapl(rows, 100, DAY1), 31), {"price_moves_in_session": 1}),
    # four daily bars in a row that do not move (08-15 to 08-18): the fourth is one too many, and it is a
    # copy of the third (only 08-18 is among the dates checked)
    "price_moves_daily": (lambda rows: _flat(rows, _index(rows, "bars_1d", "AAPL", "2023-08-18", 0) - 3, 4),
                          {"price_moves_daily": 1, "no_repeated_bars": 1}),
    "no_spikes": (lambda rows: _spike(rows, _aapl(rows, 40)), {"no_spikes": 2}),
    # a vendor's copy of Friday's bar as Monday's
    "no_repeated_bars": (lambda rows: _copy(rows, _index(rows, "bars_1d", "AAPL", "2023-08-18", 0),
                                            _index(rows, "bars_1d", "AAPL", "2023-08-21", 0)),
                         {"no_repeated_bars": 1}),
    # the REST daily bar's close 1% off its minutes'
    "daily_matches_minutes": (
        lambda rows: _set(rows, _index(rows, "bars_1d", "AAPL", DAY1, 0),
                          close=round(rows[_index(rows, "bars_1d", "AAPL", DAY1, 0)]["close"] * 1.01, 4),
                          high=rows[_index(rows, "bars_1d", "AAPL", DAY1, 0)]["high"] * 1.01),
        {"daily_matches_minutes": 1}),
}


def test_each_rule_fails_the_data_that_breaks_it(spark: Any, clean: list[Row]) -> None:
    found = judge_apart(spark, {case: change(clean) for case, (change, _) in CASES.items()})
    assert found == {case: expected for case, (_, expected) in CASES.items()}


def test_no_bars_on_the_dates_fails_the_dataset_rule(spark: Any, clean: list[Row]) -> None:
    assert judge(spark, [r for r in clean if r["dt"] < "2023-08-18"]) == {"has_bars": -1}


def test_rest_minutes_the_ticks_disagree_with_are_flagged(spark: Any, clean: list[Row]) -> None:
    ticks = ticks_of(clean)
    ticks[3] = {**ticks[3], "close": ticks[3]["close"] * 1.005}  # 50 basis points off
    ticks[4] = {**ticks[4], "volume": ticks[4]["volume"] * 1.5}  # 50% more
    ticks[5] = {**ticks[5], "volume": ticks[5]["volume"] * 1.5, "first_of_series": True}  # not judged
    assert judge(spark, clean, ticks) == {"rest_close_matches_ticks": 1, "rest_volume_matches_ticks": 1}


def test_a_symbol_whose_latest_minute_is_old_while_its_market_is_open_is_stale(spark: Any, clean: list[Row]) -> None:
    # at 14:45 AAPL's latest minute (14:29) is 16 minutes old; BTC/USD's (14:59) is not
    late = datetime(2023, 8, 24, 14, 45, tzinfo=UTC).timestamp()
    assert judge(spark, clean, now_s=late) == {"fresh_minutes": 1}
    # at 21:00 the NYSE is closed, so AAPL is not judged; BTC/USD trades around the clock and is stale
    assert judge(spark, clean, now_s=datetime(2023, 8, 24, 21, 0, tzinfo=UTC).timestamp()) == {"fresh_minutes": 1}
    # on a later day, the dates checked have no minute of today: nothing is judged for freshness
    assert judge(spark, clean, now_s=datetime(2023, 8, 25, 15, 0, tzinfo=UTC).timestamp()) == {}


def test_robust_deviations_are_computed_as_documented(spark: Any) -> None:
    # GIVEN 30 minutes alternating +0.1% and -0.1%, then one of +1%
    closes, price = [], 100.0
    for k in range(30):
        price *= 1.001 if k % 2 == 0 else 0.999
        closes.append(price)
    closes.append(price * 1.01)
    start = int(datetime(2023, 8, 24, 14, tzinfo=UTC).timestamp() * 1000)
    rows = [_bar("bars_1m", "BTC/USD", "Coinbase Pro", start + 60_000 * k, c, closes[k - 1] if k else 100.0,
                 source="ticks") for k, c in enumerate(closes)]
    schema = "table_name string, " + ", ".join(f"{c.name} {c.type}" for c in BAR_COLUMNS) + ", dt string"
    moved = quality_checks.with_moves(spark.createDataFrame(rows, schema)).orderBy("bar_start").collect()
    # THEN a return's z is |its log return| / (1.4826 x the median absolute log return of the (up to 60)
    # returns before it), once there are 20 of those; row 0 has no return, so row 20 is the first judged
    returns = [abs(math.log(closes[k] / closes[k - 1])) for k in range(1, len(closes))]  # row k's is [k - 1]
    assert [r["ret_z"] for r in moved[:21]] == [None] * 21
    for k in (21, 30):
        prior = returns[max(0, k - 61):k - 1]
        assert moved[k]["ret_z"] == pytest.approx(returns[k - 1] / (1.4826 * _median(sorted(prior))))
    assert moved[30]["ret_z"] > 6  # the 1% move, among moves of 0.1%


def _median(values: list[float]) -> float:
    middle = len(values) // 2
    return values[middle] if len(values) % 2 else (values[middle - 1] + values[middle]) / 2


def test_a_day_before_utc_midnight_counts_for_its_exchange_s_own_date(spark: Any) -> None:
    days = sessions.trading_days("XNYS", date(2023, 11, 20), date(2023, 11, 27))
    assert days == ["2023-11-20", "2023-11-21", "2023-11-22", "2023-11-24", "2023-11-27"]  # Thanksgiving
    # the day after Thanksgiving closes at 13:00 New York: 210 minutes
    friday = sessions.session_minutes("XNYS", date(2023, 11, 24), date(2023, 11, 24))
    assert len(friday) == 210 and friday[0] == int(datetime(2023, 11, 24, 14, 30, tzinfo=UTC).timestamp() * 1000)
    # the forex week: closed from Friday 17:00 to Sunday 17:00 New York time
    assert not sessions.open_at(FOREX, int(datetime(2023, 8, 19, 12, tzinfo=UTC).timestamp() * 1000))
    assert sessions.open_at(FOREX, int(datetime(2023, 8, 20, 21, 30, tzinfo=UTC).timestamp() * 1000))
    assert len(sessions.session_hours(FOREX, date(2023, 8, 14), date(2023, 8, 20)) or []) == 5 * 24
    assert timedelta(minutes=len(sessions.session_minutes(ALWAYS, date(2023, 8, 24), date(2023, 8, 24)))) \
        == timedelta(days=1)


def test_bars_of_a_symbol_with_no_known_calendar_are_judged_not_a_crash(spark: Any, tmp_path: Path) -> None:
    # GIVEN only bars whose venue names no calendar (no exchange, no '/' in the symbol): no markets at all
    curated = tmp_path / "curated"
    rows = [_bar("bars_1m", "XYZ", None, int(datetime(2023, 8, 24, 14, m, tzinfo=UTC).timestamp() * 1000),
                 10.0 + m / 100, 10.0) for m in range(5)]
    publisher = Publisher(LocalStore(), curated.as_posix(), keep_superseded_s=0)
    publisher.begin("minutes", {"bars_1m": ["dt=2023-08-24"]})
    folder = written_url(curated.as_posix(), "minutes", "bars_1m", "dt=2023-08-24")
    spark.createDataFrame([{k: r[k] for k in BAR_NAMES} for r in rows],
                          ", ".join(f"{c.name} {c.type}" for c in BAR_COLUMNS)).coalesce(1).write.parquet(folder)
    publisher.publish("bars_1m", ["dt=2023-08-24"], publisher.written("minutes"))
    # WHEN the quality job runs over them
    result = check(spark, curated_location=str(curated), quality_location=str(tmp_path / "quality"),
                   dates=["2023-08-24"], run_id="q1", ruleset=load_ruleset(), clock=lambda: NOW)
    # THEN it judged them, and the rules that need a calendar passed them by
    assert result.rules > 0 and not result.blocking_failed
