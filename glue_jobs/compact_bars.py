"""Compaction: raw price events of the given dates -> deduplicated -> curated 1-minute bars (Parquet).

Arguments (Glue style): --raw_location s3://.../raw/kind=price/  --curated_location s3://.../bars_1m/
                        --dates 2023-08-24[,2023-08-25...]
Each named date is rebuilt whole from all of its raw hours, so a rerun gives the same output.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import date as date_type
from datetime import timedelta

from pyspark.sql import DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from glue_jobs.arguments import resolve_options
from glue_jobs.session import apply_job_conf
from glue_jobs.spark_schema import spark_schema
from ohlcv_core.bars import MINUTE_MS
from ohlcv_core.errors import ConfigError
from ohlcv_core.schema import BAR_COLUMNS, RAW_PRICE_COLUMNS

LOG = logging.getLogger(__name__)
REQUIRED = ("raw_location", "curated_location", "dates")


@dataclass(frozen=True)
class CompactionResult:
    dates: tuple[str, ...]
    rows_in: int
    duplicates_removed: int
    bars_out: int
    duration_s: float


def raw_paths(raw_location: str, dates: Sequence[str]) -> list[str]:
    return [f"{raw_location.rstrip('/')}/dt={date}/" for date in dates]


def baseline_dates(dates: Sequence[str]) -> list[str]:
    """The day before each date: its last day_volume is the baseline of the date's first increment
    (and shows the daily reset). Only read, never rewritten."""
    previous = {(date_type.fromisoformat(d) - timedelta(days=1)).isoformat() for d in dates}
    return sorted(previous - set(dates))


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


def read_raw_prices(spark: SparkSession, paths: list[str]) -> DataFrame:
    # FAILFAST: a raw line that does not match the schema stops the run instead of becoming nulls.
    return (spark.read.schema(spark_schema(RAW_PRICE_COLUMNS)).option("mode", "FAILFAST")
            .option("recursiveFileLookup", "true").json(paths))


def deduplicate(prices: DataFrame) -> DataFrame:
    """One row per idempotency key: the first received copy (deterministic on reruns)."""
    first = Window.partitionBy("idempotency_key").orderBy("received_at_ms", "arrival_ms", "source")
    return prices.withColumn("_n", F.row_number().over(first)).where("_n = 1").drop("_n")


def with_volume_increments(prices: DataFrame) -> DataFrame:
    """ohlcv_core.bars.volume_increment, per symbol in event-time order (day_volume breaks ties)."""
    series = Window.partitionBy("symbol").orderBy("event_time_ms", "day_volume", "price", "idempotency_key")
    previous = F.lag("day_volume").over(series)
    increment = (F.when(F.col("day_volume").isNull() | previous.isNull(), F.lit(None).cast("bigint"))
                 .when(F.col("day_volume") >= previous, F.col("day_volume") - previous)
                 .otherwise(F.col("day_volume")))
    return prices.withColumn("volume_increment", increment)


def minute_bars(prices: DataFrame) -> DataFrame:
    """ohlcv_core.bars.minute_start_ms buckets; open/close are the first/last events by event time."""
    order = F.struct("event_time_ms", F.coalesce("day_volume", F.lit(-1)), "price", "idempotency_key")
    bars = (prices.withColumn("minute_ms", F.col("event_time_ms") - F.col("event_time_ms") % MINUTE_MS)
            .groupBy("symbol", "minute_ms")
            .agg(F.max("exchange").alias("exchange"),
                 F.min_by("price", order).alias("open"),
                 F.max("price").alias("high"),
                 F.min("price").alias("low"),
                 F.max_by("price", order).alias("close"),
                 F.sum("volume_increment").alias("volume"),
                 F.count(F.lit(1)).alias("tick_count")))
    bars = (bars.withColumn("bar_start", F.expr("timestamp_millis(minute_ms)"))
            .withColumn("source", F.lit("ticks"))
            .withColumn("dt", F.date_format("bar_start", "yyyy-MM-dd")))
    return bars.select(*[c.name for c in BAR_COLUMNS], "dt")


def write_bars(bars: DataFrame, curated_location: str) -> None:
    """Dynamic partition overwrite: only the dates present in `bars` are replaced."""
    (bars.repartition("dt").sortWithinPartitions("symbol", "bar_start")
     .write.mode("overwrite").partitionBy("dt").parquet(curated_location))


def event_date(prices: DataFrame) -> DataFrame:
    return prices.withColumn("_dt", F.date_format(F.expr("timestamp_millis(event_time_ms)"), "yyyy-MM-dd"))


def compact(spark: SparkSession, raw_location: str, curated_location: str, dates: Sequence[str]) -> CompactionResult:
    started = time.monotonic()
    apply_job_conf(spark)
    paths = raw_paths(raw_location, dates) + existing_paths(spark, raw_paths(raw_location, baseline_dates(dates)))
    prices = event_date(read_raw_prices(spark, paths)).cache()
    target = F.col("_dt").isin(list(dates))
    rows_in = prices.where(target).count()
    unique = deduplicate(prices).cache()
    unique_rows = unique.where(target).count()
    bars = minute_bars(with_volume_increments(unique).where(target)).cache()
    bars_out = bars.count()
    write_bars(bars, curated_location)
    for frame in (bars, unique, prices):
        frame.unpersist()
    return CompactionResult(tuple(dates), rows_in, rows_in - unique_rows, bars_out,
                            round(time.monotonic() - started, 3))


def main(argv: Sequence[str] | None = None, spark: SparkSession | None = None) -> CompactionResult:
    options = resolve_options(sys.argv[1:] if argv is None else argv, REQUIRED)
    dates = tuple(d.strip() for d in options["dates"].split(",") if d.strip())
    if not dates:
        raise ConfigError("--dates names no date")
    session = spark or SparkSession.builder.getOrCreate()
    result = compact(session, options["raw_location"], options["curated_location"], dates)
    LOG.info("compaction finished %s", json.dumps(asdict(result)))
    return result


if __name__ == "__main__":
    main()
