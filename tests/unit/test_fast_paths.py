"""The typed fast paths decide nothing of their own: for any frame or header they either give the answer the
field-by-field checks give, or step aside. And the transform's JSON lines are the records, one per line."""

from __future__ import annotations

import json
import typing
from typing import Any

import msgspec
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds import DEMO_FEED
from ohlcv_core.envelope import (
    ENVELOPE_VERSION,
    _checked_header,
    _StreamHeader,
    decode_envelopes,
    encode_envelope,
    usual_header,
)
from ohlcv_core.errors import RecordRejected
from ohlcv_core.normalize import Accepted, frame_price, normalize
from ohlcv_core.price_frames import usual_price
from ohlcv_core.recording import read_recording
from ohlcv_core.timeseries import split_time_series
from ohlcv_core.twelvedata import MAX_EPOCH_S, MIN_EPOCH_S, PriceValues, load_frame, price_values
from tests.fixtures import load_text


def checked_price(frame: bytes) -> PriceValues | str:
    """What the field-by-field checks say: the values, or `rejected:<code>`, or the event's name."""
    try:
        event, obj = load_frame(frame)
        return price_values(obj) if event == "price" else event
    except RecordRejected as rejected:
        return f"rejected:{rejected.code}"


def assert_fast_agrees(frame: bytes) -> PriceValues | None:
    checked = checked_price(frame)  # first: it is what makes a symbol known
    fast = usual_price(frame)
    if isinstance(checked, str):
        assert fast is None, f"the fast path took {frame!r}, which the checks answer {checked}"
    elif fast is not None:
        assert fast == checked
        assert [type(v) for v in fast] == [type(v) for v in checked]  # 1 is not 1.0 in a record
    return fast


scalars = st.one_of(st.none(), st.booleans(), st.integers(-(2**70), 2**70), st.floats(allow_nan=False),
                    st.text(max_size=6), st.sampled_from(["", " ", "},{", 'a"b', "NASDAQ", "XNGS"]))
price_frames = st.fixed_dictionaries(
    {"event": st.sampled_from(["price", "price", "heartbeat", 5])},
    optional={
        "symbol": st.one_of(st.sampled_from(["AAPL", "aapl", " AAPL ", "EUR/USD", "BTC/USD", "", "no such!"]), scalars),
        "timestamp": st.one_of(st.sampled_from([MIN_EPOCH_S - 1, MIN_EPOCH_S, MAX_EPOCH_S - 1, MAX_EPOCH_S,
                                                1692888600, 1692888600.0, 1692888600.5]), scalars),
        "price": st.one_of(st.floats(min_value=0, exclude_min=True, allow_infinity=False), st.integers(0, 2**65),
                           st.sampled_from([0, -1, 0.0, 1, 2**63, 2**64, 10**30, 5e-324]), scalars),
        "bid": st.one_of(st.floats(min_value=0, allow_infinity=False), scalars),
        "ask": st.one_of(st.floats(min_value=-1, max_value=1e300), scalars),
        "day_volume": st.one_of(st.integers(-1, 2**64 + 1), st.sampled_from([2**63 - 1, 2**63, 1.0, 2.5]), scalars),
        **{name: scalars for name in ("exchange", "mic_code", "currency", "currency_base", "currency_quote", "type")},
        "extra": scalars,
    })


@given(price_frames)
@settings(max_examples=400, deadline=None)  # cheap; the first example pays for imports
def test_the_fast_price_path_agrees_with_the_checks_or_steps_aside(frame: dict[str, Any]) -> None:
    assert_fast_agrees(json.dumps(frame).encode())  # the stdlib: it writes integers of any size


@pytest.mark.parametrize("text", [
    b'{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":1e999}',  # infinity
    b'{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":1.5,"ask":-1e999}',
    b'{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":1,"price":-1}',  # the last one counts
    b'{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":-1,"price":1}',
    b'{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":1,"exchange":"\\ud800"}',  # lone surrogate
    b'{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":1,"exchange":"\xff"}',  # not UTF-8
    b'\xef\xbb\xbf{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":1}',  # a byte order mark
    b' {"event" : "price", "symbol":"AAPL", "timestamp":1692888600, "price":1}\n',
    b'{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":1} {}',  # trailing data
    b'{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":"1"}',
    b'{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":true}',
    b'{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":100000000000000000000000}',
    b'{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":1,"day_volume":18446744073709551616}',
    b'{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":1,"day_volume":9223372036854775808}',
    b'{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":1,"day_volume":-0}',
    b'{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":1,"day_volume":1e2}',
    b'{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":1,"bid":null,"exchange":null}',
    b'{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":1}',
    b'{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":1,"exchange":""}',
    b'{"event":"heartbeat","status":"ok"}',
    b'[1]', b'', b'{', b'null',
])
def test_unusual_frames_get_the_checks_answer(text: bytes) -> None:
    assert_fast_agrees(text)


@pytest.mark.parametrize("name", ["twelvedata/ws-price-amzn.json", "twelvedata/ws-price-aapl-with-mic.json",
                                  "twelvedata/docs-ws-price-xauusd-bid-ask.json", "twelvedata/docs-ws-price-aapl.json"])
def test_captured_price_frames_take_the_fast_path_once_their_symbol_is_known(name: str) -> None:
    frame = load_text(name).strip().encode()
    assert frame_price(frame) == checked_price(frame)
    assert assert_fast_agrees(frame) is not None


def test_every_price_frame_of_the_demo_recording_takes_the_fast_path() -> None:
    frames = [f.frame.encode() for f in read_recording(DEMO_FEED).inbound_frames()]
    prices = [f for f in frames if isinstance(checked_price(f), tuple)]  # the feed tears some on purpose
    assert len(prices) > 100
    assert [f for f in prices if usual_price(f) is None] == []


headers = st.fixed_dictionaries(
    {},
    optional={"v": st.one_of(st.sampled_from([1, 1, 2, 1.0, True, "1"]), scalars),
              "source": st.one_of(st.sampled_from(["twelvedata.ws", "twelvedata.rest.time_series", "other"]), scalars),
              "received_at_ms": st.one_of(st.integers(-1, 2**64), scalars),
              "size": st.one_of(st.integers(-1, 2**64), st.none(), scalars),
              "request": st.one_of(st.dictionaries(st.text(max_size=4), st.text(max_size=4), max_size=2), scalars),
              "extra": scalars})


def checked_header(head: bytes) -> dict[str, Any] | str:
    try:
        return _checked_header(head)
    except RecordRejected as rejected:
        return f"rejected:{rejected.code}"


@given(headers)
@settings(max_examples=400, deadline=None)  # cheap; the first example pays for imports
def test_the_fast_header_path_agrees_with_the_checks_or_steps_aside(header: dict[str, Any]) -> None:
    assert_header_agrees(json.dumps(header).encode())


def assert_header_agrees(head: bytes) -> None:
    checked, fast = checked_header(head), usual_header(head)
    if isinstance(checked, str):
        assert fast is None, f"the fast path took {head!r}, which the checks answer {checked}"
    elif fast is not None:
        assert checked.pop("size", None) == fast.size
        assert checked == {"v": fast.v, "source": fast.source, "received_at_ms": fast.received_at_ms}


@pytest.mark.parametrize("head", [
    b'{"v":1,"v":2,"source":"twelvedata.ws","received_at_ms":1}',
    b'{"v":2,"v":1,"source":"twelvedata.ws","received_at_ms":1}',
    b'{"v":true,"source":"twelvedata.ws","received_at_ms":1}', b'{"v":1.0,"source":"twelvedata.ws","received_at_ms":1}',
    b'{"v":1,"source":"twelvedata.ws","received_at_ms":1,"size":null}',
    b'{"v":1,"source":"twelvedata.ws","received_at_ms":18446744073709551615}',
    b'{"v":1,"source":"twelvedata.ws","received_at_ms":1,"size":1.0}',
])
def test_unusual_headers_get_the_checks_answer(head: bytes) -> None:
    assert_header_agrees(head)


def test_the_fast_header_knows_the_envelope_version() -> None:
    version = next(f.type for f in msgspec.structs.fields(_StreamHeader) if f.name == "v")
    assert typing.get_args(version) == (ENVELOPE_VERSION,)


@pytest.mark.parametrize("sized", [False, True])
def test_every_header_the_producer_streams_takes_the_fast_path(sized: bool) -> None:
    data = encode_envelope(b"{}", 1692888600123, "twelvedata.ws", sized=sized)
    assert usual_header(data[:data.index(b"\n")]) is not None


def test_a_rest_header_with_its_request_goes_through_the_checks() -> None:
    data = encode_envelope(b"{}", 1, "twelvedata.rest.time_series", {"symbol": "AAPL"})
    assert usual_header(data[:data.index(b"\n")]) is None
    assert decode_envelopes(data)[0]["request"] == {"symbol": "AAPL"}


venue_text = st.one_of(st.text(max_size=12), st.sampled_from(["},{", '},{"schema_version":1', "}\n{", '"', "\\"]))


@settings(deadline=None)
@given(st.lists(st.tuples(venue_text, venue_text, venue_text), min_size=1, max_size=5))
def test_json_lines_are_the_records_one_per_line(venues: list[tuple[str, str, str]]) -> None:
    # GIVEN one packed record of quotes whose free-text fields hold anything, separators included
    record = b"".join(
        encode_envelope(orjson.dumps({"event": "price", "symbol": "AAPL", "timestamp": 1692888600 + i, "price": 1.5,
                                      "exchange": exchange, "currency": currency, "type": kind}),
                        1692888600123, "twelvedata.ws", sized=True)
        for i, (exchange, currency, kind) in enumerate(venues))
    # WHEN the transform writes them
    accepted = normalize(record, 1692888600500)
    assert isinstance(accepted, Accepted)
    # THEN each record is one line, as serializing them one by one writes it
    assert accepted.to_json_lines() == b"".join(orjson.dumps(r) + b"\n" for r in accepted.records)
    assert [orjson.loads(line) for line in accepted.to_json_lines().splitlines()] == list(accepted.records)


def test_bar_records_are_written_one_per_line_too() -> None:
    parts = split_time_series(load_text("twelvedata/rest-time-series-1min-aapl.json"),
                              {"symbol": "AAPL", "interval": "1min"})
    body, request = max(parts, key=lambda part: len(part[0]))  # one UTC hour's bars, as the producer sends them
    accepted = normalize(encode_envelope(body, 1692892800000, "twelvedata.rest.time_series", request), 0)
    assert isinstance(accepted, Accepted) and len(accepted.records) > 1
    assert accepted.to_json_lines() == b"".join(orjson.dumps(r) + b"\n" for r in accepted.records)
