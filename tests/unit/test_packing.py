"""Quotes packed into Firehose records: the envelope framing, the producer's packer, and the transform
deciding a pack whole."""

from __future__ import annotations

import base64

import orjson
import pytest

from firehose_transform.transform import transform_records
from ohlcv_core.envelope import (
    decode_envelope,
    decode_envelopes,
    encode_envelope,
    envelope_pieces,
    envelope_starts,
)
from ohlcv_core.errors import RecordRejected
from ohlcv_core.normalize import Accepted, Dropped, normalize, pack_hour
from ohlcv_core.window import TimeWindow
from producers.batching import Packer
from tests.fixtures import load_text

PRICE = load_text("twelvedata/docs-ws-price-aapl.json").strip()
TIMESTAMP = orjson.loads(PRICE)["timestamp"]
OPEN_WINDOW = TimeWindow(max_price_age_s=10**10)


def _price(second: int, price: float = 177.5) -> str:
    return orjson.dumps({**orjson.loads(PRICE), "timestamp": TIMESTAMP + second, "price": price}).decode()


def test_a_sized_envelope_carries_its_payload_length_and_the_fast_header_is_the_serialized_one() -> None:
    payload = '{"event":"price",\n"symbol":"AAPL"}'  # a newline inside the payload is no boundary
    data = encode_envelope(payload, 1692888600123, "twelvedata.ws", sized=True)
    header = {"v": 1, "source": "twelvedata.ws", "received_at_ms": 1692888600123, "size": len(payload)}
    assert data == orjson.dumps(header) + b"\n" + payload.encode()
    assert decode_envelope(data)["payload"] == payload.encode()
    rest = encode_envelope(payload, 1, "twelvedata.rest.time_series", {"symbol": "AAPL"}, sized=True)
    assert orjson.loads(rest.partition(b"\n")[0])["size"] == len(payload)


def test_a_pack_decodes_into_its_envelopes_in_order_and_splits_into_records_of_one() -> None:
    payloads = [b'{"a":1}\n', b"\xff not utf-8", b'{"c":3}']
    pack = b"".join(encode_envelope(p, i, "twelvedata.ws", sized=True) for i, p in enumerate(payloads))
    assert [e["payload"] for e in decode_envelopes(pack)] == payloads
    assert [e["received_at_ms"] for e in decode_envelopes(pack)] == [0, 1, 2]
    pieces = envelope_pieces(pack)
    assert [decode_envelope(p)["payload"] for p in pieces] == payloads and b"".join(pieces) == pack
    # an unsized envelope ends the record, as every record did before packing
    tail = encode_envelope(b"last", 9, "twelvedata.ws")
    assert [e["payload"] for e in decode_envelopes(pack + tail)][-1] == b"last"


def test_where_envelopes_start_is_found_for_every_header_the_producer_writes() -> None:
    # GIVEN records as the producer writes them, run together without sizes (as a source backup holds them)
    rest = encode_envelope(b'{"values":[]}', 5, "twelvedata.rest.time_series", {"symbol": "AAPL", "apikey": "k"})
    records = [encode_envelope(b'{"a":1}', 1, "twelvedata.ws", sized=True) + encode_envelope(b"x", 2, "twelvedata.ws"),
               rest, encode_envelope(b"\xff", 3, "twelvedata.ws")]
    data = b"".join(records)
    # THEN every envelope's start is found, the pack's second one too, and nothing else
    pack, lone = len(records[0]), len(records[0]) + len(rest)
    assert envelope_starts(data) == [0, data.index(b'{"v":1', 1), pack, lone]


@pytest.mark.parametrize("data", [
    encode_envelope(b"12345", 1, "twelvedata.ws", sized=True)[:-1],  # cut short
    b'{"v":1,"source":"twelvedata.ws","received_at_ms":1,"size":-1}\n',
    b'{"v":1,"source":"twelvedata.ws","received_at_ms":1,"size":"5"}\nabcde',
    encode_envelope(b"ab", 1, "twelvedata.ws", sized=True) + b"trailing bytes",
])
def test_a_pack_that_does_not_add_up_is_a_bad_envelope(data: bytes) -> None:
    with pytest.raises(RecordRejected) as raised:
        decode_envelopes(data)
    assert raised.value.code == "bad_envelope"


def test_one_envelope_is_expected_where_one_is_read() -> None:
    pack = encode_envelope(b"{}", 1, "twelvedata.ws", sized=True) * 2
    with pytest.raises(RecordRejected, match="more than one envelope"):
        decode_envelope(pack)


def test_only_price_frames_the_transform_takes_on_content_are_packed_by_their_event_hour() -> None:
    assert pack_hour(PRICE) == TIMESTAMP // 3600
    assert pack_hour(_price(3600)) == TIMESTAMP // 3600 + 1
    assert pack_hour('{"event":"heartbeat","status":"ok"}') is None
    assert pack_hour(_price(0, price=0)) is None  # refused on content: sent alone, failed alone
    assert pack_hour('{"event":"price","symbol":"BT') is None


def test_the_packer_keeps_hours_apart_and_closes_a_pack_before_it_outgrows_its_size() -> None:
    packer = Packer(pack_bytes=100)
    assert packer.add(b"a" * 60, 10, 1) is None
    assert packer.add(b"b" * 30, 11, 2) is None  # another hour: another pack
    assert packer.add(b"c" * 30, 10, 3) is None
    closed = packer.add(b"d" * 20, 10, 4)
    assert closed == (b"a" * 60 + b"c" * 30, [1, 3])
    assert packer.add(b"rest", None, 5) == (b"rest", [5])  # no hour: it goes alone, the packs stay open
    assert packer.take() == [(b"d" * 20, [4]), (b"b" * 30, [2])]
    assert packer.take() == []
    big = Packer(pack_bytes=10)
    assert big.add(b"x" * 50, 1, 1) is None  # larger than a pack: a pack of its own
    assert big.add(b"y", 1, 2) == (b"x" * 50, [1])


def _pack(*frames: str) -> bytes:
    return b"".join(encode_envelope(f, (TIMESTAMP + 1) * 1000, "twelvedata.ws", sized=True) for f in frames)


def test_a_pack_of_one_hour_becomes_its_rows_in_one_partition_and_heartbeats_are_counted() -> None:
    outcome = normalize(_pack(_price(0), '{"event":"heartbeat","status":"ok"}', _price(1, 178.0)),
                        (TIMESTAMP + 2) * 1000, OPEN_WINDOW)
    assert isinstance(outcome, Accepted)
    assert [r.get("price") for r in outcome.records] == [177.5, 178.0]
    assert outcome.dropped == ("heartbeat",)
    single = normalize(_pack(_price(0)), (TIMESTAMP + 2) * 1000, OPEN_WINDOW)
    assert isinstance(single, Accepted) and single.records[0] == outcome.records[0]
    assert normalize(_pack('{"event":"heartbeat","status":"ok"}') * 2, 1, OPEN_WINDOW) == Dropped("heartbeat")


@pytest.mark.parametrize(("frames", "code", "where"), [
    ([PRICE, _price(1, price=-1)], "invalid_price", "envelope 2 of 2"),
    ([PRICE, '{"event":"price","symbol":"BT'], "not_json", "envelope 2 of 2"),
    ([PRICE, _price(-3600)], "spans_partitions", "envelope 2 of 2"),
])
def test_a_pack_with_one_envelope_it_cannot_use_fails_whole_saying_which(frames: list[str], code: str,
                                                                          where: str) -> None:
    with pytest.raises(RecordRejected) as raised:
        normalize(_pack(*frames), (TIMESTAMP + 2) * 1000, OPEN_WINDOW)
    assert raised.value.code == code and where in raised.value.message


def test_the_transform_answers_a_pack_with_one_record_of_all_its_rows() -> None:
    records = [{"recordId": "p1", "approximateArrivalTimestamp": (TIMESTAMP + 2) * 1000,
                "data": base64.b64encode(_pack(*(_price(s) for s in range(20)), '{"event":"heartbeat"}')).decode()}]
    response, tally = transform_records(records, OPEN_WINDOW)
    (answer,) = response["records"]
    assert answer["result"] == "Ok" and answer["recordId"] == "p1"
    rows = [orjson.loads(line) for line in base64.b64decode(answer["data"]).splitlines()]
    assert [r["event_time_ms"] for r in rows] == [(TIMESTAMP + s) * 1000 for s in range(20)]
    assert (tally.ok, tally.rows_out, tally.dropped["heartbeat"]) == (1, 20, 1)
