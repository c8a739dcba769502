"""The on-disk spool: where batches wait while Firehose is unavailable, across restarts, in order.

Each batch is one file `<sequence>.batch` (length-prefixed records), written to a temp name, fsync'd
and renamed, so a crash never leaves half a batch. Bounded: `put` reports False when the spool is full,
and the caller holds back (backpressure) instead of dropping anything.
"""

from __future__ import annotations

import os
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

from ohlcv_core.errors import PipelineError

_LENGTH = struct.Struct(">I")
SUFFIX = ".batch"


def _encode(records: list[bytes]) -> bytes:
    return b"".join(_LENGTH.pack(len(r)) + r for r in records)


def _decode(data: bytes, path: Path) -> list[bytes]:
    records, offset = [], 0
    while offset < len(data):
        if offset + _LENGTH.size > len(data):
            raise PipelineError(f"spool file {path} is cut short")
        (size,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        if offset + size > len(data):
            raise PipelineError(f"spool file {path} is cut short")
        records.append(data[offset:offset + size])
        offset += size
    return records


class Spool:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        directory.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        for leftover in directory.glob("*.tmp"):  # a crash mid-write: never renamed, never acknowledged
            leftover.unlink()
        existing = self._files()
        self._next = int(existing[-1].stem) + 1 if existing else 1
        self._bytes = sum(p.stat().st_size for p in existing)

    def _files(self) -> list[Path]:
        return sorted(self.directory.glob(f"*{SUFFIX}"), key=lambda p: int(p.stem))

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._files())

    def put(self, records: list[bytes]) -> bool:
        """Keep a batch durably; False (nothing written) when it would pass the bound."""
        data = _encode(records)
        with self._lock:
            if self._bytes + len(data) > self.max_bytes:
                return False
            sequence = self._next
            self._next += 1
            temp = self.directory / f"{sequence:012d}.tmp"
            with temp.open("wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.replace(temp, self.directory / f"{sequence:012d}{SUFFIX}")
            self._bytes += len(data)
        _fsync_dir(self.directory)
        return True

    def batches(self) -> Iterator[tuple[Path, list[bytes]]]:
        """Oldest first; acknowledge each with `remove` once it is delivered."""
        for path in self._files():
            yield path, _decode(path.read_bytes(), path)

    def remove(self, path: Path) -> None:
        with self._lock:
            size = path.stat().st_size
            path.unlink()
            self._bytes -= size


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
