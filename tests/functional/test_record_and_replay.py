"""Record from a server, replay through the producer path: the same price events come out."""

from __future__ import annotations

import asyncio
import gzip
import zlib
from pathlib import Path
from typing import Any

import orjson
import pytest

from feeds import DEMO_FEED
from local_stack.twelvedata.server import Faults, TwelveDataStandIn, running_in_thread
from ohlcv_core.recording import Disconnect, Header, RecordingWriter, RestExchange, WsFrame, read_recording
from ohlcv_core.td_protocol import ReconnectPolicy
from producers.recorder import record
from producers.replay import ReceivedRest, replay_items
from producers.rest import TwelveDataRest
from producers.twelvedata_ws import ReceivedFrame, resilient_stream

SYMBOLS = ("AAPL", "EUR/USD", "BTC/USD")


def _price_frames(texts: list[str]) -> list[dict[str, Any]]:
    out = []
    for text in texts:
        try:
            obj = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if obj.get("event") == "price":
            out.append(obj)
    return out


async def _record_from(stand_in: TwelveDataStandIn, out: Path, **stream_options: Any) -> tuple[Any, list[Path]]:
    writer = RecordingWriter(out, "b", Header(SYMBOLS))
    stream = resilient_stream(stand_in.ws_url, SYMBOLS, api_key=None, exit_on_close=True,
                              policy=ReconnectPolicy(base_s=0.01, cap_s=0.05), **stream_options)
    stats = await record(stream, writer, symbols=SYMBOLS, rest=TwelveDataRest(stand_in.rest_url, None))
    writer.close()
    return stats, writer.paths


def test_round_trip_recording_b_replays_to_the_price_events_of_recording_a(tmp_path: Path) -> None:
    recording_a = read_recording(DEMO_FEED)
    with running_in_thread(TwelveDataStandIn(recording_a, speed=0)) as stand_in:
        stats, paths = asyncio.run(_record_from(stand_in, tmp_path))
        served = [f.text for f in stand_in.catalog.frames if f.symbol in SYMBOLS]
    (path,) = paths
    recording_b = read_recording(path)
    # B holds the subscription sent, every frame received, and the REST responses fetched
    out = [e for e in recording_b.entries if isinstance(e, WsFrame) and e.direction == "out"]
    assert len(out) == 1 and orjson.loads(out[0].frame)["params"]["symbols"] == ",".join(SYMBOLS)
    rest = [e for e in recording_b.entries if isinstance(e, RestExchange)]
    assert rest and rest[0].status == 200 and "apikey" not in rest[0].params
    assert stats.frames == len([e for e in recording_b.entries if isinstance(e, WsFrame) and e.direction == "in"])
    # replaying B yields the price events A served, in order
    replayed = asyncio.run(_collect(replay_items(recording_b, speed=0)))
    frames = [item.text for item in replayed if isinstance(item, ReceivedFrame)]
    assert _price_frames(frames) == _price_frames(served)
    assert any(isinstance(item, ReceivedRest) for item in replayed)
    a_prices = [p for p in _price_frames([f.frame for f in recording_a.inbound_frames()]) if p["symbol"] in SYMBOLS]
    assert _price_frames(frames) == a_prices


async def _collect(items: Any) -> list[Any]:
    return [item async for item in items]


def test_a_dropped_connection_is_recorded_and_the_session_resumes(tmp_path: Path) -> None:
    recording_a = read_recording(DEMO_FEED)
    stand_in = TwelveDataStandIn(recording_a, speed=0, faults=Faults(drop_after_frames=50, drop_connections=1))
    with running_in_thread(stand_in) as server:
        stats, paths = asyncio.run(_record_from(server, tmp_path))
    entries = read_recording(paths[0]).entries
    disconnects = [e for e in entries if isinstance(e, Disconnect)]
    assert stats.connections == 2 and stats.disconnects == 1 and len(disconnects) == 1
    assert {e.conn for e in entries if isinstance(e, WsFrame)} == {1, 2}
    assert len([e for e in entries if isinstance(e, WsFrame) and e.conn == 1 and e.direction == "in"]) == 51


def test_a_recorder_killed_mid_write_leaves_a_readable_file(tmp_path: Path) -> None:
    # GIVEN a writer that synced after some entries and then died without closing
    clock = iter(range(10_000))
    writer = RecordingWriter(tmp_path, "k", Header(("AAPL",)), flush_every_s=1, clock=lambda: float(next(clock)))
    for index in range(20):
        writer.write(WsFrame(index, 1, "in", f'{{"event":"price","n":{index}}}'))
    (path,) = writer.paths
    raw = path.read_bytes()  # no close(): the gzip trailer is missing
    with pytest.raises((EOFError, zlib.error, OSError)):
        gzip.decompress(raw)
    entries = read_recording(path).entries
    assert len(entries) >= 18 and entries == tuple(WsFrame(i, 1, "in", f'{{"event":"price","n":{i}}}')
                                                  for i in range(len(entries)))


def test_files_rotate_by_size_and_each_stands_alone(tmp_path: Path) -> None:
    writer = RecordingWriter(tmp_path, "r", Header(("AAPL",)), max_bytes=2_000, flush_every_s=0)
    for index in range(2_000):
        writer.write(WsFrame(index, 1, "in", f'{{"event":"price","symbol":"AAPL","n":{index},"pad":"{index * 7}"}}'))
    writer.close()
    assert len(writer.paths) > 2
    entries = [e for p in writer.paths for e in read_recording(p).entries]
    assert [e.recv_us for e in entries] == list(range(2_000))
