"""Scripted faults and credit limits of the stand-in, met by our own clients over real sockets."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from feeds import DEMO_FEED
from local_stack.twelvedata.server import CreditLimit, Faults, TwelveDataStandIn, running_in_thread
from ohlcv_core.recording import Recording, read_recording
from ohlcv_core.td_protocol import ReconnectPolicy
from producers.rest import TwelveDataRest
from producers.twelvedata_ws import AuthError, Disconnected, ReceivedFrame, Subscribed, resilient_stream


@pytest.fixture(scope="module")
def recording() -> Recording:
    return read_recording(DEMO_FEED)


class WallClock:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_a_refused_key_stops_the_stream_instead_of_hammering(recording: Recording) -> None:
    with running_in_thread(TwelveDataStandIn(recording, speed=0, faults=Faults(refuse_auth=True))) as stand_in:
        async def consume() -> list[Any]:
            return [item async for item in resilient_stream(stand_in.ws_url, ("AAPL",), api_key="bad",
                                                            policy=ReconnectPolicy(base_s=0.01))]

        with pytest.raises(AuthError, match="401"):
            asyncio.run(consume())
        assert stand_in.stats.connections == 0


def test_a_stalled_stream_is_detected_by_the_idle_watchdog_and_reconnected(recording: Recording) -> None:
    stand_in = TwelveDataStandIn(recording, speed=0, faults=Faults(stall_after_frames=5))
    with running_in_thread(stand_in) as server:
        async def until_second_connection() -> list[Any]:
            items = []
            stream = resilient_stream(server.ws_url, ("AAPL",), api_key=None, idle_timeout_s=0.5,
                                      policy=ReconnectPolicy(base_s=0.01, cap_s=0.02))
            async for item in stream:
                items.append(item)
                if isinstance(item, Subscribed) and item.conn == 2:
                    break
            await stream.aclose()
            return items

        items = asyncio.run(until_second_connection())
    frames = [i for i in items if isinstance(i, ReceivedFrame) and i.conn == 1]
    (lost,) = [i for i in items if isinstance(i, Disconnected)]
    assert len(frames) == 6  # the subscribe-status, then five prices before the stall
    assert lost.conn == 1 and lost.reason.startswith("no message for")


@pytest.fixture
def credits_server(recording: Recording) -> Iterator[tuple[TwelveDataStandIn, WallClock]]:
    clock = WallClock()
    stand_in = TwelveDataStandIn(recording, speed=0, credits=CreditLimit(per_minute=3), wall_clock=clock)
    with running_in_thread(stand_in) as server:
        yield server, clock


def test_the_per_minute_credit_budget_answers_429_with_the_service_message(
        credits_server: tuple[TwelveDataStandIn, WallClock]) -> None:
    server, clock = credits_server
    rest = TwelveDataRest(server.rest_url, None)
    first = rest.time_series(["AAPL", "MSFT"], outputsize="1")
    assert first.status == 200 and first.headers["api-credits-left"] == "1"
    refused = rest.time_series(["AAPL", "EUR/USD"], outputsize="1")
    body = orjson.loads(refused.body)
    assert refused.status == 429 and body["code"] == 429 and "run out of API credits" in body["message"]
    clock.now += 60  # the next minute
    assert rest.time_series(["AAPL"], outputsize="1").status == 200


def test_errors_can_come_with_http_200_as_the_service_sometimes_sends_them(recording: Recording) -> None:
    stand_in = TwelveDataStandIn(recording, speed=0, credits=CreditLimit(per_minute=1, errors_with_http_200=True))
    with running_in_thread(stand_in) as server:
        rest = TwelveDataRest(server.rest_url, None)
        rest.time_series(["AAPL"], outputsize="1")
        reply = rest.time_series(["AAPL"], outputsize="1")
    assert reply.status == 200 and orjson.loads(reply.body)["code"] == 429


def test_a_429_burst_then_recovery(recording: Recording) -> None:
    with running_in_thread(TwelveDataStandIn(recording, speed=0, faults=Faults(rest_429_burst=2))) as server:
        rest = TwelveDataRest(server.rest_url, None)
        statuses = [rest.time_series(["AAPL"], outputsize="1").status for _ in range(3)]
    assert statuses == [429, 429, 200]
