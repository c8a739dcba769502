"""The recording format: raw frames with their receive times, as tardis.dev records venues.

A recording is gzip-compressed JSON Lines. The first line is a header; every later line is one entry:

  {"type": "header", "format": "twelvedata-recording", "version": 1, "symbols": [...], "note": "..."}
  {"type": "ws", "recv_us": 1692888600123456, "conn": 1, "dir": "in", "frame": "<text exactly as received>"}
  {"type": "ws", "recv_us": ..., "conn": 1, "dir": "out", "frame": "<what the client sent>"}
  {"type": "disconnect", "recv_us": ..., "conn": 1, "reason": "..."}
  {"type": "rest", "recv_us": ..., "path": "/time_series", "params": {...}, "status": 200, "body": "<text>"}

`recv_us` is UTC epoch microseconds; entries are in receive order. A file cut short (a recorder
killed mid-write) is still readable up to its last complete line.
"""

from __future__ import annotations

import gzip
import io
import time
import zlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO, Literal

import orjson

from ohlcv_core.errors import RecordingError

FORMAT_NAME = "twelvedata-recording"
FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Header:
    symbols: tuple[str, ...]
    note: str = ""


@dataclass(frozen=True, slots=True)
class WsFrame:
    recv_us: int
    conn: int
    direction: Literal["in", "out"]
    frame: str


@dataclass(frozen=True, slots=True)
class Disconnect:
    recv_us: int
    conn: int
    reason: str


@dataclass(frozen=True, slots=True)
class RestExchange:
    recv_us: int
    path: str
    params: dict[str, str]
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


Entry = WsFrame | Disconnect | RestExchange


@dataclass(frozen=True, slots=True)
class Recording:
    header: Header
    entries: tuple[Entry, ...]

    def inbound_frames(self) -> Iterator[WsFrame]:
        return (e for e in self.entries if isinstance(e, WsFrame) and e.direction == "in")

    def rest_exchanges(self) -> Iterator[RestExchange]:
        return (e for e in self.entries if isinstance(e, RestExchange))


def _entry_to_obj(entry: Entry) -> dict[str, Any]:
    if isinstance(entry, WsFrame):
        return {"type": "ws", "recv_us": entry.recv_us, "conn": entry.conn, "dir": entry.direction,
                "frame": entry.frame}
    if isinstance(entry, Disconnect):
        return {"type": "disconnect", "recv_us": entry.recv_us, "conn": entry.conn, "reason": entry.reason}
    return {"type": "rest", "recv_us": entry.recv_us, "path": entry.path, "params": entry.params,
            "status": entry.status, "headers": entry.headers, "body": entry.body}


def _obj_to_entry(obj: Any, line_no: int) -> Entry:
    if not isinstance(obj, dict):
        raise RecordingError(f"line {line_no}: an entry is a JSON object, got a {type(obj).__name__}")
    try:
        kind = obj["type"]
        if kind == "ws":
            direction = obj["dir"]
            if direction not in ("in", "out"):
                raise RecordingError(f"line {line_no}: dir must be 'in' or 'out'")
            return WsFrame(int(obj["recv_us"]), int(obj["conn"]), direction, str(obj["frame"]))
        if kind == "disconnect":
            return Disconnect(int(obj["recv_us"]), int(obj["conn"]), str(obj.get("reason", "")))
        if kind == "rest":
            return RestExchange(int(obj["recv_us"]), str(obj["path"]), dict(obj["params"]), int(obj["status"]),
                                str(obj["body"]), dict(obj.get("headers") or {}))
    except (KeyError, TypeError, ValueError) as exc:
        raise RecordingError(f"line {line_no}: malformed {obj.get('type')!r} entry: {exc}") from exc
    raise RecordingError(f"line {line_no}: unknown entry type {kind!r}")


def encode_recording(header: Header, entries: Iterable[Entry]) -> bytes:
    """Deterministic bytes (gzip mtime 0), so a seeded generator reproduces a file exactly."""
    buffer = io.BytesIO()
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0, compresslevel=9) as gz:
        gz.write(orjson.dumps({"type": "header", "format": FORMAT_NAME, "version": FORMAT_VERSION,
                               "symbols": list(header.symbols), "note": header.note}) + b"\n")
        for entry in entries:
            gz.write(orjson.dumps(_entry_to_obj(entry)) + b"\n")
    return buffer.getvalue()


def _complete_lines(path: Path) -> list[bytes]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise RecordingError(f"{path}: cannot read the recording: {exc.strerror or exc}") from None
    decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        text = decompressor.decompress(raw)
    except zlib.error as exc:
        raise RecordingError(f"{path}: not a gzip recording ({exc})") from exc
    lines = text.split(b"\n")
    # The last piece is either empty (file ends with a newline) or a torn line: drop it either way.
    return lines[:-1]


def read_recording(path: Path) -> Recording:
    lines = _complete_lines(path)
    if not lines:
        raise RecordingError(f"{path}: empty recording")
    try:
        head = orjson.loads(lines[0])
    except orjson.JSONDecodeError as exc:
        raise RecordingError(f"{path}: header is not JSON: {exc}") from exc
    if not isinstance(head, dict) or head.get("format") != FORMAT_NAME:
        raise RecordingError(f"{path}: not a {FORMAT_NAME} file")
    if head.get("version") != FORMAT_VERSION:
        raise RecordingError(f"{path}: format version {head.get('version')!r} is not supported")
    entries: list[Entry] = []
    for line_no, line in enumerate(lines[1:], start=2):
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError as exc:
            raise RecordingError(f"{path}: line {line_no} is not JSON: {exc}") from exc
        entries.append(_obj_to_entry(obj, line_no))
    header = Header(symbols=tuple(head.get("symbols") or ()), note=str(head.get("note", "")))
    return Recording(header=header, entries=tuple(entries))


class RecordingWriter:
    """Writes entries as they come, compressed, rotating by size and age.

    Safe to stop at any moment: the stream is flushed (a gzip sync point) at least every
    `flush_every_s`, so a killed recorder leaves a file readable up to its last flushed entry; `close()`
    finishes the file properly. Each rotated file starts with its own header and stands alone.
    """

    def __init__(self, directory: Path, stem: str, header: Header, *, max_bytes: int = 256 * 1024 * 1024,
                 max_age_s: float = 3600.0, flush_every_s: float = 1.0,
                 clock: Callable[[], float] = time.time) -> None:
        if max_bytes <= 0 or max_age_s <= 0:
            raise RecordingError("rotation limits must be positive")
        self._directory = directory
        self._stem = stem
        self._header = header
        self._max_bytes = max_bytes
        self._max_age_s = max_age_s
        self._flush_every_s = flush_every_s
        self._clock = clock
        self.paths: list[Path] = []
        self.entries_written = 0
        self._file: BinaryIO | None = None
        self._compressor: Any = None
        self._opened_at = 0.0
        self._flushed_at = 0.0
        self._bytes = 0
        directory.mkdir(parents=True, exist_ok=True)

    def _open(self) -> None:
        now = self._clock()
        stamp = datetime.fromtimestamp(now, tz=UTC).strftime("%Y%m%dT%H%M%SZ")
        path = self._directory / f"{self._stem}-{stamp}-{len(self.paths) + 1:04d}.tdrec.gz"
        self._file = path.open("xb")
        self._compressor = zlib.compressobj(6, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        self.paths.append(path)
        self._opened_at = self._flushed_at = now
        self._bytes = 0
        self._put(orjson.dumps({"type": "header", "format": FORMAT_NAME, "version": FORMAT_VERSION,
                                "symbols": list(self._header.symbols), "note": self._header.note}) + b"\n")
        self._sync()

    def _put(self, line: bytes) -> None:
        assert self._file is not None
        chunk = self._compressor.compress(line)
        self._file.write(chunk)
        self._bytes += len(chunk)

    def _sync(self) -> None:
        assert self._file is not None
        chunk = self._compressor.flush(zlib.Z_SYNC_FLUSH)
        self._file.write(chunk)
        self._bytes += len(chunk)
        self._file.flush()
        self._flushed_at = self._clock()

    def write(self, entry: Entry) -> None:
        now = self._clock()
        if self._file is not None and (self._bytes >= self._max_bytes or now - self._opened_at >= self._max_age_s):
            self._finish()
        if self._file is None:
            self._open()
        self._put(orjson.dumps(_entry_to_obj(entry)) + b"\n")
        self.entries_written += 1
        if now - self._flushed_at >= self._flush_every_s:
            self._sync()

    def flush(self) -> None:
        if self._file is not None:
            self._sync()

    def _finish(self) -> None:
        if self._file is not None:
            self._file.write(self._compressor.flush(zlib.Z_FINISH))
            self._file.close()
            self._file = None

    def close(self) -> None:
        self._finish()
