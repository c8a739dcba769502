"""The live source: the resilient WebSocket stream, plus gap repair from REST.

After any disconnect, once resubscribed, the missed window is fetched per symbol from REST `time_series`
(1-minute bars, UTC) and sent as bar envelopes; the same happens on a schedule, for gaps nobody saw (a
stream that stayed open but skipped). Frames are looked at as the protocol read them
(`ohlcv_core.td_protocol`); subscription failures are counted, not fatal (the client logs them).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ohlcv_core.td_protocol import PriceSeen, SubscribeStatus, read_server_frame
from producers.replay import ReceivedRest
from producers.rest import RestAuthError, TwelveDataRest
from producers.tasks import cancel_and_settle, in_daemon_thread
from producers.twelvedata_ws import Disconnected, ReceivedFrame, StreamItem, Subscribed

LOG = logging.getLogger(__name__)
_END = object()


@dataclass
class LiveStats:
    messages_by_symbol: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    reconnects: int = 0
    gaps_detected: int = 0
    gaps_repaired: int = 0
    repair_failures: int = 0
    bars_responses: int = 0
    last_frame_ms: int = 0
    subscribe_failures: set[str] = field(default_factory=set)


@dataclass(frozen=True)
class GapWindow:
    start_ms: int
    end_ms: int
    reason: str


def _utc(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S")


class GapTracker:
    """Where each symbol's stream stopped, so that a reconnect knows what to fetch."""

    def __init__(self, margin_ms: int = 60_000) -> None:
        self._last_event_ms: dict[str, int] = {}
        self._disconnected_at_ms: int | None = None
        self._margin_ms = margin_ms

    def on_price(self, symbol: str, event_ms: int) -> None:
        if event_ms > self._last_event_ms.get(symbol, 0):
            self._last_event_ms[symbol] = event_ms

    def on_disconnect(self, at_ms: int) -> None:
        if self._disconnected_at_ms is None:
            self._disconnected_at_ms = at_ms

    def on_subscribed(self, at_ms: int) -> GapWindow | None:
        if self._disconnected_at_ms is None:
            return None
        last_seen = min(self._last_event_ms.values(), default=self._disconnected_at_ms - self._margin_ms)
        start = min(last_seen, self._disconnected_at_ms)
        start -= start % 60_000  # from the minute of the last event seen: its bar completes what was cut
        self._disconnected_at_ms = None
        return GapWindow(start, at_ms, "reconnect")


def _inspect(item: ReceivedFrame, tracker: GapTracker, stats: LiveStats) -> None:
    """What the protocol read a frame as, for gap tracking and counts: no frame is changed or held back."""
    event = item.event if item.event is not None else read_server_frame(item.text)
    if isinstance(event, PriceSeen) and event.symbol is not None:
        stats.messages_by_symbol[event.symbol] += 1
        if event.timestamp_s is not None:
            tracker.on_price(event.symbol, event.timestamp_s * 1000)
    elif isinstance(event, SubscribeStatus):
        stats.subscribe_failures |= set(event.fails)


class _Live:
    """The state of one live source: the stream pump, the repairs it starts, and their shared outbox."""

    def __init__(self, symbols: tuple[str, ...], rest: TwelveDataRest | None, stats: LiveStats,
                 queue_size: int, clock: Callable[[], float], *, stopping: asyncio.Event | None = None) -> None:
        self.symbols = symbols
        self.stopping = stopping or asyncio.Event()
        self.rest = rest
        self.stats = stats
        self.clock = clock
        self.tracker = GapTracker()
        self.out: asyncio.Queue[object] = asyncio.Queue(maxsize=queue_size)
        self.repairs: set[asyncio.Task[None]] = set()

    async def repair(self, window: GapWindow) -> None:
        assert self.rest is not None
        self.stats.gaps_detected += 1
        params = {"start_date": _utc(window.start_ms), "end_date": _utc(window.end_ms), "timezone": "UTC",
                  "order": "asc", "outputsize": "5000"}
        try:
            for chunk in self.rest.chunks(self.symbols):
                reply = await in_daemon_thread(functools.partial(self.rest.bars, chunk, "1min", **params))
                self.stats.bars_responses += 1
                await self.out.put(ReceivedRest(reply.received_at_ms, reply.body, reply.params))
        except RestAuthError as exc:
            await self.out.put(exc)  # fatal: surfaces in the consumer
            return
        except Exception as exc:  # noqa: BLE001 - counted and logged; the stream goes on
            self.stats.repair_failures += 1
            LOG.error("gap %s..%s (%s) not repaired: %s", params["start_date"], params["end_date"], window.reason, exc)
            return
        self.stats.gaps_repaired += 1
        LOG.info("gap %s..%s (%s) repaired from REST", params["start_date"], params["end_date"], window.reason)

    def start_repair(self, window: GapWindow) -> None:
        if self.rest is None:
            return
        task = asyncio.create_task(self.repair(window))
        self.repairs.add(task)
        task.add_done_callback(self.repairs.discard)

    async def scheduled(self, every_s: float) -> None:
        while True:
            await asyncio.sleep(every_s)
            now_ms = int(self.clock() * 1000)
            self.start_repair(GapWindow(now_ms - int(every_s * 1000) - 120_000, now_ms, "schedule"))

    async def pump(self, stream: AsyncIterator[StreamItem]) -> None:
        try:
            async for item in stream:
                if isinstance(item, ReceivedFrame):
                    self.stats.last_frame_ms = item.received_at_ms
                    _inspect(item, self.tracker, self.stats)
                    await self.out.put(item)
                elif isinstance(item, Subscribed):
                    self.stats.connections += 1
                    window = self.tracker.on_subscribed(item.at_ms)
                    if window is not None:
                        self.stats.reconnects += 1
                        self.start_repair(window)
                elif isinstance(item, Disconnected):
                    self.tracker.on_disconnect(item.at_ms)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            await self.out.put(exc)
            return
        if self.repairs and not self.stopping.is_set():
            # a finite stream (a replay) ends: let the repairs it started finish first (a stopping
            # producer does not wait for them: the next start's schedule covers their windows)
            await asyncio.gather(*self.repairs, return_exceptions=True)
        await self.out.put(_END)


async def live_items(stream: AsyncIterator[StreamItem], symbols: tuple[str, ...], *, rest: TwelveDataRest | None,
                     repair_every_s: float, stats: LiveStats | None = None, queue_size: int = 1000,
                     clock: Callable[[], float] = time.time, stopping: asyncio.Event | None = None,
                     repair_from_ms: int | None = None) -> AsyncIterator[ReceivedFrame | ReceivedRest]:
    """The stream's frames and the repairs' bars, as they come; with `stopping` (the event the stream
    itself stops on), the items already received still come through and the stream's end ends it.
    `repair_from_ms`: a previous run ended without keeping what it received after this (producers.kept),
    so the window from there to now is repaired from REST at once, while the stream starts."""
    live = _Live(symbols, rest, stats or LiveStats(), queue_size, clock, stopping=stopping)
    if repair_from_ms is not None:
        live.start_repair(GapWindow(repair_from_ms - repair_from_ms % 60_000, int(clock() * 1000), "restart"))
    tasks = [asyncio.create_task(live.pump(stream))]
    if rest is not None and repair_every_s > 0:
        tasks.append(asyncio.create_task(live.scheduled(repair_every_s)))
    try:
        while True:
            item = await live.out.get()
            if item is _END:
                return
            if isinstance(item, BaseException):
                raise item
            yield item  # type: ignore[misc]
    finally:
        await cancel_and_settle([*tasks, *live.repairs], "a stream or repair task")
