"""bars_1d a partition a year against the earlier layout, a partition a trading day, on the same bars.

Ten years of weekdays x 50 symbols of daily bars are published as compaction published them before
(dt=<day>/, a manifest and a file each); one compaction run (the job itself, on the local Spark) then
folds them into years, as it does on a lake it finds that way. Measured on both layouts:
- objects a query over the ten years reads: each partition's manifest and the files it names (what Athena's
  SymlinkTextInputFormat and the local Athena read; the query's range covers every partition);
- the named query symbol_summary over the ten years, p50 of warm runs in DuckDB over each layout's files
  (the same SQL, as the local Athena translates it; the day taken from the folder or from the column).
The answers must be equal, and equal to the local Athena's on the migrated lake, or nothing is reported.
"""

from __future__ import annotations

import shutil
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

import duckdb

from benchmarks.report import Measurement
from glue_jobs.compact_bars import main
from glue_jobs.session import local_session
from lake_sql.athena import LocalAthena, catalog_schema, translated
from lake_sql.dialect import MACROS, SESSION_SETUP
from local_stack.s3 import LocalS3
from ohlcv_core.curated import MANIFEST_NAME, parse_manifest, render_manifest
from stack_tools.queries import named_query
from stack_tools.template import StackTemplate

FIRST_YEAR, ROUNDS = 2015, 7
TARGET_OBJECTS = 20  # the bound for ten years of 50 symbols


def write_earlier_layout(curated: Path, *, years: int, symbols: int) -> int:
    """Daily bars of every weekday, as the earlier compaction wrote and published them; how many days."""
    runs = curated / "data" / "run=earlier" / "table=bars_1d"
    runs.parent.mkdir(parents=True)
    with duckdb.connect() as connection:
        connection.execute("SET TimeZone = 'UTC'")
        connection.execute(f"""
            COPY (
              SELECT 'SYM' || lpad(CAST(s AS VARCHAR), 2, '0') AS symbol, 'NASDAQ' AS exchange,
                     CAST(d + INTERVAL 4 HOUR AS TIMESTAMPTZ) AS bar_start,
                     100 + s + sin(epoch(d) / 8.64e5 + s) AS open, 102 + s + sin(epoch(d) / 8.64e5 + s) AS high,
                     99 + s + sin(epoch(d) / 8.64e5 + s) AS low, 101 + s + cos(epoch(d) / 8.64e5 + s) AS close,
                     CAST(1e6 + s * 1000 AS DOUBLE) AS volume, CAST(0 AS BIGINT) AS tick_count, 'rest' AS source,
                     true AS final, strftime(d, '%Y-%m-%d') AS dt
              FROM range({symbols}) t(s),
                   range(DATE '{FIRST_YEAR}-01-01', DATE '{FIRST_YEAR + years}-01-01', INTERVAL 1 DAY) r(d)
              WHERE dayofweek(d) BETWEEN 1 AND 5
              ORDER BY dt, symbol)
            TO '{runs.as_posix()}' (FORMAT parquet, PARTITION_BY (dt))""")
    days = sorted(runs.glob("dt=*"))
    for day in days:
        manifest = curated / "bars_1d" / day.name / MANIFEST_NAME
        manifest.parent.mkdir(parents=True)
        manifest.write_bytes(render_manifest([f.as_posix() for f in sorted(day.glob("*.parquet"))]))
    return len(days)


def objects_read(curated: Path) -> tuple[int, list[str]]:
    """(objects, data files) a query over every partition of bars_1d reads: the manifests, then their files."""
    manifests = sorted((curated / "bars_1d").glob(f"*=*/{MANIFEST_NAME}"))
    files = [f for m in manifests for f in parse_manifest(m.read_bytes())]
    return len(manifests) + len(files), files


def _answer(files: list[str], sql: str, parameters: list[str], rounds: int, *,
            by_day: bool) -> tuple[float, list[tuple[Any, ...]]]:
    """p50 ms of the Athena query, translated as the local Athena translates it, over the files (bars_1d a
    view of them: dt from the day's folder, or the year's column), and its rows."""
    day = r"regexp_extract(filename, '/dt=(\d{4}-\d{2}-\d{2})/', 1)" if by_day else "dt"
    with duckdb.connect() as connection:
        for setting in (*SESSION_SETUP, *MACROS):
            connection.execute(setting)
        connection.execute(f"CREATE VIEW bars_1d AS SELECT * EXCLUDE (filename{'' if by_day else ', dt'}), "
                           f"{day} AS dt FROM read_parquet({files!r}, filename = true, hive_partitioning = false)")
        duck_sql = translated(sql, catalog_schema(connection)).sql
        rows = connection.execute(duck_sql, parameters).fetchall()
        seconds = []
        for _ in range(rounds):
            started = time.perf_counter()
            connection.execute(duck_sql, parameters).fetchall()
            seconds.append(time.perf_counter() - started)
    return statistics.median(seconds) * 1000, rows


def _rounded(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return [tuple(round(v, 6) if isinstance(v, float) else v for v in row) for row in rows]


def run(*, tiny: bool = False, spark: Any = None) -> list[Measurement]:
    years, symbols = (2, 3) if tiny else (10, 50)
    rounds = 1 if tiny else ROUNDS
    spark = spark or local_session("ohlcv-bench", shuffle_partitions=4)
    template = StackTemplate()
    work = Path(tempfile.mkdtemp(prefix="ohlcv-bench-daily-"))
    try:
        s3 = LocalS3(work / "lake")
        curated_url = template.glue_job("CompactionJob").default_arguments["--curated_location"]
        curated = s3.path_of(curated_url)
        days = write_earlier_layout(curated, years=years, symbols=symbols)
        query = named_query("symbol_summary")
        parameters = query.bind({"symbols": ",".join(f"SYM{s:02d}" for s in range(symbols)),
                                 "from": f"{FIRST_YEAR}-01-01", "to": f"{FIRST_YEAR + years - 1}-12-31"})
        before_objects, before_files = objects_read(curated)
        before_ms, before_rows = _answer(before_files, query.sql, parameters, rounds, by_day=True)
        # the migration: one compaction run, of a day after the range (its own day has no bars)
        started = time.perf_counter()
        main([*template.glue_job("CompactionJob").tuning_argv(), "--raw_location", f"{work / 'raw'}/",
              "--curated_location", f"{curated}/", "--dates", date(FIRST_YEAR + years, 6, 2).isoformat(),
              "--keep_superseded_s", "0"], spark=spark)
        migration_s = time.perf_counter() - started
        after_objects, after_files = objects_read(curated)
        after_ms, after_rows = _answer(after_files, query.sql, parameters, rounds, by_day=False)
        athena_rows = LocalAthena(template, s3).query(query.sql, parameters).rows
        if not (_rounded(before_rows) == _rounded(after_rows) == _rounded([tuple(r) for r in athena_rows])):
            raise AssertionError("symbol_summary differs between the layouts: the migration changed bars")
        ten_years = not tiny
        return [
            Measurement("daily_layout", f"objects read, {years} y x {symbols} symbols", float(after_objects),
                        "objects", float(before_objects), f"<= {TARGET_OBJECTS} objects" if ten_years else "",
                        after_objects <= TARGET_OBJECTS if ten_years else None),
            Measurement("daily_layout", "symbol_summary p50 ms, by year", after_ms, "ms", before_ms),
            Measurement("daily_layout", f"migration run s, {days:,} days", migration_s, "s"),
        ]
    finally:
        shutil.rmtree(work, ignore_errors=True)
