"""Record and table shapes: the one definition the transform, the jobs, the stack and the SQL agree on.

Column types are Hive/Glue type names, the vocabulary of the Glue catalog; engines map them
(glue_jobs/spark_schema.py for Spark). The stack's Glue tables are rendered from them (ohlcv_core/catalog.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal, TypedDict, get_args, get_origin, get_type_hints

GlueType = Literal["string", "bigint", "double", "timestamp", "boolean"]
RecordKind = Literal["price", "bar"]
RECORD_KINDS: tuple[RecordKind, ...] = get_args(RecordKind)

RAW_SCHEMA_VERSION = 1


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    type: GlueType
    comment: str


class RawPriceRecord(TypedDict):
    schema_version: int
    kind: Literal["price"]
    symbol: str
    exchange: str | None
    mic_code: str | None
    currency: str | None
    currency_base: str | None
    currency_quote: str | None
    instrument_type: str | None
    event_time_ms: int
    price: float
    bid: float | None
    ask: float | None
    day_volume: int | None
    received_at_ms: int
    arrival_ms: int
    source: str
    idempotency_key: str


class RawBarRecord(TypedDict):
    schema_version: int
    kind: Literal["bar"]
    symbol: str
    exchange: str | None
    mic_code: str | None
    currency: str | None
    currency_base: str | None
    currency_quote: str | None
    instrument_type: str | None
    interval: str
    time_zone: str
    bar_datetime: str
    event_time_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float | None
    received_at_ms: int
    arrival_ms: int
    source: str
    idempotency_key: str


RawRecord = RawPriceRecord | RawBarRecord

_GLUE_TYPES: dict[type, GlueType] = {str: "string", int: "bigint", float: "double", bool: "boolean"}


def _glue_type(hint: object) -> GlueType:
    """A record field's Glue type, from its annotation: optional fields by their type, literals by theirs."""
    if get_origin(hint) is Literal:
        return _GLUE_TYPES[type(get_args(hint)[0])]
    present = [arg for arg in get_args(hint) if arg is not type(None)]
    if present:
        (single,) = present
        return _glue_type(single)
    if not isinstance(hint, type) or hint not in _GLUE_TYPES:
        raise TypeError(f"no Glue type for {hint!r}")
    return _GLUE_TYPES[hint]


def columns_of(record: type, comments: dict[str, str]) -> tuple[Column, ...]:
    """A typed record's columns, in its fields' order, each with its comment (every field must have one):
    the record is the one definition of the names and types, the table's columns follow from it."""
    hints = get_type_hints(record)
    missing, extra = set(hints) - set(comments), set(comments) - set(hints)
    if missing or extra:
        raise TypeError(f"{record.__name__}: comments missing for {sorted(missing)}, not fields: {sorted(extra)}")
    return tuple(Column(name, _glue_type(hint), comments[name]) for name, hint in hints.items())


_INSTRUMENT = {
    "symbol": "canonical Twelve Data symbol",
    "exchange": "venue name as Twelve Data sends it",
    "mic_code": "ISO 10383 market identifier, when sent",
    "currency": "quote currency of equities",
    "currency_base": "base of a pair",
    "currency_quote": "quote of a pair",
    "instrument_type": "Twelve Data instrument type",
}
_LINEAGE = {
    "received_at_ms": "when the producer received it, UTC epoch ms",
    "arrival_ms": "when Firehose received the record, UTC epoch ms",
    "source": "envelope source",
    "idempotency_key": "deterministic key: equal for re-sends and replays",
}
RAW_PRICE_COLUMNS: tuple[Column, ...] = columns_of(RawPriceRecord, {
    "schema_version": "raw-zone schema version",
    "kind": "record kind: price",
    **_INSTRUMENT,
    "event_time_ms": "event time, UTC epoch milliseconds",
    "price": "last price",
    "bid": "bid, when sent",
    "ask": "ask, when sent",
    "day_volume": "cumulative volume of the trading day, equities only",
    **_LINEAGE,
})
RAW_BAR_COLUMNS: tuple[Column, ...] = columns_of(RawBarRecord, {
    "schema_version": "raw-zone schema version",
    "kind": "record kind: bar",
    **_INSTRUMENT,
    "interval": "Twelve Data interval: 1min ... 1month",
    "time_zone": "zone the bar's datetime was given in",
    "bar_datetime": "the bar's datetime exactly as sent",
    "event_time_ms": "bar open time, UTC epoch milliseconds",
    "open": "open",
    "high": "high",
    "low": "low",
    "close": "close",
    "volume": "volume, when sent (fractional for some crypto venues)",
    **_LINEAGE,
})
# Firehose partition keys (from the transform, by event time) and the raw tables' partition columns:
# each raw table lives under its own kind=..., so kind is a path constant there, not a column.
FIREHOSE_PARTITION_KEYS: tuple[str, ...] = ("kind", "dt", "hour")
RAW_PARTITION_COLUMNS: tuple[Column, ...] = (
    Column("dt", "string", "event date, UTC, yyyy-MM-dd"),
    Column("hour", "string", "event hour, UTC, HH"),
)

# Every curated bar table (bars_1m, bars_5m, bars_1h, bars_1d) has these columns.
BAR_COLUMNS: tuple[Column, ...] = (
    Column("symbol", "string", "canonical Twelve Data symbol"),
    Column("exchange", "string", "venue name"),
    Column("bar_start", "timestamp", "bar open time, UTC"),
    Column("open", "double", "first price by event time"),
    Column("high", "double", "highest price"),
    Column("low", "double", "lowest price"),
    Column("close", "double", "last price by event time"),
    Column("volume", "double", "traded volume: REST's, or day_volume differences; null without volume"),
    Column("tick_count", "bigint", "distinct price events in the bar"),
    Column("source", "string", "rest (REST bars), ticks (price events), mixed (a rollup of both)"),
    Column("final", "boolean", "true when every minute of it is a REST bar: ticks may still be corrected"),
)
BAR_PARTITION_COLUMNS: tuple[Column, ...] = (
    Column("dt", "string", "bar date, UTC, yyyy-MM-dd"),
)
# bars_1d: a day holds one small bar a symbol, so a partition is a year (ten years of 50 symbols are then
# ten files, not 2,520 folders of a file each); its trading day is a column.
DAILY_BAR_COLUMNS: tuple[Column, ...] = (
    *BAR_COLUMNS,
    Column("dt", "string", "trading day, yyyy-MM-dd (exchange time zone; UTC for 24/7 instruments)"),
)
DAILY_BAR_PARTITION_COLUMNS: tuple[Column, ...] = (
    Column("year", "string", "year of the trading day, yyyy"),
)
INTRADAY_BAR_TABLES: tuple[str, ...] = ("bars_1m", "bars_5m", "bars_1h")
BAR_TABLES: tuple[str, ...] = (*INTRADAY_BAR_TABLES, "bars_1d")
YEAR_PARTITIONED: frozenset[str] = frozenset({"bars_1d"})  # every other curated table: a dt a partition


def bar_table_columns(table: str) -> tuple[tuple[Column, ...], tuple[Column, ...]]:
    """A curated bar table's columns and its partition columns."""
    if table in YEAR_PARTITIONED:
        return DAILY_BAR_COLUMNS, DAILY_BAR_PARTITION_COLUMNS
    return BAR_COLUMNS, BAR_PARTITION_COLUMNS

# What the quality job puts beside each bar for its rules (glue_jobs/quality_checks.py computes them).
QUALITY_MEASURE_COLUMNS: tuple[Column, ...] = (
    Column("prev_close", "double", "the close of the bar before, same table and symbol"),
    Column("ret_z", "double", "|log return| in robust deviations of the symbol's last 60 returns"),
    Column("flat_run", "bigint", "bars in a row, ending here, that did not move"),
    Column("repeats_previous", "bigint", "1 when the bar copies the one before (open to volume)"),
    Column("missing_before", "bigint", "session slots with no bar between the bar before and this one"),
    Column("in_session", "boolean", "the bar starts in a session of its market"),
    Column("is_last", "boolean", "the symbol's latest minute"),
    Column("session_open_now", "boolean", "its market was open when checked, and the bar is of that day"),
    Column("close_vs_ticks_bps", "double", "a REST minute's close against the ticks' close, basis points"),
    Column("volume_vs_ticks_pct", "double", "a REST minute's volume against the ticks' volume, percent"),
    Column("day_vs_minutes_pct", "double", "a REST daily bar against its day's minutes, percent"),
)
# A bar a rule failed, with the rule, what it decided and why (one row per bar and rule).
QUARANTINE_COLUMNS: tuple[Column, ...] = (
    Column("table_name", "string", "the curated table the bar is (flagged) or would be (withheld) in"),
    *BAR_COLUMNS,
    *QUALITY_MEASURE_COLUMNS,
    Column("rule", "string", "the rule's name in the ruleset"),
    Column("action", "string", "withheld (kept out of the curated table) or flagged (kept, listed)"),
    Column("reason", "string", "what the rule checks, and the rule as written"),
    Column("run_id", "string", "the quality run that found it"),
    Column("checked_at", "timestamp", "when that run checked it, UTC"),
)
QUARANTINE_PARTITION_COLUMNS: tuple[Column, ...] = (
    Column("dt", "string", "the bar's partition (its table's dt)"),
)
# One row per rule per quality run: the trend of the score is these rows over run_date.
QUALITY_RESULT_COLUMNS: tuple[Column, ...] = (
    Column("run_id", "string", "the quality run"),
    Column("checked_at", "timestamp", "when it ran, UTC"),
    Column("first_date", "string", "first date checked, yyyy-MM-dd"),
    Column("last_date", "string", "last date checked, yyyy-MM-dd"),
    Column("dates", "bigint", "how many dates were checked"),
    Column("rule", "string", "the rule's name in the ruleset"),
    Column("rule_type", "string", "its DQDL rule type"),
    Column("rule_text", "string", "the rule as written in DQDL"),
    Column("policy", "string", "withhold or flag: what happens to the rows it fails"),
    Column("blocking", "boolean", "whether its failure fails the run"),
    Column("outcome", "string", "Passed or Failed"),
    Column("judged_by", "string", "glue (Glue Data Quality's outcome, on AWS) or local (the job's own evaluator)"),
    Column("measured", "double", "the share of rows that passed (row rules) or the number compared"),
    Column("rows_checked", "bigint", "rows the rule judged"),
    Column("rows_failed", "bigint", "rows it failed"),
    Column("score", "double", "the run's share of rules passed"),
    Column("message", "string", "the outcome in words"),
)
QUALITY_RESULT_PARTITION_COLUMNS: tuple[Column, ...] = (
    Column("run_date", "string", "the day the run checked, UTC, yyyy-MM-dd"),
)
# A bar compaction kept out of its table because a rule with the withhold policy failed it.
WITHHELD_COLUMNS: tuple[Column, ...] = (
    Column("table_name", "string", "the curated table it was kept out of"),
    *BAR_COLUMNS,
    Column("rule", "string", "the first withhold rule it failed"),
)
WITHHELD_PARTITION_COLUMNS: tuple[Column, ...] = (
    Column("dt", "string", "the partition of the table it was kept out of"),
)
