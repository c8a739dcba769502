"""The stand-in's faults on demand (what the chaos suite injects while clients stream) and its live
REST, over real sockets."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from chaos.feed import live_feed
from local_stack.twelvedata.server import TwelveDataStandIn, running_in_thread
from producers.rest import TwelveDataRest

SUBSCRIBE = orjson.dumps({"action": "subscribe", "params": {"symbols": "AAPL,MSFT"}}).decode()


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _stand_in(clock: Clock | None = None, sent: list[tuple[int, str]] | None = None, per_second: float = 2
              ) -> TwelveDataStandIn:
    feed = live_feed(int(time.time()), 180, per_second=per_second, seed=5)
    log = sent if sent is not None else []
    return TwelveDataStandIn(feed.recording, speed=1.0, live=True, close_at_end=False,
                             on_sent=lambda number, frame: log.append((number, frame.text)),
                             clock=clock or time.monotonic, rest_up_to_now=True)


def test_drop_all_aborts_every_open_connection_without_a_close_frame_and_logs_how_each_ended() -> None:
    with running_in_thread(_stand_in()) as stand_in:
        async def two_clients() -> list[str]:
            outcomes = []
            async with connect(stand_in.ws_url) as first, connect(stand_in.ws_url) as second:
                for ws in (first, second):
                    await ws.send(SUBSCRIBE)
                    await ws.recv()  # the subscribe-status
                assert await asyncio.to_thread(stand_in.act, stand_in.drop_all()) == 2
                for ws in (first, second):
                    try:
                        while True:
                            await asyncio.wait_for(ws.recv(), 5)
                    except ConnectionClosed as closed:
                        outcomes.append("no close frame" if closed.rcvd is None else f"closed {closed.rcvd.code}")
            return outcomes

        assert asyncio.run(two_clients()) == ["no close frame", "no close frame"]
    assert [(c.number, c.ended_by) for c in stand_in.stats.connection_log] == [(1, "dropped"), (2, "dropped")]
    assert all(c.closed_s is not None and c.closed_s >= c.opened_s for c in stand_in.stats.connection_log)


def test_an_injected_frame_reaches_every_client_and_a_stall_holds_frames_then_sends_them() -> None:
    sent: list[tuple[int, str]] = []
    with running_in_thread(_stand_in(sent=sent)) as stand_in:
        async def client() -> float:
            async with connect(stand_in.ws_url) as ws:
                await ws.send(SUBSCRIBE)
                await ws.recv()
                hostile = '{"event":"subscribe-status","fails":5}'
                assert await asyncio.to_thread(stand_in.act, stand_in.inject(hostile)) == 1
                while await asyncio.wait_for(ws.recv(), 5) != hostile:
                    pass
                await asyncio.to_thread(stand_in.act, stand_in.stall(1.5))
                began = time.monotonic()
                await ws.send('{"action":"heartbeat"}')
                await asyncio.wait_for(ws.recv(), 10)  # a frame or the heartbeat's reply, after the stall
                return time.monotonic() - began

        waited = asyncio.run(client())
    assert stand_in.stats.injected_frames == 1
    assert waited >= 1.2, "nothing may come while the server is stalled"
    assert sent and {number for number, _ in sent} == {1}, "frames sent are reported with their connection"


def test_live_rest_knows_only_the_bars_that_have_ended_on_the_live_timeline() -> None:
    clock = Clock()
    with running_in_thread(_stand_in(clock)) as stand_in:
        rest = TwelveDataRest(stand_in.rest_url, None)
        params = {"start_date": "2000-01-01 00:00:00", "end_date": "2100-01-01 00:00:00", "timezone": "UTC",
                  "order": "asc", "outputsize": "5000"}

        async def subscribe() -> None:
            async with connect(stand_in.ws_url) as ws:
                await ws.send(SUBSCRIBE)
                await ws.recv()

        asyncio.run(subscribe())  # the live timeline starts at the first subscription
        first_us = stand_in.catalog.first_us
        assert first_us is not None
        clock.now += 150  # two and a half minutes on
        body = rest.bars(("AAPL",), "1min", **params).body
    values = orjson.loads(body)["values"]
    live_now = datetime.fromtimestamp(first_us / 1e6 + 150, tz=UTC)
    assert values and len(values) <= 3
    ends = [datetime.strptime(v["datetime"], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC).timestamp() + 60 for v in values]
    assert max(ends) <= live_now.timestamp()

