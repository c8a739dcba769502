"""The versioned envelope the producer wraps around every frame it receives.

Wire form: one line of JSON header, a newline, then the payload exactly as received:

    {"v":1,"source":"twelvedata.ws","received_at_ms":1692888600123}\\n{"event":"price",...}

The payload is not re-encoded (no JSON escaping), so a frame we cannot parse, even one that is not
UTF-8, is kept byte for byte and can be replayed once the parser is fixed; records are also smaller
and the transform parses each frame once. The header never contains a newline (compact JSON).

A Firehose record may pack several envelopes (Firehose bills each record rounded up to 5 KB, and a
quote's envelope is about 240 bytes). Each packed envelope's header then carries `size`, its payload's
length in bytes, and the next envelope starts right after the payload:

    {"v":1,"source":"twelvedata.ws","received_at_ms":1692888600123,"size":187}\n{"event":"price",...}{"v":1,...

A header without `size` is the record's last (or only) envelope: its payload runs to the end, so a
record of one unsized envelope reads exactly as before packing existed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Annotated, Any, Literal, NotRequired, TypedDict

import msgspec
import orjson

from ohlcv_core.errors import RecordRejected
from ohlcv_core.limits import INT64_MAX

ENVELOPE_VERSION = 1

Source = Literal["twelvedata.ws", "twelvedata.rest.time_series"]
SOURCES: frozenset[str] = frozenset({"twelvedata.ws", "twelvedata.rest.time_series"})

# Request parameters never travel with a record: the key would end up in the lake and in logs.
SECRET_PARAMS = frozenset({"apikey", "api_key", "token"})


class Header(TypedDict):
    v: int
    source: Source
    received_at_ms: int
    request: NotRequired[dict[str, str]]  # REST only: the request's parameters, secrets removed
    size: NotRequired[int]  # packed envelopes only: the payload's length in bytes


class Envelope(TypedDict):
    v: int
    source: Source
    received_at_ms: int
    request: NotRequired[dict[str, str]]
    payload: bytes


def public_params(params: Mapping[str, str]) -> dict[str, str]:
    return {str(k): str(v) for k, v in params.items() if k.lower() not in SECRET_PARAMS}


_PREFIXES = {source: f'{{"v":{ENVELOPE_VERSION},"source":"{source}","received_at_ms":'.encode() for source in SOURCES}

# Where an envelope starts in bytes that run several together without their sizes (Firehose's source
# backup concatenates records; a test counting quotes in the lake): every header begins so, whatever
# its version (a test holds encode_envelope to it).
ENVELOPE_START = re.compile(rb'\{"v":\d+,"source":"twelvedata\.')


def envelope_starts(data: bytes) -> list[int]:
    """The offsets where envelopes start in `data` (a payload that spells a header would count too:
    for backups and tallies, never for deciding a record)."""
    return [match.start() for match in ENVELOPE_START.finditer(data)]


def encode_envelope(payload: str | bytes, received_at_ms: int, source: Source,
                    request: Mapping[str, str] | None = None, *, sized: bool = False) -> bytes:
    """One envelope; `sized` ones (with the payload's length in the header) can be packed."""
    body = payload.encode("utf-8") if isinstance(payload, str) else payload
    if request is None and received_at_ms.__class__ is int:
        # Every streamed frame comes through here: the header is spelled out rather than serialized
        # (the same bytes orjson writes for it; a test holds them equal).
        if sized:
            return b'%s%d,"size":%d}\n%s' % (_PREFIXES[source], received_at_ms, len(body), body)
        return b"%s%d}\n%s" % (_PREFIXES[source], received_at_ms, body)
    header: Header = {"v": ENVELOPE_VERSION, "source": source, "received_at_ms": received_at_ms}
    if request is not None:
        header["request"] = public_params(request)
    if sized:
        header["size"] = len(body)
    return orjson.dumps(header, option=orjson.OPT_APPEND_NEWLINE) + body


def decode_envelope(data: bytes) -> Envelope:
    """Check a record of exactly one envelope; raise RecordRejected with a reason code if it is not."""
    envelope, end = _decode_at(data, 0)
    if end != len(data):
        raise RecordRejected("bad_envelope", "more than one envelope where one was expected")
    return envelope


def decode_envelopes(data: bytes) -> list[Envelope]:
    """Every envelope a record packs, in order; RecordRejected if any is not one (the record is whole or
    nothing: its envelopes were sent together)."""
    envelopes: list[Envelope] = []
    start = 0
    while True:
        envelope, start = _decode_at(data, start)
        envelopes.append(envelope)
        if start == len(data):
            return envelopes


def envelope_pieces(data: bytes) -> list[bytes]:
    """The record's envelopes as bytes, each a record of one envelope (to resend them one by one)."""
    pieces: list[bytes] = []
    start = 0
    while True:
        _, end = _decode_at(data, start)
        pieces.append(data[start:end])
        if end == len(data):
            return pieces
        start = end


class _StreamHeader(msgspec.Struct, forbid_unknown_fields=True):
    """A header with no request: every streamed frame's. Decoded by type in one pass (the transform reads
    one per quote); any other header goes through `_checked_header`, which decides and explains."""

    v: Literal[1]  # ENVELOPE_VERSION (a test holds them equal)
    source: Source
    received_at_ms: Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)]
    size: Annotated[int, msgspec.Meta(ge=0, le=INT64_MAX)] | None = None


_decode_stream_header = msgspec.json.Decoder(_StreamHeader).decode


def usual_header(head: bytes) -> _StreamHeader | None:
    """The header line if it is a streamed frame's, checked; None for any other (then `_checked_header`)."""
    try:
        return _decode_stream_header(head)
    except msgspec.DecodeError:  # ValidationError is one
        return None


def _decode_at(data: bytes, start: int) -> tuple[Envelope, int]:
    """The envelope that starts at `start`, and where the next one starts (`len(data)`: none)."""
    newline = data.find(b"\n", start)
    if newline < 0:
        raise RecordRejected("bad_envelope", "not an envelope: no header line")
    head = data[start:newline]
    usual = usual_header(head)
    if usual is not None:
        size = usual.size
        obj: dict[str, Any] = {"v": usual.v, "source": usual.source, "received_at_ms": usual.received_at_ms}
    else:
        obj = _checked_header(head)
        size = obj.pop("size", None)
    if size is None:
        end = len(data)
    elif size.__class__ is not int or not 0 <= size <= len(data) - newline - 1:
        raise RecordRejected("bad_envelope", f"size {size!r:.40} does not fit the {len(data) - newline - 1} "
                                             "bytes left in the record")
    else:
        end = newline + 1 + size
    obj["payload"] = data[newline + 1:end]
    return obj, end  # type: ignore[return-value]  # checked: the Envelope fields, plus the payload


def _checked_header(head: bytes) -> dict[str, Any]:
    """Any header, checked field by field: what is wrong with one is said here."""
    try:
        obj = orjson.loads(head)
    except orjson.JSONDecodeError as exc:
        raise RecordRejected("bad_envelope", f"envelope header is not JSON: {exc}") from exc
    if obj.__class__ is not dict:
        raise RecordRejected("bad_envelope", f"envelope header is a JSON {type(obj).__name__}, not an object")
    if "v" not in obj:
        raise RecordRejected("bad_envelope", "not an envelope: no version field 'v'")
    version = obj["v"]
    if version.__class__ is not int or version != ENVELOPE_VERSION:
        raise RecordRejected("unsupported_envelope_version", f"envelope version {version!r:.20} is not supported")
    if obj.get("source") not in SOURCES:
        raise RecordRejected("bad_envelope", f"unknown envelope source {obj.get('source')!r:.40}")
    received = obj.get("received_at_ms")
    if received.__class__ is not int or received < 0:
        raise RecordRejected("bad_envelope", f"received_at_ms must be a non-negative integer, got {received!r:.40}")
    request = obj.get("request")
    if request is not None:
        if request.__class__ is not dict or not all(isinstance(v, str) for v in request.values()):
            raise RecordRejected("bad_envelope", "request must be an object of string parameters")
        obj["request"] = public_params(request)
    return obj
