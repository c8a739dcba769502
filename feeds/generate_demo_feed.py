"""Seeded generator of the bundled demo recording (`ohlcv generate-demo-feed`).

Market time 2023-08-24 14:50:00-15:05:00 UTC (10:50-11:05 New York), six symbols.

- AAPL follows real published 1-minute bars: `aapl-1min-2023-08-24-source.json` is a live Twelve Data
  response captured by DefinitelyNotAGoat/go-twelvedata (core/timeseries_test.go, commit a563cfef).
  Every generated tick lies inside its real bar: the first tick is the bar's open, the last its close,
  two ticks touch the high and low, and day_volume increments add up to the bar's real volume. The
  recorded REST bars for AAPL are the captured values themselves.
- MSFT, EUR/USD, USD/JPY, XAU/USD and BTC/USD are seeded random walks anchored near their published
  levels on that day (MSFT about 324, EUR/USD 1.085, USD/JPY 145.8, gold 1917, bitcoin 26,400); their
  recorded REST bars are computed from the generated ticks.
- Two malformed frames are planted on purpose: an MSFT price of 0 and a BTC/USD frame torn mid-way.
  The pipeline must keep both under the error prefix with their reasons and lose nothing else.

The output is byte-for-byte reproducible (fixed seed, gzip mtime 0); a test checks the bundled file.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import orjson

from feeds import DEMO_FEED, FEEDS_DIR
from ohlcv_core.recording import Disconnect, Entry, Header, RestExchange, WsFrame, encode_recording

SEED = 20230824
START = datetime(2023, 8, 24, 14, 50, tzinfo=UTC)
MINUTES = 15
NEW_YORK = ZoneInfo("America/New_York")
AAPL_SOURCE = FEEDS_DIR / "aapl-1min-2023-08-24-source.json"


@dataclass(frozen=True)
class Instrument:
    symbol: str
    fields: dict[str, Any]  # the constant fields of its price events, in Twelve Data's order
    meta: dict[str, Any]    # REST meta
    start_price: float
    step: float             # random-walk step as a fraction of price
    decimals: int
    has_volume: bool
    ticks_per_minute: tuple[int, int]
    status: dict[str, Any]  # its entry in subscribe-status "success"


def _equity(symbol: str, start: float) -> Instrument:
    return Instrument(
        symbol, {"currency": "USD", "exchange": "NASDAQ", "mic_code": "XNGS", "type": "Common Stock"},
        {"symbol": symbol, "interval": "1min", "currency": "USD", "exchange_timezone": "America/New_York",
         "exchange": "NASDAQ", "mic_code": "XNGS", "type": "Common Stock"},
        start, 0.00025, 4, True, (18, 34),
        {"symbol": symbol, "exchange": "NASDAQ", "country": "United States", "type": "Common Stock"})


def _pair(symbol: str, base: str, quote: str, kind: str, *, start: float, decimals: int,
          exchange: str | None, bid_ask: bool = False) -> Instrument:
    fields: dict[str, Any] = {"currency_base": base, "currency_quote": quote}
    meta: dict[str, Any] = {"symbol": symbol, "interval": "1min", "currency_base": base, "currency_quote": quote}
    if exchange:
        fields["exchange"] = exchange
        meta.update({"exchange_timezone": "UTC", "exchange": exchange})
    fields["type"] = kind
    meta["type"] = kind
    status = {"symbol": symbol, "exchange": exchange or "FOREX", "country": "", "type": kind}
    return Instrument(symbol, fields | ({"_bid_ask": True} if bid_ask else {}), meta, start, 0.00008,
                      decimals, False, (25, 45), status)


INSTRUMENTS: tuple[Instrument, ...] = (
    _equity("AAPL", 0.0),
    _equity("MSFT", 324.60),
    _pair("EUR/USD", "Euro", "US Dollar", "Physical Currency", start=1.08512, decimals=5, exchange=None),
    _pair("USD/JPY", "US Dollar", "Japanese Yen", "Physical Currency", start=145.832, decimals=3, exchange=None),
    _pair("XAU/USD", "Gold Spot", "US Dollar", "Physical Currency", start=1917.46, decimals=2, exchange=None,
          bid_ask=True),
    _pair("BTC/USD", "Bitcoin", "US Dollar", "Digital Currency", start=26431.50, decimals=2,
          exchange="Coinbase Pro"),
)


@dataclass(frozen=True)
class Tick:
    ts: int
    price: float
    day_volume: int | None


def _seconds(rng: random.Random, count: int) -> list[int]:
    return sorted(rng.sample(range(60), count))


def _aapl_bars() -> list[dict[str, str]]:
    values = orjson.loads(AAPL_SOURCE.read_bytes())["values"]
    window = {(START + timedelta(minutes=m)).astimezone(NEW_YORK).strftime("%Y-%m-%d %H:%M:%S")
              for m in range(MINUTES)}
    return [v for v in values if v["datetime"] in window]


def _split_volume(rng: random.Random, total: int, parts: int) -> list[int]:
    cuts = sorted(rng.sample(range(1, total), parts - 1))
    return [b - a for a, b in zip([0, *cuts], [*cuts, total], strict=True)]


def _ticks_inside_bar(rng: random.Random, minute_ts: int, bar: dict[str, str], day_volume: int
                      ) -> tuple[list[Tick], int]:
    o, h, low, c = (float(bar[k]) for k in ("open", "high", "low", "close"))
    count = rng.randint(18, 34)
    seconds = _seconds(rng, count)
    prices = [round(rng.uniform(low, h), 4) for _ in seconds]
    prices[0], prices[-1] = o, c
    hi_at, lo_at = rng.sample(range(1, count - 1), 2)
    prices[hi_at], prices[lo_at] = h, low
    ticks = []
    for second, price, increment in zip(seconds, prices, _split_volume(rng, int(bar["volume"]), count), strict=True):
        day_volume += increment
        ticks.append(Tick(minute_ts + second, price, day_volume))
    return ticks, day_volume


def _random_walk(rng: random.Random, inst: Instrument, day_volume: int) -> list[Tick]:
    ticks, price = [], inst.start_price
    for minute in range(MINUTES):
        minute_ts = int(START.timestamp()) + 60 * minute
        for second in _seconds(rng, rng.randint(*inst.ticks_per_minute)):
            price = round(price * (1 + rng.gauss(0, inst.step)), inst.decimals)
            volume: int | None = None
            if inst.has_volume:
                day_volume += rng.randint(40, 2400)
                volume = day_volume
            ticks.append(Tick(minute_ts + second, price, volume))
    return ticks


def _frame(inst: Instrument, tick: Tick, rng: random.Random) -> dict[str, Any]:
    event: dict[str, Any] = {"event": "price", "symbol": inst.symbol}
    event.update({k: v for k, v in inst.fields.items() if not k.startswith("_")})
    event["timestamp"] = tick.ts
    event["price"] = tick.price
    if inst.fields.get("_bid_ask"):
        half = round(rng.uniform(0.05, 0.25), 2)
        event["bid"], event["ask"] = round(tick.price - half, 2), round(tick.price + half, 2)
    if tick.day_volume is not None:
        event["day_volume"] = tick.day_volume
    return event


def _fmt(value: float) -> str:
    return f"{value:.5f}"


def _rest_bars(inst: Instrument, ticks: list[Tick], opening_day_volume: int) -> list[dict[str, str]]:
    by_minute: dict[int, list[Tick]] = {}
    for tick in ticks:
        by_minute.setdefault(tick.ts - tick.ts % 60, []).append(tick)
    zone = NEW_YORK if inst.meta.get("exchange_timezone") == "America/New_York" else UTC
    bars, previous_volume = [], opening_day_volume
    for minute_ts in sorted(by_minute):
        group = by_minute[minute_ts]
        bar = {"datetime": datetime.fromtimestamp(minute_ts, tz=UTC).astimezone(zone).strftime("%Y-%m-%d %H:%M:%S"),
               "open": _fmt(group[0].price), "high": _fmt(max(t.price for t in group)),
               "low": _fmt(min(t.price for t in group)), "close": _fmt(group[-1].price)}
        if inst.has_volume:
            last = group[-1].day_volume or 0
            bar["volume"] = str(last - previous_volume)
            previous_volume = last
        bars.append(bar)
    return list(reversed(bars))  # Twelve Data's default order is newest first


def _rest_exchange(inst: Instrument, bars: list[dict[str, str]], meta: dict[str, Any], recv_us: int) -> RestExchange:
    zone = NEW_YORK if meta.get("exchange_timezone") == "America/New_York" else UTC
    first, last = START.astimezone(zone), (START + timedelta(minutes=MINUTES - 1)).astimezone(zone)
    params = {"symbol": inst.symbol, "interval": "1min", "start_date": first.strftime("%Y-%m-%d %H:%M:%S"),
              "end_date": last.strftime("%Y-%m-%d %H:%M:%S"), "outputsize": "5000"}
    body = orjson.dumps({"meta": meta, "values": bars, "status": "ok"}).decode()
    return RestExchange(recv_us, "/time_series", params, 200, body,
                        {"api-credits-used": "1", "api-credits-left": "7"})


def generate() -> bytes:
    rng = random.Random(SEED)
    start_us = int(START.timestamp()) * 1_000_000
    entries: list[tuple[int, int, Entry]] = []
    subscribe = {"action": "subscribe", "params": {"symbols": ",".join(i.symbol for i in INSTRUMENTS)}}
    entries.append((start_us - 2_000_000, 0, WsFrame(start_us - 2_000_000, 1, "out", orjson.dumps(subscribe).decode())))
    status = {"event": "subscribe-status", "status": "ok", "success": [i.status for i in INSTRUMENTS], "fails": None}
    entries.append((start_us - 1_800_000, 0, WsFrame(start_us - 1_800_000, 1, "in", orjson.dumps(status).decode())))
    rest: list[RestExchange] = []
    end_us = start_us + MINUTES * 60 * 1_000_000
    for order, inst in enumerate(INSTRUMENTS, start=1):
        if inst.symbol == "AAPL":
            bars = _aapl_bars()
            ticks, day_volume = [], 16_482_310
            for bar in reversed(bars):
                minute_ts = int(datetime.strptime(bar["datetime"], "%Y-%m-%d %H:%M:%S")
                                .replace(tzinfo=NEW_YORK).timestamp())
                minute_ticks, day_volume = _ticks_inside_bar(rng, minute_ts, bar, day_volume)
                ticks.extend(minute_ticks)
            meta = orjson.loads(AAPL_SOURCE.read_bytes())["meta"]
        else:
            opening_day_volume = 9_871_204
            ticks = _random_walk(rng, inst, opening_day_volume)
            bars, meta = _rest_bars(inst, ticks, opening_day_volume), inst.meta
        for tick in ticks:
            recv = tick.ts * 1_000_000 + rng.randint(30_000, 350_000)
            entries.append((recv, order, WsFrame(recv, 1, "in", orjson.dumps(_frame(inst, tick, rng)).decode())))
        rest.append(_rest_exchange(inst, bars, meta, end_us + 5_000_000 + order * 400_000))
    for second in range(10, MINUTES * 60, 10):  # the service's replies to our heartbeats
        recv = start_us + second * 1_000_000 + 41_000
        entries.append((recv, 0, WsFrame(recv, 1, "in", '{"event":"heartbeat","status":"ok"}')))
    planted = [
        '{"event":"price","symbol":"MSFT","currency":"USD","exchange":"NASDAQ","mic_code":"XNGS",'
        '"type":"Common Stock","timestamp":1692888901,"price":0,"day_volume":9999999}',
        '{"event":"price","symbol":"BTC/USD","currency_base":"Bitcoin","currency_quote":"US Dollar",'
        '"exchange":"Coinbase Pro","type":"Digital Currency","timestamp":16928',
    ]
    for offset_s, frame in zip((301, 602), planted, strict=True):
        recv = start_us + offset_s * 1_000_000 + 777_000
        entries.append((recv, 99, WsFrame(recv, 1, "in", frame)))
    entries.append((end_us + 1_000_000, 0, Disconnect(end_us + 1_000_000, 1, "recorder stopped")))
    entries.sort(key=lambda item: (item[0], item[1]))
    ordered: list[Entry] = [e for _, _, e in entries] + list(rest)
    header = Header(symbols=tuple(i.symbol for i in INSTRUMENTS),
                    note="generated by feeds/generate_demo_feed.py (seed 20230824); AAPL from real bars")
    return encode_recording(header, ordered)


def write(path: Path = DEMO_FEED) -> Path:
    path.write_bytes(generate())
    return path
