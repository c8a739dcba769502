"""The on-disk spool: where batches wait while Firehose is unavailable, across restarts, in order.

Each batch is one file `<sequence>-<quotes>q.batch` (length-prefixed records; the name says how many
quotes they pack, so that a batch the disk can no longer give back is counted in quotes), written to a
temp name, fsync'd and renamed, so a crash never leaves half a batch. Bounded: `put` reports False when the spool cannot
take a batch (its bound, the disk's free space, or a write the disk refused: `last_error` says which),
and the caller holds back (backpressure) instead of dropping anything. A folder that cannot be written
is refused at start. A batch file that cannot be read back is moved to `quarantine/` with a log line
saying how many quotes it held (`quotes_lost`), and the rest drains; files that are not the spool's are
left alone.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import struct
import threading
from collections.abc import Iterator
from pathlib import Path

from ohlcv_core.errors import ConfigError, PipelineError
from producers.kept import MARKER_NAME

LOG = logging.getLogger(__name__)
_LENGTH = struct.Struct(">I")
SUFFIX = ".batch"
QUARANTINE = "quarantine"
_BATCH_NAME = re.compile(r"^(\d{12})(?:-(\d+)q)?\.batch$")  # (no count: written before counts were kept)
FREE_MARGIN = 16 * 1024 * 1024  # left free on the disk for everything else

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
    def __init__(self, directory: Path, max_bytes: int, *, free_margin_bytes: int = FREE_MARGIN) -> None:
        self.directory = directory
        self.max_bytes = max_bytes
        self._free_margin = free_margin_bytes
        self._lock = threading.Lock()
        self._passed_over: set[Path] = set()  # delivered but not removable (a read-only disk), or unreadable
        self.last_error: str | None = None
        self.quarantined = 0
        self.quotes_lost = 0  # in the batches quarantined (those whose name says how many)
        try:
            directory.mkdir(parents=True, exist_ok=True)
            for leftover in directory.glob("*.tmp"):  # a crash mid-write: never renamed, never acknowledged
                leftover.unlink()
            probe = directory / ".probe.tmp"
            probe.write_bytes(b"")
            probe.unlink()
        except OSError as exc:
            raise ConfigError(f"the spool folder {directory} cannot be written: {exc.strerror or exc}") from None
        strays = [p.name for p in directory.iterdir()  # (the producer's own marker lives beside the batches)
                  if p.is_file() and not _BATCH_NAME.match(p.name) and p.name != MARKER_NAME]
        if strays:
            LOG.warning("the spool folder holds %d files that are not batches; left alone: %s", len(strays),
                        ", ".join(sorted(strays)[:5]))
        existing = self._files()
        self._next = _sequence(existing[-1]) + 1 if existing else 1
        self._bytes = sum(p.stat().st_size for p in existing)

    def _files(self) -> list[Path]:
        return sorted(p for p in self.directory.glob(f"*{SUFFIX}")
                      if _BATCH_NAME.match(p.name) and p not in self._passed_over)

    @property
    def size_bytes(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._files())

    def _room_for(self, size: int) -> bool:
        if self._bytes + size > self.max_bytes:
            self.last_error = f"the spool's bound ({self.max_bytes} bytes) is reached"
            return False
        free = shutil.disk_usage(self.directory).free
        if free < size + self._free_margin:
            self.last_error = f"the disk has {free} bytes free"
            return False
        return True

    def put(self, records: list[bytes], quotes: int | None = None) -> bool:
        """Keep a batch (of `quotes` quotes: one a record, unless told) durably; False (nothing kept,
        `last_error` says why) when it cannot."""
        data = _encode(records)
        with self._lock:
            if not self._room_for(len(data)):
                return False
            sequence = self._next
            temp = self.directory / f"{sequence:012d}.tmp"
            try:
                with temp.open("wb") as handle:
                    handle.write(data)
                    handle.flush()
                    os.fsync(handle.fileno())
                counted = len(records) if quotes is None else quotes
                os.replace(temp, self.directory / f"{sequence:012d}-{counted}q{SUFFIX}")
                _fsync_dir(self.directory)
            except OSError as exc:  # full, read-only, gone: nothing was kept; the caller still holds the batch
                with contextlib.suppress(OSError):  # a read-only disk refuses even this; start-up clears it
                    temp.unlink(missing_ok=True)
                self.last_error = f"the disk refused the write: {exc.strerror or exc}"
                return False
            self._next += 1
            self._bytes += len(data)
            self.last_error = None
        return True

    def batches(self) -> Iterator[tuple[Path, list[bytes]]]:
        """Oldest first; acknowledge each with `remove` once it is delivered. One that cannot be read
        back is quarantined, and the next is given."""
        for path in self._files():
            try:
                records = _decode(path.read_bytes(), path)
            except (OSError, PipelineError) as exc:
                self._quarantine(path, str(exc))
                continue
            yield path, records

    def _quarantine(self, path: Path, why: str) -> None:
        """A batch that cannot be read back is lost to the pipeline: counted (in quotes, when its name
        says), said, and never given again, moved aside if the disk allows, passed over if not."""
        quotes = _quotes(path)
        held = f"{quotes} quotes" if quotes is not None else "an unknown number of quotes (an older batch)"
        with self._lock:
            size = path.stat().st_size if path.exists() else 0
            self._passed_over.add(path)  # (passed over from now on, whether it moves or not)
            self._bytes -= size
            self.quarantined += 1
            self.quotes_lost += quotes or 0
            target = self.directory / QUARANTINE / path.name
            try:
                target.parent.mkdir(exist_ok=True)
                os.replace(path, target)
            except OSError as exc:
                LOG.error("spool batch %s is unreadable (%s): %s lost; it cannot be moved aside either (%s), "
                          "so it is passed over", path.name, why, held, exc.strerror or exc)
                return
        LOG.error("spool batch %s is unreadable (%s): %s lost; moved to %s for a person to look at", path.name, why,
                  held, target)

    def remove(self, path: Path) -> None:
        """A delivered batch goes. One the disk will not let go of (read-only now) is passed over from then
        on, so it is not sent again by this run (a restart may send it again: duplicates are dropped
        downstream, by key)."""
        with self._lock:
            size = path.stat().st_size  # (a read-only disk still answers this)
            try:
                path.unlink()
            except OSError as exc:
                LOG.error("spool batch %s was delivered but cannot be removed (%s): passed over from now on",
                          path.name, exc.strerror or exc)
                self._passed_over.add(path)
            self._bytes -= size


def _sequence(path: Path) -> int:
    match = _BATCH_NAME.match(path.name)
    assert match is not None  # (only batch names are listed)
    return int(match.group(1))


def _quotes(path: Path) -> int | None:
    match = _BATCH_NAME.match(path.name)
    return int(match.group(2)) if match is not None and match.group(2) is not None else None


def _fsync_dir(directory: Path) -> None:
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
