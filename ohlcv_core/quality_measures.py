"""The quality job's measures of a series' moves, defined once in plain Python: the quality job computes
them in Spark (glue_jobs/quality_checks.py), the quality benchmark's baseline in DuckDB; tests hold both
to these (tests/functional/test_quality_measures.py). docs/quality.md says why each is what it is.

For one symbol's bars of one table, in the order of their starts:
  prev_close        the close of the bar before (none for the first)
  ret_z             |log return| in robust deviations of the series' own last RETURNS_WINDOW returns:
                    ROBUST_SIGMA x the median of those that are not zero (a frozen stretch's zeros would
                    shrink the scale towards nothing); none with fewer than MIN_RETURNS of them
  flat_run          bars in a row, ending here, that did not move (high = low, close = the close before)
  repeats_previous  1 when the bar copies the one before, open to volume (nulls equal), else 0
and, by the symbol's calendar (the session slots of the dates read, numbered in order within each run of
dates read without a break: the job's grid, glue_jobs/quality_checks.grid_rows):
  in_session        the bar starts in a session slot; none where the table has no grid for its market
  missing_before    session slots with no bar between the bar before (in the same run) and this one
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from ohlcv_core.calendars import ALWAYS, FOREX

# The tables a calendar's slots are known for, and the kind of slot; exchanges' hourly bars are aligned
# to their open, not to the clock's hours, so only 24/7 and forex markets have a grid of hours.
SLOT_KINDS = {"bars_1m": "minute", "bars_1h": "hour", "bars_1d": "day"}
RETURNS_WINDOW = 60
MIN_RETURNS = 20
ROBUST_SIGMA = 1.4826  # a normal distribution's sigma per median absolute deviation


class PricedBar(Protocol):
    @property
    def open(self) -> float: ...
    @property
    def high(self) -> float: ...
    @property
    def low(self) -> float: ...
    @property
    def close(self) -> float: ...
    @property
    def volume(self) -> float | None: ...


@dataclass(frozen=True, slots=True)
class Moves:
    prev_close: float | None
    ret_z: float | None
    flat_run: int
    repeats_previous: int


def _log_return(close: float, previous: float | None) -> float | None:
    if previous is None or previous == 0:
        return None
    ratio = close / previous
    return abs(math.log(ratio)) if ratio > 0 else None  # (a log of no positive number is none, as in SQL)


def _median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    return (ordered[(len(ordered) + 1) // 2 - 1] + ordered[len(ordered) // 2]) * 0.5


def moves(series: Sequence[PricedBar]) -> list[Moves]:
    """The measures of each bar of one series, in order."""
    out: list[Moves] = []
    returns: list[float | None] = []
    moved_at = 0  # the position (from 1) of the last bar that moved
    for position, bar in enumerate(series, start=1):
        before = series[position - 2] if position > 1 else None
        previous = before.close if before else None
        returns.append(_log_return(bar.close, previous))
        prior = [r for r in returns[-RETURNS_WINDOW - 1:-1] if r]  # the window before this bar, zeros out
        scale = _median(prior) * ROBUST_SIGMA if prior else None
        latest = returns[-1]
        ret_z = latest / scale if latest is not None and scale and len(prior) >= MIN_RETURNS else None
        still = previous is not None and bar.high == bar.low and bar.close == previous
        if not still:
            moved_at = position
        repeats = before is not None and all(
            getattr(bar, name) == getattr(before, name) for name in ("open", "high", "low", "close", "volume"))
        out.append(Moves(previous, ret_z, position - moved_at, int(repeats)))
    return out


@dataclass(frozen=True, slots=True)
class Gaps:
    in_session: bool | None
    missing_before: int | None


Grid = dict[str, tuple[int, int]]  # a market's slots of one table: slot -> (run of dates, ordinal in it)


def has_grid(table: str, market: str | None) -> bool:
    return market is not None and table in SLOT_KINDS and (table != "bars_1h" or market in (ALWAYS, FOREX))


def slot_of(table: str, start_ms: int, dt: str) -> str:
    """How a bar is found in the grid: a trading day by its date, minutes and hours by their start."""
    return dt if table == "bars_1d" else str(start_ms)


def gaps(slots: Sequence[str], grid: Grid | None) -> list[Gaps]:
    """The calendar's measures of each bar of one series, in order (`slots`: each bar's slot_of); `grid`
    None where the table has none for the market (has_grid)."""
    out: list[Gaps] = []
    last: tuple[int, int] | None = None  # (run, ordinal) of the latest bar before that was in a slot
    for slot in slots:
        found = grid.get(slot) if grid is not None else None
        if grid is None:
            out.append(Gaps(None, None))
        elif found is None:
            out.append(Gaps(False, None))
        else:
            run, ordinal = found
            same_run = last is not None and last[0] == run
            out.append(Gaps(True, max(ordinal - last[1] - 1, 0) if last is not None and same_run else 0))
        if found is not None:
            last = found
    return out
