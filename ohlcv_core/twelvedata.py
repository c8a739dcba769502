"""Parsing and validation of Twelve Data price events, as the transform does it (the connection's side of
the protocol is `ohlcv_core.td_protocol`; the facts it relies on are in docs/producer.md)."""

from __future__ import annotations

import functools
import math
import re
from dataclasses import dataclass
from typing import Any, NamedTuple, cast

import orjson

from ohlcv_core.errors import RecordRejected

# Twelve Data symbols: tickers ("BRK.B"), pairs ("EUR/USD"), with an optional venue ("RY:TSX").
SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9._\-/]{0,31}$")
# 2000-01-01 .. 2100-01-01: anything outside is a unit mix-up (ms instead of s) or garbage.
MIN_EPOCH_S = 946_684_800
MAX_EPOCH_S = 4_102_444_800


class PriceEvent(NamedTuple):
    symbol: str
    timestamp_s: int
    price: float
    bid: float | None
    ask: float | None
    day_volume: int | None
    exchange: str | None
    mic_code: str | None
    currency: str | None
    currency_base: str | None
    currency_quote: str | None
    instrument_type: str | None

    def identity(self) -> PriceIdentity:
        return (self.symbol, self.exchange, self.timestamp_s, self.price, self.bid, self.ask, self.day_volume)


# What makes two price events the same event: everything but when and how often it was received.
PriceIdentity = tuple[str, str | None, int, float, float | None, float | None, int | None]
# The same twelve values as a plain tuple: what the transform's hot path uses (no class to build).
PriceValues = tuple[str, int, float, float | None, float | None, int | None,
                    str | None, str | None, str | None, str | None, str | None, str | None]


@dataclass(frozen=True, slots=True)
class ControlEvent:
    """Any non-price event (subscribe-status, heartbeat, ...): carries no market data."""

    event: str


Frame = PriceEvent | ControlEvent


@functools.lru_cache(maxsize=8192)
def _canonical(value: str) -> str | None:
    symbol = value.strip().upper()
    return symbol if SYMBOL_RE.match(symbol) else None


def canonical_symbol(value: object) -> str:
    if value.__class__ is not str:
        raise RecordRejected("invalid_symbol", f"symbol must be a string, got {type(value).__name__}")
    symbol = _canonical(value) if len(value) <= 64 else None
    if symbol is None:
        raise RecordRejected("invalid_symbol", f"symbol {value!r:.40} is not a Twelve Data symbol")
    return symbol


# Raw symbol -> canonical symbol, for those seen valid: a feed streams a few thousand symbols at most.
_KNOWN_SYMBOLS: dict[str, str] = {}
_KNOWN_SYMBOLS_MAX = 65_536
# A symbol already checked, canonical (None: not seen yet, or not valid): for the typed fast path, which
# takes only symbols this module has checked.
known_symbol = _KNOWN_SYMBOLS.get

# The checks below run for every streamed price. Each tests the valid case first, in one comparison
# (`0 < v < inf` is False for NaN, infinities, zero and negatives), and explains only the failures.
_NUMBER = (int, float)


def _positive_price(value: object, name: str) -> float:
    if value.__class__ in _NUMBER and 0 < value < math.inf:
        return float(value)
    if value is None:
        raise RecordRejected("missing_field", f"price event has no {name!r}")
    raise RecordRejected("invalid_price", f"{name} must be a finite positive number, got {value!r:.40}")


def _day_volume(value: object) -> int | None:
    if value is None:
        return None
    if value.__class__ is int and value >= 0:
        return value
    if value.__class__ is float and 0 <= value < math.inf and value == int(value):
        return int(value)
    raise RecordRejected("invalid_volume", f"day_volume must be a non-negative integer, got {value!r:.40}")


def _timestamp(value: object) -> int:
    if value.__class__ is int and MIN_EPOCH_S <= value < MAX_EPOCH_S:
        return value
    if value is None:
        raise RecordRejected("missing_field", "price event has no 'timestamp'")
    if value.__class__ is float and math.isfinite(value) and value == int(value):
        return _timestamp(int(value))
    if value.__class__ is not int:
        raise RecordRejected("invalid_timestamp", f"timestamp must be integer UNIX seconds, got {value!r:.40}")
    raise RecordRejected("invalid_timestamp", f"timestamp {value} is outside 2000..2100 (seconds expected)")


def load_frame(payload: str | bytes) -> tuple[str, dict[str, Any]]:
    """A frame's event name and its JSON object; RecordRejected if it is neither."""
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        if "UTF-8" in str(exc):
            raise RecordRejected("not_utf8", f"frame is not UTF-8: {exc}") from exc
        raise RecordRejected("not_json", f"frame is not JSON: {exc}") from exc
    if obj.__class__ is not dict:
        raise RecordRejected("unknown_event", f"frame is a JSON {type(obj).__name__}, not an object")
    event = obj.get("event")
    if event.__class__ is not str:
        raise RecordRejected("unknown_event", "frame has no 'event' name")
    return event, obj


def price_values(obj: dict[str, Any]) -> PriceValues:
    """The checked values of a price event, in PriceEvent's field order."""
    get = obj.get
    symbol, timestamp, price = get("symbol"), get("timestamp"), get("price")
    bid, ask, volume = get("bid"), get("ask"), get("day_volume")
    exchange, mic, currency = get("exchange"), get("mic_code"), get("currency")
    base, quote, kind = get("currency_base"), get("currency_quote"), get("type")
    known = _KNOWN_SYMBOLS.get(symbol) if symbol.__class__ is str else None
    # The producer and the transform run this for every streamed price: the usual event is checked in
    # one expression, and only an unusual one goes through the checks that explain what is wrong.
    if not (known is not None and timestamp.__class__ is int and MIN_EPOCH_S <= timestamp < MAX_EPOCH_S
            and price.__class__ in _NUMBER and 0 < price < math.inf
            and (bid is None or (bid.__class__ in _NUMBER and 0 < bid < math.inf))
            and (ask is None or (ask.__class__ in _NUMBER and 0 < ask < math.inf))
            and (volume is None or (volume.__class__ is int and volume >= 0))):
        known, timestamp, price = canonical_symbol(symbol), _timestamp(timestamp), _positive_price(price, "price")
        bid = None if bid is None else _positive_price(bid, "bid")
        ask = None if ask is None else _positive_price(ask, "ask")
        volume = _day_volume(volume)
        if len(_KNOWN_SYMBOLS) < _KNOWN_SYMBOLS_MAX:
            _KNOWN_SYMBOLS[cast("str", symbol)] = known  # canonical_symbol took it: a str
    return (
        known, timestamp, float(price), None if bid is None else float(bid), None if ask is None else float(ask),
        volume,
        exchange if exchange.__class__ is str and exchange else None,
        mic if mic.__class__ is str and mic else None,
        currency if currency.__class__ is str and currency else None,
        base if base.__class__ is str and base else None,
        quote if quote.__class__ is str and quote else None,
        kind if kind.__class__ is str and kind else None,
    )


def parse_frame(payload: str | bytes) -> Frame:
    """Parse one WebSocket text frame; raise RecordRejected with a reason code if it is not usable."""
    event, obj = load_frame(payload)
    if event != "price":
        return ControlEvent(event=event)
    return PriceEvent._make(price_values(obj))


_SYMBOL_FIELD = re.compile(r'"symbol"\s*:\s*"([^"]{1,40})"')


def salvage_symbol(payload: str) -> str | None:
    """The symbol of a frame that failed to parse, when its text still shows one (a torn frame)."""
    match = _SYMBOL_FIELD.search(payload)
    return match.group(1).upper() if match else None
