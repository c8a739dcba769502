"""Bars an engine produced, set against the definition (ohlcv_core.bars): rows read back as Bars, and the
differences between two sets named one line each."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from ohlcv_core.bars import Bar


def as_bar(row: Mapping[str, Any]) -> Bar:
    """A curated row (bar_start a datetime, naive ones in UTC) as a Bar."""
    start = row["bar_start"]
    if start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    volume = row["volume"]
    return Bar(row["symbol"], row["exchange"], round(start.timestamp() * 1000), row["open"], row["high"], row["low"],
               row["close"], None if volume is None else float(volume), int(row["tick_count"]), row["source"],
               bool(row["final"]), str(row["dt"]))


def _same(a: Bar, b: Bar) -> bool:
    """Equal, but for volume's last bits: a sum of fractional volumes depends on the order it is added in."""
    if a.volume is None or b.volume is None:
        return a == b
    return math.isclose(a.volume, b.volume, rel_tol=1e-12) and replace(b, volume=a.volume) == a


def _when(bar: Bar | tuple[str, int]) -> str:
    symbol, start = bar.key if isinstance(bar, Bar) else bar
    return f"{symbol} {datetime.fromtimestamp(start / 1000, tz=UTC):%Y-%m-%d %H:%M}"


def differences(expected: Iterable[Bar], got: Iterable[Bar]) -> list[str]:
    """What differs, one line a bar: missing, extra, or each field that is not the definition's."""
    want = {b.key: b for b in expected}
    have = {b.key: b for b in got}
    lines = [f"missing {_when(k)}: {want[k]}" for k in sorted(want.keys() - have.keys())]
    lines += [f"extra {_when(k)}: {have[k]}" for k in sorted(have.keys() - want.keys())]
    for key in sorted(want.keys() & have.keys()):
        a, b = want[key], have[key]
        if not _same(a, b):
            fields = [f"{n} {getattr(b, n)!r} (should be {getattr(a, n)!r})" for n in Bar.__slots__
                      if getattr(a, n) != getattr(b, n)]
            lines.append(f"{_when(key)}: {', '.join(fields)}")
    return lines
