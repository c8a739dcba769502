"""The curated tables as a reader sees them: each partition's manifest, then the files it names."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pyarrow.parquet as pq

from ohlcv_core.curated import MANIFEST_NAME, parse_manifest
from ohlcv_core.schema import BAR_TABLES


def published_files(curated: Path, table: str) -> dict[str, list[str]]:
    """dt -> the files its manifest names."""
    return {manifest.parent.name.removeprefix("dt="): parse_manifest(manifest.read_bytes())
            for manifest in sorted((curated / table).glob(f"dt=*/{MANIFEST_NAME}"))}


def published_rows(curated: Path, table: str = "bars_1m") -> list[dict[str, Any]]:
    """Every row of the table, with its partition's dt, sorted by symbol, time and dt."""
    rows = [{**row, "dt": dt} for dt, files in published_files(curated, table).items()
            for file in files for row in pq.read_table(file).to_pylist()]
    return sorted(rows, key=lambda r: (r["symbol"], r["bar_start"], r["dt"]))


def published_tables(curated: Path) -> dict[str, list[dict[str, Any]]]:
    return {table: published_rows(curated, table) for table in BAR_TABLES}
