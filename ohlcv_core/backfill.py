"""Backfill without I/O: what to ask Twelve Data for, in which calls, and what is already done.

Times here are wall-clock times in the zone the requests are made in (naive datetimes): UTC for
intraday intervals (requests carry `timezone=UTC`), the exchange's own day for daily, weekly and
monthly bars (requests carry dates and no `timezone`, as the exchange publishes them). A span is
half-open, [start, end).

A call asks for one window of a few symbols (a batch costs one credit per symbol, as separate calls
would, in one round trip). Windows are cut from one grid starting at the requested start, so symbols
at the same point share calls; each window holds at most `bars_per_call` bars of any instrument (its
length is that many of the interval's shortest step: 24/7 instruments fill it, sessions do not).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta

from ohlcv_core.limits import TWELVEDATA_MAX_BATCH_SYMBOLS, TWELVEDATA_MAX_OUTPUTSIZE
from ohlcv_core.timeseries import DATE_FORMAT, DATETIME_FORMAT

# The shortest time between two bars' opens, per interval (a month is at least 28 days).
INTERVAL_STEP: Mapping[str, timedelta] = {
    "1min": timedelta(minutes=1), "5min": timedelta(minutes=5), "15min": timedelta(minutes=15),
    "30min": timedelta(minutes=30), "45min": timedelta(minutes=45), "1h": timedelta(hours=1),
    "2h": timedelta(hours=2), "4h": timedelta(hours=4), "5h": timedelta(hours=5), "8h": timedelta(hours=8),
    "1day": timedelta(days=1), "1week": timedelta(days=7), "1month": timedelta(days=28),
}
BACKFILL_INTERVALS: tuple[str, ...] = ("1min", "5min", "15min", "30min", "45min", "1h", "2h", "4h", "1day",
                                       "1week", "1month")
DAILY_INTERVALS = frozenset({"1day", "1week", "1month"})
_BOUND_FORMATS = (DATETIME_FORMAT, "%Y-%m-%dT%H:%M:%S", "%Y-%m-%d %H:%M", "%Y-%m-%dT%H:%M", DATE_FORMAT)


class PlanError(ValueError):
    """The request cannot be planned (a bad bound, an inverted range, an interval we do not load)."""


def is_daily(interval: str) -> bool:
    return interval in DAILY_INTERVALS


@dataclass(frozen=True, order=True, slots=True)
class Span:
    start: datetime
    end: datetime  # excluded

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise PlanError(f"the range ends ({self.end}) at or before it starts ({self.start})")

    def to_list(self, daily: bool) -> list[str]:
        return [format_bound(self.start, daily), format_bound(self.end, daily)]

    @classmethod
    def from_list(cls, pair: Sequence[str]) -> Span:
        return cls(parse_bound(pair[0]), parse_bound(pair[1]))


# `today` or `today-N`: UTC days counted back from the day the run starts (a scheduled top-up's bounds).
_RELATIVE_DAY = re.compile(r"today(?:-(\d{1,5}))?")


def parse_bound(text: str, today: date | None = None) -> datetime:
    text = text.strip()
    relative = _RELATIVE_DAY.fullmatch(text)
    if relative is not None:
        if today is None:
            raise PlanError(f"{text!r} needs the day the run starts")
        return datetime.combine(today - timedelta(days=int(relative.group(1) or 0)), datetime.min.time())
    if len(text) in (10, 19) and text[4:5] == "-" and text[7:8] == "-" and "+" not in text:  # without strptime
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            pass
    for fmt in _BOUND_FORMATS:
        try:
            return datetime.strptime(text, fmt)
        except ValueError:
            continue
    raise PlanError(f"{text[:40]!r} is not a date (YYYY-MM-DD) or a date and time (YYYY-MM-DD HH:MM:SS)")


def format_bound(moment: datetime, daily: bool) -> str:
    return moment.strftime(DATE_FORMAT if daily else DATETIME_FORMAT)


def requested_span(start: str, end: str, interval: str, today: date | None = None) -> Span:
    """`--start`/`--end` as given: both included. An end date (or `today-N`) means through that whole
    day; daily intervals count whole days."""
    if interval not in BACKFILL_INTERVALS:
        raise PlanError(f"interval {interval!r} is not one of {', '.join(BACKFILL_INTERVALS)}")
    first, last = parse_bound(start, today), parse_bound(end, today)
    if is_daily(interval):
        first, last = first.replace(hour=0, minute=0, second=0), last.replace(hour=0, minute=0, second=0)
    end_is_date = (is_daily(interval) or len(end.strip()) == len("2000-01-01")
                   or _RELATIVE_DAY.fullmatch(end.strip()) is not None)
    stop = last + (timedelta(days=1) if end_is_date else timedelta(seconds=1))
    if last < first:
        raise PlanError(f"--start {start} is after --end {end}")
    return Span(first, stop)


def subtract(span: Span, covered: Iterable[Span]) -> list[Span]:
    """The parts of `span` no covered span includes, in order."""
    left: list[Span] = []
    cursor = span.start
    for done in sorted(covered):
        if done.end <= cursor or done.start >= span.end:
            continue
        if done.start > cursor:
            left.append(Span(cursor, min(done.start, span.end)))
        cursor = max(cursor, done.end)
        if cursor >= span.end:
            break
    if cursor < span.end:
        left.append(Span(cursor, span.end))
    return left


def merge(spans: Iterable[Span]) -> list[Span]:
    """Overlapping and touching spans joined."""
    out: list[Span] = []
    for span in sorted(spans):
        if out and span.start <= out[-1].end:
            if span.end > out[-1].end:
                out[-1] = Span(out[-1].start, span.end)
        else:
            out.append(span)
    return out


def windows(span: Span, interval: str, bars_per_call: int = TWELVEDATA_MAX_OUTPUTSIZE) -> list[Span]:
    """The grid of windows from span.start: each at most `bars_per_call` bars long."""
    length = INTERVAL_STEP[interval] * bars_per_call
    out, cursor = [], span.start
    while cursor < span.end:
        out.append(Span(cursor, min(cursor + length, span.end)))
        cursor += length
    return out


@dataclass(frozen=True, slots=True)
class Call:
    interval: str
    symbols: tuple[str, ...]
    window: Span

    @property
    def credits(self) -> int:
        return len(self.symbols)

    def params(self, bars_per_call: int = TWELVEDATA_MAX_OUTPUTSIZE) -> dict[str, str]:
        """`time_series` parameters (besides symbol and interval). The end is asked for as it is: whether
        the service counts it in or not, the runner keeps bars inside the window only."""
        daily = is_daily(self.interval)
        params = {"start_date": format_bound(self.window.start, daily),
                  "end_date": format_bound(self.window.end, daily), "order": "asc", "outputsize": str(bars_per_call)}
        if not daily:
            params["timezone"] = "UTC"
        return params

    def holds(self, bar_datetime: str) -> bool:
        """Whether a bar (its `datetime` as the service wrote it) opens inside the window."""
        try:
            opened = parse_bound(bar_datetime)
        except PlanError:
            return True  # not ours to judge: the transform rejects it with its reason
        return self.window.start <= opened < self.window.end


@dataclass(frozen=True)
class Plan:
    interval: str
    span: Span
    calls: tuple[Call, ...]
    symbols: tuple[str, ...]
    already_done: tuple[str, ...]  # symbols with nothing left to fetch

    @property
    def credits(self) -> int:
        return sum(call.credits for call in self.calls)

    def describe(self, credits_per_minute: int | None) -> list[str]:
        daily = is_daily(self.interval)
        first, last = self.span.to_list(daily)
        lines = [f"backfill {self.interval} bars of {len(self.symbols)} symbol(s), {first} to {last} (excluded)"]
        if self.already_done:
            lines.append(f"  already loaded: {', '.join(self.already_done)} (--force fetches them again)")
        lines.append(f"  {len(self.calls)} call(s), {self.credits} credit(s)")
        if credits_per_minute and self.credits:
            minutes = max(self.credits / credits_per_minute - 1, 0)  # the first minute's budget is spent at once
            lines.append(f"  at {credits_per_minute} credits a minute: about {minutes:.0f} minute(s) of waiting")
        for call in self.calls[:10]:
            start, end = call.window.to_list(daily)
            lines.append(f"  {start} .. {end}  {','.join(call.symbols)}  ({call.credits} credit(s))")
        if len(self.calls) > 10:
            lines.append(f"  ... and {len(self.calls) - 10} more call(s)")
        return lines


def plan(symbols: Sequence[str], interval: str, span: Span, covered: Mapping[str, Sequence[Span]], *,
         batch_size: int = TWELVEDATA_MAX_BATCH_SYMBOLS, bars_per_call: int = TWELVEDATA_MAX_OUTPUTSIZE) -> Plan:
    """The calls that fetch every symbol's part of `span` not yet covered, oldest window first."""
    if not 1 <= batch_size <= TWELVEDATA_MAX_BATCH_SYMBOLS:
        raise PlanError(f"a call names 1 to {TWELVEDATA_MAX_BATCH_SYMBOLS} symbols, not {batch_size}")
    grid = windows(span, interval, bars_per_call)
    wanted: dict[Span, list[str]] = {}
    done: list[str] = []
    for symbol in dict.fromkeys(symbols):
        left = subtract(span, covered.get(symbol, ()))
        if not left:
            done.append(symbol)
        for cell in grid:
            for part in left:
                if part.start < cell.end and cell.start < part.end:
                    wanted.setdefault(Span(max(cell.start, part.start), min(cell.end, part.end)), []).append(symbol)
    calls = [Call(interval, tuple(names[i:i + batch_size]), window)
             for window, names in sorted(wanted.items()) for i in range(0, len(names), batch_size)]
    return Plan(interval, span, tuple(calls), tuple(dict.fromkeys(symbols)), tuple(done))


def coverable_until(now_utc: datetime, interval: str) -> datetime:
    """The latest instant (naive, request zone) a fetched window may count as done to: a bar still
    forming now is fetched again next time. Daily bars: through the day before today."""
    naive = now_utc.replace(tzinfo=None)
    if is_daily(interval):
        return naive.replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=1)
    return naive - INTERVAL_STEP[interval]


@dataclass
class Checkpoint:
    """One symbol and interval: what has been fetched and confirmed delivered."""

    symbol: str
    interval: str
    covered: list[Span] = field(default_factory=list)
    bars: int = 0
    calls: int = 0
    updated_ms: int = 0

    def cover(self, spans: Sequence[Span], bars: int, now_ms: int) -> None:
        """One delivered call: its spans loaded, its bars counted."""
        self.covered = merge([*self.covered, *spans])
        self.bars += bars
        self.calls += 1
        self.updated_ms = now_ms

    def to_json(self) -> bytes:
        daily = is_daily(self.interval)
        return json.dumps({"symbol": self.symbol, "interval": self.interval, "bars": self.bars, "calls": self.calls,
                           "updated_ms": self.updated_ms, "covered": [s.to_list(daily) for s in self.covered]},
                          sort_keys=True).encode()

    @classmethod
    def from_json(cls, body: bytes) -> Checkpoint:
        data = json.loads(body)
        return cls(str(data["symbol"]), str(data["interval"]), [Span.from_list(pair) for pair in data["covered"]],
                   int(data["bars"]), int(data["calls"]), int(data["updated_ms"]))


def checkpoint_name(symbol: str, interval: str) -> str:
    """A checkpoint's file (or object) name: symbols hold `/` (EUR/USD) and `:` (RY:TSX)."""
    safe = symbol.replace("/", "_").replace(":", "@")
    return f"{interval}/{safe}.json"


def parse_symbols_file(text: str) -> list[str]:
    """One symbol a line (or several, comma-separated); `#` starts a comment."""
    out: list[str] = []
    for line in text.splitlines():
        out.extend(s.strip() for s in line.split("#", 1)[0].split(",") if s.strip())
    return out
