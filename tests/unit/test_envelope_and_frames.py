from __future__ import annotations

import math

import orjson
import pytest

from ohlcv_core.envelope import decode_envelope, encode_envelope
from ohlcv_core.errors import RecordRejected
from ohlcv_core.td_protocol import requested_symbols
from ohlcv_core.twelvedata import ControlEvent, PriceEvent, parse_frame, salvage_symbol
from tests.fixtures import load_text


def test_envelope_round_trip_keeps_the_payload_byte_for_byte() -> None:
    payload = '{"event":"price", "symbol":"AAPL"}\n  with a newline, and "quotes" \u00e9'
    data = encode_envelope(payload, 1692888600123, "twelvedata.ws")
    assert data.endswith(payload.encode())  # not escaped: the frame as received
    env = decode_envelope(data)
    assert env == {"v": 1, "source": "twelvedata.ws", "received_at_ms": 1692888600123, "payload": payload.encode()}


def test_the_fast_header_is_the_serialized_header() -> None:
    fast = encode_envelope("{}", 1692888600123, "twelvedata.ws")
    header = {"v": 1, "source": "twelvedata.ws", "received_at_ms": 1692888600123}
    assert fast == orjson.dumps(header) + b"\n{}"


def test_even_a_non_utf8_frame_is_kept_as_received() -> None:
    assert decode_envelope(encode_envelope(b"\xff\xfe{", 1, "twelvedata.ws"))["payload"] == b"\xff\xfe{"


def test_request_parameters_travel_without_secrets() -> None:
    data = encode_envelope("{}", 1, "twelvedata.rest.time_series", {"symbol": "AAPL", "apikey": "k"})
    assert b"apikey" not in data
    assert decode_envelope(data)["request"] == {"symbol": "AAPL"}


@pytest.mark.parametrize(("data", "code"), [
    (b"Hello World", "bad_envelope"),
    (b"\xff\xfe\n{}", "bad_envelope"),
    (b"[1,2]\n{}", "bad_envelope"),
    (b'{"Hello": "World"}\n', "bad_envelope"),
    (b'{"v":2,"source":"twelvedata.ws","received_at_ms":1}\n{}', "unsupported_envelope_version"),
    (b'{"v":true,"source":"twelvedata.ws","received_at_ms":1}\n{}', "unsupported_envelope_version"),
    (b'{"v":1,"source":"elsewhere","received_at_ms":1}\n{}', "bad_envelope"),
    (b'{"v":1,"source":"twelvedata.ws","received_at_ms":true}\n{}', "bad_envelope"),
    (b'{"v":1,"source":"twelvedata.ws","received_at_ms":1,"request":{"a":1}}\n{}', "bad_envelope"),
])
def test_bad_envelopes_are_rejected_with_a_reason_code(data: bytes, code: str) -> None:
    with pytest.raises(RecordRejected) as caught:
        decode_envelope(data)
    assert caught.value.code == code


def test_real_equity_capture_parses_with_venue_and_cumulative_volume() -> None:
    event = parse_frame(load_text("twelvedata/ws-price-aapl-with-mic.json"))
    assert event == PriceEvent(symbol="AAPL", timestamp_s=1684508044, price=175.6997, bid=None, ask=None,
                               day_volume=15991537, exchange="NASDAQ", mic_code="XNGS", currency="USD",
                               currency_base=None, currency_quote=None, instrument_type="Common Stock")


def test_capture_without_volume_or_mic_parses() -> None:
    event = parse_frame(load_text("twelvedata/ws-price-amzn.json"))
    assert isinstance(event, PriceEvent)
    assert (event.symbol, event.day_volume, event.mic_code) == ("AMZN", None, None)


def test_docs_bid_ask_example_keeps_bid_and_ask() -> None:
    event = parse_frame(load_text("twelvedata/docs-ws-price-xauusd-bid-ask.json"))
    assert isinstance(event, PriceEvent)
    assert (event.symbol, event.bid, event.ask, event.currency_base) == ("XAU/USD", 1925.05, 1925.32, "Gold Spot")


@pytest.mark.parametrize("name", ["twelvedata/ws-subscribe-status-ok-aapl.json",
                                  "twelvedata/ws-subscribe-status-error-gbpusd.json",
                                  "twelvedata/docs-ws-subscribe-status-ok.json"])
def test_status_events_are_control_events(name: str) -> None:
    assert parse_frame(load_text(name)) == ControlEvent("subscribe-status")


def _price(**overrides: object) -> str:
    base: dict[str, object] = {"event": "price", "symbol": "AAPL", "timestamp": 1692888600, "price": 177.5}
    base.update(overrides)
    return orjson.dumps({k: v for k, v in base.items() if v is not ...}).decode()


@pytest.mark.parametrize(("frame", "code"), [
    (_price(price=0), "invalid_price"),
    (_price(price=-1.5), "invalid_price"),
    (_price(price="177.5"), "invalid_price"),
    (_price(price=True), "invalid_price"),
    (_price(price=...), "missing_field"),
    ('{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":NaN}', "not_json"),
    (_price(bid=-1), "invalid_price"),
    (_price(day_volume=-3), "invalid_volume"),
    (_price(day_volume=1.5), "invalid_volume"),
    (_price(timestamp=1692888600000), "invalid_timestamp"),
    (_price(timestamp="1692888600"), "invalid_timestamp"),
    (_price(timestamp=...), "missing_field"),
    (_price(symbol="AA PL"), "invalid_symbol"),
    (_price(symbol=42), "invalid_symbol"),
    ('{"symbol":"AAPL"}', "unknown_event"),
    (b'{"event":"price","symbol":"\xff"}', "not_utf8"),
    ('"price"', "unknown_event"),
    ('{"event":"price","symbol":"BTC/USD","timestamp":16928', "not_json"),
])
def test_invalid_price_frames_are_rejected_with_a_reason_code(frame: str | bytes, code: str) -> None:
    with pytest.raises(RecordRejected) as caught:
        parse_frame(frame)
    assert caught.value.code == code


def test_symbols_are_canonical_upper_case() -> None:
    event = parse_frame(_price(symbol=" eur/usd "))
    assert isinstance(event, PriceEvent)
    assert event.symbol == "EUR/USD"
    assert math.isclose(event.price, 177.5)


def test_a_torn_frame_still_shows_its_symbol() -> None:
    assert salvage_symbol('{"event":"price","symbol":"btc/usd","timest') == "BTC/USD"
    assert salvage_symbol("garbage") is None


def test_subscribe_params_in_both_documented_forms() -> None:
    assert requested_symbols({"symbols": "AAPL, RY:TSX,EUR/USD"}) == ["AAPL", "RY", "EUR/USD"]
    assert requested_symbols({"symbols": [{"symbol": "AAPL", "exchange": "NASDAQ"}, {"mic_code": "X"}]}) == ["AAPL"]
    assert requested_symbols(None) == []
