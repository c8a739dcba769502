"""PutRecordBatch limits: 500 records, 4 MiB per request, 1,000 KiB per record (before base64)."""

from __future__ import annotations

from dataclasses import dataclass, field

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
