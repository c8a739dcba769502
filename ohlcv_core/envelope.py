"""The versioned envelope the producer wraps around every frame it receives.

The payload is kept exactly as received (text), so that a frame we cannot parse is still kept
byte for byte and can be replayed once the parser is fixed.
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


class Envelope(TypedDict):
    v: int
    source: Source
    received_at_ms: int
    payload: str
    request: NotRequired[dict[str, str]]  # REST only: the request's parameters, secrets removed


def public_params(params: Mapping[str, str]) -> dict[str, str]:
    return {str(k): str(v) for k, v in params.items() if k.lower() not in SECRET_PARAMS}


def encode_envelope(payload: str, received_at_ms: int, source: Source,
                    request: Mapping[str, str] | None = None) -> bytes:
    envelope: Envelope = {"v": ENVELOPE_VERSION, "source": source, "received_at_ms": received_at_ms,
                          "payload": payload}
    if request is not None:
        envelope["request"] = public_params(request)
    return orjson.dumps(envelope)


def decode_envelope(data: bytes) -> Envelope:
    """Parse and check an envelope; raise RecordRejected with a reason code if it is not one."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise RecordRejected("not_utf8", f"envelope is not UTF-8 ({exc.reason} at byte {exc.start})") from exc
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        raise RecordRejected("not_json", f"envelope is not JSON: {exc}") from exc
    if not isinstance(obj, dict):
        raise RecordRejected("bad_envelope", f"envelope is a JSON {type(obj).__name__}, not an object")
    if "v" not in obj:
        raise RecordRejected("bad_envelope", "not an envelope: no version field 'v'")
    version = obj["v"]
    if version != ENVELOPE_VERSION:
        raise RecordRejected("unsupported_envelope_version", f"envelope version {version!r} is not supported")
    source = obj.get("source")
    if source not in SOURCES:
        raise RecordRejected("bad_envelope", f"unknown envelope source {source!r}")
    received = obj.get("received_at_ms")
    if type(received) is not int or received < 0:
        raise RecordRejected("bad_envelope", f"received_at_ms must be a non-negative integer, got {received!r}")
    payload = obj.get("payload")
    if not isinstance(payload, str):
        raise RecordRejected("bad_envelope", "payload must be the received frame as a string")
    envelope: Envelope = {"v": version, "source": source, "received_at_ms": received, "payload": payload}
    request = obj.get("request")
    if request is not None:
        if not isinstance(request, dict) or not all(isinstance(v, str) for v in request.values()):
            raise RecordRejected("bad_envelope", "request must be an object of string parameters")
        envelope["request"] = public_params(request)
    return envelope
