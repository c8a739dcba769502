"""Compaction cost, measured in one run (not shipped with the job scripts).

1. The Spark job against a DuckDB query doing the same work on the same raw day (dedupe by key, volume
   from day_volume differences, 1-minute bars, 5-minute, 1-hour and trading-day rollups, Parquet out),
   both warm: after WARM_UP runs of each (the JVM compiles Spark's hot paths over the first few: on two
   cores the job's time fell run after run until about the sixth, 35 s to 7.5-8.2 s), they take turns
   ROUNDS times and each side's best is reported, once their bars are shown to be the same in every
   table, value for value (`same_bars`: otherwise the times are not of the same work). Two days: a
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
import orjson
from pyspark.sql import functions as F

from benchmarks.report import Measurement
from glue_jobs.compact_bars import PRICE_COLUMNS_USED, main
from glue_jobs.publish import Publisher
from glue_jobs.session import local_session
from glue_jobs.spark_schema import spark_schema
from glue_jobs.store import LocalStore
from ohlcv_core.curated import partitions_of
from ohlcv_core.envelope import encode_envelope
from ohlcv_core.normalize import Accepted, normalize
from ohlcv_core.schema import RAW_PRICE_COLUMNS, YEAR_PARTITIONED
from ohlcv_core.window import TimeWindow
from stack_tools.template import StackTemplate

DAY0 = 1692835200  # 2023-08-24 00:00 UTC
WARM_UP, ROUNDS, BUSY_ROUNDS = 6, 3, 2
TRADING_HOURS = range(13, 21)
# (symbols, seconds between one symbol's quotes) over TRADING_HOURS: 720,000 and 5,760,000 events. The
# quiet day's symbols quote as often as the demo recording's (about every 2 s), the busy day's twice as often.
QUIET, BUSY = (50, 2), (200, 1)
WIDE = TimeWindow(max_future_s=10**10, max_price_age_s=10**10)


def _write_hour(raw: Path, symbols: int, every_s: int, hour: int) -> int:
    """One hour of day 0, seeded by the hour: the busy day's unit of work in a worker process."""
    return write_day(raw, 0, symbols=symbols, every_s=every_s, rng=random.Random(1000 + hour),
                     hours=range(hour, hour + 1))


def write_day(raw: Path, day: int, *, symbols: int, every_s: int, rng: random.Random,
              hours: range = range(24), objects_per_hour: int = 4) -> int:
    """A day of price events in the raw zone's layout: a few objects an hour, as the stack's Firehose
    (64 MiB or 60 s buffers per partition) writes them, every symbol in each."""
    rows = 0
    for hour in hours:
        start = DAY0 + day * 86_400 + hour * 3600
        folder = raw / f"dt={time.strftime('%Y-%m-%d', time.gmtime(start))}" / f"hour={hour:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        objects: list[list[bytes]] = [[] for _ in range(objects_per_hour)]
        for s in range(symbols):
            volume, price = 1_000_000 + hour * 50_000, 100.0 + s
            for second in range(0, 3600, every_s):
                price = round(price * (1 + rng.gauss(0, 0.0005)), 4)
                volume += rng.randint(1, 500)
                frame = orjson.dumps({"event": "price", "symbol": f"S{s:03d}", "exchange": "NASDAQ",
                                      "mic_code": "XNGS", "timestamp": start + second, "price": price,
                                      "day_volume": volume}).decode()
                outcome = normalize(encode_envelope(frame, (start + second) * 1000 + 120, "twelvedata.ws"),
                                    (start + second) * 1000 + 400, WIDE)
                assert isinstance(outcome, Accepted)
                objects[second * objects_per_hour // 3600].append(outcome.to_json_lines())
                rows += 1
        for index, lines in enumerate(objects):
            (folder / f"part-{index}.json").write_bytes(b"".join(lines))
    return rows


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
BAR_VALUES = "symbol, exchange, epoch_ms(bar_start) AS bar_start_ms, open, high, low, close, volume, tick_count"


def _date(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(DAY0 + day * 86_400))


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
    return (_spark_once(spark, tuning, raw, work / f"spark-{raw.name}", _date(0)),
            _duckdb_once(raw, work / f"duck-{raw.name}"))


def _best_of(rounds: int, spark: Any, tuning: list[str], raw: Path, work: Path) -> tuple[float, float]:
    """(Spark, DuckDB): each side's best of `rounds` turns on the raw day, once both are shown to have
    done the same work."""
    spark_runs, duck_runs = zip(*(_turn(spark, tuning, raw, work) for _ in range(rounds)), strict=True)
    same_bars(work / f"spark-{raw.name}", work / f"duck-{raw.name}", _date(0))
    return min(spark_runs), min(duck_runs)


def same_bars(curated: Path, duck_out: Path, date: str) -> int:
    """The bars of every table the job published for `date` are DuckDB's, value for value: the two
    engines did the same work. Returns how many were compared; raises where they differ."""
    publisher = Publisher(LocalStore(), str(curated), keep_superseded_s=0)
    compared = 0
    with duckdb.connect() as connection:
        for table in ("bars_1m", *ROLLUP_BUCKETS):
            files = publisher.files(table, partitions_of(table, [date]))  # none: the job published no bars there
            of_date = f" WHERE dt = '{date}'" if table in YEAR_PARTITIONED else ""  # (a year's partition)
            connection.execute(f"CREATE OR REPLACE TEMP TABLE duck AS SELECT {BAR_VALUES} FROM read_parquet(?)",
                               [f"{duck_out.as_posix()}/{table}/dt={date}/*.parquet"])
            if files:
                connection.execute(f"CREATE OR REPLACE TEMP TABLE job AS SELECT {BAR_VALUES} FROM read_parquet(?)"
                                   f"{of_date}", [files])
            else:
                connection.execute("CREATE OR REPLACE TEMP TABLE job AS FROM duck WHERE false")
            row = connection.execute("SELECT (SELECT count(*) FROM (FROM job EXCEPT ALL FROM duck)), "
                                     "(SELECT count(*) FROM (FROM duck EXCEPT ALL FROM job)), "
                                     "(SELECT count(*) FROM job)").fetchone()
            extra, missing, count = row or (0, 0, 0)
            if extra or missing:
                raise RuntimeError(f"{table} of {date}: {extra} of Spark's bars are not DuckDB's, "
                                   f"{missing} of DuckDB's not Spark's")
            compared += count
    if not compared:
        raise RuntimeError(f"no bars published for {date}: nothing to compare")
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
    (symbols, every_s), (busy_symbols, busy_every_s), hours = (
        ((2, 60), (4, 30), range(13, 14)) if tiny else (QUIET, BUSY, TRADING_HOURS))
    rng = random.Random(7)
    work = Path(tempfile.mkdtemp(prefix="ohlcv-bench-"))
    try:
        raw, busy = work / "raw", work / "busy"
        # spawned, not forked: this process holds the JVM gateway's threads and sockets
        with ProcessPoolExecutor(2, mp_context=multiprocessing.get_context("spawn")) as pool:
            busy_hours = [pool.submit(_write_hour, busy, busy_symbols, busy_every_s, hour) for hour in hours]
            rows = write_day(raw, 0, symbols=symbols, every_s=every_s, rng=rng, hours=hours)  # a trading day
            for _ in range(warm_up):
                _turn(spark, tuning, raw, work)
            busy_rows = sum(hour.result() for hour in busy_hours)
        spark_s, duck_s = _best_of(rounds, spark, tuning, raw, work)
        busy_spark_s, busy_duck_s = _best_of(busy_rounds, spark, tuning, busy, work)
        shutil.rmtree(busy, ignore_errors=True)
        parquet_scan_s, json_scan_s = _scan_seconds(spark, raw, work, rounds)

        history, history_curated = work / "history", work / "h-curated"
        write_day(history, 0, symbols=5, every_s=history_every_s, rng=rng)
        _spark_once(spark, tuning, history, history_curated, _date(0))
        write_day(history, 1, symbols=5, every_s=history_every_s, rng=rng, hours=range(0, 1))  # one new hour
        one_day = min(_spark_once(spark, tuning, history, history_curated, _date(1)) for _ in range(2))
        for day in range(1, history_days):
            write_day(history, day, symbols=5, every_s=history_every_s, rng=rng)
        _spark_once(spark, tuning, history, history_curated, ",".join(_date(d) for d in range(1, history_days)))
        write_day(history, history_days, symbols=5, every_s=history_every_s, rng=rng, hours=range(0, 1))  # one new hour
        thirty_days = min(_spark_once(spark, tuning, history, history_curated, _date(history_days)) for _ in range(2))
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
