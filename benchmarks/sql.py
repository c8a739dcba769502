"""The dashboards' queries on curated tables against the same answers computed by scanning the raw zone.

A lake of D days x S symbols of 1-minute activity (a session of 390 minutes a day, TICKS prices a
minute) is written as the transform writes the raw zone (JSON Lines by dt and hour); its curated tables
are the bars the live view computes from that raw zone (compaction's rules), published by manifest as
compaction publishes them. Each named query of sql/queries/ then runs through the local Athena
(DuckDB) on the curated lake, and, as the baseline,
on a lake holding only the raw zone with the query's tables replaced by their raw-zone computation:
bars_1m by bars_1m_live, bars_1d by a daily rollup of it. p95 of ROUNDS warm runs each (the catalog is
kept open between queries, as lake_sql.athena keeps it); the target is the
curated query at least 10x faster. intraday_candles reads the live view on both lakes (its baseline is
the same query with nothing compacted): the price of freshness, reported, with no target.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from datetime import date, timedelta
from pathlib import Path

import duckdb

from benchmarks.report import Measurement
from lake_sql.athena import LocalAthena
from local_stack.s3 import LocalS3
from ohlcv_core.curated import MANIFEST_NAME, partition_key, render_manifest
from stack_tools.queries import named_queries
from stack_tools.template import StackTemplate

SESSION_MINUTES, TICKS, ROUNDS = 390, 2, 7
OPEN_UTC_MINUTE = 14 * 60 + 30  # a New York session in UTC (summer)
FIRST_DAY = "2024-06-03"
DAILY_FROM_RAW = ("(SELECT symbol, max(exchange) AS exchange, min(bar_start) AS bar_start, "
                  "min_by(open, bar_start) AS open, max(high) AS high, min(low) AS low, "
                  "max_by(close, bar_start) AS close, sum(volume) AS volume, sum(tick_count) AS tick_count, "
                  "'ticks' AS source, false AS final, dt FROM bars_1m_live GROUP BY symbol, dt) AS bars_1d")


def lake_locations(root: Path) -> dict[str, Path]:
    s3 = LocalS3(root)
    return {t.name: s3.path_of(t.location) for t in StackTemplate().tables()}


def write_raw(raw: Path, *, symbols: int, days: int) -> int:
    """Price records as the transform writes them, one JSON Lines file per dt and hour."""
    raw.mkdir(parents=True, exist_ok=True)
    sql = f"""
        COPY (
          SELECT 1 AS schema_version, 'price' AS kind, 'SYM' || lpad(CAST(s AS VARCHAR), 2, '0') AS symbol,
                 'NASDAQ' AS exchange, 'XNAS' AS mic_code, 'USD' AS currency, NULL AS currency_base,
                 NULL AS currency_quote, 'Common Stock' AS instrument_type, ms AS event_time_ms,
                 100 + s + 5 * sin(ms / 3.6e6 + s) + (t % 3) * 0.01 AS price, NULL AS bid, NULL AS ask,
                 CAST(m * 1000 + t * 10 AS BIGINT) AS day_volume, ms + 150 AS received_at_ms, ms + 900 AS arrival_ms,
                 'twelvedata.ws' AS source, 'SYM' || s || '-' || ms AS idempotency_key,
                 strftime(to_timestamp(ms / 1000), '%Y-%m-%d') AS dt, strftime(to_timestamp(ms / 1000), '%H') AS hour
          FROM (SELECT s, d, m, t,
                       CAST(epoch_ms(CAST(DATE '{FIRST_DAY}' + CAST(d AS INTEGER) AS TIMESTAMP))
                            + (({OPEN_UTC_MINUTE} + m) * 60 + t * 12) * 1000 AS BIGINT) AS ms
                FROM range({symbols}) a(s), range({days}) b(d), range({SESSION_MINUTES}) c(m), range({TICKS}) e(t))
        ) TO '{raw.as_posix()}' (FORMAT json, PARTITION_BY (dt, hour), OVERWRITE_OR_IGNORE)"""
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute(sql)
    return symbols * days * SESSION_MINUTES * TICKS


def publish_curated(athena: LocalAthena, tables: dict[str, Path]) -> int:
    """bars_1m from the raw zone by the live view's computation, bars_1d its daily rollup: one Parquet
    file and one manifest per table and partition (a dt; bars_1d's, a year), as compaction publishes them."""
    bars = 0
    with athena.connect() as connection:
        for table, sql in (("bars_1m", "SELECT * EXCLUDE (compacted) FROM bars_1m_live"),
                           ("bars_1d", "SELECT * FROM " + DAILY_FROM_RAW)):
            frame = f"_{table}"
            connection.execute(f"CREATE TEMP TABLE {frame} AS {sql}")
            key = partition_key(table)  # a year's partition keeps its days' dt as a column
            value, columns = ("substr(dt, 1, 4)", "*") if key == "year" else ("dt", "* EXCLUDE (dt)")
            for (part,) in connection.execute(f"SELECT DISTINCT {value} FROM {frame} ORDER BY 1").fetchall():
                data = tables[table] / f"_data/{key}={part}/part-0.parquet"
                data.parent.mkdir(parents=True, exist_ok=True)
                connection.execute(f"COPY (SELECT {columns} FROM {frame} WHERE {value} = ? ORDER BY symbol, bar_start) "
                                   f"TO '{data.as_posix()}' (FORMAT parquet)", [part])
                manifest = tables[table] / f"{key}={part}" / MANIFEST_NAME
                manifest.parent.mkdir(parents=True, exist_ok=True)
                manifest.write_bytes(render_manifest([data.as_posix()]))
            if table == "bars_1m":
                bars = connection.execute(f"SELECT count(*) FROM {frame}").fetchone()[0]  # type: ignore[index]
    return int(bars)


def from_raw(sql: str) -> str:
    """The query with its curated tables replaced by their computation from the raw zone."""
    return sql.replace("FROM bars_1d", "FROM " + DAILY_FROM_RAW).replace("FROM bars_1m\n",
                                                                               "FROM bars_1m_live\n")


def _p95(athena: LocalAthena, sql: str, parameters: list[str], rounds: int) -> tuple[float, int]:
    """p95 in milliseconds of warm runs (a first run builds the catalog and fills DuckDB's caches)."""
    athena.query(sql, parameters)
    seconds, rows = [], 0
    for _ in range(rounds):
        started = time.perf_counter()
        rows = len(athena.query(sql, parameters).rows)
        seconds.append(time.perf_counter() - started)
    p95 = max(seconds) if len(seconds) < 20 else statistics.quantiles(seconds, n=20)[-1]
    return p95 * 1000, rows


def run(*, tiny: bool = False) -> list[Measurement]:
    symbols, days = (2, 2) if tiny else (20, 30)
    rounds = 1 if tiny else ROUNDS
    work = Path(tempfile.mkdtemp(prefix="ohlcv-bench-sql-"))
    try:
        raw_only, curated = work / "raw-only", work / "curated"
        records = write_raw(lake_locations(raw_only)["raw_prices"], symbols=symbols, days=days)
        shutil.copytree(raw_only, curated)
        template = StackTemplate()
        raw_athena = LocalAthena(template, LocalS3(raw_only))
        curated_athena = LocalAthena(template, LocalS3(curated))
        bars = publish_curated(curated_athena, lake_locations(curated))
        last_day = (date.fromisoformat(FIRST_DAY) + timedelta(days=days - 1)).isoformat()
        everyone = ",".join(f"SYM{s:02d}" for s in range(symbols))
        measurements = []
        for name, query in named_queries().items():
            parameters = query.bind({"symbols": "SYM00" if name == "intraday_candles" else everyone,
                                     "from": FIRST_DAY, "to": last_day})
            fast, fast_rows = _p95(curated_athena, query.sql, parameters, rounds)
            slow, slow_rows = _p95(raw_athena, from_raw(query.sql), parameters, rounds)
            if fast_rows != slow_rows:
                raise AssertionError(f"{name}: {fast_rows} rows curated, {slow_rows} from the raw zone")
            live = name == "intraday_candles"
            # A query of the live view or of the quality tables reads the same either way: no target.
            compared = not live and from_raw(query.sql) != query.sql
            label = " (live view)" if live else "" if compared else " (no curated bars read)"
            measurements.append(Measurement(
                "sql", f"{name} p95 ms, curated{label}", fast, "ms", slow,
                "curated >= 10x faster than the raw zone" if compared else "",
                slow / fast >= 10 if compared else None))
        measurements.append(Measurement("sql", f"lake: {records:,} raw prices, {bars:,} minutes", float(bars), "bars"))
        return measurements
    finally:
        shutil.rmtree(work, ignore_errors=True)
