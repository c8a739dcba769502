"""`ohlcv replay`: a recording as a producer source, at its original pace, faster, or as fast as possible,
from an offset. Frames keep their recorded receive times; REST responses become bar envelopes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

from ohlcv_core.recording import Recording, RestExchange, WsFrame
from producers.twelvedata_ws import ReceivedFrame


@dataclass(frozen=True, slots=True)
class ReceivedRest:
    received_at_ms: int
    body: str
    request: dict[str, str]


Replayed = ReceivedFrame | ReceivedRest


def _sent_on(entry: object) -> bool:
    """What a producer forwards: frames received, and REST time_series answers that carry data."""
    if isinstance(entry, WsFrame):
        return entry.direction == "in"
    return isinstance(entry, RestExchange) and entry.status == 200 and entry.path == "/time_series"


def replayable(recording: Recording, start_offset_s: float = 0.0) -> list[WsFrame | RestExchange]:
    entries = [e for e in recording.entries if isinstance(e, WsFrame | RestExchange) and _sent_on(e)]
    if not entries:
        return []
    first = min(e.recv_us for e in entries)
    return [e for e in entries if e.recv_us - first >= start_offset_s * 1_000_000]


async def replay_items(recording: Recording, *, speed: float = 0.0, start_offset_s: float = 0.0,
                       on_progress: Callable[[int], None] | None = None,
                       sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                       clock: Callable[[], float] = time.monotonic) -> AsyncIterator[Replayed]:
    """`speed` 1 = the recorded pace, 10 = ten times faster, 0 = as fast as possible."""
    entries = replayable(recording, start_offset_s)
    if not entries:
        return
    first_us = entries[0].recv_us
    started = clock()
    for count, entry in enumerate(entries, start=1):
        if speed > 0:
            delay = started + (entry.recv_us - first_us) / 1e6 / speed - clock()
            if delay > 0:
                await sleep(delay)
        if isinstance(entry, WsFrame):
            yield ReceivedFrame(entry.recv_us // 1000, entry.frame, entry.conn)
        else:
            yield ReceivedRest(entry.recv_us // 1000, entry.body, entry.params)
        if on_progress is not None:
            on_progress(count)
