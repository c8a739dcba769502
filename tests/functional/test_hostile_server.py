"""The producer's client against a hostile server on loopback: malformed control frames pass as events,
an API-key refusal inside the stream stops it, and a server that answers once and drops is retried ever
more slowly instead of about twice a second forever."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import Any

import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from ohlcv_core.td_protocol import ReconnectPolicy
from producers.live import LiveStats, live_items
from producers.twelvedata_ws import AuthError, Disconnected, ReceivedFrame, resilient_stream

PRICE = orjson.dumps({"event": "price", "symbol": "AAPL", "timestamp": 1692888600, "price": 177.0}).decode()
MALFORMED = ['{"status":"error","code":500,"message":null}', '{"status":"error","message":17}',
             '{"event":"subscribe-status","fails":5}', '{"event":"subscribe-status","status":"ok","success":"x"}',
             '["price"]', "{torn", '{"event":"price","symbol":7}', '{"event":null}']


async def _serving(handler: Callable[[ServerConnection], Awaitable[None]], client: Callable[[str], Awaitable[Any]]
                   ) -> Any:
    async with serve(handler, "127.0.0.1", 0) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        return await asyncio.wait_for(client(f"ws://127.0.0.1:{port}/v1/quotes/price"), timeout=30)


def test_malformed_control_frames_pass_through_and_the_stream_goes_on() -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()  # the subscription
        for text in [*MALFORMED, PRICE]:
            await ws.send(text)
        await ws.close(1000, "done")

    async def client(url: str) -> list[str]:
        stream = resilient_stream(url, ("AAPL",), api_key=None, exit_on_close=True)
        stats = LiveStats()
        items = [item.text async for item in live_items(stream, ("AAPL",), rest=None, repair_every_s=0, stats=stats)
                 if isinstance(item, ReceivedFrame)]
        assert stats.messages_by_symbol == {"AAPL": 1}
        return items

    assert asyncio.run(_serving(handler, client)) == [*MALFORMED, PRICE]  # every frame kept, none fatal


@pytest.mark.parametrize("refusal", ['{"status":"error","code":401,"message":null}',
                                     '{"event":"subscribe-status","status":"error","code":401,"message":"bad key"}',
                                     '{"status":"error","code":"403","message":"Invalid API key"}'])
def test_a_key_refused_inside_the_stream_stops_it(refusal: str) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(refusal)
        await ws.wait_closed()

    async def client(url: str) -> None:
        async for _ in resilient_stream(url, ("AAPL",), api_key="k"):
            pass

    with pytest.raises(AuthError, match="refused the API key"):
        asyncio.run(_serving(handler, client))


def test_a_server_that_answers_once_and_drops_is_retried_ever_more_slowly() -> None:
    connections = 0

    async def handler(ws: ServerConnection) -> None:
        nonlocal connections
        connections += 1
        await ws.recv()
        await ws.send('{"event":"subscribe-status","status":"ok","success":[{"symbol":"AAPL"}],"fails":null}')
        ws.transport.abort()  # and drops, every time

    delays: list[float] = []

    async def no_wait(seconds: float) -> None:
        delays.append(seconds)

    async def client(url: str) -> None:
        policy = ReconnectPolicy(base_s=1.0, cap_s=30.0, max_reconnects=8, rng=random.Random(3))
        async for _ in resilient_stream(url, ("AAPL",), api_key=None, policy=policy, sleep=no_wait):
            pass

    with pytest.raises(Exception, match="gave up after 8 reconnects"):
        asyncio.run(_serving(handler, client))
    # full jitter under a doubling ceiling: the ceilings were 1, 2, 4, ... 30; the later waits run long
    assert connections == 9 and len(delays) == 8
    assert sum(delays[4:]) > 4 * sum(delays[:2]) and max(delays) <= 30


def test_heartbeats_go_out_on_time_while_the_server_is_quiet() -> None:
    received: list[str] = []

    async def handler(ws: ServerConnection) -> None:
        received.append(str(await ws.recv()))
        await ws.send(PRICE)
        try:
            async with asyncio.timeout(1.1):
                async for message in ws:  # quiet: it only listens
                    received.append(str(message))
        except TimeoutError:
            await ws.close(1000, "done")

    async def client(url: str) -> list[str]:
        stream = resilient_stream(url, ("AAPL",), api_key=None, exit_on_close=True, heartbeat_s=0.2,
                                  idle_timeout_s=5)
        return [item.text async for item in stream if isinstance(item, ReceivedFrame)]

    assert asyncio.run(_serving(handler, client)) == [PRICE]
    assert orjson.loads(received[0])["action"] == "subscribe"
    beats = [orjson.loads(m) for m in received[1:]]
    assert 4 <= len(beats) <= 6 and all(b == {"action": "heartbeat"} for b in beats)  # every 0.2 s for 1.1 s


def test_no_frame_is_lost_while_heartbeats_go_out_under_load() -> None:
    # Measured: a timeout around each receive, firing as a heartbeat fell due, lost about 6% of frames at
    # full speed (187,674 of 200,000 with heartbeats every 50 ms).
    count = 30_000

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        for _ in range(count):
            await ws.send(PRICE)
        await ws.close(1000, "done")

    async def client(url: str) -> int:
        stream = resilient_stream(url, ("AAPL",), api_key=None, exit_on_close=True, heartbeat_s=0.01)
        return sum([1 async for item in stream if isinstance(item, ReceivedFrame)])

    assert asyncio.run(_serving(handler, client)) == count


def test_a_close_reason_from_the_server_never_reaches_the_log(caplog: pytest.LogCaptureFixture) -> None:
    secret = "sk_live_7f3a9c-do-not-log"

    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send(PRICE)
        await ws.close(1011, f"internal error near {secret}")

    async def client(url: str) -> list[str]:
        stream = resilient_stream(url, ("AAPL",), api_key=None, max_reconnects=1, sleep=_no_wait)
        return [item.reason async for item in stream if isinstance(item, Disconnected)]

    with caplog.at_level("INFO"), pytest.raises(Exception, match="reconnect"):
        asyncio.run(_serving(handler, client))
    # what the producer logs, at its level (websockets' own DEBUG lines print every frame)
    logged = "\n".join(r.getMessage() for r in caplog.records if r.levelno >= logging.INFO)
    assert secret not in logged and "close code 1011" in logged


async def _no_wait(_seconds: float) -> None:
    return None


def test_a_subscription_that_took_no_symbol_is_said(caplog: pytest.LogCaptureFixture) -> None:
    async def handler(ws: ServerConnection) -> None:
        await ws.recv()
        await ws.send('{"event":"subscribe-status","fails":5}')  # no success list, and fails not even a list
        await ws.close(1000, "done")

    async def client(url: str) -> None:
        async for _ in resilient_stream(url, ("AAPL",), api_key=None, exit_on_close=True):
            pass

    with caplog.at_level("INFO"):
        asyncio.run(_serving(handler, client))
    assert any(r.levelno == logging.ERROR and "subscribed none of the symbols" in r.getMessage()
               for r in caplog.records)
