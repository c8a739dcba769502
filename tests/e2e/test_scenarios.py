"""Golden replay tests: each scenario recording through the full local pipeline (`ohlcv replay` path)."""

from __future__ import annotations

import gzip
import json
from datetime import UTC
from pathlib import Path
from typing import Any

import pytest

from ohlcv_cli.demo import run_demo
from tests.curated import published_rows
from tests.scenarios import golden, recording_path, scenario_names
from tests.scenarios.build import build


@pytest.mark.parametrize("name", scenario_names())
def test_the_checked_in_scenario_is_what_its_definition_builds(name: str) -> None:
    assert gzip.decompress(recording_path(name).read_bytes()) == gzip.decompress(build(name)), \
        "run `python -m tests.scenarios.build` and commit"


def _bars(curated: Path) -> list[dict[str, Any]]:
    rows = published_rows(curated)
    return sorted(({"symbol": r["symbol"], "bar_start": r["bar_start"].astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                    **{k: r[k] for k in ("open", "high", "low", "close", "volume", "tick_count", "source", "final")}}
                   for r in rows),
                  key=lambda b: (b["symbol"], b["bar_start"]))


@pytest.mark.parametrize("name", scenario_names())
def test_scenario_produces_its_golden_bars(name: str, spark: Any, tmp_path: Path) -> None:
    result = run_demo(recording_path(name), tmp_path / "lake", spark=lambda: spark, via="file",
                      checks_quality=False)  # (golden bars: quality has tests of its own)
    expected = golden(name)
    assert _bars(result.zones.curated) == expected["bars_1m"]
    rows = _raw_rows(result.zones.raw, "price")
    assert {"rows": len(rows), "distinct_keys": len({r["idempotency_key"] for r in rows})} == expected["raw_prices"]
    rows = _raw_rows(result.zones.raw, "bar")
    assert {"rows": len(rows), "distinct_keys": len({r["idempotency_key"] for r in rows})} == expected["raw_bars"]
    assert result.rejected == []


def _raw_rows(raw_zone: Path, kind: str) -> list[dict[str, Any]]:
    folder = raw_zone / f"kind={kind}"
    return [json.loads(line) for p in sorted(folder.rglob("*")) if p.is_file()
            for line in p.read_text().splitlines()] if folder.exists() else []
