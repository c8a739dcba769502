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
  day_vs_minutes_pct  a REST daily bar of an exchange against its day's session minutes, when every one
                    of them has a bar: the largest of the close's, high's and low's differences, in percent
and beside them:
  is_last           the symbol's latest minute (bars_1m only)
  session_open_now  the symbol's market is open when checked, and the bar is of that day
  close_vs_ticks_bps, volume_vs_ticks_pct
                    a REST minute against the streamed ticks' minute: the close in basis points, the
                    volume in percent (not against a series' first minute, whose volume the ticks cannot
                    know whole; not where the REST volume is not above zero)
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol
from zoneinfo import ZoneInfo

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


class DatedBar(PricedBar, Protocol):
    @property
    def start_ms(self) -> int: ...
    @property
    def dt(self) -> str: ...
    @property
    def source(self) -> str: ...


def day_vs_minutes(daily: Sequence[DatedBar], minutes: Sequence[DatedBar], session_minutes: Iterable[int],
                   zone: str) -> list[float | None]:
    """Each daily bar's day_vs_minutes_pct, for one symbol of an exchange whose trading days are dated in
    `zone`, from its 1-minute bars and its market's session minutes (epoch ms) of the dates read."""
    def day_of(ms: int) -> str:
        return datetime.fromtimestamp(ms / 1000, tz=ZoneInfo(zone)).date().isoformat()

    sessions = set(session_minutes)
    expected = Counter(day_of(ms) for ms in sessions)
    by_day: dict[str, list[DatedBar]] = {}
    for bar in sorted((b for b in minutes if b.start_ms in sessions), key=lambda b: b.start_ms):
        by_day.setdefault(day_of(bar.start_ms), []).append(bar)
    out: list[float | None] = []
    for bar in daily:
        day = by_day.get(bar.dt, []) if bar.source == "rest" else []
        if not day or len(day) != expected[bar.dt]:
            out.append(None)
            continue
        high, low, close = max(b.high for b in day), min(b.low for b in day), day[-1].close
        out.append(max(abs(bar.close - close) / bar.close * 100, abs(bar.high - high) / bar.high * 100,
                       abs(bar.low - low) / bar.low * 100))
    return out


def freshness(table: str, series: Sequence[DatedBar], *, open_now: bool, today: str) -> list[tuple[bool, bool]]:
    """(is_last, session_open_now) of each bar of one series."""
    latest = max((b.start_ms for b in series), default=None)
    return [(table == "bars_1m" and bar.start_ms == latest, open_now and bar.dt == today) for bar in series]


def vs_ticks(bar: DatedBar, tick_close: float | None, tick_volume: float | None,
             first_of_series: bool) -> tuple[float | None, float | None]:
    """(close_vs_ticks_bps, volume_vs_ticks_pct) of a REST minute against the ticks' minute (None: none)."""
    if bar.source != "rest" or tick_close is None:
        return None, None
    bps = abs(bar.close - tick_close) / bar.close * 10_000
    volume = bar.volume
    ticks = None if first_of_series else tick_volume
    pct = abs(volume - ticks) / volume * 100 if volume is not None and volume > 0 and ticks is not None else None
    return bps, pct
