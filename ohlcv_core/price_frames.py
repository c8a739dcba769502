"""The usual streamed price frame, decoded by type in one pass: the fast path of `twelvedata.price_values`.

The producer and the transform check every streamed quote. Decoding the usual frame straight into a typed
struct (msgspec validates the types and bounds while it parses) costs about half of parsing it into a dict
and checking each field in Python. The fast path only ever says "usual, and these are its values" or
"not sure": a frame it does not take (a field it does not know, a float timestamp, a symbol not yet seen)
goes through the checks that explain what is wrong, so the decision is theirs and only the cost differs.
tests/unit/test_fast_paths.py holds the two paths to the same answer.
"""

from __future__ import annotations

from typing import Annotated, Literal

import msgspec

from ohlcv_core.limits import INT64_MAX
from ohlcv_core.twelvedata import MAX_EPOCH_S, MIN_EPOCH_S, PriceValues, known_symbol

# Positive; finite too, as `twelvedata._positive_price` asks: msgspec refuses a JSON number beyond a
# double's range (1e999) where a parser might round it to infinity.
_Positive = Annotated[float, msgspec.Meta(gt=0)]


class _PriceFrame(msgspec.Struct, forbid_unknown_fields=True):
    event: Literal["price"]
    symbol: str
    timestamp: Annotated[int, msgspec.Meta(ge=MIN_EPOCH_S, lt=MAX_EPOCH_S)]
    price: _Positive
    bid: _Positive | None = None
    ask: _Positive | None = None
    day_volume: Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)] | None = None
    exchange: str | None = None
    mic_code: str | None = None
    currency: str | None = None
    currency_base: str | None = None
    currency_quote: str | None = None
    type: str | None = None


_decode = msgspec.json.Decoder(_PriceFrame).decode


def usual_price(frame: str | bytes) -> PriceValues | None:
    """The checked values of a usual price frame, in PriceEvent's field order; None when the frame is not
    one (then `load_frame` and `price_values` decide it)."""
    try:
        f = _decode(frame)
    except msgspec.DecodeError:  # ValidationError is one
        return None
    symbol = known_symbol(f.symbol)
    if symbol is None:
        return None
    return (symbol, f.timestamp, f.price, f.bid, f.ask, f.day_volume, f.exchange or None, f.mic_code or None,
            f.currency or None, f.currency_base or None, f.currency_quote or None, f.type or None)
