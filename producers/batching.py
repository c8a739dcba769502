"""PutRecordBatch limits: 500 records, 4 MiB per request, 1,000 KiB per record (before base64); and the
packing of quotes into records."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ohlcv_core.limits import FIREHOSE_MAX_BATCH_BYTES, FIREHOSE_MAX_BATCH_RECORDS, FIREHOSE_MAX_RECORD_BYTES

MAX_BATCH_RECORDS = FIREHOSE_MAX_BATCH_RECORDS
MAX_BATCH_BYTES = FIREHOSE_MAX_BATCH_BYTES
MAX_RECORD_BYTES = FIREHOSE_MAX_RECORD_BYTES


@dataclass
class BatchBuilder:
    max_records: int = MAX_BATCH_RECORDS
    max_bytes: int = MAX_BATCH_BYTES
    max_record_bytes: int = MAX_RECORD_BYTES
    _records: list[bytes] = field(default_factory=list)
    _bytes: int = 0

    def fits(self, record: bytes) -> bool:
        return len(record) <= self.max_record_bytes

    def add(self, record: bytes) -> list[bytes] | None:
        """Add a record (which must fit); return the batch that had to close to make room, if any."""
        if not self.fits(record):
            raise ValueError(f"record of {len(record)} bytes exceeds {self.max_record_bytes}")
        completed = None
        if self._records and (len(self._records) >= self.max_records
                              or self._bytes + len(record) > self.max_bytes):
            completed = self.take()
        self._records.append(record)
        self._bytes += len(record)
        return completed

    def take(self) -> list[bytes]:
        records, self._records, self._bytes = self._records, [], 0
        return records

    def __len__(self) -> int:
        return len(self._records)


Packed = tuple[bytes, list[int]]  # a record, and when each of its frames was received (ms)


@dataclass
class Packer:
    """Packs sized envelopes of one UTC hour into records of up to `pack_bytes` (Firehose bills each
    record rounded up to 5 KB; one quote is about 240 bytes). Packs of different hours stay apart: the
    transform files a record under one partition. Pure bookkeeping; the caller decides when to close."""

    pack_bytes: int
    # hour -> [envelopes, receive times, bytes so far]: one lookup per quote
    _open: dict[int, list[Any]] = field(default_factory=dict)

    def add(self, envelope: bytes, hour: int | None, received_ms: int) -> Packed | None:
        """Take an envelope; return what is ready to send: the envelope alone when it has no hour (it
        cannot be packed), else the pack of its hour that had to close to make room, if any."""
        if hour is None:
            return envelope, [received_ms]
        pack = self._open.get(hour)
        completed: Packed | None = None
        if pack is not None and pack[2] + len(envelope) > self.pack_bytes:
            completed, pack = (b"".join(pack[0]), pack[1]), None
        if pack is None:
            self._open[hour] = [[envelope], [received_ms], len(envelope)]
        else:
            pack[0].append(envelope)
            pack[1].append(received_ms)
            pack[2] += len(envelope)
        return completed

    def take(self) -> list[Packed]:
        """Close every open pack, oldest hour first."""
        packs = [(b"".join(self._open[hour][0]), self._open[hour][1]) for hour in sorted(self._open)]
        self._open.clear()
        return packs
