"""The producer against a misbehaving Twelve Data stand-in, into the local Firehose with the real
transform: every quote the stand-in sent is in the lake, or its minute is repaired from REST; no key twice."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from feeds import DEMO_FEED
from local_stack.stack import LocalStack, prepare_lake
from local_stack.twelvedata.server import Faults, TwelveDataStandIn, running_in_thread
from ohlcv_cli.demo import REPLAY_PARAMETERS, zones_of
from ohlcv_core.recording import read_recording
from producers.aws import firehose_client
from producers.main import produce
from producers.replay import ReceivedRest
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


class _Time:
    """The repair's clock and sleep: a wait moves the clock, nothing waits."""

    def __init__(self, now_s: float) -> None:
        self.now_s = now_s
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now_s

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)
        self.now_s += seconds


def test_a_repair_that_fails_is_tried_again_with_capped_waits_until_it_succeeds() -> None:
    from producers.live import REPAIR_RETRY_CAP_S, GapWindow, LiveStats, _Live

    time = _Time(1_692_889_300.0)
    with running_in_thread(TwelveDataStandIn(read_recording(DEMO_FEED), faults=Faults(rest_5xx_burst=6))) as stand_in:
        stats = LiveStats()
        live = _Live(("AAPL",), TwelveDataRest(stand_in.rest_url, None), stats, 100, time, sleep=time.sleep)
        # WHEN the service fails six times in a row
        asyncio.run(live.repair(GapWindow(1_692_888_600_000, 1_692_889_200_000, "reconnect")))
        answered = stand_in.stats.rest_requests
    # THEN the seventh call repaired the gap: six waits, each at most the cap, nothing given up
    assert (stats.gaps_repaired, stats.repair_failures, stats.minutes_unrepaired, stats.bars_responses) == (1, 6, 0, 1)
    assert answered == 7 and len(time.waits) == 6 and all(0 <= w <= REPAIR_RETRY_CAP_S for w in time.waits)


def test_a_repair_gives_up_only_once_its_window_is_older_than_the_top_up_reaches_and_counts_it() -> None:
    from producers.live import REPAIR_GIVE_UP_S, GapWindow, LiveStats, _Live

    time = _Time(1_692_889_300.0)
    with running_in_thread(TwelveDataStandIn(read_recording(DEMO_FEED),
                                             faults=Faults(rest_5xx_burst=10**6))) as stand_in:
        stats = LiveStats()
        live = _Live(("AAPL", "EUR/USD"), TwelveDataRest(stand_in.rest_url, None), stats, 100, time,
                     sleep=time.sleep)
        asyncio.run(live.repair(GapWindow(1_692_888_600_000, 1_692_889_200_000, "reconnect")))
    # THEN it kept trying for a day, then counted the 10 minutes of both symbols as unrepaired
    assert time.now_s - 1_692_888_600 > REPAIR_GIVE_UP_S and stats.gaps_repaired == 0
    assert stats.minutes_unrepaired == 10 * 2 and stats.repair_failures == len(time.waits) + 1


def test_a_window_longer_than_a_call_is_fetched_in_pieces() -> None:
    from producers.live import GapWindow, LiveStats, _Live

    time = _Time(1_692_920_000.0)
    start_ms, end_ms = 1_692_835_200_000, 1_692_921_600_000  # 24 August, UTC: the recording's day
    with running_in_thread(TwelveDataStandIn(read_recording(DEMO_FEED))) as stand_in:
        rest = TwelveDataRest(stand_in.rest_url, None)
        whole = json.loads(rest.bars(["AAPL"], "1min", start_date="2023-08-24 00:00:00",
                                     end_date="2023-08-25 00:00:00", timezone="UTC", order="asc",
                                     outputsize="5000").body)["values"]
        stats = LiveStats()
        # WHEN the day is repaired in calls of 100 bars
        live = _Live(("AAPL",), rest, stats, 1000, time, sleep=time.sleep, bars_per_call=100)
        asyncio.run(live.repair(GapWindow(start_ms, end_ms, "restart")))
        asked = [r["start_date"] for r in stand_in.stats.rest_log[1:]]
    pieces = []
    while not live.out.empty():
        item = live.out.get_nowait()
        assert isinstance(item, ReceivedRest)
        pieces.append(json.loads(item.body)["values"])
    # THEN each call went on from the minute after the last bar of the one before, until one was not full,
    # and together they hold the day's bars, each once
    assert len(asked) == len(pieces) == stats.bars_responses == len(whole) // 100 + 1
    assert asked == sorted(asked) and stats.gaps_repaired == 1 and stats.repair_failures == 0
    assert [v["datetime"] for piece in pieces for v in piece] == [v["datetime"] for v in whole]


def test_a_reconnects_interrupted_minute_is_fetched_again_once_it_has_ended() -> None:
    from producers.live import REPAIR_SETTLE_S, LiveStats, _Live
    from producers.twelvedata_ws import Disconnected, Subscribed

    time = _Time(1_692_889_300.0)
    cut_ms, back_ms = 1_692_888_630_000, 1_692_888_675_000  # 14:50:30 to 14:51:15, UTC

    async def stream() -> Any:
        yield Subscribed(1, "{}", cut_ms - 60_000)
        yield Disconnected(1, "dropped", cut_ms)
        yield Subscribed(2, "{}", back_ms)

    async def run(live: _Live) -> None:
        await live.pump(stream())

    with running_in_thread(TwelveDataStandIn(read_recording(DEMO_FEED))) as stand_in:
        stats = LiveStats()
        live = _Live(("AAPL",), TwelveDataRest(stand_in.rest_url, None), stats, 1000, time, sleep=time.sleep)
        asyncio.run(run(live))
        asked = [(r["start_date"], r["end_date"]) for r in stand_in.stats.rest_log]
    # THEN the gap at once, and the minute the reconnect cut again after the settling wait
    assert ("2023-08-24 14:51:00", "2023-08-24 14:52:00") in asked and REPAIR_SETTLE_S in time.waits
    assert stats.reconnects == 1 and stats.gaps_repaired == 2
