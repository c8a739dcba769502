"""The producer pipeline: source -> bounded queue -> batches -> Firehose. One code path for every source."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from ohlcv_core.envelope import Source, encode_envelope
from ohlcv_core.timeseries import split_time_series
from producers.batching import BatchBuilder
from producers.firehose_sink import FirehoseSink
from producers.replay import ReceivedRest
from producers.sender import SpoolingSender
from producers.tasks import cancel_and_settle
from producers.twelvedata_ws import ReceivedFrame

LOG = logging.getLogger(__name__)
POLL_S = 0.01


@dataclass
class ProducerStats:
    frames_received: int = 0
    records_queued: int = 0
    oversize_rejected: int = 0
    stopped_by_signal: bool = False
    queue: asyncio.Queue[Any] | None = field(default=None, repr=False)

    @property
    def queue_depth(self) -> int:
        return self.queue.qsize() if self.queue is not None else 0


_NOTHING = object()


def _poll(queue: asyncio.Queue[Queued | None]) -> object:
    try:
        return queue.get_nowait()
    except asyncio.QueueEmpty:
        return _NOTHING


Queued = tuple[bytes, int]  # an envelope and when its frame was received (ms)
OnSent = Callable[[list[int]], None]


class _Batches:
    """The batch builder, with the receive times of the records it holds (for latency), and up to
    `in_flight` PutRecordBatch calls under way at once: while Firehose answers one, the next is built.
    (Batches in flight may land in any order; Firehose promises no order, the lake needs none.)"""

    def __init__(self, builder: BatchBuilder, sender: SpoolingSender, on_sent: OnSent | None,
                 in_flight: int = 3) -> None:
        self._builder = builder
        self._sender = sender
        self._on_sent = on_sent
        self._in_flight = in_flight
        self._tasks: set[asyncio.Task[None]] = set()
        self._times: list[int] = []

    async def _send_one(self, records: list[bytes], times: list[int]) -> None:
        await self._sender.send(records)
        if self._on_sent is not None:
            self._on_sent(times)

    async def _settle(self, until: int) -> None:
        while len(self._tasks) > until:
            done, _ = await asyncio.wait(self._tasks, return_when=asyncio.FIRST_COMPLETED)
            self._tasks -= done
            for task in done:
                task.result()  # a failure surfaces here

    async def _send(self, records: list[bytes]) -> None:
        if not records:
            return
        times, self._times = self._times[:len(records)], self._times[len(records):]
        await self._settle(self._in_flight - 1)
        self._tasks.add(asyncio.create_task(self._send_one(records, times)))

    async def add(self, item: Queued) -> None:
        self._times.append(item[1])
        closed = self._builder.add(item[0])
        if closed:
            await self._send(closed)

    async def flush(self) -> None:
        await self._send(self._builder.take())
        await self._settle(0)

    async def abandon(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _sender(queue: asyncio.Queue[Queued | None], sender: SpoolingSender, batches: _Batches,
                  linger_s: float) -> None:
    """Batches what is queued, waiting at most `linger_s` for more before sending a partial batch.

    Only `get()` and `get_nowait()` touch the queue: a timeout around `get()` could drop an item that
    arrives just as the timeout fires.
    """
    loop = asyncio.get_running_loop()
    while True:
        item: object = await queue.get()
        deadline = loop.time() + linger_s
        while isinstance(item, tuple):
            await batches.add(item)
            item = _poll(queue)
            while item is _NOTHING and loop.time() < deadline:
                await asyncio.sleep(POLL_S)
                item = _poll(queue)
        await batches.flush()
        await sender.drain()
        if item is None:  # end of source
            return


def envelopes_of(item: ReceivedFrame | ReceivedRest, source: Source) -> list[bytes]:
    """A frame is one envelope; a REST response is one per symbol and UTC hour (the transform's contract)."""
    if isinstance(item, ReceivedFrame):
        return [encode_envelope(item.text, item.received_at_ms, source)]
    try:
        parts = split_time_series(item.body, item.request)
    except Exception:  # noqa: BLE001 - not splittable: send it whole, the transform fails it with a reason
        LOG.warning("REST response could not be split by hour; sent whole")
        parts = [(item.body, item.request)]
    return [encode_envelope(p, item.received_at_ms, "twelvedata.rest.time_series", r) for p, r in parts]


async def run_producer(frames: AsyncIterator[ReceivedFrame | ReceivedRest], sink: FirehoseSink | SpoolingSender,
                       *, source: Source = "twelvedata.ws", queue_size: int = 10_000, linger_s: float = 0.25,
                       stop: asyncio.Event | None = None, on_sent: OnSent | None = None,
                       stats: ProducerStats | None = None, drain_s: float = 0.0) -> ProducerStats:
    """Run until the source ends or `stop` is set; every accepted frame is sent, or spooled, before this
    returns (a stop closes intake first, then the queue is flushed). A source that stops on `stop` itself
    (the live stream: it reads up to the service's last frame) is given `drain_s` to end on its own."""
    sender = sink if isinstance(sink, SpoolingSender) else SpoolingSender(sink, None)
    stats = stats or ProducerStats()
    queue: asyncio.Queue[Queued | None] = asyncio.Queue(maxsize=queue_size)
    stats.queue = queue
    builder = BatchBuilder()

    async def read() -> None:
        try:
            async for item in frames:
                stats.frames_received += 1
                for envelope in envelopes_of(item, source):
                    if not builder.fits(envelope):
                        stats.oversize_rejected += 1
                        LOG.error("record of %d bytes exceeds Firehose's record limit; not sent", len(envelope))
                        continue
                    await queue.put((envelope, item.received_at_ms))  # waits when full: backpressure
                    stats.records_queued += 1
        except Exception:
            await queue.put(None)  # the source failed: send what it gave, then re-raise
            raise
        await queue.put(None)  # end of source

    async def stop_intake() -> None:
        assert stop is not None
        await stop.wait()
        stats.stopped_by_signal = True
        if drain_s > 0:  # a source that stops on `stop` too gets this long to hand over what it received
            await asyncio.wait({reader}, timeout=drain_s)
        if reader.done():
            return
        reader.cancel()  # closes the source (the socket); what was queued is still sent
        with contextlib.suppress(asyncio.CancelledError):
            await reader
        await queue.put(None)

    reader = asyncio.create_task(read())
    watcher = asyncio.create_task(stop_intake()) if stop is not None else None
    batches = _Batches(builder, sender, on_sent)
    try:
        await _sender(queue, sender, batches, linger_s)
    except BaseException:
        await batches.abandon()
        await cancel_and_settle([reader], "the frame reader")
        raise
    finally:
        if watcher is not None:
            watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await watcher
    if not reader.cancelled():
        await reader
    return stats
