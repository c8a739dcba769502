"""The producer pipeline: source -> bounded queue -> batches -> Firehose. One code path for every source."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ohlcv_core.envelope import Source, encode_envelope
from producers.batching import BatchBuilder
from producers.firehose_sink import FirehoseSink
from producers.twelvedata_ws import ReceivedFrame

LOG = logging.getLogger(__name__)


@dataclass
class ProducerStats:
    frames_received: int = 0
    records_queued: int = 0
    oversize_rejected: int = 0


async def run_producer(frames: AsyncIterator[ReceivedFrame], sink: FirehoseSink, *,
                       source: Source = "twelvedata.ws", queue_size: int = 10_000,
                       linger_s: float = 0.25) -> ProducerStats:
    """Run until the source ends; every accepted frame is sent before this returns."""
    stats = ProducerStats()
    queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=queue_size)
    builder = BatchBuilder()

    async def read() -> None:
        try:
            async for frame in frames:
                stats.frames_received += 1
                envelope = encode_envelope(frame.text, frame.received_at_ms, source)
                if not builder.fits(envelope):
                    stats.oversize_rejected += 1
                    LOG.error("frame of %d bytes exceeds Firehose's record limit; not sent", len(envelope))
                    continue
                await queue.put(envelope)  # waits when full: backpressure reaches the socket
                stats.records_queued += 1
        finally:
            await queue.put(None)  # end of source

    async def send() -> None:
        while True:
            try:
                item = await asyncio.wait_for(queue.get(), timeout=linger_s)
            except TimeoutError:
                if len(builder):
                    await asyncio.to_thread(sink.send, builder.take())
                continue
            if item is None:
                if len(builder):
                    await asyncio.to_thread(sink.send, builder.take())
                return
            batch = builder.add(item)
            if batch:
                await asyncio.to_thread(sink.send, batch)

    reader = asyncio.create_task(read())
    await send()
    await reader
    return stats
