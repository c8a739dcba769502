"""Batches to Firehose, or to the spool while Firehose will not take them; the spool drains in order.

While anything is spooled, new batches queue behind it, so the lake receives batches in the order they
were made. A full spool holds the sender back (the bounded queue then holds back the source): data is
delayed, never dropped.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from producers.firehose_sink import DeliveryIncomplete, FirehoseSink
from producers.spool import Spool

LOG = logging.getLogger(__name__)


@dataclass
class SenderStats:
    batches_sent: int = 0
    batches_spooled: int = 0
    records_spooled: int = 0
    batches_drained: int = 0
    spool_full_waits: int = 0


class SpoolingSender:
    def __init__(self, sink: FirehoseSink, spool: Spool | None, *, retry_every_s: float = 5.0,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._sink = sink
        self._spool = spool
        self._retry_every_s = retry_every_s
        self._sleep = sleep
        self._clock = clock
        self._last_attempt = -retry_every_s
        self._draining = asyncio.Lock()  # batches in flight at once must not drain the same spool file twice
        self.stats = SenderStats()

    @property
    def backlog(self) -> int:
        return len(self._spool) if self._spool is not None else 0

    async def _deliver(self, records: list[bytes]) -> list[bytes]:
        """The records Firehose did not take (none: all delivered)."""
        self._last_attempt = self._clock()
        try:
            await asyncio.to_thread(self._sink.send, records)
        except DeliveryIncomplete as exc:
            if self._spool is None:
                raise
            LOG.warning("Firehose did not take %d records (%s); spooling them until it does", len(exc.pending), exc)
            return exc.pending
        return []

    async def send(self, records: list[bytes]) -> None:
        if not records:
            return
        if self.backlog == 0:
            records = await self._deliver(records)
            if not records:
                self.stats.batches_sent += 1
                return
        await self._keep(records)
        await self.drain()

    async def _keep(self, records: list[bytes]) -> None:
        assert self._spool is not None
        while not self._spool.put(records):
            self.stats.spool_full_waits += 1
            LOG.error("the spool is full (%d bytes): holding intake back until Firehose drains it",
                      self._spool.size_bytes)
            await self._sleep(self._retry_every_s)
            await self.drain(force=True)
        self.stats.batches_spooled += 1
        self.stats.records_spooled += len(records)

    async def drain(self, *, force: bool = False) -> None:
        """Send spooled batches, oldest first, until one fails (then wait `retry_every_s` before trying again)."""
        if self._spool is None or (not force and self._clock() - self._last_attempt < self._retry_every_s):
            return
        async with self._draining:
            for path, records in self._spool.batches():
                if await self._deliver(records):
                    return  # still down; the batch stays whole in the spool (resending duplicates is safe)
                self._spool.remove(path)
                self.stats.batches_drained += 1
