"""Firehose event in, Firehose response out: the contract around ohlcv_core.normalize."""

from __future__ import annotations

import base64
import binascii
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

from ohlcv_core.errors import ReasonCode, RecordRejected
from ohlcv_core.normalize import Accepted, normalize

Result = Literal["Ok", "Dropped", "ProcessingFailed"]


class ResponseMetadata(TypedDict):
    partitionKeys: dict[str, str]


class ResponseRecord(TypedDict):
    recordId: str
    result: Result
    data: str
    metadata: NotRequired[ResponseMetadata]


class Response(TypedDict):
    records: list[ResponseRecord]


@dataclass(frozen=True, slots=True)
class Rejection:
    record_id: str
    code: ReasonCode
    message: str
    arrival_ms: int


@dataclass(slots=True)
class Tally:
    ok: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)


def _decode(data: object) -> bytes:
    if not isinstance(data, str):
        raise RecordRejected("not_base64", "record data is not a base64 string")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RecordRejected("not_base64", f"record data is not valid base64: {exc}") from exc


def transform_records(records: list[dict[str, Any]]) -> tuple[Response, Tally]:
    """Decide every record; each input recordId appears exactly once in the response, in order."""
    tally = Tally()
    out: list[ResponseRecord] = []
    for record in records:
        record_id = str(record.get("recordId", ""))
        arrival = record.get("approximateArrivalTimestamp")
        arrival_ms = arrival if type(arrival) is int else 0
        raw = record.get("data")
        try:
            outcome = normalize(_decode(raw), arrival_ms)
        except RecordRejected as rejected:
            tally.rejections.append(Rejection(record_id, rejected.code, rejected.message, arrival_ms))
            # Firehose keeps the original bytes of a failed record under the error prefix.
            out.append({"recordId": record_id, "result": "ProcessingFailed",
                        "data": raw if isinstance(raw, str) else ""})
            continue
        if isinstance(outcome, Accepted):
            tally.ok += 1
            out.append({"recordId": record_id, "result": "Ok",
                        "data": base64.b64encode(outcome.to_json_line()).decode("ascii"),
                        "metadata": {"partitionKeys": {k: str(v) for k, v in outcome.partition.items()}}})
        else:
            tally.dropped[outcome.event] += 1
            out.append({"recordId": record_id, "result": "Dropped", "data": raw if isinstance(raw, str) else ""})
    return {"records": out}, tally
