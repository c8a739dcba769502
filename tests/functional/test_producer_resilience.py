"""The producer against a misbehaving Twelve Data stand-in, into the local Firehose with the real
transform: every quote the stand-in sent is in the lake, or its minute is repaired from REST; no key twice."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from local_stack.feeds import DEMO_FEED
from local_stack.stack import LocalStack, prepare_lake
from local_stack.twelvedata.server import Faults, TwelveDataStandIn, running_in_thread
from ohlcv_cli.demo import REPLAY_PARAMETERS, zones_of
from ohlcv_core.recording import read_recording
from producers.aws import firehose_client
from producers.main import produce
from producers.rest import CreditLimiter, TwelveDataRest
from producers.settings import ProducerSettings
from producers.twelvedata_ws import AuthError

SYMBOLS = ("AAPL", "EUR/USD")


def _rows(folder: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for p in sorted(folder.rglob("*")) if p.is_file() for line in p.read_text().splitlines()]


def test_dropped_connections_leave_no_hole_once_repaired(tmp_path: Path) -> None:
    stack = LocalStack(prepare_lake(tmp_path / "lake", fresh=True), lambda: None, parameters=REPLAY_PARAMETERS)
    stack.start()
    stand_in = TwelveDataStandIn(read_recording(DEMO_FEED), speed=150, live=True,
                                 faults=Faults(drop_after_frames=120, drop_connections=2))
    try:
        with running_in_thread(stand_in) as server:
            settings = ProducerSettings.resolve(
                ws_url=server.ws_url, symbols=SYMBOLS, stream_name=stack.stream_settings.name,
                firehose_endpoint=stack.firehose.url, exit_on_close=True, rest_url=server.rest_url,
                credits_per_minute=100, environ={})
            asyncio.run(produce(settings, firehose_client("us-east-1", stack.firehose.url)))
            served = [json.loads(f.text) for f in server.catalog.frames if f.symbol in SYMBOLS]
    finally:
        stack.stop()
    assert server.stats.dropped_connections == 2 and server.stats.connections == 3
    prices = _rows(zones_of(stack).raw / "kind=price")
    bars = _rows(zones_of(stack).raw / "kind=bar")
    assert len({p["idempotency_key"] for p in prices}) == len(prices)  # no duplicates in a live timeline
    received = {(p["symbol"], p["event_time_ms"] // 1000, p["price"]) for p in prices}
    repaired = {(b["symbol"], b["event_time_ms"]) for b in bars}
    missing = [f for f in served if (f["symbol"], f["timestamp"], f["price"]) not in received]
    assert missing, "the drops should have cost some quotes"
    unrepaired = [f for f in missing if (f["symbol"], f["timestamp"] // 60 * 60_000) not in repaired]
    assert unrepaired == [], f"{len(unrepaired)} quotes neither received nor repaired, e.g. {unrepaired[:2]}"
    minutes = {datetime.fromtimestamp(f["timestamp"], tz=UTC).strftime("%H:%M") for f in missing}
    assert minutes  # the lake holds REST bars for those minutes, as kind=bar


def test_a_refused_key_stops_the_producer_with_a_clear_error(tmp_path: Path) -> None:
    stack = LocalStack(prepare_lake(tmp_path / "lake", fresh=True), lambda: None)
    stack.start()
    try:
        with running_in_thread(TwelveDataStandIn(read_recording(DEMO_FEED), faults=Faults(refuse_auth=True))) as s:
            settings = ProducerSettings.resolve(ws_url=s.ws_url, symbols=SYMBOLS,
                                                stream_name=stack.stream_settings.name,
                                                firehose_endpoint=stack.firehose.url, no_repair=True, environ={})
            with pytest.raises(AuthError, match="API key"):
                asyncio.run(produce(settings, firehose_client("us-east-1", stack.firehose.url)))
            assert s.stats.connections == 0
    finally:
        stack.stop()


def test_rest_429_waits_for_the_next_minute_and_recovers() -> None:
    class FakeTime:
        def __init__(self) -> None:
            self.now = 1_700_000_010.0  # 30 s into a minute
            self.slept: list[float] = []

        def clock(self) -> float:
            return self.now

        def sleep(self, seconds: float) -> None:
            self.slept.append(seconds)
            self.now += seconds

    fake = FakeTime()
    with running_in_thread(TwelveDataStandIn(read_recording(DEMO_FEED), faults=Faults(rest_429_burst=1))) as server:
        rest = TwelveDataRest(server.rest_url, None, limiter=CreditLimiter(8, clock=fake.clock, sleep=fake.sleep))
        reply = rest.bars(["AAPL"], "1min", outputsize="2")
    assert reply.status == 200 and json.loads(reply.body)["status"] == "ok"
    assert len(fake.slept) == 1 and 29 < fake.slept[0] < 31  # to the next minute, not a blind retry
    assert server.stats.rest_refused == 1 and server.stats.rest_requests == 2


def test_a_repair_for_more_symbols_than_a_minutes_credits_is_split_not_lost() -> None:
    # GIVEN nine symbols and a budget of 4 credits a minute (1 credit per symbol per request)
    from producers.live import GapWindow, LiveStats, _Live
    from producers.rest import CreditLimiter, TwelveDataRest

    now = [1_692_889_000.0]

    def sleep(seconds: float) -> None:
        now[0] += seconds  # the limiter's wait for the next minute, without waiting

    symbols = ("AAPL", "MSFT", "EUR/USD", "USD/JPY", "XAU/USD", "BTC/USD", "AAPL", "MSFT", "EUR/USD")
    with running_in_thread(TwelveDataStandIn(read_recording(DEMO_FEED))) as stand_in:
        rest = TwelveDataRest(stand_in.rest_url, None, limiter=CreditLimiter(4, clock=lambda: now[0], sleep=sleep))
        stats = LiveStats()
        live = _Live(symbols, rest, stats, 100, lambda: now[0])
        # WHEN a gap is repaired
        asyncio.run(live.repair(GapWindow(1_692_888_600_000, 1_692_889_200_000, "test")))
    # THEN it went out as requests of at most 4 symbols, over the minutes it needed, and nothing failed
    assert (stats.gaps_repaired, stats.repair_failures, stats.bars_responses) == (1, 0, 3)
    assert [len(chunk) for chunk in rest.chunks(symbols)] == [4, 4, 1]
    assert now[0] > 1_692_889_000.0 + 60  # it waited for fresh credits instead of failing
