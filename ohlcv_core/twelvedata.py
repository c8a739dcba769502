"""Parsing of Twelve Data WebSocket frames (see docs/twelvedata.md for the protocol facts we rely on)."""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any

import orjson

from ohlcv_core.errors import RecordRejected

# Twelve Data symbols: tickers ("BRK.B"), pairs ("EUR/USD"), with an optional venue ("RY:TSX").
SYMBOL_RE = re.compile(r"^[A-Z0-9][A-Z0-9._\-/]{0,31}$")
# 2000-01-01 .. 2100-01-01: anything outside is a unit mix-up (ms instead of s) or garbage.
MIN_EPOCH_S = 946_684_800
MAX_EPOCH_S = 4_102_444_800


@dataclass(frozen=True, slots=True)
class PriceEvent:
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


@dataclass(frozen=True, slots=True)
class ControlEvent:
    """Any non-price event (subscribe-status, heartbeat, ...): carries no market data."""

    event: str


Frame = PriceEvent | ControlEvent


def canonical_symbol(value: object) -> str:
    if not isinstance(value, str):
        raise RecordRejected("invalid_symbol", f"symbol must be a string, got {type(value).__name__}")
    symbol = value.strip().upper()
    if not SYMBOL_RE.match(symbol):
        raise RecordRejected("invalid_symbol", f"symbol {value[:40]!r} is not a Twelve Data symbol")
    return symbol


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _positive_price(obj: dict[str, Any], name: str, *, required: bool) -> float | None:
    value = obj.get(name)
    if value is None:
        if required:
            raise RecordRejected("missing_field", f"price event has no {name!r}")
        return None
    if not _is_number(value) or not math.isfinite(value) or value <= 0:
        raise RecordRejected("invalid_price", f"{name} must be a finite positive number, got {value!r:.40}")
    return float(value)


def _day_volume(obj: dict[str, Any]) -> int | None:
    value = obj.get("day_volume")
    if value is None:
        return None
    if not _is_number(value) or not math.isfinite(value) or value < 0 or value != int(value):
        raise RecordRejected("invalid_volume", f"day_volume must be a non-negative integer, got {value!r:.40}")
    return int(value)


def _timestamp(obj: dict[str, Any]) -> int:
    value = obj.get("timestamp")
    if value is None:
        raise RecordRejected("missing_field", "price event has no 'timestamp'")
    if not _is_number(value) or not math.isfinite(value) or value != int(value):
        raise RecordRejected("invalid_timestamp", f"timestamp must be integer UNIX seconds, got {value!r:.40}")
    seconds = int(value)
    if not MIN_EPOCH_S <= seconds < MAX_EPOCH_S:
        raise RecordRejected("invalid_timestamp", f"timestamp {seconds} is outside 2000..2100 (seconds expected)")
    return seconds


def _optional_text(obj: dict[str, Any], name: str) -> str | None:
    value = obj.get(name)
    return value if isinstance(value, str) and value else None


def parse_frame(payload: str) -> Frame:
    """Parse one WebSocket text frame; raise RecordRejected with a reason code if it is not usable."""
    try:
        obj = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise RecordRejected("not_json", f"frame is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise RecordRejected("unknown_event", f"frame is a JSON {type(obj).__name__}, not an object")
    event = obj.get("event")
    if not isinstance(event, str):
        raise RecordRejected("unknown_event", "frame has no 'event' name")
    if event != "price":
        return ControlEvent(event=event)
    return PriceEvent(
        symbol=canonical_symbol(obj.get("symbol")),
        timestamp_s=_timestamp(obj),
        price=_positive_price(obj, "price", required=True) or 0.0,
        bid=_positive_price(obj, "bid", required=False),
        ask=_positive_price(obj, "ask", required=False),
        day_volume=_day_volume(obj),
        exchange=_optional_text(obj, "exchange"),
        mic_code=_optional_text(obj, "mic_code"),
        currency=_optional_text(obj, "currency"),
        currency_base=_optional_text(obj, "currency_base"),
        currency_quote=_optional_text(obj, "currency_quote"),
        instrument_type=_optional_text(obj, "type"),
    )


_SYMBOL_FIELD = re.compile(r'"symbol"\s*:\s*"([^"]{1,40})"')


def salvage_symbol(payload: str) -> str | None:
    """The symbol of a frame that failed to parse, when its text still shows one (a torn frame)."""
    match = _SYMBOL_FIELD.search(payload)
    return match.group(1).upper() if match else None


def requested_symbols(params: object) -> list[str]:
    """Symbols of a subscribe/unsubscribe `params`: "AAPL,RY:TSX" or [{"symbol": ..., "exchange": ...}]."""
    if not isinstance(params, dict):
        return []
    symbols = params.get("symbols")
    if isinstance(symbols, str):
        return [s.strip().split(":", 1)[0].upper() for s in symbols.split(",") if s.strip()]
    if isinstance(symbols, list):
        return [str(item["symbol"]).upper() for item in symbols if isinstance(item, dict) and item.get("symbol")]
    return []
