"""What a bar is: the one definition, in plain Python, that every engine building bars is checked against.

Compaction builds bars in Spark (glue_jobs/compact_bars.py), the live view in SQL
(sql/views/bars_1m_live.sql), the benchmarks' baseline in DuckDB; tests run each on generated inputs and
compare its bars with these (tests/functional/test_jobs_fuzz.py, tests/functional/test_live_view.py), and
the compaction benchmark's golden bars are these (benchmarks/golden.py). docs/compaction.md says the
same rules in words.

1-minute bars, from raw price records and REST bars:
- Copies of an event (one idempotency key) count once: the first received.
- A symbol's events in event-time order (ties: day_volume, then price, then key, nulls first) make its
  series; a minute's open is its first price, its close its last, its high and low the extremes.
- Volume is the sum of the minute's increments of `day_volume` (volume_increment); none without any.
- A REST 1min bar (the latest received where answers differ) replaces the ticks' bar of its minute: its
  prices and volume, source `rest`, final; the ticks' count stays. Minutes of ticks alone are `ticks`,
  not final.
Rollups of 1-minute bars: the first open and last close by start, the extremes, the sums of volume (none
when no minute has one) and ticks; `rest` or `ticks` when every minute agrees, else `mixed`; final when
every minute is. 5-minute and 1-hour bars are UTC buckets; a daily bar is a trading day in its venue's
zone (UTC for 24/7 instruments), starting at that day's midnight. A REST bar of a rollup's interval
replaces the rollup bars whose span it overlaps (same trading day, for daily bars), keeping their ticks.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from ohlcv_core.calendars import VENUE_TIME_ZONES

MINUTE_MS = 60_000
# Each rollup table, the REST interval authoritative for it and its length in seconds (docs/compaction.md,
# "Precedence"); REST minutes replace tick bars in bars_1m. Other intervals stay in raw_bars (weekly and
# monthly figures are rolled up from bars_1d by the queries).
OFFICIAL = {"bars_5m": ("5min", 300), "bars_1h": ("1h", 3600), "bars_1d": ("1day", 86_400)}


def minute_start_ms(event_time_ms: int) -> int:
    return event_time_ms - event_time_ms % MINUTE_MS


def volume_increment(previous_day_volume: int | None, day_volume: int | None) -> int | None:
    """Volume traded between two consecutive price events of one symbol.

    `day_volume` is cumulative for the trading day. A drop means the day rolled over, so the new
    value is all volume since the reset. With no previous event the baseline is unknown: None.
    """
    if day_volume is None or previous_day_volume is None:
        return None
    if day_volume >= previous_day_volume:
        return day_volume - previous_day_volume
    return day_volume


@dataclass(frozen=True, slots=True)
class Bar:
    symbol: str
    exchange: str | None
    start_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float | None
    tick_count: int
    source: str  # ticks, rest or mixed
    final: bool
    dt: str  # its partition's day: the UTC date, or the trading day of a daily bar

    @property
    def key(self) -> tuple[str, int]:
        return self.symbol, self.start_ms


Record = Mapping[str, Any]  # a raw-zone record (ohlcv_core.schema.RawPriceRecord / RawBarRecord)


def _utc_day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).date().isoformat()


def first_copies(records: Iterable[Record]) -> list[Record]:
    """One record per idempotency key: the first received (ties by Firehose arrival, then source)."""
    kept: dict[str, Record] = {}
    for record in records:
        key = record["idempotency_key"]
        held = kept.get(key)
        if held is None or _received(record) < _received(held):
            kept[key] = record
    return list(kept.values())


def _received(record: Record) -> tuple[int, int, str]:
    return record["received_at_ms"], record["arrival_ms"], record["source"]


def _nulls_first(value: Any) -> tuple[bool, Any]:
    return value is not None, value if value is not None else 0


def _sum(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return float(sum(present)) if present else None


def _max_text(values: Iterable[str | None]) -> str | None:
    present = [v for v in values if v is not None]
    return max(present) if present else None


def tick_bars(prices: Iterable[Record]) -> dict[tuple[str, int], Bar]:
    """Each symbol's minutes of price events."""
    series: dict[str, list[Record]] = {}
    for event in first_copies(prices):
        series.setdefault(event["symbol"], []).append(event)
    bars: dict[tuple[str, int], Bar] = {}
    for symbol, events in series.items():
        events.sort(key=lambda e: (e["event_time_ms"], _nulls_first(e["day_volume"]), e["price"],
                                   e["idempotency_key"]))
        minutes: dict[int, list[tuple[Record, int | None]]] = {}
        previous: int | None = None
        for index, event in enumerate(events):
            increment = volume_increment(previous, event["day_volume"]) if index else None
            previous = event["day_volume"]
            minutes.setdefault(minute_start_ms(event["event_time_ms"]), []).append((event, increment))
        for start, ticks in minutes.items():
            prices_of = [e["price"] for e, _ in ticks]
            bars[(symbol, start)] = Bar(
                symbol, _max_text(e["exchange"] for e, _ in ticks), start, prices_of[0], max(prices_of),
                min(prices_of), prices_of[-1], _sum(i for _, i in ticks), len(ticks), "ticks", False, _utc_day(start))
    return bars


def latest_rest(bars: Iterable[Record], interval: str) -> dict[tuple[str, int], Record]:
    """One REST bar of `interval` per symbol and start: the latest received where answers differ."""
    latest: dict[tuple[str, int], Record] = {}
    for bar in first_copies(b for b in bars if b["interval"] == interval):
        key = (bar["symbol"], bar["event_time_ms"])
        held = latest.get(key)
        if held is None or _newer(bar, held):
            latest[key] = bar
    return latest


def _newer(bar: Record, held: Record) -> bool:
    """Received later (then: reached Firehose later); of two received together, the smaller key wins."""
    when, held_when = (bar["received_at_ms"], bar["arrival_ms"]), (held["received_at_ms"], held["arrival_ms"])
    return when > held_when or (when == held_when and bar["idempotency_key"] < held["idempotency_key"])


def _from_rest(bar: Record, *, exchange: str | None, tick_count: int, dt: str) -> Bar:
    volume = bar["volume"]
    return Bar(bar["symbol"], bar["exchange"] if bar["exchange"] is not None else exchange, bar["event_time_ms"],
               bar["open"], bar["high"], bar["low"], bar["close"], None if volume is None else float(volume),
               tick_count, "rest", True, dt)


def minute_bars(prices: Iterable[Record], rest: Iterable[Record] = ()) -> list[Bar]:
    """1-minute bars: REST's where it has the minute, the ticks' elsewhere; by symbol and start."""
    ticks = tick_bars(prices)
    merged = dict(ticks)
    for key, bar in latest_rest(rest, "1min").items():
        tick = ticks.get(key)
        merged[key] = _from_rest(bar, exchange=tick.exchange if tick else None,
                                 tick_count=tick.tick_count if tick else 0, dt=_utc_day(bar["event_time_ms"]))
    return sorted(merged.values(), key=lambda b: b.key)


def _combine(symbol: str, start_ms: int, dt: str, minutes: list[Bar]) -> Bar:
    minutes.sort(key=lambda b: b.start_ms)
    sources = {b.source for b in minutes}
    source = "rest" if sources == {"rest"} else "mixed" if "rest" in sources else "ticks"
    return Bar(symbol, _max_text(b.exchange for b in minutes), start_ms, minutes[0].open,
               max(b.high for b in minutes), min(b.low for b in minutes), minutes[-1].close,
               _sum(b.volume for b in minutes), sum(b.tick_count for b in minutes), source,
               all(b.final for b in minutes), dt)


Bucket = Callable[[Bar], tuple[int, str]]  # a minute's (bucket start, partition day)


def utc_bucket(seconds: int) -> Bucket:
    """5-minute and 1-hour bars: UTC buckets, within the UTC date."""
    def bucket(bar: Bar) -> tuple[int, str]:
        return bar.start_ms - bar.start_ms % (seconds * 1000), bar.dt
    return bucket


def venue_zone(exchange: str | None) -> str:
    """The zone a venue's trading days are counted in (ohlcv_core.calendars); UTC for 24/7 instruments."""
    return VENUE_TIME_ZONES.get((exchange or "").upper(), "UTC")


def trading_day(exchange: str | None, start_ms: int) -> tuple[int, str]:
    """(the trading day's midnight, in UTC epoch ms; the day) of an instant at a venue."""
    zone = ZoneInfo(venue_zone(exchange))
    day = datetime.fromtimestamp(start_ms / 1000, tz=zone).date()
    return int(datetime.combine(day, time(), tzinfo=zone).timestamp() * 1000), day.isoformat()


def daily_bucket(bar: Bar) -> tuple[int, str]:
    """Daily bars: the trading day in the venue's zone, from its midnight."""
    return trading_day(bar.exchange, bar.start_ms)


def rollup(minutes: Iterable[Bar], bucket: Bucket) -> list[Bar]:
    groups: dict[tuple[str, int, str], list[Bar]] = {}
    for bar in minutes:
        start, dt = bucket(bar)
        groups.setdefault((bar.symbol, start, dt), []).append(bar)
    return sorted((_combine(symbol, start, dt, bars) for (symbol, start, dt), bars in groups.items()),
                  key=lambda b: b.key)


def with_official(rolled: Iterable[Bar], rest: Iterable[Record], interval: str, seconds: int, *,
                  daily: bool = False) -> list[Bar]:
    """REST bars of the table's interval replace the rollup bars whose span they overlap: the same symbol
    and starts less than `seconds` apart, or, for daily bars, the same trading day."""
    bars = list(rolled)
    official: list[Bar] = []
    replaced: set[tuple[str, int]] = set()
    for bar in latest_rest(rest, interval).values():
        start = bar["event_time_ms"]
        dt = trading_day(bar["exchange"], start)[1] if daily else _utc_day(start)
        spanned = [b for b in bars if b.symbol == bar["symbol"]
                   and (b.dt == dt if daily else abs(b.start_ms - start) < seconds * 1000)]
        replaced |= {b.key for b in spanned}
        official.append(_from_rest(bar, exchange=None, tick_count=sum(b.tick_count for b in spanned), dt=dt))
    return sorted([*(b for b in bars if b.key not in replaced), *official], key=lambda b: b.key)


def bar_tables(prices: Iterable[Record], rest: Iterable[Record] = ()) -> dict[str, list[Bar]]:
    """Every curated bar table's bars of these raw records, by table."""
    bars = list(rest)
    minutes = minute_bars(prices, bars)
    tables = {"bars_1m": minutes}
    for table, (interval, seconds) in OFFICIAL.items():
        daily = table == "bars_1d"
        rolled = rollup(minutes, daily_bucket if daily else utc_bucket(seconds))
        tables[table] = with_official(rolled, bars, interval, seconds, daily=daily)
    return tables
