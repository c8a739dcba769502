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
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

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


def _obj_to_entry(obj: dict[str, Any], line_no: int) -> Entry:
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
    raw = path.read_bytes()
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
