from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from feeds import DEMO_FEED
from feeds.generate_demo_feed import generate
from ohlcv_core.errors import RecordingError
from ohlcv_core.recording import Disconnect, Entry, Header, RestExchange, WsFrame, encode_recording, read_recording
from ohlcv_core.twelvedata import PriceEvent, parse_frame

ENTRIES: list[Entry] = [
    WsFrame(1_000, 1, "out", '{"action":"subscribe","params":{"symbols":"AAPL"}}'),
    WsFrame(2_000, 1, "in", '{"event":"price","symbol":"AAPL","timestamp":1692888600,"price":1.5}'),
    Disconnect(3_000, 1, "socket reset"),
    RestExchange(4_000, "/time_series", {"symbol": "AAPL", "interval": "1min"}, 200, '{"values":[]}',
                 {"api-credits-left": "7"}),
]


def test_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "r.tdrec.gz"
    path.write_bytes(encode_recording(Header(("AAPL",), "test"), ENTRIES))
    recording = read_recording(path)
    assert recording.header == Header(("AAPL",), "test")
    assert list(recording.entries) == ENTRIES


def test_a_file_cut_short_is_readable_up_to_its_last_complete_line(tmp_path: Path) -> None:
    # GIVEN a recorder killed mid-write: the gzip stream and the last line are both torn
    whole = gzip.decompress(encode_recording(Header(("AAPL",)), ENTRIES))
    torn = gzip.compress(whole)[:-30]
    path = tmp_path / "torn.tdrec.gz"
    path.write_bytes(torn)
    # THEN every complete entry before the tear is read
    entries = read_recording(path).entries
    assert 0 < len(entries) < len(ENTRIES)
    assert list(entries) == ENTRIES[: len(entries)]


def test_not_a_recording(tmp_path: Path) -> None:
    path = tmp_path / "x.gz"
    path.write_bytes(b"plain text")
    with pytest.raises(RecordingError):
        read_recording(path)
    path.write_bytes(gzip.compress(b'{"format":"other"}\n'))
    with pytest.raises(RecordingError, match="not a twelvedata-recording"):
        read_recording(path)


def test_an_unreadable_path_or_entry_is_a_recording_error(tmp_path: Path) -> None:
    with pytest.raises(RecordingError, match="cannot read"):
        read_recording(tmp_path / "absent.tdrec.gz")
    with pytest.raises(RecordingError, match="cannot read"):
        read_recording(tmp_path)  # a folder
    head = gzip.decompress(encode_recording(Header(("AAPL",)), []))
    for line, why in ((b'["ws", 1]', "a JSON object, got a list"), (b'"text"', "got a str"),
                      (b'{"type": "ws", "dir": "in"}', "malformed")):
        path = tmp_path / "bad.tdrec.gz"
        path.write_bytes(gzip.compress(head + line + b"\n"))
        with pytest.raises(RecordingError, match=why):
            read_recording(path)


def test_the_bundled_feed_is_what_the_seeded_generator_makes() -> None:
    # Compared decompressed: zlib builds may compress the same bytes differently.
    assert gzip.decompress(generate()) == gzip.decompress(DEMO_FEED.read_bytes()), \
        "regenerate with `ohlcv generate-demo-feed` and commit"


def test_the_bundled_feed_covers_what_the_demo_promises() -> None:
    recording = read_recording(DEMO_FEED)
    prices = [e for e in (parse_frame_or_none(f.frame) for f in recording.inbound_frames()) if e]
    span_s = max(p.timestamp_s for p in prices) - min(p.timestamp_s for p in prices)
    symbols = {p.symbol for p in prices}
    assert span_s >= 10 * 60 - 60
    assert len(symbols) >= 5
    types = {p.symbol: p.instrument_type for p in prices}
    assert types["AAPL"] == "Common Stock" and types["EUR/USD"] == "Physical Currency"
    assert types["BTC/USD"] == "Digital Currency"
    assert all(p.day_volume is not None for p in prices if p.symbol == "AAPL")
    assert all(p.day_volume is None for p in prices if p.symbol in ("EUR/USD", "BTC/USD"))
    rest_symbols = {x.params["symbol"] for x in recording.rest_exchanges()}
    assert rest_symbols == symbols


def parse_frame_or_none(text: str) -> PriceEvent | None:
    try:
        event = parse_frame(text)
    except Exception:  # noqa: BLE001 - the planted malformed frames
        return None
    return event if isinstance(event, PriceEvent) else None
