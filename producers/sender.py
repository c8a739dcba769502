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

from ohlcv_core.envelope import decode_envelopes
from ohlcv_core.errors import RecordRejected
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
    records_not_kept: int = 0  # only past the shutdown deadline, when neither Firehose nor the spool took them
    quotes_not_kept: int = 0  # the quotes those records packed


def _quotes_in(record: bytes) -> int:
    """The quotes (envelopes) a record packs; one for a record that is not envelopes."""
    try:
        return len(decode_envelopes(record))
    except RecordRejected:
        return 1


class SpoolingSender:
    def __init__(self, sink: FirehoseSink, spool: Spool | None, *, retry_every_s: float = 5.0,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._sink = sink
        self._spool = spool
        self._retry_every_s = retry_every_s
        self._sleep = sleep
        self._clock = clock
        self._last_failure: float | None = None  # of a delivery; None since the last one Firehose took
        self._draining = asyncio.Lock()  # batches in flight at once must not drain the same spool file twice
        self._giving_up = asyncio.Event()
        self.stats = SenderStats()

    def give_up_keeping(self) -> None:
        """The shutdown deadline is near: a batch neither Firehose nor the spool takes is counted as not
        kept (and said, with its count) instead of holding the process past its deadline."""
        self._giving_up.set()

    @property
    def backlog(self) -> int:
        return len(self._spool) if self._spool is not None else 0

    async def _deliver(self, records: list[bytes]) -> list[bytes]:
        """The records Firehose did not take (none: all delivered)."""
        try:
            await asyncio.to_thread(self._sink.send, records)
        except DeliveryIncomplete as exc:
            self._last_failure = self._clock()
            if self._spool is None:
                raise
            LOG.warning("Firehose did not take %d records (%s); spooling them until it does", len(exc.pending), exc)
            return exc.pending
        self._last_failure = None
        return []

    async def send(self, records: list[bytes]) -> None:
        if not records:
            return
        if self._spool is None and self._giving_up.is_set():
            await self._last_try(records)
            return
        if self.backlog == 0:
            records = await self._deliver(records)
            if not records:
                self.stats.batches_sent += 1
                return
        await self._keep(records)
        await self.drain()

    async def _last_try(self, records: list[bytes]) -> None:
        try:
            await asyncio.to_thread(self._sink.send, records)
        except DeliveryIncomplete as exc:
            self._not_kept(exc.pending, str(exc))
            return
        self.stats.batches_sent += 1

    def _not_kept(self, records: list[bytes], why: str, quotes: int | None = None) -> None:
        """`quotes`: the records' count of quotes, when the caller has it already."""
        quotes = sum(_quotes_in(record) for record in records) if quotes is None else quotes
        self.stats.records_not_kept += len(records)
        self.stats.quotes_not_kept += quotes
        LOG.error("shutdown deadline: %d quotes (in %d records) were neither delivered nor spooled (%s)", quotes,
                  len(records), why)

    @property
    def quotes_unreadable(self) -> int:
        """Quotes that were spooled and that the disk then could not give back."""
        return self._spool.quotes_lost if self._spool is not None else 0

    async def _keep(self, records: list[bytes]) -> None:
        assert self._spool is not None
        quotes = sum(_quotes_in(record) for record in records)  # (spooling is rare: Firehose is down)
        while not self._spool.put(records, quotes):
            if self._giving_up.is_set():
                self._not_kept(records, self._spool.last_error or "the spool refused them", quotes)
                return
            if await self.drain(force=True):
                continue  # Firehose took spooled batches: there is room now
            if self.backlog == 0:  # nothing spooled ahead of it, and a batch the spool could never hold
                records = await self._deliver(records)
                if not records:
                    self.stats.batches_sent += 1
                    return
            self.stats.spool_full_waits += 1
            LOG.error("the spool cannot take a batch (%s): holding intake back until Firehose drains it",
                      self._spool.last_error)
            await self._pause()
        self.stats.batches_spooled += 1
        self.stats.records_spooled += len(records)

    async def _pause(self) -> None:
        """Wait `retry_every_s`, or less if the shutdown deadline comes first."""
        waits = {asyncio.ensure_future(self._sleep(self._retry_every_s)),
                 asyncio.ensure_future(self._giving_up.wait())}
        _, pending = await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def drain(self, *, force: bool = False) -> int:
        """Send spooled batches, oldest first, until one fails; how many went. After a failed delivery the
        next drain waits `retry_every_s` (unless forced); while Firehose takes them, none waits."""
        recently_failed = self._last_failure is not None and self._clock() - self._last_failure < self._retry_every_s
        if self._spool is None or (not force and recently_failed):
            return 0
        drained = 0
        async with self._draining:
            for path, records in self._spool.batches():
                if await self._deliver(records):
                    break  # still down; the batch stays whole in the spool (resending duplicates is safe)
                self._spool.remove(path)
                self.stats.batches_drained += 1
                drained += 1
        return drained
