"""The producer pipeline: source -> bounded queue -> batches -> Firehose. One code path for every source."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

from ohlcv_core.envelope import Source, encode_envelope
from ohlcv_core.normalize import pack_hour
from ohlcv_core.timeseries import split_time_series
from producers.batching import BatchBuilder, Packer
from producers.firehose_sink import FirehoseSink
from producers.hot_path import HotPathCopy
from producers.replay import ReceivedRest
from producers.sender import SpoolingSender
from producers.settings import DEFAULT_LINGER_MS, DEFAULT_PACK_KB
from producers.tasks import cancel_and_settle
from producers.twelvedata_ws import ReceivedFrame

LOG = logging.getLogger(__name__)
POLL_S = 0.005


@dataclass
class ProducerStats:
    frames_received: int = 0
    envelopes_queued: int = 0
    records_made: int = 0  # Firehose records: packs of envelopes, or one alone
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


# An envelope, when its frame was received (ms), the UTC hour it packs into (None: sent alone), and
# whether it is a streamed frame (what the hot path copies; REST bars take the record path only).
Queued = tuple[bytes, int, int | None, bool]
OnSent = Callable[[list[int]], None]


class _Batches:
    """Packs, then the batch builder, with the receive times of the frames each record holds (for
    latency), and up to `in_flight` PutRecordBatch calls under way at once: while Firehose answers one,
    the next is built. (Batches in flight may land in any order; Firehose promises no order, the lake
    needs none.)"""

    def __init__(self, builder: BatchBuilder, packer: Packer | None, sender: SpoolingSender,
                 on_sent: OnSent | None, stats: ProducerStats, *, in_flight: int = 3,
                 hot_path: HotPathCopy | None = None) -> None:
        self._builder = builder
        self._hot_path = hot_path
        self._stats = stats
        self._packer = packer
        self._sender = sender
        self._on_sent = on_sent
        self._in_flight = in_flight
        self._tasks: set[asyncio.Task[None]] = set()
        # Per record in the builder: its frames' receive times, and whether they were streamed frames.
        self._held: list[tuple[list[int], bool]] = []

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

    async def send(self, records: list[bytes]) -> None:
        if not records:
            return
        held, self._held = self._held[:len(records)], self._held[len(records):]
        if self._hot_path is not None:  # first: the copy never waits behind the record path's retries
            self._hot_path.offer([r for r, (_, streamed) in zip(records, held, strict=True) if streamed])
        await self._settle(self._in_flight - 1)
        self._tasks.add(asyncio.create_task(self._send_one(records, [t for times, _ in held for t in times])))

    def _record(self, record: bytes, times: list[int], streamed: bool) -> list[bytes] | None:
        self._held.append((times, streamed))
        self._stats.records_made += 1
        return self._builder.add(record)

    def add(self, item: Queued) -> list[bytes] | None:
        """Take one envelope; return the batch that had to close to make room for it, if any (the
        caller sends it: every quote goes through here, so only a closed batch costs an await)."""
        envelope, received_ms, hour, streamed = item
        if self._packer is None:
            return self._record(envelope, [received_ms], streamed)
        # What the packer gives back is this envelope alone (no hour) or a pack of streamed frames that
        # closed for it (it has an hour: a streamed frame too), so it is as streamed as this one.
        ready = self._packer.add(envelope, hour, received_ms)
        return None if ready is None else self._record(*ready, streamed)

    async def flush(self) -> None:
        for packed in self._packer.take() if self._packer is not None else []:
            if closed := self._record(*packed, streamed=True):  # (a pack holds streamed frames only)
                await self.send(closed)
        await self.send(self._builder.take())
        await self._settle(0)

    async def abandon(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)


async def _sender(queue: asyncio.Queue[Queued | None], sender: SpoolingSender, batches: _Batches,
                  linger_s: float) -> None:
    """Batches what is queued, waiting at most `linger_s` after a batch's first frame for more before
    sending (a full batch goes at once).

    Only `get()` and `get_nowait()` touch the queue: a timeout around `get()` could drop an item that
    arrives just as the timeout fires.
    """
    loop = asyncio.get_running_loop()
    while True:
        item: object = await queue.get()
        deadline = loop.time() + linger_s
        while isinstance(item, tuple):
            if closed := batches.add(item):
                await batches.send(closed)
            item = _poll(queue)
            while item is _NOTHING and (left := deadline - loop.time()) > 0:
                await asyncio.sleep(min(POLL_S, left))
                item = _poll(queue)
        await batches.flush()
        await sender.drain()
        if item is None:  # end of source
            return


def envelopes_of(item: ReceivedFrame | ReceivedRest, source: Source, *, pack: bool = False
                 ) -> list[tuple[bytes, int | None, bool]]:
    """A frame is one envelope (sized, with the hour it packs into, when it can be packed); a REST
    response is one per symbol and UTC hour (the transform's contract), each sent alone. The flag: a
    streamed frame (what the hot path copies)."""
    if isinstance(item, ReceivedFrame):
        hour = pack_hour(item.text) if pack else None
        return [(encode_envelope(item.text, item.received_at_ms, source, sized=hour is not None), hour, True)]
    try:
        parts = split_time_series(item.body, item.request)
    except Exception:  # noqa: BLE001 - not splittable: send it whole, the transform fails it with a reason
        LOG.warning("REST response could not be split by hour; sent whole")
        parts = [(item.body, item.request)]
    return [(encode_envelope(p, item.received_at_ms, "twelvedata.rest.time_series", r), None, False)
            for p, r in parts]


async def run_producer(frames: AsyncIterator[ReceivedFrame | ReceivedRest], sink: FirehoseSink | SpoolingSender,
                       *, source: Source = "twelvedata.ws", queue_size: int = 10_000,
                       linger_s: float = DEFAULT_LINGER_MS / 1000, pack_bytes: int = DEFAULT_PACK_KB * 1024,
                       stop: asyncio.Event | None = None, on_sent: OnSent | None = None,
                       stats: ProducerStats | None = None, drain_s: float = 0.0,
                       hot_path: HotPathCopy | None = None) -> ProducerStats:
    """Run until the source ends or `stop` is set; every accepted frame is sent, or spooled, before this
    returns (a stop closes intake first, then the queue is flushed). A source that stops on `stop` itself
    (the live stream: it reads up to the service's last frame) is given `drain_s` to end on its own.
    Price frames are packed into records of up to `pack_bytes` (0: one frame per record); with `hot_path`,
    the records of streamed frames are copied to the hot path's stream too."""
    sender = sink if isinstance(sink, SpoolingSender) else SpoolingSender(sink, None)
    stats = stats or ProducerStats()
    queue: asyncio.Queue[Queued | None] = asyncio.Queue(maxsize=queue_size)
    stats.queue = queue
    builder = BatchBuilder()

    async def read() -> None:
        try:
            async for item in frames:
                stats.frames_received += 1
                for envelope, hour, streamed in envelopes_of(item, source, pack=pack_bytes > 0):
                    if not builder.fits(envelope):
                        stats.oversize_rejected += 1
                        LOG.error("record of %d bytes exceeds Firehose's record limit; not sent", len(envelope))
                        continue
                    if queue.full():
                        await queue.put((envelope, item.received_at_ms, hour, streamed))  # waits: backpressure
                    else:
                        queue.put_nowait((envelope, item.received_at_ms, hour, streamed))  # the usual case
                    stats.envelopes_queued += 1
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
    batches = _Batches(builder, Packer(pack_bytes) if pack_bytes > 0 else None, sender, on_sent, stats,
                       hot_path=hot_path)
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
