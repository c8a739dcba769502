"""The curated tables as a reader sees them: each partition's manifest, then the files it names."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from glue_jobs.publish import Publisher
from glue_jobs.store import LocalStore
from ohlcv_core.curated import MANIFEST_NAME, parse_manifest, partition_key, written_url
from ohlcv_core.schema import BAR_COLUMNS, BAR_TABLES


def published_files(curated: Path, table: str, key: str | None = None) -> dict[str, list[str]]:
    """partition (its folder: dt=… or year=…) -> the files its manifest names, for the table's partitions
    (or those named by `key`: a layout the table had before)."""
    key = f"{key or partition_key(table)}="
    return {manifest.parent.name: parse_manifest(manifest.read_bytes())
            for manifest in sorted((curated / table).glob(f"{key}*/{MANIFEST_NAME}"))}


def published_rows(curated: Path, table: str = "bars_1m") -> list[dict[str, Any]]:
    """Every row of the table, with its dt (of its partition, or its own in a year's), sorted by symbol,
    time and dt."""
    rows = [{**row, "dt": row.get("dt") or part.removeprefix("dt=")}
            for part, files in published_files(curated, table).items()
            for file in files for row in pq.read_table(file).to_pylist()]
    return sorted(rows, key=lambda r: (r["symbol"], r["bar_start"], r["dt"]))


def published_tables(curated: Path) -> dict[str, list[dict[str, Any]]]:
    return {table: published_rows(curated, table) for table in BAR_TABLES}


def publish_earlier_daily_layout(curated: Path, days: Sequence[date]) -> list[dict[str, Any]]:
    """bars_1d as compaction published it before its partitions were years: a dt=<day> partition a
    trading day, its file without a dt column (AAPL and EUR/USD each day). Returns the bars, with their dt."""
    types = {"string": pa.string(), "double": pa.float64(), "bigint": pa.int64(), "boolean": pa.bool_(),
             "timestamp": pa.timestamp("us", tz="UTC")}
    schema = pa.schema([(c.name, types[c.type]) for c in BAR_COLUMNS])
    publisher = Publisher(LocalStore(), curated.as_posix(), keep_superseded_s=0)
    parts = [f"dt={day.isoformat()}" for day in days]
    publisher.begin("earlier", {"bars_1d": parts})
    bars = []
    for n, day in enumerate(days):
        rows = [{"symbol": symbol, "exchange": exchange, "bar_start": datetime(day.year, day.month, day.day, hour,
                                                                                 tzinfo=UTC),
                 "open": 100.0 + n, "high": 102.0 + n, "low": 99.0 + n, "close": 101.0 + n, "volume": 1e6 + n,
                 "tick_count": 0, "source": "rest", "final": True}
                for symbol, exchange, hour in (("AAPL", "NASDAQ", 4), ("EUR/USD", None, 0))]
        folder = Path(written_url(curated.as_posix(), "earlier", "bars_1d", f"dt={day.isoformat()}"))
        folder.mkdir(parents=True)
        pq.write_table(pa.Table.from_pylist(rows, schema=schema), folder / "part-00000-earlier.snappy.parquet")
        bars += [{**row, "dt": day.isoformat()} for row in rows]
    publisher.publish("bars_1d", parts, publisher.written("earlier"))
    publisher.finish("earlier")
    return bars
