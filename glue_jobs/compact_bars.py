"""Compaction: the raw zone's events and REST bars of the given dates -> curated bars at every interval.

Arguments (Glue style):
  --raw_location s3://…/raw/kind=price/   --raw_bars_location s3://…/raw/kind=bar/
  --curated_location s3://…/ (the tables bars_1m, bars_5m, bars_1h, bars_1d live under it)
  --dates 2023-08-24[,…]   [--target_file_mb 128]   [--late_after_s 300]   [--JOB_RUN_ID id]
  [--crash_at staged|swapping|rollups]  (fault injection for the crash tests)

Each named date is rebuilt whole (a rerun gives the same output); the day before is read for day_volume
baselines. REST 1-minute bars replace tick bars of the same minute (latest received wins between REST
answers that disagree, counted). Rollups are computed from the curated 1-minute table, so a trading day
that spans two UTC dates is always whole. Every table is staged, then swapped in partition by partition.
"""

from __future__ import annotations

import json
import logging
import sys
import time
import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date as date_type
from datetime import timedelta

from pyspark.sql import Column, DataFrame, SparkSession, Window, WindowSpec
from pyspark.sql import functions as F

from glue_jobs.arguments import resolve_options
from glue_jobs.session import apply_job_conf
from glue_jobs.spark_schema import spark_schema
from glue_jobs.swap import PartitionSwap
from ohlcv_core.bars import MINUTE_MS
from ohlcv_core.calendars import VENUE_TIME_ZONES
from ohlcv_core.errors import ConfigError
from ohlcv_core.schema import BAR_COLUMNS, RAW_BAR_COLUMNS, RAW_PRICE_COLUMNS

LOG = logging.getLogger(__name__)
REQUIRED = ("raw_location", "curated_location", "dates")
BYTES_PER_ROW = 64  # a curated bar row in snappy Parquet, about: sizes target files by record count
BAR_NAMES = [c.name for c in BAR_COLUMNS]
# What bars need of a raw price record: reading only these makes Spark's JSON parsing cheaper.
PRICE_COLUMNS_USED = frozenset({"symbol", "exchange", "mic_code", "event_time_ms", "price", "day_volume",
                                "received_at_ms", "arrival_ms", "source", "idempotency_key"})


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
    partitions_rewritten: int
    bars_out: dict[str, int]
    duration_s: float


# -- reading ---------------------------------------------------------------------------------------------
def raw_paths(raw_location: str, dates: Sequence[str]) -> list[str]:
    return [f"{raw_location.rstrip('/')}/dt={date}/" for date in dates]


def neighbour_dates(dates: Sequence[str], before: int = 1, after: int = 0) -> list[str]:
    days = {date_type.fromisoformat(d) for d in dates}
    near = {(d + timedelta(days=k)).isoformat() for d in days for k in range(-before, after + 1)}
    return sorted(near - set(dates))


def existing_paths(spark: SparkSession, paths: list[str]) -> list[str]:
    """The paths that exist (S3 on Glue, files locally), through Hadoop's file system API."""
    jvm = spark.sparkContext._jvm
    assert jvm is not None, "a live SparkContext has a JVM gateway"
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    kept = []
    for path in paths:
        hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
        if hadoop_path.getFileSystem(conf).exists(hadoop_path):
            kept.append(path)
    return kept


def _read_json(spark: SparkSession, columns: Sequence[object], paths: list[str]) -> DataFrame:
    schema = spark_schema(tuple(columns))  # type: ignore[arg-type]
    if not paths:
        return spark.createDataFrame([], schema)
    # FAILFAST: a raw line that does not match the schema stops the run instead of becoming nulls.
    return spark.read.schema(schema).option("mode", "FAILFAST").option("recursiveFileLookup", "true").json(paths)


def event_date(frame: DataFrame) -> DataFrame:
    return frame.withColumn("_dt", F.date_format(F.expr("timestamp_millis(event_time_ms)"), "yyyy-MM-dd"))


# -- tick bars ---------------------------------------------------------------------------------------------
def deduplicate(prices: DataFrame) -> DataFrame:
    """One row per idempotency key: the first received copy (deterministic on reruns)."""
    first = Window.partitionBy("idempotency_key").orderBy("received_at_ms", "arrival_ms", "source")
    return prices.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n")


def _series() -> WindowSpec:
    """Each symbol's events in event-time order; a key's copies sit together, the first received first."""
    return Window.partitionBy("symbol").orderBy("event_time_ms", "day_volume", "price", "idempotency_key",
                                                "received_at_ms", "arrival_ms", "source")


def _increment(previous: Column) -> Column:
    """ohlcv_core.bars.volume_increment as a Spark expression."""
    return (F.when(F.col("day_volume").isNull() | previous.isNull(), F.lit(None).cast("bigint"))
            .when(F.col("day_volume") >= previous, F.col("day_volume") - previous)
            .otherwise(F.col("day_volume")))


def ordered_events(prices: DataFrame) -> DataFrame:
    """One pass per symbol in event-time order: copies of an event (same key, so adjacent) after the first
    received are marked `_dup`, and every event gets its volume increment. (A copy has the same day_volume
    as its original, so the increments of the events kept are those of a deduplicated series.)"""
    return (prices.withColumn("_dup", F.lag("idempotency_key").over(_series()).eqNullSafe(F.col("idempotency_key")))
            .withColumn("volume_increment", _increment(F.lag("day_volume").over(_series()))))


def minute_bars(prices: DataFrame) -> DataFrame:
    """ohlcv_core.bars.minute_start_ms buckets; open/close are the first/last events by event time."""
    order = F.struct("event_time_ms", F.coalesce("day_volume", F.lit(-1)), "price", "idempotency_key")
    bars = (prices.withColumn("minute_ms", F.col("event_time_ms") - F.col("event_time_ms") % MINUTE_MS)
            .groupBy("symbol", "minute_ms")
            .agg(F.max("exchange").alias("exchange"), F.max("mic_code").alias("mic_code"),
                 F.min_by("price", order).alias("open"),
                 F.max("price").alias("high"),
                 F.min("price").alias("low"),
                 F.max_by("price", order).alias("close"),
                 F.sum("volume_increment").cast("double").alias("volume"),
                 F.count(F.lit(1)).alias("tick_count")))
    return (bars.withColumn("bar_start", F.expr("timestamp_millis(minute_ms)"))
            .withColumn("source", F.lit("ticks")).withColumn("final", F.lit(False))
            .withColumn("dt", F.date_format("bar_start", "yyyy-MM-dd")))


# -- REST bars -------------------------------------------------------------------------------------------
def resolve_rest_bars(bars: DataFrame) -> tuple[DataFrame, Column]:
    """One 1-minute REST bar per symbol and minute: the latest received (the documented rule)."""
    unique = deduplicate(bars.where(F.col("interval") == "1min"))
    latest = Window.partitionBy("symbol", "event_time_ms").orderBy(
        F.col("received_at_ms").desc(), F.col("arrival_ms").desc(), "idempotency_key")
    ranked = unique.withColumn("_n", F.row_number().over(latest)).withColumn(
        "_versions", F.count(F.lit(1)).over(Window.partitionBy("symbol", "event_time_ms")))
    chosen = ranked.where("_n = 1")
    conflicts = F.sum(F.when(F.col("_versions") > 1, 1).otherwise(0))
    rest = chosen.select(
        "symbol", "exchange", "mic_code", F.col("event_time_ms").alias("minute_ms"), "open", "high", "low", "close",
        F.col("volume").cast("double").alias("volume"), F.col("_versions"))
    return rest, conflicts


def merge_minutes(ticks: DataFrame, rest: DataFrame) -> DataFrame:
    """REST is authoritative for its minutes (final); ticks fill the others; tick counts are kept."""
    t, r = ticks.alias("t"), rest.alias("r")
    joined = t.join(r, on=["symbol", "minute_ms"], how="full_outer")
    has_rest = F.col("r.open").isNotNull()

    def pick(name: str) -> Column:
        return F.when(has_rest, F.col(f"r.{name}")).otherwise(F.col(f"t.{name}")).alias(name)

    merged = joined.select(
        "symbol", "minute_ms", F.coalesce("r.exchange", "t.exchange").alias("exchange"),
        F.coalesce("r.mic_code", "t.mic_code").alias("mic_code"),
        pick("open"), pick("high"), pick("low"), pick("close"), pick("volume"),
        F.coalesce(F.col("t.tick_count"), F.lit(0)).cast("bigint").alias("tick_count"),
        F.when(has_rest, F.lit("rest")).otherwise(F.lit("ticks")).alias("source"),
        has_rest.alias("final"))
    return (merged.withColumn("bar_start", F.expr("timestamp_millis(minute_ms)"))
            .withColumn("dt", F.date_format("bar_start", "yyyy-MM-dd")))


# -- rollups ---------------------------------------------------------------------------------------------
def _rollup(bars: DataFrame, bucket: Column, dt: Column) -> DataFrame:
    order = F.col("bar_start")
    sources = F.collect_set("source")
    return (bars.withColumn("_bucket", bucket).withColumn("_dt", dt)
            .groupBy("symbol", "_bucket", "_dt")
            .agg(F.max("exchange").alias("exchange"),
                 F.min_by("open", order).alias("open"), F.max("high").alias("high"), F.min("low").alias("low"),
                 F.max_by("close", order).alias("close"), F.sum("volume").alias("volume"),
                 F.sum("tick_count").alias("tick_count"), sources.alias("_sources"),
                 F.min(F.col("final").cast("int")).cast("boolean").alias("final"))
            .select("symbol", "exchange", F.col("_bucket").alias("bar_start"), "open", "high", "low", "close",
                    "volume", "tick_count",
                    F.when(F.size("_sources") > 1, F.lit("mixed")).otherwise(F.element_at("_sources", 1))
                    .alias("source"), "final", F.col("_dt").alias("dt")))


def rollup_utc(bars_1m: DataFrame, seconds: int) -> DataFrame:
    """5-minute and 1-hour bars: UTC buckets, within the UTC date."""
    bucket = F.expr(f"timestamp_seconds(unix_timestamp(bar_start) - unix_timestamp(bar_start) % {seconds})")
    return _rollup(bars_1m, bucket, F.col("dt"))


def trading_zone() -> Column:
    venues = F.create_map(*[F.lit(x) for pair in VENUE_TIME_ZONES.items() for x in pair])
    return F.coalesce(venues[F.upper(F.col("mic_code"))], venues[F.upper(F.col("exchange"))], F.lit("UTC"))


def rollup_daily(bars_1m: DataFrame) -> DataFrame:
    """Daily bars by trading day: the date in the venue's zone (UTC for 24/7 instruments); bar_start is
    that day's midnight there, in UTC."""
    zone = trading_zone()
    day = F.to_date(F.from_utc_timestamp("bar_start", zone))
    midnight = F.to_utc_timestamp(F.to_timestamp(day), zone)
    return _rollup(bars_1m.withColumn("_zone", zone), midnight, F.date_format(day, "yyyy-MM-dd"))


# -- the run ---------------------------------------------------------------------------------------------
def _read_curated_1m(spark: SparkSession, curated: str, dates: Sequence[str]) -> DataFrame:
    paths = existing_paths(spark, [f"{curated}/bars_1m/dt={d}/" for d in dates])
    schema = spark_schema(BAR_COLUMNS)
    if not paths:
        return spark.createDataFrame([], schema).withColumn("dt", F.lit(None).cast("string"))
    return (spark.read.option("basePath", f"{curated}/bars_1m/").schema(schema).parquet(*paths)
            .withColumn("dt", F.date_format("bar_start", "yyyy-MM-dd")))


def compact(spark: SparkSession, *, raw_location: str, raw_bars_location: str | None, curated_location: str,
            dates: Sequence[str], run_id: str, target_file_mb: float = 128.0, late_after_s: float = 300.0,
            crash_at: str | None = None) -> CompactionResult:
    started = time.monotonic()
    apply_job_conf(spark)
    curated = curated_location.rstrip("/")
    swap = PartitionSwap(spark, curated)
    swap.recover()
    target = F.col("_dt").isin(list(dates))
    price_paths = existing_paths(spark, raw_paths(raw_location, [*dates, *neighbour_dates(dates)]))
    columns = [c for c in RAW_PRICE_COLUMNS if c.name in PRICE_COLUMNS_USED]
    raw_prices = _read_json(spark, columns, price_paths)
    objects_in = len([f for f in raw_prices.inputFiles() if any(f"/dt={d}/" in f for d in dates)])
    events = ordered_events(event_date(raw_prices)).cache()
    counts = events.where(target).agg(
        F.count(F.lit(1)).alias("rows"),
        F.sum(F.col("_dup").cast("int")).alias("dups"),
        F.sum(F.when(F.col("arrival_ms") - F.col("event_time_ms") > late_after_s * 1000, 1).otherwise(0))
        .alias("late")).first()
    ticks = minute_bars(events.where(target & ~F.col("_dup")))

    bar_paths = existing_paths(spark, raw_paths(raw_bars_location, dates)) if raw_bars_location else []
    raw_bars = event_date(_read_json(spark, RAW_BAR_COLUMNS, bar_paths)).where(target)
    rest, conflicts = resolve_rest_bars(raw_bars)
    rest = rest.cache()
    rest_stats = rest.agg(F.count(F.lit(1)).alias("bars"), conflicts.alias("conflicts")).first()
    assert counts is not None and rest_stats is not None, "aggregations always return a row"
    bars_1m = merge_minutes(ticks, rest.drop("_versions")).cache()

    records_per_file = max(1000, int(target_file_mb * 1024 * 1024 / BYTES_PER_ROW))
    bars_out: dict[str, int] = {"bars_1m": bars_1m.count()}
    swap.write(bars_1m.select(*BAR_NAMES, "dt"), run_id, "bars_1m", records_per_file)
    if crash_at == "staged":
        raise SystemExit("crash injected between staging and swap")
    swap.swap(run_id, "bars_1m", list(dates), crash_after_aside=crash_at == "swapping")
    rewritten = len(dates)
    if crash_at == "rollups":
        raise SystemExit("crash injected after bars_1m, before the rollups")

    # Rollups from the curated 1-minute table: whole trading days even when they span UTC dates.
    around = sorted({*dates, *neighbour_dates(dates, before=1, after=1)})
    # The curated table keeps the venue's name, not its MIC: the zone is looked up by name there.
    minutes = _read_curated_1m(spark, curated, around).withColumn("mic_code", F.lit(None).cast("string")).cache()
    fresh = bars_1m.select(*BAR_NAMES, "dt")  # 5-minute and 1-hour buckets never leave their UTC date
    for table, rollup, partitions in (
            ("bars_5m", rollup_utc(fresh, 300), list(dates)),
            ("bars_1h", rollup_utc(fresh, 3600), list(dates)),
            *_daily(minutes, dates)):
        cached = rollup.cache()
        bars_out[table] = cached.count()
        swap.write(cached, run_id, table, records_per_file)
        swap.swap(run_id, table, partitions)
        rewritten += len(partitions)
        cached.unpersist()
    swap.finish(run_id)
    for frame in (minutes, bars_1m, rest, events):
        frame.unpersist()
    rows = int(counts["rows"] or 0)
    return CompactionResult(run_id, tuple(dates), objects_in, rows, int(counts["dups"] or 0),
                            int(counts["late"] or 0), int(rest_stats["bars"] or 0), int(rest_stats["conflicts"] or 0),
                            rewritten, bars_out, round(time.monotonic() - started, 3))


def _daily(minutes: DataFrame, dates: Sequence[str]) -> list[tuple[str, DataFrame, list[str]]]:
    """Daily bars for every trading day that has a minute in the dates being rebuilt."""
    daily = rollup_daily(minutes)
    touched = (minutes.where(F.col("dt").isin(list(dates))).withColumn("_zone", trading_zone())
               .select(F.date_format(F.to_date(F.from_utc_timestamp("bar_start", F.col("_zone"))), "yyyy-MM-dd")
                       .alias("day")).distinct())
    days = sorted(row["day"] for row in touched.collect())
    return [("bars_1d", daily.where(F.col("dt").isin(days)), days)]


def main(argv: Sequence[str] | None = None, spark: SparkSession | None = None) -> CompactionResult:
    options = resolve_options(sys.argv[1:] if argv is None else argv, REQUIRED)
    dates = tuple(sorted({d.strip() for d in options["dates"].split(",") if d.strip()}))
    if not dates:
        raise ConfigError("--dates names no date")
    session = spark or SparkSession.builder.getOrCreate()
    result = compact(session, raw_location=options["raw_location"],
                     raw_bars_location=options.get("raw_bars_location"),
                     curated_location=options["curated_location"], dates=dates,
                     run_id=options.get("JOB_RUN_ID") or f"run-{uuid.uuid4().hex[:12]}",
                     target_file_mb=float(options.get("target_file_mb", 128)),
                     late_after_s=float(options.get("late_after_s", 300)), crash_at=options.get("crash_at"))
    LOG.info("compaction finished %s", json.dumps(asdict(result)))
    return result


if __name__ == "__main__":
    main()
