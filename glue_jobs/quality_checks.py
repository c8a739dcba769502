"""What the quality rules look at: the curated bars of the dates, each with the measures a rule needs
beside it (pure DataFrame functions; the ruleset itself is glue_jobs/ruleset.dqdl).

Per bar, within its table and symbol, in time order:
  prev_close          the close of the bar before
  ret_z               |log return| in robust deviations of the symbol's own last RETURNS_WINDOW returns
                      (1.4826 x the median of those that are not zero); null with fewer than MIN_RETURNS
  flat_run            how many bars in a row, ending here, did not move (high = low = the close before)
  repeats_previous    1 when the bar's open, high, low, close and volume are the bar before's
  missing_before      session slots (minutes, hours or trading days, by the symbol's calendar) with no bar
                      between the bar before and this one; null where the calendar is not known
  in_session          whether the bar's start is a session slot of its calendar
  is_last, session_open_now   the symbol's latest minute, and whether its market is open now and the
                      minute is of today (freshness)
  close_vs_ticks_bps, volume_vs_ticks_pct   a REST minute against the minute the streamed ticks made
  day_vs_minutes_pct  a REST daily bar's close, high and low against the day's minutes, when they are all
                      there
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame, SparkSession, Window, WindowSpec
from pyspark.sql import functions as F
from pyspark.sql.types import LongType, StringType, StructField, StructType

from glue_jobs import sessions
from glue_jobs.compact_bars import BAR_NAMES, zoned
from ohlcv_core.calendars import ALWAYS, FOREX, VENUE_CALENDARS, VENUE_TIME_ZONES
from ohlcv_core.quality_measures import MIN_RETURNS, RETURNS_WINDOW, ROBUST_SIGMA, SLOT_KINDS
from ohlcv_core.schema import QUALITY_MEASURE_COLUMNS

CHECK_COLUMNS = tuple(c.name for c in QUALITY_MEASURE_COLUMNS)  # their types and meanings: ohlcv_core.schema
TABLES = ("bars_1m", "bars_5m", "bars_1h", "bars_1d")


def _series(*order: str) -> WindowSpec:
    return Window.partitionBy("table_name", "symbol").orderBy(*order)


def with_moves(bars: DataFrame) -> DataFrame:
    """prev_close, ret_z and flat_run."""
    ordered = _series("bar_start")
    prior = ordered.rowsBetween(-RETURNS_WINDOW, -1)
    moved = bars.withColumn("prev_close", F.lag("close").over(ordered))
    moved = moved.withColumn("_r", F.abs(F.log(F.col("close") / F.col("prev_close"))))
    # the scale of the moves that happened: a frozen stretch's zero returns would shrink it towards
    # nothing, and the first real move after one would look like a spike
    # (the median exactly as Spark's percentile(0.5) computes it, to the last bit, from the window's
    # sorted values: one window function instead of percentile's and count's, a third of the time)
    moved = moved.withColumn("_prior", F.array_sort(F.collect_list(F.expr("nullif(_r, 0)")).over(prior)))
    counted = F.size("_prior")
    lower, upper = F.element_at("_prior", F.floor((counted + 1) / 2).cast("int")), \
        F.element_at("_prior", F.floor(counted / 2 + 1).cast("int"))
    scale = F.when(counted > 0, (lower + upper) * 0.5) * ROBUST_SIGMA
    moved = moved.withColumn("ret_z", F.when((counted >= MIN_RETURNS) & (scale > 0), F.col("_r") / scale))
    still = (F.col("high") == F.col("low")) & (F.col("close") == F.col("prev_close"))
    # the bars since the last one that moved (one window spec throughout: Spark sorts each series once)
    position = F.row_number().over(ordered)
    moved_at = F.max(F.when(~still | still.isNull(), position)).over(
        ordered.rowsBetween(Window.unboundedPreceding, Window.currentRow))
    same = functools.reduce(lambda a, b: a & b, [F.col(c).eqNullSafe(F.lag(c).over(ordered))
                                                for c in ("open", "high", "low", "close", "volume")])
    return moved.select("*", (position - F.coalesce(moved_at, F.lit(0))).cast("bigint").alias("flat_run"),
                        F.when(same, 1).otherwise(0).cast("bigint").alias("repeats_previous")).drop("_r", "_prior")


# -- calendars -------------------------------------------------------------------------------------------
Markets = Mapping[str, str]  # symbol -> its calendar (ohlcv_core.calendars.market_of)
GRID_SCHEMA = StructType([StructField("market", StringType()), StructField("table_name", StringType()),
                          StructField("slot", StringType()), StructField("block", LongType()),
                          StructField("ordinal", LongType())])
GridRow = tuple[str, str, str, int, int]


def read_blocks(market: str, read: Iterable[date], *, intraday: bool) -> list[tuple[date, date]]:
    """The dates read, as runs the market trades through without a break: two read dates are in one run
    when no date between them that was not read holds session minutes (`intraday`) or is a trading day
    (a weekend between Friday and Monday does not break a run; an unread Wednesday does). Gaps are
    judged within a run only: across dates not read, the bar before is not the one before in the lake."""
    days = sorted(set(read))
    if not days:
        return []
    trading = set((sessions.minute_days if intraday else sessions.trading_days)(market, days[0], days[-1]))
    blocks = [[days[0], days[0]]]
    for day in days[1:]:
        between = (blocks[-1][1] + timedelta(days=k) for k in range(1, (day - blocks[-1][1]).days))
        if any(d.isoformat() in trading for d in between):
            blocks.append([day, day])
        else:
            blocks[-1][1] = day
    return [(first, last) for first, last in blocks]


def grid_rows(markets: Iterable[str], intraday: Sequence[date], daily: Sequence[date], *,
              intraday_spans: Mapping[str, tuple[date, date]] | None = None) -> list[GridRow]:
    """Every session slot of each market on the dates read, numbered in order within each run of them
    (read_blocks), keyed as the bars are: minutes and hours (of the `intraday` dates) by their start
    (epoch ms, as text), trading days (of the `daily` dates) by their date. With `intraday_spans`, a
    market's minutes and hours are those of its dates within its span only (none without one)."""
    rows: list[GridRow] = []
    for market in sorted(set(markets)):
        span = intraday_spans.get(market) if intraday_spans is not None else None
        read = intraday if intraday_spans is None else [d for d in intraday if span and span[0] <= d <= span[1]]
        for block, (first, last) in enumerate(read_blocks(market, read, intraday=True)):
            minutes = sessions.session_minutes(market, first, last)
            hours = sessions.session_hours(market, first, last) or []
            rows += [(market, "bars_1m", str(m), block, n) for n, m in enumerate(minutes)]
            rows += [(market, "bars_1h", str(h), block, n) for n, h in enumerate(hours)]
        for block, (first, last) in enumerate(read_blocks(market, daily, intraday=False)):
            rows += [(market, "bars_1d", d, block, n) for n, d in enumerate(sessions.trading_days(market, first, last))]
    return rows


def session_grid(spark: SparkSession, markets: Iterable[str], intraday: Sequence[date], daily: Sequence[date], *,
                 intraday_spans: Mapping[str, tuple[date, date]] | None = None) -> DataFrame:
    return spark.createDataFrame(grid_rows(markets, intraday, daily, intraday_spans=intraday_spans), GRID_SCHEMA)


def _slot() -> Column:
    return (F.when(F.col("table_name") == "bars_1d", F.col("dt"))
            .otherwise(F.unix_millis("bar_start").cast("string")))


def market_column(markets: Markets) -> Column:
    """Each row's calendar, by its symbol; null for a symbol whose calendar is not known (no markets at all:
    an empty map has no key type to look a symbol up with)."""
    if not markets:
        return F.lit(None).cast("string")
    return F.create_map(*[F.lit(x) for pair in sorted(markets.items()) for x in pair])[F.col("symbol")]


def with_gaps(bars: DataFrame, grid: DataFrame, markets: Markets) -> DataFrame:
    """in_session and missing_before, by each symbol's calendar (tables without a grid, and symbols with
    no known calendar: nulls, which the session rules pass)."""
    market = market_column(markets)
    keyed = bars.withColumn("market", market).withColumn("slot", _slot())
    joined = keyed.join(F.broadcast(grid), on=["market", "table_name", "slot"], how="left")
    gridded = F.col("market").isNotNull() & F.col("table_name").isin(*SLOT_KINDS)
    if "bars_1h" in SLOT_KINDS:  # exchanges' hourly bars are aligned to their open: no grid for them
        gridded = gridded & ((F.col("table_name") != "bars_1h") | F.col("market").isin(ALWAYS, FOREX))
    in_session = F.when(gridded, F.col("ordinal").isNotNull())
    earlier = _series("bar_start").rowsBetween(Window.unboundedPreceding, -1)
    before = F.last("ordinal", ignorenulls=True).over(earlier)
    same_run = F.col("block") == F.last("block", ignorenulls=True).over(earlier)
    gap = F.when(same_run, F.greatest(F.col("ordinal") - before - 1, F.lit(0))).otherwise(0)  # (a copy: no gap)
    return (joined.withColumn("in_session", in_session)
            .withColumn("missing_before", F.when(gridded & F.col("ordinal").isNotNull(), gap).cast("bigint"))
            .drop("market", "slot", "block", "ordinal"))


def with_freshness(bars: DataFrame, open_now: Mapping[str, bool], today: str) -> DataFrame:
    """is_last (the symbol's latest minute) and session_open_now (its market is open now, and that minute
    is of today)."""
    latest = Window.partitionBy("table_name", "symbol")
    is_last = (F.col("table_name") == "bars_1m") & (F.col("bar_start") == F.max("bar_start").over(latest))
    opened = [symbol for symbol, is_open in sorted(open_now.items()) if is_open]
    open_today = F.col("symbol").isin(*opened) & (F.col("dt") == today) if opened else F.lit(False)
    return bars.withColumn("is_last", is_last).withColumn("session_open_now", open_today)


def with_reconciliation(bars: DataFrame, ticks: DataFrame) -> DataFrame:
    """A REST minute against the streamed ticks' minute (`ticks`: symbol, minute_ms, close, volume,
    first_of_series): close in basis points, volume in percent (not for a series' first minute, whose
    volume the ticks cannot know whole)."""
    t = ticks.select("symbol", F.col("minute_ms").alias("_minute"), F.col("close").alias("_tick_close"),
                     F.when(~F.col("first_of_series"), F.col("volume")).alias("_tick_volume"))
    keyed = bars.withColumn("_minute", F.when((F.col("table_name") == "bars_1m") & (F.col("source") == "rest"),
                                              F.unix_millis("bar_start")))
    joined = keyed.join(t, on=["symbol", "_minute"], how="left")
    close_bps = F.abs(F.col("close") - F.col("_tick_close")) / F.col("close") * 10_000
    volume_pct = F.when(F.col("volume") > 0, F.abs(F.col("volume") - F.col("_tick_volume")) / F.col("volume") * 100)
    return (joined.withColumn("close_vs_ticks_bps", close_bps).withColumn("volume_vs_ticks_pct", volume_pct)
            .drop("_minute", "_tick_close", "_tick_volume"))


def with_day_check(bars: DataFrame, grid: DataFrame, markets: Markets) -> DataFrame:
    """A REST daily bar of an exchange against the day's 1-minute bars, when every session minute of the
    day has one: the largest of the close's, high's and low's differences, in percent."""
    exchanges = {s: m for s, m in markets.items() if m not in (ALWAYS, FOREX)}
    if not exchanges:
        return bars.withColumn("day_vs_minutes_pct", F.lit(None).cast("double"))
    market = market_column(exchanges)
    in_grid = grid.where("table_name = 'bars_1m'").select(F.col("market").alias("_market"),
                                                          F.col("slot").alias("_slot"))
    day_minutes = (bars.where(F.col("table_name") == "bars_1m").withColumn("_market", market)
                   .where(F.col("_market").isNotNull())
                   .withColumn("_slot", F.unix_millis("bar_start").cast("string"))
                   .join(F.broadcast(in_grid), on=["_market", "_slot"], how="left_semi")
                   .withColumn("_day", _local_day("_market", "bar_start", exchanges.values()))
                   .groupBy("symbol", "_day")
                   .agg(F.count(F.lit(1)).alias("_minutes"), F.max("high").alias("_m_high"),
                        F.min("low").alias("_m_low"), F.max_by("close", "bar_start").alias("_m_close")))
    expected = _expected_minutes(grid, exchanges.values())
    # (one row per symbol and day on both sides: broadcast, so the bars keep their series' partitioning)
    whole = (day_minutes.withColumn("_market", market).join(F.broadcast(expected), on=["_market", "_day"])
             .where(F.col("_minutes") == F.col("_expected")).drop("_market", "_expected", "_minutes"))
    daily = bars.withColumn("_day", F.when((F.col("table_name") == "bars_1d") & (F.col("source") == "rest"),
                                           F.col("dt")))
    joined = daily.join(F.broadcast(whole), on=["symbol", "_day"], how="left")
    pct = F.greatest(*[F.abs(F.col(name) - F.col(f"_m_{name}")) / F.col(name) * 100
                       for name in ("close", "high", "low")])
    return joined.withColumn("day_vs_minutes_pct", pct).drop("_day", "_m_high", "_m_low", "_m_close")


def _expected_minutes(grid: DataFrame, markets: Iterable[str]) -> DataFrame:
    """Session minutes per market and trading day (the venue's date of the minutes)."""
    minute = "timestamp_millis(cast(slot AS bigint))"
    return (grid.where("table_name = 'bars_1m'").withColumn("_day", _local_day("market", minute, markets))
            .groupBy(F.col("market").alias("_market"), "_day").agg(F.count(F.lit(1)).alias("_expected")))


def _local_day(market_sql: str, instant_sql: str, markets: Iterable[str]) -> Column:
    """yyyy-MM-dd of an instant in its market's zone (UTC where none is known)."""
    return zoned(market_sql, {code: market_zone(code) for code in markets},
                 lambda zone: f"date_format(from_utc_timestamp({instant_sql}, {zone}), 'yyyy-MM-dd')")


@functools.cache
def _zones() -> dict[str, str]:
    """Each exchange calendar's zone (ohlcv_core.calendars names the venues, exchange_calendars the zones)."""
    return {code: VENUE_TIME_ZONES[venue] for venue, code in VENUE_CALENDARS.items() if venue in VENUE_TIME_ZONES}


def market_zone(market: str) -> str:
    """The zone a market's trading days are dated in: its exchange's, UTC for forex and crypto."""
    return _zones().get(market, "UTC")


def checked_bars(bars: DataFrame, *, grid: DataFrame, markets: Markets, ticks: DataFrame | None,
                 open_now: Mapping[str, bool], today: str, dates: Sequence[str]) -> DataFrame:
    """Every measure beside the bars; only the bars of `dates` are kept (the others were context)."""
    steps: list[Callable[[DataFrame], DataFrame]] = [
        with_moves,
        lambda frame: with_gaps(frame, grid, markets),
        lambda frame: with_freshness(frame, open_now, today),
        lambda frame: with_day_check(frame, grid, markets),
    ]
    if ticks is not None:
        steps.append(lambda frame: with_reconciliation(frame, ticks))
    frame = functools.reduce(lambda acc, step: step(acc), steps, bars)
    if ticks is None:
        frame = frame.withColumn("close_vs_ticks_bps", F.lit(None).cast("double")).withColumn(
            "volume_vs_ticks_pct", F.lit(None).cast("double"))
    return frame.where(F.col("dt").isin(*dates)).select("table_name", *BAR_NAMES, "dt", *CHECK_COLUMNS)
