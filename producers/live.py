"""The live source: the resilient WebSocket stream, plus gap repair from REST.

After any disconnect, once resubscribed, the missed window is fetched per symbol from REST `time_series`
(1-minute bars, UTC) and sent as bar envelopes, and the minute the reconnect interrupted is fetched again
once it has ended (REPAIR_SETTLE_S later); the same happens on a schedule, for gaps nobody saw (a stream
that stayed open but skipped). A window longer than a call's 5,000 bars is fetched in pieces, each from
after the last bar of a full answer. A call that fails is tried again, with capped, jittered waits (and
the REST client's credit budget), until it succeeds or its window is older than REPAIR_GIVE_UP_S: its
minutes are then counted as unrepaired (a metric, with an alarm) and left to the daily top-up, which
loads the last five days. Frames are looked at as the protocol read them (`ohlcv_core.td_protocol`);
subscription failures are counted, not fatal (the client logs them).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from ohlcv_core.limits import TWELVEDATA_MAX_OUTPUTSIZE
from ohlcv_core.td_protocol import PriceSeen, SubscribeStatus, read_server_frame
from ohlcv_core.timeseries import next_start_ms
from producers.backoff import Backoff
from producers.replay import ReceivedRest
from producers.rest import NO_DATA, RestAuthError, RestReply, RestRequestError, TwelveDataRest
from producers.tasks import cancel_and_settle, in_daemon_thread
from producers.twelvedata_ws import Disconnected, ReceivedFrame, StreamItem, Subscribed

LOG = logging.getLogger(__name__)
_END = object()
_NO_BARS = object()  # REST's answer for a window without bars (a closed market)
REPAIR_SETTLE_S = 90.0  # a reconnect's interrupted minute is fetched again once it has ended, and REST has it
REPAIR_GIVE_UP_S = 86_400.0  # older gaps are left to the daily top-up (the last five days' minutes)
REPAIR_RETRY_BASE_S, REPAIR_RETRY_CAP_S = 5.0, 300.0


@dataclass
class LiveStats:
    messages_by_symbol: Counter[str] = field(default_factory=Counter)
    connections: int = 0
    reconnects: int = 0
    gaps_detected: int = 0
    gaps_repaired: int = 0
    repair_failures: int = 0  # calls that failed (each is tried again)
    minutes_unrepaired: int = 0  # minutes x symbols given up on
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
                 queue_size: int, clock: Callable[[], float], *, stopping: asyncio.Event | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 bars_per_call: int = TWELVEDATA_MAX_OUTPUTSIZE) -> None:
        self.symbols = symbols
        self.bars_per_call = bars_per_call
        self.stopping = stopping or asyncio.Event()
        self.rest = rest
        self.stats = stats
        self.clock = clock
        self.sleep = sleep
        self.tracker = GapTracker()
        self.out: asyncio.Queue[object] = asyncio.Queue(maxsize=queue_size)
        self.repairs: set[asyncio.Task[None]] = set()
        self.ended = asyncio.Event()  # the stream ended

    async def repair(self, window: GapWindow, after_s: float = 0.0) -> None:
        assert self.rest is not None
        if after_s > 0:
            await self._settle(after_s)
        self.stats.gaps_detected += 1
        repaired = True
        for chunk in self.rest.chunks(self.symbols):
            cursor: int | None = window.start_ms
            while cursor is not None and cursor < window.end_ms:
                params = {"start_date": _utc(cursor), "end_date": _utc(window.end_ms), "timezone": "UTC",
                          "order": "asc", "outputsize": str(self.bars_per_call)}
                try:
                    reply = await self._fetch(chunk, params, cursor, window.reason)
                except RestAuthError as exc:
                    await self.out.put(exc)  # fatal: surfaces in the consumer
                    return
                if reply is _NO_BARS:
                    break
                if not isinstance(reply, RestReply):
                    repaired = False
                    self.stats.minutes_unrepaired += max(1, (window.end_ms - cursor) // 60_000) * len(chunk)
                    break
                self.stats.bars_responses += 1
                await self.out.put(ReceivedRest(reply.received_at_ms, reply.body, reply.params))
                # a full answer may have left bars out: ask again from after its last (a long window, in pieces)
                cursor = next_start_ms(reply.body, self.bars_per_call)
        if repaired:
            self.stats.gaps_repaired += 1
            LOG.info("gap %s..%s (%s) repaired from REST", _utc(window.start_ms), _utc(window.end_ms), window.reason)

    async def _settle(self, after_s: float) -> None:
        """Wait `after_s`, or less if the stream ends first (a finite stream's minutes have all ended)."""
        async def waited() -> None:
            await self.sleep(after_s)

        waits = [asyncio.create_task(waited()), asyncio.create_task(self.ended.wait())]
        try:
            await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_settle(waits, "a settling repair's wait")

    async def _fetch(self, chunk: tuple[str, ...], params: dict[str, str], start_ms: int,
                     reason: str) -> RestReply | object | None:
        """One call's bars (_NO_BARS: the window has none), tried again after each failure until its window
        is too old to repair or the request itself is wrong (None)."""
        assert self.rest is not None
        backoff = Backoff(base_s=REPAIR_RETRY_BASE_S, cap_s=REPAIR_RETRY_CAP_S)
        while True:
            try:
                return await in_daemon_thread(functools.partial(self.rest.bars, chunk, "1min", **params))
            except RestAuthError:
                raise
            except RestRequestError as exc:
                if NO_DATA in str(exc):  # a closed market's window: nothing was missed
                    return _NO_BARS
                self.stats.repair_failures += 1  # asking again would be refused again
                LOG.error("gap %s..%s (%s) of %s not repaired: %s", params["start_date"], params["end_date"], reason,
                          ",".join(chunk), exc, extra={"symbols": list(chunk), "reason": reason})
                return None
            except Exception as exc:  # noqa: BLE001 - counted, logged and tried again
                self.stats.repair_failures += 1
                if self.clock() - start_ms / 1000 > REPAIR_GIVE_UP_S or self.stopping.is_set():
                    LOG.error("gap %s..%s (%s) of %s not repaired, given up: %s", params["start_date"],
                              params["end_date"], reason, ",".join(chunk), exc,
                              extra={"symbols": list(chunk), "reason": reason})
                    return None
                delay = backoff.next_delay()
                LOG.warning("gap %s..%s (%s) not repaired yet (%s); trying again in %.0f s", params["start_date"],
                            params["end_date"], reason, exc, delay)
                await self.sleep(delay)

    def start_repair(self, window: GapWindow, after_s: float = 0.0) -> None:
        if self.rest is None:
            return
        task = asyncio.create_task(self.repair(window, after_s))
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
                        # the minute cut by the reconnect, again once it has ended (REST has it whole then)
                        minute = item.at_ms - item.at_ms % 60_000
                        self.start_repair(GapWindow(minute, minute + 60_000, "reconnect, settled"), REPAIR_SETTLE_S)
                elif isinstance(item, Disconnected):
                    self.tracker.on_disconnect(item.at_ms)
        except Exception as exc:  # noqa: BLE001 - handed to the consumer, which raises it
            await self.out.put(exc)
            return
        self.ended.set()
        if self.repairs and not self.stopping.is_set():
            # a finite stream (a replay) ends: let the repairs it started finish first (a stopping
            # producer does not wait for them: the next start's schedule covers their windows)
            await asyncio.gather(*self.repairs, return_exceptions=True)
        await self.out.put(_END)


async def live_items(stream: AsyncIterator[StreamItem], symbols: tuple[str, ...], *, rest: TwelveDataRest | None,
                     repair_every_s: float, stats: LiveStats | None = None, queue_size: int = 1000,
                     clock: Callable[[], float] = time.time, stopping: asyncio.Event | None = None,
                     repair_from_ms: int | None = None,
                     sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                     ) -> AsyncIterator[ReceivedFrame | ReceivedRest]:
    """The stream's frames and the repairs' bars, as they come; with `stopping` (the event the stream
    itself stops on), the items already received still come through and the stream's end ends it.
    `repair_from_ms`: a previous run ended without keeping what it received after this (producers.kept),
    so the window from there to now is repaired from REST at once, while the stream starts."""
    live = _Live(symbols, rest, stats or LiveStats(), queue_size, clock, stopping=stopping, sleep=sleep)
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
