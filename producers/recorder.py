"""`ohlcv record`: a Twelve Data session (or any compatible server's) captured as a recording.

Everything is written as it happens: the subscription sent, every frame with its receive time, each
disconnect, and the REST `time_series` responses fetched during the session. Stopping at any moment
leaves readable files (see RecordingWriter).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

from ohlcv_core.recording import Disconnect, RecordingWriter, RestExchange, WsFrame
from producers.rest import RestReply, TwelveDataRest
from producers.tasks import in_daemon_thread
from producers.twelvedata_ws import Disconnected, ReceivedFrame, StreamItem, Subscribed

LOG = logging.getLogger(__name__)


@dataclass
class RecordStats:
    frames: int = 0
    connections: int = 0
    disconnects: int = 0
    rest_exchanges: int = 0
    rest_failures: int = 0


def _rest_entry(reply: RestReply) -> RestExchange:
    return RestExchange(reply.received_at_ms * 1000, reply.path, reply.params, reply.status, reply.body, reply.headers)


async def _fetch_bars(rest: TwelveDataRest, symbols: tuple[str, ...], outputsize: int) -> list[RestReply]:
    replies = []
    for chunk in rest.chunks(symbols):
        replies.append(await in_daemon_thread(functools.partial(
            rest.time_series, chunk, "1min", outputsize=str(outputsize), timezone="UTC", order="asc")))
    return replies


async def record(stream: AsyncIterator[StreamItem], writer: RecordingWriter, *, symbols: tuple[str, ...],
                 rest: TwelveDataRest | None = None, rest_interval_s: float = 300.0,
                 stop: asyncio.Event | None = None) -> RecordStats:
    """Record until the stream ends or `stop` is set; the writer is left open for the caller to close."""
    stats = RecordStats()
    stop = stop or asyncio.Event()
    outputsize = max(2, int(rest_interval_s // 60) + 2)

    async def fetch() -> None:
        if rest is None:
            return
        try:
            replies = await _fetch_bars(rest, symbols, outputsize)
        except Exception as exc:  # noqa: BLE001 - a failed fetch is logged and counted; the stream goes on
            stats.rest_failures += 1
            LOG.warning("REST time_series fetch failed: %s", exc)
            return
        for reply in replies:
            writer.write(_rest_entry(reply))
            stats.rest_exchanges += 1

    async def fetch_periodically() -> None:
        while True:
            await asyncio.sleep(rest_interval_s)
            await fetch()

    async def consume() -> None:
        async for item in stream:
            if isinstance(item, ReceivedFrame):
                writer.write(WsFrame(item.received_at_ms * 1000, item.conn, "in", item.text))
                stats.frames += 1
            elif isinstance(item, Subscribed):
                writer.write(WsFrame(item.at_ms * 1000, item.conn, "out", item.message))
                stats.connections += 1
            elif isinstance(item, Disconnected):
                writer.write(Disconnect(item.at_ms * 1000, item.conn, item.reason))
                stats.disconnects += 1

    periodic = asyncio.create_task(fetch_periodically()) if rest is not None else None
    consumer = asyncio.create_task(consume())
    stopper = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({consumer, stopper}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (periodic, consumer, stopper):
            if task is not None and not task.done():
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
    if consumer.done() and not consumer.cancelled() and consumer.exception() is not None:
        raise consumer.exception()  # type: ignore[misc]
    await fetch()  # the bars of the session's last minutes, once more at the end
    writer.flush()
    return stats
