"""Compaction: the raw zone's events and REST bars of the given dates -> curated bars at every interval.

Arguments (Glue style):
  --raw_location s3://…/raw/kind=price/   --raw_bars_location s3://…/raw/kind=bar/
  --curated_location s3://…/ (the tables bars_1m, bars_5m, bars_1h, bars_1d live under it)
  --dates 2023-08-24[,…]   --target_file_mb N   --row_group_mb N   --late_after_s N   --keep_superseded_s N
  (their values are the job's DefaultArguments in cloudformation/template.yaml, their one definition)
  [--JOB_RUN_ID id]   [--ruleset <path>]   [--crash_at staged|publishing|rollups|retiring]  (fault injection)

Each named date is rebuilt whole (a rerun gives the same output); the day before is read for day_volume
baselines. REST 1-minute bars replace tick bars of the same minute (latest received wins between REST
answers that disagree, counted). Rollups are computed from the 1-minute bars; daily bars from the fresh
ones and the curated ones of the dates around, so a trading day that spans two UTC dates is always whole.
REST bars that fail a withhold rule of the quality ruleset (glue_jobs/ruleset.dqdl) are kept out, in
withheld_bars, with the rule. The intraday tables are written by one Spark write into the run's own
folder, bars_1d by a second (its partitions are years: each year the run touches is rebuilt from its
published days and the rebuilt ones; day partitions of the earlier layout are folded into their years and
retired), withheld bars, when there are any, by a third; then published partition by partition, each by
replacing its manifest (glue_jobs.publish): readers see the old partition or the new.
"""

from __future__ import annotations

import functools
import json
import logging
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import date as date_type
from datetime import timedelta
from typing import Any

from pyspark.sql import Column, DataFrame, Observation, SparkSession, Window, WindowSpec
from pyspark.sql import functions as F
from pyspark.sql.types import StructType

from glue_jobs.arguments import dates_option, number_option, resolve_options
from glue_jobs.evaluate import first_failed, load_ruleset, withhold_rules
from glue_jobs.job_metrics import emit, namespace_from, publisher_from
from glue_jobs.publish import CrashInjected, Publisher
from glue_jobs.session import apply_job_conf
from glue_jobs.spark_schema import spark_schema
from glue_jobs.store import ObjectStore, store_for
from ohlcv_core import config
from ohlcv_core.bars import MINUTE_MS, OFFICIAL
from ohlcv_core.calendars import VENUE_TIME_ZONES
from ohlcv_core.curated import partition_of, partitions_of
from ohlcv_core.dqdl import Rule, Ruleset
from ohlcv_core.emf import emf_line
from ohlcv_core.errors import ConfigError
from ohlcv_core.json_logs import log_as_json
from ohlcv_core.schema import (
    BAR_COLUMNS,
    DAILY_BAR_COLUMNS,
    INTRADAY_BAR_TABLES,
    RAW_BAR_COLUMNS,
    RAW_PRICE_COLUMNS,
    YEAR_PARTITIONED,
)

LOG = logging.getLogger(__name__)
JOB = "compaction"  # the metrics' Job dimension
REQUIRED = ("raw_location", "curated_location", "dates")
BYTES_PER_ROW = 64  # a curated bar row in snappy Parquet, about: sizes target files by record count
MIB = 1024 * 1024
BAR_NAMES = [c.name for c in BAR_COLUMNS]
# What bars and metrics need of a raw price record: Spark's JSON parsing costs by the column read.
PRICE_COLUMNS_USED = ("symbol", "exchange", "event_time_ms", "price", "day_volume", "arrival_ms",
                      "idempotency_key")


@dataclass(frozen=True)
class CompactionResult:
    run_id: str
    dates: tuple[str, ...]
    objects_in: int
    rows_in: int
    duplicates_removed: int
    late_rows: int
    rest_bars_in: int
    rest_conflicts: int
    partitions_published: int
    files_collected: int
    bars_out: dict[str, int]
    duration_s: float
    bars_withheld: int = 0


# -- reading ---------------------------------------------------------------------------------------------
def raw_paths(raw_location: str, dates: Sequence[str]) -> list[str]:
    return [f"{raw_location.rstrip('/')}/dt={date}/" for date in dates]


def neighbour_dates(dates: Sequence[str], before: int = 1, after: int = 0) -> list[str]:
    days = {date_type.fromisoformat(d) for d in dates}
    near = {(d + timedelta(days=k)).isoformat() for d in days for k in range(-before, after + 1)}
    return sorted(near - set(dates))


def existing_paths(spark: SparkSession, paths: list[str]) -> list[str]:
    """The paths that exist (S3 on Glue, files locally), through Hadoop's file system API: one glob per
    parent folder (a backfill's run names a hundred dates; a call each would be a hundred round trips)."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None, "a live SparkContext has a JVM gateway"
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    by_parent: dict[str, dict[str, str]] = {}
    for path in paths:
        parent, _, name = path.rstrip("/").rpartition("/")
        by_parent.setdefault(parent, {})[name] = path
    found: set[str] = set()
    for parent, names in by_parent.items():
        pattern = jvm.org.apache.hadoop.fs.Path(f"{parent}/{{{','.join(sorted(names))}}}")
        for status in pattern.getFileSystem(conf).globStatus(pattern) or []:
            found.add(names.get(status.getPath().getName(), ""))
    return [path for path in paths if path in found]


def empty_frame(spark: SparkSession, schema: StructType) -> DataFrame:
    """No rows, made in the JVM: createDataFrame([]) would start Python workers for nothing."""
    return spark.range(0).selectExpr(*[f"CAST(NULL AS {field.dataType.simpleString()}) AS `{field.name}`"
                                       for field in schema.fields])


def _read_json(spark: SparkSession, columns: Sequence[object], paths: list[str]) -> DataFrame:
    schema = spark_schema(tuple(columns))  # type: ignore[arg-type]
    if not paths:
        return empty_frame(spark, schema)
    # FAILFAST: a raw line that does not match the schema stops the run instead of becoming nulls.
    return spark.read.schema(schema).option("mode", "FAILFAST").option("recursiveFileLookup", "true").json(paths)


def in_dates(dates: Sequence[str]) -> Column:
    """Whether `event_time_ms` falls on one of the UTC dates: ranges of numbers, no date formatting per row;
    past a few dates (a backfill touches thousands), one lookup of the day's number in a set."""
    days = sorted({date_type.fromisoformat(d) for d in dates})
    if len(days) > 8:  # one SQL literal: Column.isin makes a JVM call per value
        numbers = ", ".join(str((day - date_type(1970, 1, 1)).days) for day in days)
        return F.expr(f"floor(event_time_ms / 86400000) IN ({numbers})")
    ranges = []
    for day in sorted({date_type.fromisoformat(d) for d in dates}):
        start = (day - date_type(1970, 1, 1)).days * 86_400_000
        ranges.append(F.col("event_time_ms").between(start, start + 86_399_999))
    return functools.reduce(lambda either, other: either | other, ranges, F.lit(False))


def price_events(raw: DataFrame, dates: Sequence[str], late_after_ms: int) -> DataFrame:
    """What the ordered pass needs of raw price records, with the metrics' flags computed before Spark
    shuffles the events (so the shuffle carries two booleans, not the timestamps they come from)."""
    return raw.select(*[name for name in PRICE_COLUMNS_USED if name != "arrival_ms"],
                      in_dates(dates).alias("_target"),
                      (F.col("arrival_ms") - F.col("event_time_ms") > late_after_ms).alias("_late"))


# -- tick bars ---------------------------------------------------------------------------------------------
def deduplicate(prices: DataFrame) -> DataFrame:
    """One row per idempotency key: the first received copy (deterministic on reruns)."""
    first = Window.partitionBy("idempotency_key").orderBy("received_at_ms", "arrival_ms", "source")
    return prices.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n")


def _series() -> WindowSpec:
    """Each symbol's events in event-time order; a key's copies sit together. (Copies differ only in when
    and how they were received, which no bar depends on, so which of them comes first does not matter.)
    The minute leads the order (it follows event time, so the order is the same): the pass's output is
    then already grouped the way minute_bars aggregates, and Spark sorts the events once, not twice."""
    return Window.partitionBy("symbol").orderBy("minute_ms", "event_time_ms", "day_volume", "price", "idempotency_key")


def _increment(previous: Column) -> Column:
    """ohlcv_core.bars.volume_increment as a Spark expression."""
    return (F.when(F.col("day_volume").isNull() | previous.isNull(), F.lit(None).cast("bigint"))
            .when(F.col("day_volume") >= previous, F.col("day_volume") - previous)
            .otherwise(F.col("day_volume")))


def ordered_events(prices: DataFrame) -> DataFrame:
    """One pass per symbol in event-time order: each event gets its minute (ohlcv_core.bars.minute_start_ms),
    its place in the series (`_seq`) and its volume increment; copies of an event (same key, so adjacent)
    after the first are marked `_dup`. (A copy has the same day_volume as its original, so the increments
    of the events kept are those of a deduplicated series.)"""
    series = _series()
    return (prices.withColumn("minute_ms", F.col("event_time_ms") - F.col("event_time_ms") % MINUTE_MS)
            .select("*", F.row_number().over(series).alias("_seq"),
                    F.lag("idempotency_key").over(series).eqNullSafe(F.col("idempotency_key")).alias("_dup"),
                    _increment(F.lag("day_volume").over(series)).alias("volume_increment")))


def minute_bars(events: DataFrame) -> DataFrame:
    """1-minute bars of ordered events; open/close are the first/last in the series. Copies (`_dup`) make
    no bar but are counted beside it, with every row and the late ones (`_late`), so one pass over the
    events gives both the bars and the run's metrics."""
    kept = ~F.col("_dup")
    bars = (events.groupBy("symbol", "minute_ms")
            .agg(F.max("exchange").alias("exchange"),
                 F.min_by("price", "_seq").alias("open"),
                 F.max("price").alias("high"),
                 F.min("price").alias("low"),
                 F.max_by("price", "_seq").alias("close"),
                 F.sum(F.when(kept, F.col("volume_increment"))).cast("double").alias("volume"),
                 F.count(F.when(kept, F.lit(1))).alias("tick_count"),
                 F.count(F.lit(1)).alias("rows_in"),
                 F.count(F.when(~kept, F.lit(1))).alias("duplicates"),
                 F.count(F.when(F.col("_late"), F.lit(1))).alias("late_rows")))
    bar_start = F.expr("timestamp_millis(minute_ms)")
    return bars.select("*", bar_start.alias("bar_start"), F.lit("ticks").alias("source"), F.lit(False).alias("final"),
                       F.date_format(bar_start, "yyyy-MM-dd").alias("dt"))


# -- REST bars -------------------------------------------------------------------------------------------
def resolve_rest_bars(bars: DataFrame, interval: str = "1min") -> DataFrame:
    """One REST bar of `interval` per symbol and start: the latest received (the documented rule);
    `rest_versions` says how many distinct answers there were for that bar."""
    unique = deduplicate(bars.where(F.col("interval") == interval))
    latest = Window.partitionBy("symbol", "event_time_ms").orderBy(
        F.col("received_at_ms").desc(), F.col("arrival_ms").desc(), "idempotency_key")
    ranked = unique.withColumn("_n", F.row_number().over(latest)).withColumn(
        "rest_versions", F.count(F.lit(1)).over(Window.partitionBy("symbol", "event_time_ms")))
    return ranked.where("_n = 1").select(
        "symbol", "exchange", F.col("event_time_ms").alias("minute_ms"), "open", "high", "low", "close",
        F.col("volume").cast("double").alias("volume"), "rest_versions")


TICK_TALLIES = ("rows_in", "duplicates", "late_rows")  # per minute, from minute_bars; summed for the run
TALLIES = (*TICK_TALLIES, "rest_versions")
ROLLUPS = ("bars_5m", "bars_1h", "bars_1d")


def merge_minutes(ticks: DataFrame, rest: DataFrame) -> DataFrame:
    """REST is authoritative for its minutes (final); ticks fill the others; tick counts are kept, and so
    are the per-minute tallies of both sides (TALLIES) for the run's metrics."""
    t, r = ticks.alias("t"), rest.alias("r")
    joined = t.join(r, on=["symbol", "minute_ms"], how="full_outer")
    has_rest = F.col("r.open").isNotNull()

    def pick(name: str) -> Column:
        return F.when(has_rest, F.col(f"r.{name}")).otherwise(F.col(f"t.{name}")).alias(name)

    merged = joined.select(
        "symbol", "minute_ms", F.coalesce("r.exchange", "t.exchange").alias("exchange"),
        pick("open"), pick("high"), pick("low"), pick("close"), pick("volume"),
        F.coalesce(F.col("t.tick_count"), F.lit(0)).cast("bigint").alias("tick_count"),
        F.when(has_rest, F.lit("rest")).otherwise(F.lit("ticks")).alias("source"),
        has_rest.alias("final"),
        *[F.coalesce(F.col(name), F.lit(0)).cast("bigint").alias(name) for name in TALLIES])
    bar_start = F.expr("timestamp_millis(minute_ms)")
    return merged.select("*", bar_start.alias("bar_start"), F.date_format(bar_start, "yyyy-MM-dd").alias("dt"))


# -- rollups ---------------------------------------------------------------------------------------------
def _rollup(bars: DataFrame, bucket: Column, dt: Column) -> DataFrame:
    """`source` is rest or ticks when every minute agrees, else mixed; `final` when every minute is.
    (Booleans rather than a set of sources: every buffer fixed-width, so Spark can hash-aggregate.)"""
    rest = F.col("source") == "rest"
    return (bars.groupBy("symbol", bucket.alias("bar_start"), dt.alias("dt"))
            .agg(F.max("exchange").alias("exchange"),
                 F.min_by("open", "bar_start").alias("open"), F.max("high").alias("high"), F.min("low").alias("low"),
                 F.max_by("close", "bar_start").alias("close"), F.sum("volume").alias("volume"),
                 F.sum("tick_count").alias("tick_count"), F.min(rest).alias("_all_rest"),
                 F.max(rest).alias("_any_rest"), F.min("final").alias("final"))
            .select("symbol", "exchange", "bar_start", "open", "high", "low", "close", "volume", "tick_count",
                    F.when(F.col("_all_rest"), F.lit("rest")).when(F.col("_any_rest"), F.lit("mixed"))
                    .otherwise(F.lit("ticks")).alias("source"), "final", "dt"))


def rollup_utc(bars_1m: DataFrame, seconds: int) -> DataFrame:
    """5-minute and 1-hour bars: UTC buckets, within the UTC date."""
    bucket = F.expr(f"timestamp_seconds(unix_timestamp(bar_start) - unix_timestamp(bar_start) % {seconds})")
    return _rollup(bars_1m, bucket, F.col("dt"))


def _sql_string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def zoned(key_sql: str, zones: Mapping[str, str], of: Callable[[str], str]) -> Column:
    """`of(zone)`, SQL over one zone literal, in each row's zone: the zone `zones` gives the row's
    `key_sql`, UTC where it gives none. A CASE over literal zones, as one SQL expression: a zone read
    from a column is parsed again for every row, and each Column is a round trip to the JVM."""
    keys_of: dict[str, list[str]] = {}
    for key, zone in sorted(zones.items()):
        keys_of.setdefault(zone, []).append(key)
    branches = " ".join(f"WHEN {key_sql} IN ({', '.join(map(_sql_string, keys))}) THEN {of(_sql_string(zone))}"
                        for zone, keys in sorted(keys_of.items()))
    utc = of(_sql_string("UTC"))
    return F.expr(f"CASE {branches} ELSE {utc} END" if branches else utc)


def _in_venue_zone(of: Callable[[str], str]) -> Column:
    """`of(zone)` in the zone of the venue the curated bars name (`exchange`), for fresh minutes and
    published ones alike (ohlcv_core.calendars); UTC for 24/7 instruments."""
    return zoned("upper(exchange)", VENUE_TIME_ZONES, of)


def trading_day() -> Column:
    """The date of `bar_start` in the venue's zone (UTC for 24/7 instruments)."""
    return F.to_date(_in_venue_zone(lambda zone: f"from_utc_timestamp(bar_start, {zone})"))


def rollup_daily(bars_1m: DataFrame) -> DataFrame:
    """Daily bars by trading day; bar_start is that day's midnight in the venue's zone, in UTC."""
    midnight = _in_venue_zone(
        lambda zone: f"to_utc_timestamp(to_timestamp(to_date(from_utc_timestamp(bar_start, {zone}))), {zone})")
    return _rollup(bars_1m, midnight, F.date_format(trading_day(), "yyyy-MM-dd"))


def with_official(rollup: DataFrame, rest: DataFrame, seconds: int, daily: bool) -> DataFrame:
    """The REST bars of a table's interval win over its rollup: a rollup bar whose span overlaps one (the
    same bucket, or a venue's differently aligned one) gives way to it. A REST bar keeps the tick count of
    the rollup bars it replaces; it is final, its source `rest`."""
    official = rest.select("symbol", "exchange", F.expr("timestamp_millis(minute_ms)").alias("bar_start"),
                           "open", "high", "low", "close", "volume")
    official = official.withColumn("dt", F.date_format(trading_day() if daily else F.col("bar_start"), "yyyy-MM-dd"))
    b, r = rollup.alias("b"), official.alias("r")
    # a trading day is one dt (adjacent midnights are 23 or 25 hours apart when the clocks change)
    same_span = (F.col("b.dt") == F.col("r.dt")) if daily else (
        F.abs(F.unix_timestamp("b.bar_start") - F.unix_timestamp("r.bar_start")) < seconds)
    overlap = (F.col("b.symbol") == F.col("r.symbol")) & same_span
    kept = b.join(r, overlap, "left_anti")
    ticks = (r.join(b, overlap, "left")
             .groupBy("r.symbol", "r.bar_start")
             .agg(F.coalesce(F.sum("b.tick_count"), F.lit(0)).cast("bigint").alias("tick_count"))
             .withColumnRenamed("symbol", "_symbol").withColumnRenamed("bar_start", "_start"))
    replaced = (official.join(ticks, (official.symbol == ticks._symbol) & (official.bar_start == ticks._start))
                .select("symbol", "exchange", "bar_start", "open", "high", "low", "close", "volume", "tick_count",
                        F.lit("rest").alias("source"), F.lit(True).alias("final"), "dt"))
    return kept.select(*BAR_NAMES, "dt").unionByName(replaced.select(*BAR_NAMES, "dt"))


# -- the run ---------------------------------------------------------------------------------------------
def dt_of_file() -> Column:
    """The day of a file a run wrote into a day's partition: its folder is dt=<date>/ (ohlcv_core.curated)."""
    return F.regexp_extract(F.input_file_name(), r"/dt=(\d{4}-\d{2}-\d{2})/", 1)


def dt_in(dts: Sequence[str]) -> Column:
    """Whether the row's dt is one of `dts`: one SQL literal (Column.isin makes a JVM call per value)."""
    if not dts:
        return F.lit(False)
    return F.expr("dt IN (" + ", ".join(_sql_string(day) for day in sorted(set(dts))) + ")")


def read_partitions(spark: SparkSession, publisher: Publisher, table: str, partitions: Sequence[str]) -> DataFrame:
    """The bars of a table's published partitions, each with its day (dt): a column of a year's partition,
    the folder its run wrote a day's partition in."""
    frames = []
    years = [part for part in partitions if not part.startswith("dt=")]
    if files := publisher.files(table, years):
        frames.append(spark.read.schema(spark_schema(DAILY_BAR_COLUMNS)).parquet(*files))
    if files := publisher.files(table, [part for part in partitions if part.startswith("dt=")]):
        frames.append(spark.read.schema(spark_schema(BAR_COLUMNS)).parquet(*files).withColumn("dt", dt_of_file()))
    if not frames:
        return empty_frame(spark, spark_schema(DAILY_BAR_COLUMNS))
    return functools.reduce(DataFrame.unionByName, frames)


def read_published(spark: SparkSession, publisher: Publisher, table: str, dts: Sequence[str]) -> DataFrame:
    """A table's published bars of the days `dts`, with their dt."""
    frame = read_partitions(spark, publisher, table, partitions_of(table, dts))
    return frame if table not in YEAR_PARTITIONED else frame.where(dt_in(dts))


def write_tables(tables: dict[str, DataFrame], folder: str, *, max_records_per_file: int,
                 row_group_bytes: int, by: str = "dt") -> None:
    """Tables partitioned alike in one Spark write (each write has fixed costs that, for the small
    rollups, outweigh their work), partitioned by table and `by`, appended to the run's own folder
    (Publisher.begin refuses a run id used before). A partition is written by one task, sorted by symbol
    and time, so its files and each file's row groups hold consecutive symbols: a reader looking for one
    symbol skips every file and row group whose statistics leave it out."""
    union = functools.reduce(DataFrame.unionByName,
                             [frame.withColumn("table", F.lit(name)) for name, frame in tables.items()])
    # The sort leads with the partition columns: the writer needs its input in that order, and a sort it
    # added itself (on those columns alone, not stable) would scramble the symbols.
    (union.repartition("table", by).sortWithinPartitions("table", by, "symbol", "bar_start")
     .write.mode("append").option("maxRecordsPerFile", max_records_per_file)
     .option("parquet.block.size", row_group_bytes)
     .partitionBy("table", by).parquet(folder))


def daily_years(spark: SparkSession, publisher: Publisher, rebuilt: DataFrame, *, trading_days: Sequence[str],
                years: Sequence[str], outdated: Sequence[str]) -> DataFrame:
    """bars_1d's years, whole: the rebuilt trading days, the other days their partitions hold now, and
    the days only a partition of the earlier layout (a day's folder) holds, with the year to write under."""
    rebuilt_days = dt_in(trading_days)
    kept = read_partitions(spark, publisher, "bars_1d", years).where(~rebuilt_days)
    earlier = read_partitions(spark, publisher, "bars_1d", outdated).where(~rebuilt_days)
    earlier = earlier.join(kept.select("dt").distinct(), "dt", "left_anti")
    days = functools.reduce(DataFrame.unionByName,
                            [frame.select(*BAR_NAMES, "dt") for frame in (rebuilt, kept, earlier)])
    return days.withColumn("year", F.substring("dt", 1, 4))


# -- withholding ----------------------------------------------------------------------------------------
WITHHELD = "withheld_bars"


def withhold(rest: DataFrame, table: str, rules: Sequence[Rule], now_s: float) -> tuple[DataFrame, DataFrame]:
    """REST bars (resolve_rest_bars) split by the ruleset's withhold rules: those every rule passes, as
    they came, and the others as withheld_bars rows (table_name, the bar, the first rule it failed, dt).
    A withheld REST bar replaces nothing: the tick bar or rollup of its span stays. (Tick bars are built
    from validated prices, their high and low the extremes of the prices that make their open and close:
    they cannot fail these rules.)"""
    if not rules:
        return rest, rest.limit(0)
    bar_start = F.expr("timestamp_millis(minute_ms)")
    shaped = rest.select("*", bar_start.alias("bar_start"), F.lit(table).alias("table_name"),
                         F.lit(0).cast("bigint").alias("tick_count"), F.lit("rest").alias("source"),
                         F.lit(True).alias("final"))
    tagged = shaped.withColumn("_rule", first_failed(rules, now_s))
    day = trading_day() if table == "bars_1d" else F.col("bar_start")
    held = tagged.where(F.col("_rule").isNotNull()).select(
        "table_name", *BAR_NAMES, F.col("_rule").alias("rule"), F.date_format(day, "yyyy-MM-dd").alias("dt"))
    return tagged.where(F.col("_rule").isNull()).select(*rest.columns), held


def write_withheld(frames: Sequence[DataFrame], folder: str) -> int:
    """What was withheld, beside the tables the run wrote (as table=withheld_bars), if anything was."""
    held = functools.reduce(DataFrame.unionByName, frames) if frames else None
    if held is None:
        return 0
    held = held.cache()
    count = held.count()
    if count:
        held.repartition("dt").sortWithinPartitions("dt", "table_name", "symbol", "bar_start").write.mode(
            "errorifexists").partitionBy("dt").parquet(f"{folder.rstrip('/')}/table={WITHHELD}")
    held.unpersist()
    return count


CRASH_POINTS = ("staged", "publishing", "rollups", "retiring")


def compact(spark: SparkSession, *, raw_location: str, raw_bars_location: str | None, curated_location: str,
            dates: Sequence[str], run_id: str, target_file_mb: float, row_group_mb: float, late_after_s: float,
            keep_superseded_s: float, store: ObjectStore | None = None,
            clock: Callable[[], float] = time.time, crash_at: str | None = None,
            ruleset: Ruleset | None = None) -> CompactionResult:
    started = time.monotonic()
    rules = withhold_rules(ruleset or load_ruleset())
    if crash_at is not None and crash_at not in CRASH_POINTS:
        raise ConfigError(f"--crash_at must be one of {', '.join(CRASH_POINTS)}, got {crash_at!r}")
    apply_job_conf(spark)
    curated = curated_location.rstrip("/")
    publisher = Publisher(store or store_for(curated), curated, keep_superseded_s=keep_superseded_s, clock=clock)
    # A venue's trading day is at most one UTC date away from its minutes': daily bars are rebuilt for
    # every trading day a minute of the dates can fall on.
    trading_days = sorted({*dates, *neighbour_dates(dates, before=1, after=1)})
    partitions, outdated = run_partitions(publisher, dates, trading_days)
    years = partitions["bars_1d"]
    folder = publisher.begin(run_id, {**partitions, "bars_1d": [*years, *outdated]})
    price_paths = existing_paths(spark, raw_paths(raw_location, [*dates, *neighbour_dates(dates)]))
    columns = [c for c in RAW_PRICE_COLUMNS if c.name in PRICE_COLUMNS_USED]
    raw_prices = _read_json(spark, columns, price_paths)
    objects_in = len([f for f in raw_prices.inputFiles() if any(f"/dt={d}/" in f for d in dates)])
    ticks = minute_bars(ordered_events(price_events(raw_prices, dates, int(late_after_s * 1000))).where("_target"))

    # REST bars: of the dates, and (daily bars) of the trading days rebuilt, whose midnight may be a UTC
    # date away
    bar_paths = existing_paths(spark, raw_paths(raw_bars_location, trading_days)) if raw_bars_location else []
    all_bars = _read_json(spark, RAW_BAR_COLUMNS, bar_paths)
    if bar_paths:  # read by the minutes, the rollups' official bars and the withheld ones
        all_bars = all_bars.cache()
    raw_bars = all_bars.where(in_dates(dates))
    now_s = clock()
    rest_1m, held_1m = withhold(resolve_rest_bars(raw_bars), "bars_1m", rules, now_s)
    held = [held_1m] if bar_paths and rules else []
    # Cached: the four tables below read it, and the events are read, ordered and aggregated once. A minute
    # holds dozens of events, so the bars are far fewer: one partition a core is plenty for the rollups, and
    # every further partition is another task for each of them. The run's tallies, summed from it first,
    # fill the cache before the write reads it four times.
    bars_1m = (merge_minutes(ticks, rest_1m)
               .coalesce(spark.sparkContext.defaultParallelism).cache())
    tally = run_tallies(bars_1m)
    fresh = bars_1m.select(*BAR_NAMES, "dt")
    # 5-minute and 1-hour buckets never leave their UTC date. Each trading day is rebuilt from every
    # minute that can fall on it (the fresh ones and the published ones of two dates either side), so
    # each is whole; a day no fresh minute fell on comes out as it was.
    neighbours = read_published(spark, publisher, "bars_1m", neighbour_dates(dates, before=2, after=2))
    minutes = fresh.unionByName(neighbours)
    # One Spark write for the intraday tables, one for bars_1d's years; the rollups' sizes are observed
    # while they run (bars_1d's: its rebuilt days).
    counted = {name: Observation(f"{run_id}-{name}") for name in ROLLUPS}
    # The REST intervals present decide which rollups have official bars to give way to (one small read of
    # the bar records, when there are any: a live day is spared the joins).
    present = {row[0] for row in all_bars.select("interval").distinct().collect()} if bar_paths else set()

    def official(table: str, rollup: DataFrame, bars: DataFrame) -> DataFrame:
        interval, seconds = OFFICIAL[table]
        if interval not in present:
            return rollup
        rest, withheld = withhold(resolve_rest_bars(bars, interval), table, rules, now_s)
        held.append(withheld)
        return with_official(rollup, rest, seconds, daily=table == "bars_1d")

    rollups = {table: official(table, rollup_utc(fresh, OFFICIAL[table][1]), raw_bars)
               for table in ("bars_5m", "bars_1h")}
    rebuilt = official("bars_1d", rollup_daily(minutes), all_bars).where(dt_in(trading_days))
    records, row_group = max(1000, int(target_file_mb * MIB / BYTES_PER_ROW)), int(row_group_mb * MIB)
    write_tables({"bars_1m": bars_1m.select(*BAR_NAMES, "dt"),
                  **{name: rollup.observe(counted[name], F.count(F.lit(1)).alias("rows"))
                     for name, rollup in rollups.items()}},
                 folder, max_records_per_file=records, row_group_bytes=row_group)
    daily = daily_years(spark, publisher, rebuilt, trading_days=trading_days, years=years, outdated=outdated)
    write_tables({"bars_1d": daily.observe(counted["bars_1d"], F.count(F.when(dt_in(trading_days), F.lit(1)))
                                           .alias("rows"))},
                 folder, max_records_per_file=records, row_group_bytes=row_group, by="year")
    bars_1m.unpersist()
    bars_withheld = write_withheld(held if rules else [], folder)
    all_bars.unpersist()
    if crash_at == "staged":
        raise CrashInjected("crash injected between the write and the first publication")
    written = publisher.written(run_id)
    published = publish_run(publisher, partitions, outdated, written, crash_at)
    collected = publisher.finish(run_id)
    return CompactionResult(run_id, tuple(dates), objects_in, tally["rows_in"], tally["duplicates"],
                            tally["late_rows"], tally["rest_bars"], tally["rest_conflicts"],
                            published, collected.files_deleted,
                            {"bars_1m": tally["rows"],
                             **{name: _observed_rows(counted[name], name, written) for name in ROLLUPS}},
                            round(time.monotonic() - started, 3), bars_withheld)


def run_partitions(publisher: Publisher, dates: Sequence[str],
                   trading_days: Sequence[str]) -> tuple[dict[str, list[str]], list[str]]:
    """The partitions a run publishes, by table, and bars_1d's day partitions of the earlier layout it
    folds into their years (the years of those, and of the trading days, are bars_1d's partitions)."""
    outdated = publisher.outdated("bars_1d")
    years = sorted({*partitions_of("bars_1d", trading_days),
                    *(partition_of("bars_1d", part.partition("=")[2]) for part in outdated)})
    return ({**{table: partitions_of(table, dates) for table in INTRADAY_BAR_TABLES}, "bars_1d": years,
             WITHHELD: partitions_of(WITHHELD, trading_days)}, outdated)


def publish_run(publisher: Publisher, partitions: Mapping[str, Sequence[str]], outdated: Sequence[str],
                written: Mapping[tuple[str, str], Sequence[str]], crash_at: str | None) -> int:
    """Every partition the run wrote, then the outdated ones retired (their days are in the years now)."""
    published = 0
    for table, parts in partitions.items():
        published += publisher.publish(table, parts, written, crash_after_first=crash_at == "publishing")
        if crash_at == "rollups":
            raise CrashInjected("crash injected after bars_1m, before the rollups")
    if crash_at == "retiring":
        raise CrashInjected("crash injected after publishing, before retiring bars_1d's day partitions")
    if outdated:
        LOG.info("bars_1d: %d day partition(s) of the earlier layout folded into %s, and retired",
                 publisher.retire("bars_1d", outdated), ", ".join(partitions["bars_1d"]))
    return published


def run_tallies(bars_1m: DataFrame) -> dict[str, int]:
    """The run's metrics, summed from the 1-minute table's per-minute tallies."""
    (row,) = bars_1m.agg(
        F.count(F.lit(1)).alias("rows"), *[F.sum(name).alias(name) for name in TICK_TALLIES],
        F.count(F.when(F.col("source") == "rest", F.lit(1))).alias("rest_bars"),
        F.count(F.when(F.col("rest_versions") > 1, F.lit(1))).alias("rest_conflicts")).collect()
    return {name: int(value or 0) for name, value in row.asDict().items()}


def metric_lines(result: CompactionResult, timestamp_ms: int,
                 namespace: str = config.DEFAULT_METRICS_NAMESPACE) -> list[str]:
    """The run's figures, as the dashboard and alarms read them (Job: compaction)."""
    return [emf_line(namespace, timestamp_ms, {"Job": JOB}, {
        "RawObjects": (float(result.objects_in), "Count"), "RawRows": (float(result.rows_in), "Count"),
        "DuplicatesRemoved": (float(result.duplicates_removed), "Count"),
        "LateRows": (float(result.late_rows), "Count"), "RestConflicts": (float(result.rest_conflicts), "Count"),
        "BarsPublished": (float(sum(result.bars_out.values())), "Count"),
        "BarsWithheld": (float(result.bars_withheld), "Count"),
        "PartitionsPublished": (float(result.partitions_published), "Count"),
        "RunSeconds": (result.duration_s, "Seconds")})]


def _observed_rows(observation: Observation, table: str, written: Mapping[tuple[str, str], Sequence[str]]) -> int:
    """A rollup's rows, as observed while it was written. A table the write left no file of had no rows:
    0, without asking, since Spark 3.5.4 (Glue 5.0's) never completes an observation of a plan that ran
    no task (an empty input), and `get` would wait for it until the job's timeout."""
    if not any(name == table for name, _ in written):
        return 0
    return int(observation.get.get("rows") or 0)


def main(argv: Sequence[str] | None = None, spark: SparkSession | None = None,
         cloudwatch: Any | None = None) -> CompactionResult:
    """`cloudwatch`: the client `--publish_metrics true` puts the run's metrics with (default: Glue's own)."""
    options = resolve_options(sys.argv[1:] if argv is None else argv, REQUIRED)
    dates = dates_option(options, "dates")
    session = spark or SparkSession.builder.getOrCreate()
    result = compact(session, raw_location=options["raw_location"],
                     raw_bars_location=options.get("raw_bars_location"),
                     curated_location=options["curated_location"], dates=dates,
                     run_id=options.get("JOB_RUN_ID") or f"run-{uuid.uuid4().hex[:12]}",
                     target_file_mb=number_option(options, "target_file_mb", minimum=0.01),
                     row_group_mb=number_option(options, "row_group_mb", minimum=0.01),
                     late_after_s=number_option(options, "late_after_s"),
                     keep_superseded_s=number_option(options, "keep_superseded_s"),
                     crash_at=options.get("crash_at"), ruleset=load_ruleset(options.get("ruleset")))
    LOG.info("compaction finished %s", json.dumps(asdict(result)))
    emit(metric_lines(result, int(time.time() * 1000), namespace_from(options)), LOG.info,
         publisher_from(options, cloudwatch))
    return result


if __name__ == "__main__":
    log_as_json(JOB)  # on Glue: JSON lines with the Lambdas' keys, the job's metrics name as the service
    main()
