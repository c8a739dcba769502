"""The versioned envelope the producer wraps around every frame it receives.

Wire form: one line of JSON header, a newline, then the payload exactly as received:

    {"v":1,"source":"twelvedata.ws","received_at_ms":1692888600123}\\n{"event":"price",...}

The payload is not re-encoded (no JSON escaping), so a frame we cannot parse, even one that is not
UTF-8, is kept byte for byte and can be replayed once the parser is fixed; records are also smaller
and the transform parses each frame once. The header never contains a newline (compact JSON).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, NotRequired, TypedDict

import orjson

from ohlcv_core.errors import RecordRejected

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


class Envelope(TypedDict):
    v: int
    source: Source
    received_at_ms: int
    request: NotRequired[dict[str, str]]
    payload: bytes


def public_params(params: Mapping[str, str]) -> dict[str, str]:
    return {str(k): str(v) for k, v in params.items() if k.lower() not in SECRET_PARAMS}


_PREFIXES = {source: f'{{"v":{ENVELOPE_VERSION},"source":"{source}","received_at_ms":'.encode() for source in SOURCES}


def encode_envelope(payload: str | bytes, received_at_ms: int, source: Source,
                    request: Mapping[str, str] | None = None) -> bytes:
    body = payload.encode("utf-8") if isinstance(payload, str) else payload
    if request is None and received_at_ms.__class__ is int:
        # Every streamed frame comes through here: the header is spelled out rather than serialized
        # (the same bytes orjson writes for it; a test holds them equal).
        return b"".join((_PREFIXES[source], str(received_at_ms).encode(), b"}\n", body))
    header: Header = {"v": ENVELOPE_VERSION, "source": source, "received_at_ms": received_at_ms}
    if request is not None:
        header["request"] = public_params(request)
    return orjson.dumps(header, option=orjson.OPT_APPEND_NEWLINE) + body


def decode_envelope(data: bytes) -> Envelope:
    """Split and check an envelope; raise RecordRejected with a reason code if it is not one."""
    head, newline, payload = data.partition(b"\n")
    if not newline:
        raise RecordRejected("bad_envelope", "not an envelope: no header line")
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
    obj["payload"] = payload
    return obj  # type: ignore[return-value]  # checked above: the Envelope fields, plus the payload
