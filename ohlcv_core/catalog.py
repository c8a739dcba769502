"""The Glue catalog's tables, each defined once: where it lives, how it is stored, its columns and how its
partitions are projected. stack_tools/render.py writes them into the stack's template as AWS::Glue::Table
resources; the DDL of sql/tables/, the local Athena and `ohlcv ddl` read them from there.

Partition projection (Athena computes a table's partitions from these settings, so nothing registers
them and no crawler runs): a date column names one folder a day or a year, the raw zone's hour one folder
an hour.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from ohlcv_core.keys import LIVE_PREFIX, RAW_PREFIX
from ohlcv_core.schema import (
    BAR_TABLES,
    QUALITY_RESULT_COLUMNS,
    QUALITY_RESULT_PARTITION_COLUMNS,
    QUARANTINE_COLUMNS,
    QUARANTINE_PARTITION_COLUMNS,
    RAW_BAR_COLUMNS,
    RAW_PARTITION_COLUMNS,
    RAW_PRICE_COLUMNS,
    WITHHELD_COLUMNS,
    WITHHELD_PARTITION_COLUMNS,
    Column,
    bar_table_columns,
)

Zone = Literal["raw", "curated"]  # the bucket a table lives in
# json: JSON Lines files under the partition's folder (what Firehose writes); manifest: a partition's folder
# holds symlink.txt naming its Parquet files (ohlcv_core/curated.py); parquet: the Parquet files themselves.
Storage = Literal["json", "manifest", "parquet"]


@dataclass(frozen=True, slots=True)
class Partition:
    column: Column
    projection: tuple[tuple[str, str], ...]  # projection.<column>.<setting> = value, in this order


def days(column: Column, since: str) -> Partition:
    return Partition(column, (("type", "date"), ("format", "yyyy-MM-dd"), ("range", f"{since},NOW"),
                              ("interval", "1"), ("interval.unit", "DAYS")))


def years(column: Column, since: str) -> Partition:
    return Partition(column, (("type", "date"), ("format", "yyyy"), ("range", f"{since},NOW"),
                              ("interval", "1"), ("interval.unit", "YEARS")))


def minutes_of_the_last_day(column: Column) -> Partition:
    """A folder a minute, for a day back from now: what a query may read of copies kept a day."""
    return Partition(column, (("type", "date"), ("format", "yyyy-MM-dd-HH-mm"), ("range", "NOW-1DAYS,NOW"),
                              ("interval", "1"), ("interval.unit", "MINUTES")))


def hours(column: Column) -> Partition:
    return Partition(column, (("type", "integer"), ("range", "0,23"), ("digits", "2")))


@dataclass(frozen=True, slots=True)
class Table:
    name: str
    description: str
    zone: Zone
    folder: str  # under the zone's bucket, ending in /
    storage: Storage
    columns: tuple[Column, ...]
    partitions: tuple[Partition, ...]

    @property
    def partition_columns(self) -> tuple[Column, ...]:
        return tuple(p.column for p in self.partitions)


def _raw(kind: str, what: str, since: str, description: str, columns: tuple[Column, ...]) -> Table:
    dt, hour = (replace(c, comment=c.comment.replace("event", what)) for c in RAW_PARTITION_COLUMNS)
    return Table(f"raw_{kind}s", description, "raw", f"{RAW_PREFIX}kind={kind}/", "json", columns,
                 (days(dt, since), hours(hour)))


_BAR_DESCRIPTIONS = {
    "bars_1m": "1-minute bars: REST where it has them (final), ticks otherwise",
    "bars_5m": "5-minute bars rolled up from bars_1m",
    "bars_1h": "1-hour bars rolled up from bars_1m",
    "bars_1d": "daily bars by trading day (exchange time zone; UTC for 24/7 instruments)",
}


def _bars(name: str) -> Table:
    columns, (partition,) = bar_table_columns(name)
    by = years(partition, "2000") if partition.name == "year" else days(partition, "2000-01-01")
    return Table(name, _BAR_DESCRIPTIONS[name], "curated", f"{name}/", "manifest", columns, (by,))


TABLES: tuple[Table, ...] = (
    # REST bars reach back as far as a backfill asks (Twelve Data's daily history starts decades ago).
    _raw("price", "event", "2000-01-01",
         "Streamed price events as the transform wrote them (JSON Lines), by event hour.", RAW_PRICE_COLUMNS),
    _raw("bar", "bar-open", "1970-01-01",
         "REST time_series bars as the transform wrote them (JSON Lines), by bar-open hour.", RAW_BAR_COLUMNS),
    # The hot path's copies of the same records, by the minute Firehose received them (not event time: a
    # stream without dynamic partitioning names its folders by arrival only).
    Table("live_prices", "Streamed price events as the hot path delivered them (JSON Lines), by arrival minute; "
          "kept a day. bars_1m_live reads the last minutes of it.", "raw", LIVE_PREFIX, "json", RAW_PRICE_COLUMNS,
          (minutes_of_the_last_day(Column(
              "arrival_minute", "string", "minute Firehose received the object's first record, UTC, yyyy-MM-dd-HH-mm")),
           )),
    *(_bars(name) for name in BAR_TABLES),
    Table("withheld_bars", "bars compaction kept out of the curated tables, with the withhold rule each failed",
          "curated", "withheld_bars/", "manifest", WITHHELD_COLUMNS,
          (days(WITHHELD_PARTITION_COLUMNS[0], "2000-01-01"),)),
    Table("quality_quarantine",
          "bars a quality rule failed: withheld (kept out) or flagged (kept), with the rule and why",
          "curated", "quality/quarantine/", "manifest", QUARANTINE_COLUMNS,
          (days(QUARANTINE_PARTITION_COLUMNS[0], "2000-01-01"),)),
    Table("quality_results",
          "one row per rule per quality run: outcome, measured value, score (its trend over run_date)",
          "curated", "quality/results/", "parquet", QUALITY_RESULT_COLUMNS,
          (days(QUALITY_RESULT_PARTITION_COLUMNS[0], "2020-01-01"),)),
)

