"""Firehose event in, Firehose response out: the contract around ohlcv_core.normalize.

Contract kept for every input, however malformed: each input recordId appears exactly once in the
response, in input order, with result Ok, Dropped or ProcessingFailed; the response stays under
Lambda's 6 MB limit (records past the budget are failed one by one, never the whole batch); nothing
raises.
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

from ohlcv_core.errors import ReasonCode, RecordRejected
from ohlcv_core.normalize import DEFAULT_WINDOW, Accepted, normalize
from ohlcv_core.window import TimeWindow

LOG = logging.getLogger(__name__)

Result = Literal["Ok", "Dropped", "ProcessingFailed"]
# Lambda's synchronous response limit, less room for the runtime's own framing.
RESPONSE_LIMIT_BYTES = 6 * 1024 * 1024 - 64 * 1024
# JSON around one bare response record, as the Lambda runtime writes it (json.dumps, with spaces):
# {"recordId": "…", "result": "ProcessingFailed", "data": ""},
RECORD_OVERHEAD_BYTES = 64
# , "metadata": {"partitionKeys": {"kind": "price", "dt": "2023-08-24", "hour": "14"}}
PARTITION_KEYS_BYTES = 96


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
    data: str


@dataclass(slots=True)
class Tally:
    records_in: int = 0
    ok: int = 0
    rows_out: int = 0
    dropped: Counter[str] = field(default_factory=Counter)
    rejections: list[Rejection] = field(default_factory=list)
    lag_max_ms: int = 0
    lag_sum_ms: int = 0

    @property
    def failed_by_reason(self) -> Counter[str]:
        return Counter(r.code for r in self.rejections)


def _decode(data: object) -> bytes:
    if not isinstance(data, str):
        raise RecordRejected("not_base64", f"record data must be a base64 string, got {type(data).__name__}")
    try:
        return base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise RecordRejected("not_base64", f"record data is not valid base64: {exc}") from exc


class _Response:
    """Builds the response within the size budget.

    Every input record is owed at least a bare entry (`recordId`, `result`, empty `data`), so that room is
    set aside for all of them first; data and partition keys then spend what is left, in input order.
    """

    def __init__(self, tally: Tally, limit: int, record_ids: list[str]) -> None:
        self.records: list[ResponseRecord] = []
        self._tally = tally
        self._room = limit - 16 - sum(len(i) + RECORD_OVERHEAD_BYTES for i in record_ids)

    def _take(self, size: int) -> bool:
        if size > self._room:
            return False
        self._room -= size
        return True

    def fail(self, record_id: str, raw: str, code: ReasonCode, message: str, arrival_ms: int) -> None:
        self._tally.rejections.append(Rejection(record_id, code, message, arrival_ms, raw))
        # Firehose writes its own copy of a failed record under the error prefix; echo it while there is room.
        echo = raw if self._take(len(raw)) else ""
        self.records.append({"recordId": record_id, "result": "ProcessingFailed", "data": echo})

    def drop(self, record_id: str, event: str) -> None:
        self._tally.dropped[event] += 1
        self.records.append({"recordId": record_id, "result": "Dropped", "data": ""})

    def ok(self, record_id: str, raw: str, outcome: Accepted, arrival_ms: int) -> None:
        data = base64.b64encode(outcome.to_json_lines()).decode("ascii")
        if not self._take(len(data) + PARTITION_KEYS_BYTES):
            self.fail(record_id, raw, "response_too_large",
                      "the transformed batch would exceed Lambda's 6 MB response; resend this record", arrival_ms)
            return
        tally = self._tally
        tally.ok += 1
        tally.rows_out += len(outcome.records)
        if arrival_ms > 0:
            lag = arrival_ms - outcome.records[-1]["event_time_ms"]
            tally.lag_max_ms = max(tally.lag_max_ms, lag)
            tally.lag_sum_ms += lag
        self.records.append({"recordId": record_id, "result": "Ok", "data": data,
                             "metadata": {"partitionKeys": {"kind": outcome.partition["kind"],
                                                            "dt": outcome.partition["dt"],
                                                            "hour": outcome.partition["hour"]}}})


def _record_id(record: object) -> str:
    return str(record.get("recordId", "")) if isinstance(record, dict) else ""


def transform_records(records: object, window: TimeWindow = DEFAULT_WINDOW,
                      limit: int = RESPONSE_LIMIT_BYTES) -> tuple[Response, Tally]:
    """Decide every record; each input recordId appears exactly once in the response, in order."""
    tally = Tally()
    items = records if isinstance(records, list) else []
    response = _Response(tally, limit, [_record_id(r) for r in items])
    for record in items:
        tally.records_in += 1
        item: dict[str, Any] = record if isinstance(record, dict) else {}
        record_id = _record_id(record)
        arrival = item.get("approximateArrivalTimestamp")
        arrival_ms = arrival if type(arrival) is int else 0
        raw = item.get("data")
        raw_text = raw if isinstance(raw, str) else ""
        try:
            outcome = normalize(_decode(raw), arrival_ms, window)
        except RecordRejected as rejected:
            response.fail(record_id, raw_text, rejected.code, rejected.message, arrival_ms)
            continue
        except Exception as exc:  # a bug must fail one record, never the batch
            LOG.exception("unexpected error normalizing record %s", record_id)
            response.fail(record_id, raw_text, "internal_error", f"{type(exc).__name__}: {exc}", arrival_ms)
            continue
        if isinstance(outcome, Accepted):
            response.ok(record_id, raw_text, outcome, arrival_ms)
        else:
            response.drop(record_id, outcome.event)
    return {"records": response.records}, tally
