"""The measures of a series' moves and the calendar's, as the quality job computes them in Spark and as
the quality benchmark's baseline computes them in DuckDB, are the definition's (ohlcv_core.quality_measures):
on generated series of equities, forex pairs and crypto with a planted spike, a hole and a frozen
stretch, as minutes and as their rollups."""

from __future__ import annotations

import math
import random
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from typing import Any

import duckdb
import pyarrow as pa
import pytest

from benchmarks.quality import GAPS_SQL, MOVES_SQL, PRIMARY_SQL, _plant, _series, instruments
from glue_jobs.quality_checks import (
    GRID_SCHEMA,
    grid_rows,
    market_zone,
    session_grid,
    with_day_check,
    with_freshness,
    with_gaps,
    with_moves,
    with_reconciliation,
)
from ohlcv_core.bars import Bar, daily_bucket, rollup, utc_bucket
from ohlcv_core.calendars import ALWAYS, FOREX, market_of
from ohlcv_core.quality_measures import (
    Gaps,
    Grid,
    Moves,
    day_vs_minutes,
    freshness,
    gaps,
    has_grid,
    moves,
    slot_of,
    vs_ticks,
)

DAYS = [date(2023, 8, 1) + timedelta(days=k) for k in range(3)]
TODAY = DAYS[-1].isoformat()
COLUMNS = ("table_name", "symbol", "bar_start", "open", "high", "low", "close", "volume", "dt", "source")
SCHEMA = ("table_name string, symbol string, bar_start timestamp, open double, high double, low double, "
          "close double, volume double, dt string, source string")


def _tables() -> dict[str, list[Bar]]:
    rng = random.Random(5)
    series = {symbol: _series(symbol, exchange, DAYS, rng) for symbol, exchange in instruments(5)}
    _plant(series)
    equity = next(s for s in sorted(series) if "/" not in s)  # and a minute outside its sessions
    night = int(datetime(2023, 8, 2, 2, tzinfo=UTC).timestamp() * 1000)
    series[equity] = sorted([*series[equity], replace(series[equity][0], start_ms=night, dt="2023-08-02")],
                            key=lambda b: b.start_ms)
    tables: dict[str, list[Bar]] = {"bars_1m": [], "bars_1h": [], "bars_1d": []}
    for bars in series.values():
        tables["bars_1m"] += bars
        tables["bars_1h"] += rollup(bars, utc_bucket(3600))
        tables["bars_1d"] += rollup(bars, daily_bucket)
    return tables


def _expected(tables: dict[str, list[Bar]]) -> dict[tuple[str, str, int], Moves]:
    out: dict[tuple[str, str, int], Moves] = {}
    for table, bars in tables.items():
        for symbol in sorted({b.symbol for b in bars}):
            series = sorted((b for b in bars if b.symbol == symbol), key=lambda b: b.start_ms)
            out |= {(table, symbol, b.start_ms): m for b, m in zip(series, moves(series), strict=True)}
    return out


def _rows(tables: dict[str, list[Bar]]) -> list[tuple[Any, ...]]:
    return [(table, b.symbol, datetime.fromtimestamp(b.start_ms / 1000, tz=UTC), b.open, b.high, b.low, b.close,
             b.volume, b.dt, b.source) for table, bars in tables.items() for b in bars]


def _got(rows: list[dict[str, Any]]) -> dict[tuple[str, str, int], Moves]:
    return {(r["table_name"], r["symbol"], round(r["bar_start"].replace(tzinfo=UTC).timestamp() * 1000)):
            Moves(r["prev_close"], r["ret_z"], int(r["flat_run"]), int(r["repeats_previous"])) for r in rows}


def _differences(expected: dict[tuple[str, str, int], Moves], got: dict[tuple[str, str, int], Moves]) -> list[str]:
    """Each bar whose measures are not the definition's (ret_z to 1e-9: a logarithm's last bit is the
    platform's)."""
    wrong = [f"missing {k}" for k in expected.keys() - got.keys()]
    wrong += [f"extra {k}" for k in got.keys() - expected.keys()]
    for key in sorted(expected.keys() & got.keys()):
        a, b = expected[key], got[key]
        z_same = (a.ret_z is None) == (b.ret_z is None) and (
            a.ret_z is None or b.ret_z is None or math.isclose(a.ret_z, b.ret_z, rel_tol=1e-9))
        if not z_same or (a.prev_close, a.flat_run, a.repeats_previous) != (b.prev_close, b.flat_run,
                                                                              b.repeats_previous):
            wrong.append(f"{key}: {b} (should be {a})")
    return wrong


def test_the_jobs_spark_measures_are_the_definitions(spark: Any) -> None:
    tables = _tables()
    expected = _expected(tables)
    frame = spark.createDataFrame(_rows(tables), schema=SCHEMA)
    got = _got([r.asDict() for r in with_moves(frame).collect()])
    wrong = _differences(expected, got)
    assert not wrong, "\n".join(wrong[:20])
    assert any(m.ret_z and m.ret_z > 15 for m in got.values())  # the planted spike is measured as one
    assert max(m.flat_run for m in got.values()) >= 40  # and the frozen stretch


def test_the_benchmarks_duckdb_measures_are_the_definitions() -> None:
    tables = _tables()
    wrong = _differences(_expected(tables), _got(_duckdb(tables, MOVES_SQL, "moved")))
    assert not wrong, "\n".join(wrong[:20])


def _duckdb(tables: dict[str, list[Bar]], sql: str, result: str, *, opened: set[str] | None = None
            ) -> list[dict[str, Any]]:
    """The benchmark's baseline statements `sql` run over the bars, with the tables they read beside them
    as the benchmark makes them (the grid, the markets, those open now, the dates checked); `result`'s rows."""
    markets = _markets(tables)
    grid = grid_rows(set(markets.values()), DAYS, DAYS)
    with duckdb.connect() as db:
        db.register("bars", pa.table(list(zip(*_rows(tables), strict=True)), names=list(COLUMNS)))
        db.register("grid", pa.table({name: [row[i] for row in grid]
                                      for i, name in enumerate(GRID_SCHEMA.fieldNames())}))
        db.execute("CREATE TEMP TABLE markets (symbol VARCHAR, market VARCHAR, zone VARCHAR)")
        db.executemany("INSERT INTO markets VALUES (?, ?, ?)", [(s, m, market_zone(m)) for s, m in markets.items()])
        db.execute("CREATE TEMP TABLE open_now AS SELECT unnest(?::VARCHAR[]) AS symbol", [sorted(opened or ())])
        db.execute("CREATE TEMP TABLE checked_dates AS SELECT unnest(?::VARCHAR[]) AS dt",
                   [[d.isoformat() for d in DAYS] + ["2023-07-31"]])  # (the night minute's trading day too)
        db.execute(sql.replace("__TODAY__", TODAY))
        cursor = db.execute(f'SELECT * FROM "{result}"')
        names = [d[0] for d in cursor.description or ()]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _markets(tables: dict[str, list[Bar]]) -> dict[str, str]:
    return {b.symbol: market for b in tables["bars_1m"] if (market := market_of(b.symbol, b.exchange)) is not None}


def _expected_gaps(tables: dict[str, list[Bar]]) -> dict[tuple[str, str, int], Gaps]:
    markets = _markets(tables)
    grids: dict[tuple[str, str], Grid] = {}
    for market, table, slot, run, ordinal in grid_rows(set(markets.values()), DAYS, DAYS):
        grids.setdefault((market, table), {})[slot] = (run, ordinal)
    out: dict[tuple[str, str, int], Gaps] = {}
    for table, bars in tables.items():
        for symbol in sorted({b.symbol for b in bars}):
            series = sorted((b for b in bars if b.symbol == symbol), key=lambda b: b.start_ms)
            known = markets.get(symbol)
            grid = grids.get((known, table), {}) if known and has_grid(table, known) else None
            measured = gaps([slot_of(table, b.start_ms, b.dt) for b in series], grid)
            out |= {(table, symbol, b.start_ms): g for b, g in zip(series, measured, strict=True)}
    return out


def _got_gaps(rows: list[dict[str, Any]]) -> dict[tuple[str, str, int], Gaps]:
    return {(r["table_name"], r["symbol"], round(r["bar_start"].replace(tzinfo=UTC).timestamp() * 1000)):
            Gaps(r["in_session"], None if r["missing_before"] is None else int(r["missing_before"])) for r in rows}


def test_the_calendars_measures_of_both_engines_are_the_definitions(spark: Any) -> None:
    tables = _tables()
    expected = _expected_gaps(tables)
    assert {g.missing_before for g in expected.values()} >= {0, 3}  # the forex pair's planted hole
    assert {g.in_session for g in expected.values()} == {True, False, None}
    # Spark
    markets = _markets(tables)
    frame = spark.createDataFrame(_rows(tables), schema=SCHEMA)
    spark_rows = with_gaps(frame, session_grid(spark, set(markets.values()), DAYS, DAYS), markets).collect()
    assert _got_gaps([r.asDict() for r in spark_rows]) == expected
    # DuckDB
    assert _got_gaps(_duckdb(tables, MOVES_SQL + GAPS_SQL, "gapped")) == expected


def _with_off_daily(tables: dict[str, list[Bar]]) -> dict[str, list[Bar]]:
    """One equity's daily bar 1% off its minutes (as a wrong REST daily bar would be)."""
    daily = tables["bars_1d"]
    k = next(i for i, b in enumerate(daily) if "/" not in b.symbol)
    daily[k] = replace(daily[k], close=daily[k].close * 1.01, high=max(daily[k].high, daily[k].close * 1.01))
    return tables


def _expected_day_and_freshness(tables: dict[str, list[Bar]],
                                opened: set[str]) -> dict[tuple[str, str, int], tuple[Any, ...]]:
    markets = _markets(tables)
    sessions_of = {m: [int(slot) for mk, t, slot, _, _ in grid_rows({m}, DAYS, DAYS) if t == "bars_1m"]
                   for m in set(markets.values())}
    out: dict[tuple[str, str, int], tuple[Any, ...]] = {}
    for table, bars in tables.items():
        for symbol in sorted({b.symbol for b in bars}):
            series = sorted((b for b in bars if b.symbol == symbol), key=lambda b: b.start_ms)
            market = markets[symbol]
            day: list[float | None] = [None] * len(series)
            if table == "bars_1d" and market not in (ALWAYS, FOREX):
                minutes = [b for b in tables["bars_1m"] if b.symbol == symbol]
                day = day_vs_minutes(series, minutes, sessions_of[market], market_zone(market))
            fresh = freshness(table, series, open_now=symbol in opened, today=TODAY)
            out |= {(table, symbol, b.start_ms): (f[0], f[1], d) for b, f, d in zip(series, fresh, day, strict=True)}
    return out


def _got_day_and_freshness(rows: list[dict[str, Any]]) -> dict[tuple[str, str, int], tuple[Any, ...]]:
    return {(r["table_name"], r["symbol"], round(r["bar_start"].replace(tzinfo=UTC).timestamp() * 1000)):
            (r["is_last"], r["session_open_now"], r["day_vs_minutes_pct"]) for r in rows}


def _close(expected: dict[Any, tuple[Any, ...]], got: dict[Any, tuple[Any, ...]]) -> list[str]:
    wrong = [f"missing or extra {k}" for k in expected.keys() ^ got.keys()]
    for key in sorted(expected.keys() & got.keys()):
        a, b = expected[key], got[key]
        if a[:-1] != b[:-1] or (a[-1] is None) != (b[-1] is None) or (
                a[-1] is not None and not math.isclose(a[-1], b[-1], rel_tol=1e-9)):
            wrong.append(f"{key}: {b} (should be {a})")
    return wrong


def test_the_day_check_and_freshness_of_both_engines_are_the_definitions(spark: Any) -> None:
    tables = _with_off_daily(_tables())
    markets = _markets(tables)
    opened = {s for s, m in markets.items() if m in (ALWAYS, FOREX)}  # (as if checked on a weekday evening)
    expected = _expected_day_and_freshness(tables, opened)
    assert any(v[-1] for v in expected.values())  # the planted daily bar differs from its minutes
    # Spark
    frame = spark.createDataFrame(_rows(tables), schema=SCHEMA)
    grid = session_grid(spark, set(markets.values()), DAYS, DAYS)
    checked = with_day_check(with_freshness(frame, {s: s in opened for s in markets}, TODAY), grid, markets)
    wrong = _close(expected, _got_day_and_freshness([r.asDict() for r in checked.collect()]))
    assert not wrong, "\n".join(wrong[:20])
    # DuckDB
    wrong = _close(expected, _got_day_and_freshness(_duckdb(tables, MOVES_SQL + GAPS_SQL + PRIMARY_SQL, "primary",
                                                            opened=opened)))
    assert not wrong, "\n".join(wrong[:20])


def test_the_jobs_rest_minutes_against_the_ticks_are_the_definitions(spark: Any) -> None:
    tables = _tables()
    minutes = [b for b in tables["bars_1m"] if b.symbol == tables["bars_1m"][0].symbol][:6]
    # the ticks' minutes: close a little off, volume a little off, one of them a series' first
    ticks = [(b.symbol, b.start_ms, b.close * (1 + 0.0004 * k), None if b.volume is None else b.volume * 0.93,
              k == 2) for k, b in enumerate(minutes[:5])]
    tick_frame = spark.createDataFrame(ticks, schema=(
        "symbol string, minute_ms bigint, close double, volume double, first_of_series boolean"))
    rest = [replace(b, source="rest" if k % 2 == 0 else "ticks") for k, b in enumerate(minutes)]
    frame = spark.createDataFrame([("bars_1m", b.symbol, datetime.fromtimestamp(b.start_ms / 1000, tz=UTC), b.open,
                                    b.high, b.low, b.close, b.volume, b.dt, b.source) for b in rest],
                                  schema=SCHEMA)
    got = {round(r["bar_start"].replace(tzinfo=UTC).timestamp() * 1000): (r["close_vs_ticks_bps"],
                                                                          r["volume_vs_ticks_pct"])
           for r in with_reconciliation(frame, tick_frame).collect()}
    by_minute = {t[1]: t for t in ticks}
    for bar in rest:
        tick = by_minute.get(bar.start_ms)
        bps, pct = vs_ticks(bar, tick[2] if tick else None, tick[3] if tick else None, bool(tick and tick[4]))
        assert got[bar.start_ms] == (None if bps is None else pytest.approx(bps, rel=1e-12),
                                     None if pct is None else pytest.approx(pct, rel=1e-12)), bar
    assert sum(v[0] is not None for v in got.values()) == 3  # the REST minutes with ticks
