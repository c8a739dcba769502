"""A live feed generated for the run: ticks stamped from a start time (now, for a live run), the REST
1-minute bars they make (what the stand-in's REST answers for repairs), and a few malformed price frames
planted on purpose (the pipeline must keep them under the error prefix with their reasons).

Every tick has its own identity (no two share symbol, second and price), so a count of distinct events
is a count of ticks.
"""

from __future__ import annotations

import random
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from ohlcv_core.recording import Entry, Header, Recording, RestExchange, WsFrame

NEW_YORK = ZoneInfo("America/New_York")
LATENCY_US = 80_000
OPENING_VOLUME = 9_871_204  # day_volume before the feed's first tick


@dataclass(frozen=True)
class Instrument:
    symbol: str
    fields: dict[str, Any]  # the constant fields of its price events
    meta: dict[str, Any]    # REST meta
    price: float
    decimals: int
    has_volume: bool


INSTRUMENTS = (
    Instrument("AAPL", {"currency": "USD", "exchange": "NASDAQ", "mic_code": "XNGS", "type": "Common Stock"},
               {"symbol": "AAPL", "interval": "1min", "currency": "USD", "exchange_timezone": "America/New_York",
                "exchange": "NASDAQ", "mic_code": "XNGS", "type": "Common Stock"}, 178.2, 4, True),
    Instrument("MSFT", {"currency": "USD", "exchange": "NASDAQ", "mic_code": "XNGS", "type": "Common Stock"},
               {"symbol": "MSFT", "interval": "1min", "currency": "USD", "exchange_timezone": "America/New_York",
                "exchange": "NASDAQ", "mic_code": "XNGS", "type": "Common Stock"}, 324.6, 4, True),
    Instrument("EUR/USD", {"currency_base": "Euro", "currency_quote": "US Dollar", "type": "Physical Currency"},
               {"symbol": "EUR/USD", "interval": "1min", "currency_base": "Euro", "currency_quote": "US Dollar",
                "type": "Physical Currency"}, 1.08512, 5, False),
    Instrument("BTC/USD", {"currency_base": "Bitcoin", "currency_quote": "US Dollar", "exchange": "Coinbase Pro",
                           "type": "Digital Currency"},
               {"symbol": "BTC/USD", "interval": "1min", "currency_base": "Bitcoin", "currency_quote": "US Dollar",
                "exchange_timezone": "UTC", "exchange": "Coinbase Pro", "type": "Digital Currency"}, 26431.5, 2, False),
)
# A feed without exchanges: no `exchange`, no `mic_code`, no `/` in the symbol, no `exchange_timezone` in
# its meta. Its market is unknown: the quality job must judge its bars without a calendar, never fail.
WITHOUT_EXCHANGE = Instrument("ACME", {"currency": "USD", "type": "Common Stock"},
                              {"symbol": "ACME", "interval": "1min", "currency": "USD", "type": "Common Stock"},
                              41.37, 2, True)
CHAOS_INSTRUMENTS = (*INSTRUMENTS, WITHOUT_EXCHANGE)
# Malformed price frames, planted at these shares of the feed: what the transform must reject, and why.
PLANTED = ((0.3, '{"event":"price","symbol":"MSFT","currency":"USD","exchange":"NASDAQ","mic_code":"XNGS",'
                 '"type":"Common Stock","timestamp":%d,"price":0,"day_volume":1}', "invalid_price"),
           (0.6, '{"event":"price","symbol":"BTC/USD","currency_base":"Bitcoin","exchange":"Coinbase Pro",'
                 '"timestamp":%d,"pri', "not_json"))


@dataclass(frozen=True)
class Tick:
    symbol: str
    ts: int
    price: float
    day_volume: int | None


def _ticks(rng: random.Random, inst: Instrument, start_s: int, seconds: int, per_second: float) -> list[Tick]:
    ticks, price, day_volume, seen = [], inst.price, OPENING_VOLUME, set()
    for second in range(seconds):
        for _ in range(_count(rng, per_second)):
            price = round(price * (1 + rng.gauss(0, 0.0002)), inst.decimals)
            while (start_s + second, price) in seen:  # every tick its own identity
                price = round(price + 10 ** -inst.decimals, inst.decimals)
            seen.add((start_s + second, price))
            volume = None
            if inst.has_volume:
                day_volume += rng.randint(40, 2400)
                volume = day_volume
            ticks.append(Tick(inst.symbol, start_s + second, price, volume))
    return ticks


def _count(rng: random.Random, mean: float) -> int:
    whole = int(mean)
    return whole + (1 if rng.random() < mean - whole else 0)


def _frame(inst: Instrument, tick: Tick) -> str:
    event: dict[str, Any] = {"event": "price", "symbol": inst.symbol, **inst.fields, "timestamp": tick.ts,
                             "price": tick.price}
    if tick.day_volume is not None:
        event["day_volume"] = tick.day_volume
    return orjson.dumps(event).decode()


def minute_bars(ticks: list[Tick], opening_volume: int | None) -> dict[int, dict[str, Any]]:
    """The published 1-minute bars of one symbol's ticks, by minute start (epoch seconds)."""
    by_minute: dict[int, list[Tick]] = defaultdict(list)
    for tick in ticks:
        by_minute[tick.ts - tick.ts % 60].append(tick)
    bars, previous = {}, opening_volume
    for minute in sorted(by_minute):
        group = by_minute[minute]
        bar: dict[str, Any] = {"open": group[0].price, "high": max(t.price for t in group),
                               "low": min(t.price for t in group), "close": group[-1].price, "volume": None,
                               "ticks": len(group)}
        if previous is not None and group[-1].day_volume is not None:
            bar["volume"] = group[-1].day_volume - previous
            previous = group[-1].day_volume
        bars[minute] = bar
    return bars


def _rest(inst: Instrument, bars: dict[int, dict[str, Any]], recv_us: int) -> RestExchange:
    zone = NEW_YORK if inst.meta.get("exchange_timezone") == "America/New_York" else UTC
    values = []
    for minute in sorted(bars, reverse=True):
        bar = bars[minute]
        value = {"datetime": datetime.fromtimestamp(minute, tz=UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
                 **{k: f"{bar[k]:.{inst.decimals}f}" for k in ("open", "high", "low", "close")}}
        if bar["volume"] is not None:
            value["volume"] = str(bar["volume"])
        values.append(value)
    body = orjson.dumps({"meta": inst.meta, "values": values, "status": "ok"}).decode()
    return RestExchange(recv_us, "/time_series", {"symbol": inst.symbol, "interval": "1min"}, 200, body)


@dataclass(frozen=True)
class Feed:
    recording: Recording
    ticks: dict[str, list[Tick]]
    published: dict[str, dict[int, dict[str, Any]]]  # symbol -> minute -> its published 1-minute bar
    planted: tuple[tuple[str, str], ...]  # each planted frame, and the reason code it must be rejected with


def live_feed(start_s: int, seconds: int, *, per_second: float, seed: int,
              instruments: tuple[Instrument, ...] = INSTRUMENTS) -> Feed:
    """`per_second` ticks a second for each instrument, from `start_s` for `seconds`."""
    rng = random.Random(seed)
    timed: list[tuple[int, str]] = []
    ticks: dict[str, list[Tick]] = {}
    published: dict[str, dict[int, dict[str, Any]]] = {}
    rest: list[RestExchange] = []
    end_us = (start_s + seconds) * 1_000_000
    for inst in instruments:
        ticks[inst.symbol] = _ticks(rng, inst, start_s, seconds, per_second)
        per_ts: dict[int, int] = defaultdict(int)
        for tick in ticks[inst.symbol]:
            per_ts[tick.ts] += 1
        spread: dict[int, int] = defaultdict(int)
        for tick in ticks[inst.symbol]:  # ticks of one second spread over it, in order
            offset = spread[tick.ts] * 1_000_000 // per_ts[tick.ts]
            spread[tick.ts] += 1
            timed.append((tick.ts * 1_000_000 + offset + LATENCY_US, _frame(inst, tick)))
        published[inst.symbol] = minute_bars(ticks[inst.symbol], OPENING_VOLUME if inst.has_volume else None)
        rest.append(_rest(inst, published[inst.symbol], end_us))
    planted = []
    for share, template, reason in PLANTED:
        ts = start_s + int(seconds * share)
        planted.append((template % ts, reason))
        timed.append((ts * 1_000_000 + 500_000, template % ts))
    timed.sort(key=lambda item: item[0])
    entries: list[Entry] = [WsFrame(recv, 1, "in", text) for recv, text in timed]
    header = Header(symbols=tuple(i.symbol for i in instruments), note=f"chaos feed, seed {seed}")
    return Feed(Recording(header, (*entries, *rest)), ticks, published, tuple(planted))
