"""Compaction cost, measured in one run (not shipped with the job scripts).

1. The Spark job against a DuckDB query doing the same work on the same raw day (dedupe by key, volume
   from day_volume differences, 1-minute bars, 5-minute, 1-hour and trading-day rollups, Parquet out),
   both warm: after WARM_UP runs of each (the JVM compiles Spark's hot paths over the first few: on two
   cores the job's time fell run after run until about the sixth, 35 s to 7.5-8.2 s), they take turns
   ROUNDS times and each side's best is reported, once each side's bars are shown to be the golden ones in
   every table, value for value (benchmarks/golden.py: the definition's, ohlcv_core.bars; otherwise the
   times are not of the right work). Two days: a
   QUIET one and a BUSY one eight times its size, because the ratio depends on it: Spark pays a few
   seconds a run whatever the day holds (planning, tasks, four writes, manifests), which a quiet day
   does not amortise. The busy day is written by two processes while the quiet day's warm-up runs, so
   the benchmark stays within budget.
2. Incremental cost: compacting one new hour with 1 day, then 30 days, of history already in the lake.
3. What a Parquet raw zone would save: Spark reading the job's columns of the same raw day as JSON lines
   (as the raw zone is) and as Parquet (as Firehose's record format conversion would write it), every
   column decoded, best of ROUNDS each.
`tiny`: an hour of two symbols (and of four, busy), no warm-up, one round, 3 days of sparse history
(the smoke test in `make test`, on the test run's Spark session).
"""

from __future__ import annotations

import multiprocessing
import random
import shutil
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
from pyspark.sql import functions as F

from benchmarks.golden import Digest, digest, expected, load
from benchmarks.raw_days import DAYS, QUIET_SEED, date_of, write_day, write_hour, write_named_day
from benchmarks.report import Measurement
from glue_jobs.compact_bars import PRICE_COLUMNS_USED, main
from glue_jobs.publish import Publisher
from glue_jobs.session import local_session
from glue_jobs.spark_schema import spark_schema
from glue_jobs.store import LocalStore
from ohlcv_core.curated import partitions_of
from ohlcv_core.schema import RAW_PRICE_COLUMNS, YEAR_PARTITIONED
from stack_tools.template import StackTemplate

WARM_UP, ROUNDS, BUSY_ROUNDS = 6, 3, 2


DUCKDB_SQL = """
CREATE TEMP TABLE raw AS SELECT * FROM read_json('{raw}/dt=*/hour=*/*.json', format='newline_delimited',
    columns={{symbol: 'VARCHAR', exchange: 'VARCHAR', event_time_ms: 'BIGINT', price: 'DOUBLE',
             day_volume: 'BIGINT', received_at_ms: 'BIGINT', arrival_ms: 'BIGINT', idempotency_key: 'VARCHAR'}});
CREATE TEMP TABLE bars_1m AS
WITH unique_events AS (
    SELECT * FROM raw QUALIFY row_number() OVER (PARTITION BY idempotency_key ORDER BY received_at_ms, arrival_ms) = 1),
increments AS (
    SELECT *, CASE WHEN lag(day_volume) OVER w IS NULL THEN NULL
                   WHEN day_volume >= lag(day_volume) OVER w THEN day_volume - lag(day_volume) OVER w
                   ELSE day_volume END AS inc
    FROM unique_events WINDOW w AS (PARTITION BY symbol ORDER BY event_time_ms, day_volume, price, idempotency_key))
SELECT symbol, max(exchange) AS exchange, make_timestamp((event_time_ms - event_time_ms % 60000) * 1000) AS bar_start,
       arg_min(price, event_time_ms) AS open, max(price) AS high, min(price) AS low,
       arg_max(price, event_time_ms) AS close, sum(inc)::DOUBLE AS volume, count(*) AS tick_count,
       'ticks' AS source, false AS final
FROM increments GROUP BY symbol, event_time_ms - event_time_ms % 60000;
COPY (SELECT *, strftime(bar_start, '%Y-%m-%d') AS dt FROM bars_1m ORDER BY symbol, bar_start)
    TO '{out}/bars_1m' (FORMAT PARQUET, PARTITION_BY (dt), OVERWRITE_OR_IGNORE);
"""


# One rollup, three buckets: 5 minutes and 1 hour in UTC; the trading day in New York (UTC-4 in August: zone
# names need DuckDB's ICU extension, which it would download, and the benchmark's days are all in August).
DUCKDB_ROLLUP = """
COPY (SELECT symbol, max(exchange) exchange, {bucket} AS bar_start,
        arg_min(open, bar_start) open, max(high) high, min(low) low, arg_max(close, bar_start) close,
        sum(volume) volume, sum(tick_count) tick_count, strftime({bucket}, '%Y-%m-%d') dt
      FROM bars_1m GROUP BY ALL ORDER BY symbol, 3)
    TO '{out}/{table}' (FORMAT PARQUET, PARTITION_BY (dt), OVERWRITE_OR_IGNORE);
"""
ROLLUP_BUCKETS = {"bars_5m": "time_bucket(INTERVAL 5 MINUTE, bar_start)",
                  "bars_1h": "time_bucket(INTERVAL 1 HOUR, bar_start)",
                  "bars_1d": "CAST(CAST(bar_start - INTERVAL 4 HOUR AS DATE) AS TIMESTAMP) + INTERVAL 4 HOUR"}
# benchmarks.golden.VALUES as DuckDB reads them from Parquet
BAR_VALUES = "symbol, exchange, epoch_ms(bar_start) AS start_ms, open, high, low, close, volume, tick_count"


def _duckdb_once(raw: Path, out: Path) -> float:
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    started = time.perf_counter()
    with duckdb.connect(config={"threads": 2}) as connection:
        connection.execute(DUCKDB_SQL.format(raw=raw.as_posix(), out=out.as_posix()))
        for table, bucket in ROLLUP_BUCKETS.items():
            connection.execute(DUCKDB_ROLLUP.format(bucket=bucket, out=out.as_posix(), table=table))
    return time.perf_counter() - started


def _spark_once(spark: Any, tuning: list[str], raw: Path, curated: Path, dates: str) -> float:
    started = time.perf_counter()
    main([*tuning, "--raw_location", f"{raw}/", "--curated_location", f"{curated}/", "--dates", dates], spark=spark)
    return time.perf_counter() - started


def _turn(spark: Any, tuning: list[str], raw: Path, work: Path) -> tuple[float, float]:
    """(Spark, DuckDB): one run of each on the raw day, each into its own folder beside it."""
    return (_spark_once(spark, tuning, raw, work / f"spark-{raw.name}", date_of(0)),
            _duckdb_once(raw, work / f"duck-{raw.name}"))


def _best_of(rounds: int, spark: Any, tuning: list[str], raw: Path, work: Path, *, day: str) -> tuple[float, float]:
    """(Spark, DuckDB): each side's best of `rounds` turns on the raw day, once each is shown to have
    made the golden bars."""
    spark_runs, duck_runs = zip(*(_turn(spark, tuning, raw, work) for _ in range(rounds)), strict=True)
    golden = load()[day]
    check_golden("Spark", published_values(work / f"spark-{raw.name}", date_of(0)), golden, day)
    check_golden("DuckDB", baseline_values(work / f"duck-{raw.name}", date_of(0)), golden, day)
    return min(spark_runs), min(duck_runs)


BAR_TABLES_CHECKED = ("bars_1m", *ROLLUP_BUCKETS)


def _rows(sql: str, parameters: list[Any]) -> list[tuple[Any, ...]]:
    with duckdb.connect() as connection:
        return connection.execute(sql, parameters).fetchall()


def published_values(curated: Path, date: str) -> dict[str, list[tuple[Any, ...]]]:
    """The bars the job published for `date`, table by table, as benchmarks.golden.VALUES."""
    publisher = Publisher(LocalStore(), str(curated), keep_superseded_s=0)
    out = {}
    for table in BAR_TABLES_CHECKED:
        files = publisher.files(table, partitions_of(table, [date]))  # none: the job published no bars there
        of_date = f" WHERE dt = '{date}'" if table in YEAR_PARTITIONED else ""  # (a year's partition)
        out[table] = _rows(f"SELECT {BAR_VALUES} FROM read_parquet(?){of_date}", [files]) if files else []
    return out


def baseline_values(duck_out: Path, date: str) -> dict[str, list[tuple[Any, ...]]]:
    """The bars the DuckDB baseline wrote for `date`, table by table, as benchmarks.golden.VALUES."""
    return {table: _rows(f"SELECT {BAR_VALUES} FROM read_parquet(?)",
                         [f"{duck_out.as_posix()}/{table}/dt={date}/*.parquet"])
            for table in BAR_TABLES_CHECKED}


def check_golden(engine: str, values: dict[str, list[tuple[Any, ...]]], golden: dict[str, Digest], day: str) -> int:
    """Each table's bars are the golden ones, value for value; returns how many were compared. Raises,
    naming the engine, the table and the counts, where they are not: then the times are not of the work."""
    compared = 0
    for table in BAR_TABLES_CHECKED:
        made = digest(values[table])
        if made != golden[table]:
            raise RuntimeError(f"{engine}'s {table} of the {day} day is not the golden bars (benchmarks/golden.json):"
                               f" {made['bars']:,} bars against {golden[table]['bars']:,}"
                               + (", values differ" if made["bars"] == golden[table]["bars"] else ""))
        compared += made["bars"]
    return compared


def _scan_seconds(spark: Any, raw: Path, work: Path, rounds: int) -> tuple[float, float]:
    """(Parquet, JSON lines): Spark's best time to read and decode the job's columns of the raw day."""
    schema = spark_schema(tuple(c for c in RAW_PRICE_COLUMNS if c.name in PRICE_COLUMNS_USED))
    as_json = spark.read.schema(schema).option("mode", "FAILFAST").option("recursiveFileLookup", "true")
    as_json.json(str(raw)).write.mode("overwrite").parquet(str(work / "raw-parquet"))

    def scan(frame: Any, seconds: list[float]) -> int:
        started = time.perf_counter()
        (digest,) = frame.select(F.sum(F.xxhash64(*frame.columns))).first()  # every column decoded
        seconds.append(time.perf_counter() - started)
        return int(digest)

    parquet_s: list[float] = []
    json_s: list[float] = []
    for _ in range(rounds):
        from_json = scan(as_json.json(str(raw)), json_s)
        from_parquet = scan(spark.read.schema(schema).parquet(str(work / "raw-parquet")), parquet_s)
        if from_json != from_parquet:
            raise RuntimeError("the Parquet copy of the raw day does not hold the same rows")
    return min(parquet_s), min(json_s)


def run(*, tiny: bool = False, spark: Any = None) -> list[Measurement]:
    tuning = StackTemplate().glue_job("CompactionJob").tuning_argv()  # as the deployed job runs
    spark = spark or local_session("ohlcv-bench", shuffle_partitions=4)
    warm_up, rounds, busy_rounds, history_days, history_every_s = (
        (0, 1, 1, 3, 600) if tiny else (WARM_UP, ROUNDS, BUSY_ROUNDS, 30, 20))
    quiet_day, busy_day = ("tiny-quiet", "tiny-busy") if tiny else ("quiet", "busy")
    busy_symbols, busy_every_s, hours = DAYS[busy_day]
    rng = random.Random(QUIET_SEED + 1)  # the history's days
    work = Path(tempfile.mkdtemp(prefix="ohlcv-bench-"))
    try:
        raw, busy = work / "raw", work / "busy"
        # spawned, not forked: this process holds the JVM gateway's threads and sockets
        with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
            busy_hours = [pool.submit(write_hour, busy, busy_symbols, busy_every_s, hour) for hour in hours]
            rows = write_named_day(quiet_day, raw)  # a trading day
            for _ in range(warm_up):
                _turn(spark, tuning, raw, work)
            busy_rows = sum(hour.result() for hour in busy_hours)
        if tiny:  # the golden file is the definition's: its tiny days are checked on every test run
            for name, folder in ((quiet_day, raw), (busy_day, busy)):
                if load()[name] != expected(folder):
                    raise RuntimeError(f"benchmarks/golden.json's {name} day is not the definition's bars: "
                                       "run `python -m benchmarks.golden`")
        spark_s, duck_s = _best_of(rounds, spark, tuning, raw, work, day=quiet_day)
        busy_spark_s, busy_duck_s = _best_of(busy_rounds, spark, tuning, busy, work, day=busy_day)
        shutil.rmtree(busy, ignore_errors=True)
        parquet_scan_s, json_scan_s = _scan_seconds(spark, raw, work, rounds)

        history, history_curated = work / "history", work / "h-curated"
        write_day(history, 0, symbols=5, every_s=history_every_s, rng=rng)
        _spark_once(spark, tuning, history, history_curated, date_of(0))
        write_day(history, 1, symbols=5, every_s=history_every_s, rng=rng, hours=range(0, 1))  # one new hour
        one_day = min(_spark_once(spark, tuning, history, history_curated, date_of(1)) for _ in range(2))
        for day in range(1, history_days):
            write_day(history, day, symbols=5, every_s=history_every_s, rng=rng)
        _spark_once(spark, tuning, history, history_curated, ",".join(date_of(d) for d in range(1, history_days)))
        write_day(history, history_days, symbols=5, every_s=history_every_s, rng=rng, hours=range(0, 1))  # one new hour
        thirty_days = min(_spark_once(spark, tuning, history, history_curated, date_of(history_days)) for _ in range(2))
    finally:
        shutil.rmtree(work, ignore_errors=True)
    incremental = thirty_days / one_day
    return [
        # reported, not judged: on a quiet day Spark's fixed cost a run is most of its time (docs/performance.md)
        Measurement("compaction", f"seconds, a quiet day ({rows:,} events), Spark", spark_s, "s", duck_s),
        Measurement("compaction", f"seconds, a busy day ({busy_rows:,} events), Spark", busy_spark_s, "s",
                    busy_duck_s, "Spark within 3x of DuckDB", busy_spark_s / busy_duck_s <= 3),
        Measurement("compaction", "raw-day scan (s), Parquet vs JSON lines", parquet_scan_s, "s", json_scan_s),
        Measurement("compaction", f"one new hour, {history_days} days of history vs 1 (s)", thirty_days, "s", one_day,
                    "within 1.3x", incremental <= 1.3),
    ]
