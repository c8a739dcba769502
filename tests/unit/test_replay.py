from __future__ import annotations

import asyncio
import io
from typing import Any

from ohlcv_core.recording import Disconnect, Header, Recording, RestExchange, WsFrame
from producers.progress import Progress
from producers.replay import ReceivedRest, replay_items
from producers.twelvedata_ws import ReceivedFrame

RECORDING = Recording(Header(("AAPL",)), (
    WsFrame(1_000_000, 1, "out", '{"action":"subscribe"}'),
    WsFrame(1_000_000, 1, "in", "a"),
    WsFrame(3_000_000, 1, "in", "b"),
    Disconnect(4_000_000, 1, "drop"),
    WsFrame(11_000_000, 2, "in", "c"),
    RestExchange(12_000_000, "/time_series", {"symbol": "AAPL"}, 200, "{}"),
    RestExchange(13_000_000, "/time_series", {"symbol": "AAPL"}, 429, "{}"),
))


class FakeTime:
    """A clock that sleeping advances: pacing is checked without waiting."""

    def __init__(self) -> None:
        self.now = 100.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    async def sleep(self, seconds: float) -> None:
        self.sleeps.append(round(seconds, 6))
        self.now += seconds


def _run(**options: Any) -> tuple[list[Any], FakeTime]:
    fake = FakeTime()

    async def collect() -> list[Any]:
        return [i async for i in replay_items(RECORDING, sleep=fake.sleep, clock=fake.clock, **options)]

    return asyncio.run(collect()), fake


def test_the_recorded_pace_scaled_by_speed() -> None:
    items, fake = _run(speed=2.0)
    assert [type(i) for i in items] == [ReceivedFrame, ReceivedFrame, ReceivedFrame, ReceivedRest]
    assert fake.sleeps == [1.0, 4.0, 0.5]  # (3-1)/2, (11-3)/2, (12-11)/2: the failed REST reply is not sent
    assert [i.received_at_ms for i in items] == [1000, 3000, 11000, 12000]  # recorded receive times kept


def test_as_fast_as_possible_and_from_an_offset() -> None:
    items, fake = _run(speed=0, start_offset_s=5)
    assert fake.sleeps == []
    assert [getattr(i, "text", None) for i in items] == ["c", None]
    assert items[0].conn == 2


def test_progress_is_drawn_on_demand() -> None:
    out = io.StringIO()
    progress = Progress(4, stream=out, force=True, interval_s=0)
    for done in range(1, 5):
        progress.update(done)
    progress.close()
    assert "100%" in out.getvalue() and "4/4 entries" in out.getvalue()
    silent = io.StringIO()
    Progress(4, stream=silent).update(4)  # not a terminal, not forced: nothing drawn
    assert silent.getvalue() == ""
