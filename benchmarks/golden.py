"""The compaction benchmark's golden bars: the definition's (ohlcv_core.bars) over each generated day, kept
as a count and a digest a table in benchmarks/golden.json. Spark's bars and DuckDB's are each checked
against them, so neither engine is the other's reference and no second implementation is the judge.

`python -m benchmarks.golden [DAY ...]` writes the file anew (after a change to the definition or to the days
the benchmark generates; a few minutes: the busy day is 5.76 million events). The tiny days' entries are
checked against the definition in `make test`, so a stale file shows there first.
"""

from __future__ import annotations

import hashlib
import json
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

from benchmarks.raw_days import DAYS, write_named_day
from ohlcv_core.bars import Bar, bar_tables

GOLDEN = Path(__file__).resolve().parent / "golden.json"
# What both engines write of a bar (the baseline writes no source or final for its rollups).
VALUES = ("symbol", "exchange", "start_ms", "open", "high", "low", "close", "volume", "tick_count")
Digest = dict[str, Any]  # {"bars": count, "sha256": hex}


_WHOLE = {"start_ms", "tick_count"}  # counts and instants: an engine may hand them back as floats


def _line(values: Iterable[Any]) -> bytes:
    return orjson.dumps([v if v is None or isinstance(v, str) else int(v) if name in _WHOLE else float(v).hex()
                         for name, v in zip(VALUES, values, strict=True)])


def digest(rows: Iterable[tuple[Any, ...]]) -> Digest:
    """A table's rows (VALUES, in that order) as their count and the hash of their sorted lines: floats by
    their exact bits, so two engines agree only when every value does."""
    lines = sorted(_line(row) for row in rows)
    return {"bars": len(lines), "sha256": hashlib.sha256(b"\n".join(lines)).hexdigest()}


def bar_values(bar: Bar) -> tuple[Any, ...]:
    return tuple(getattr(bar, name) for name in VALUES)


def _by_symbol(raw: Path) -> Iterator[list[dict[str, Any]]]:
    """The raw day's records a symbol at a time (every rule is a symbol's own; the busy day whole, as
    dictionaries, would not fit in memory)."""
    lines: dict[bytes, list[bytes]] = {}
    for path in sorted(raw.rglob("*.json")):
        for line in path.read_bytes().splitlines():
            symbol = line.split(b'"symbol":', 1)[1].split(b",", 1)[0]
            lines.setdefault(symbol, []).append(line)
    for symbol in sorted(lines):
        yield [orjson.loads(line) for line in lines.pop(symbol)]


def expected(raw: Path) -> dict[str, Digest]:
    """Each table's digest of the definition's bars over a generated raw day."""
    rows: dict[str, list[tuple[Any, ...]]] = {}
    for records in _by_symbol(raw):
        for table, bars in bar_tables(records).items():
            rows.setdefault(table, []).extend(map(bar_values, bars))
    return {table: digest(values) for table, values in sorted(rows.items())}


def load() -> dict[str, dict[str, Digest]]:
    loaded: dict[str, dict[str, Digest]] = json.loads(GOLDEN.read_text(encoding="utf-8"))
    return loaded


def main(argv: list[str]) -> int:
    """Writes the golden bars of the days named (every day, without names); the others' are kept."""
    unknown = sorted(set(argv) - set(DAYS))
    if unknown:
        print(f"golden: no day {', '.join(unknown)}; the days are {', '.join(DAYS)}", file=sys.stderr)
        return 2
    golden = load() if GOLDEN.exists() and argv else {}
    for name in argv or DAYS:
        with tempfile.TemporaryDirectory(prefix="ohlcv-golden-") as folder:
            write_named_day(name, Path(folder))
            golden[name] = expected(Path(folder))
        counts = ", ".join(f"{table} {found['bars']:,}" for table, found in golden[name].items())
        print(f"golden: {name}: {counts}", file=sys.stderr)
    GOLDEN.write_text(json.dumps(golden, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
