"""Firehose event in, Firehose response out: the contract around ohlcv_core.normalize.

Contract kept for every input, however malformed: each input recordId appears exactly once in the
response, in input order, with result Ok, Dropped or ProcessingFailed; the response stays under
Lambda's 6 MB limit (records past the budget are failed one by one, never the whole batch); nothing
raises.
"""

from __future__ import annotations

import binascii
import logging
from binascii import b2a_base64
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal, NotRequired, TypedDict

from orjson import OPT_APPEND_NEWLINE, dumps

from ohlcv_core.errors import ReasonCode, RecordRejected
from ohlcv_core.limits import LAMBDA_PAYLOAD_BYTES
from ohlcv_core.normalize import DEFAULT_WINDOW, Accepted, normalize
from ohlcv_core.window import TimeWindow

LOG = logging.getLogger(__name__)

Result = Literal["Ok", "Dropped", "ProcessingFailed"]
# Lambda's synchronous response limit, less room for the runtime's own framing.
RESPONSE_LIMIT_BYTES = LAMBDA_PAYLOAD_BYTES - 64 * 1024
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
    if data.__class__ is not str:
        raise RecordRejected("not_base64", f"record data must be a base64 string, got {type(data).__name__}")
    try:
        return binascii.a2b_base64(data, strict_mode=True)
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
        self._room = limit - 16 - sum(map(len, record_ids)) - RECORD_OVERHEAD_BYTES * len(record_ids)
        self.lags: list[int] = []

    def fail(self, record_id: str, raw: str, code: ReasonCode, message: str, arrival_ms: int) -> None:
        self._tally.rejections.append(Rejection(record_id, code, message, arrival_ms, raw))
        # Firehose writes its own copy of a failed record under the error prefix; echo it while there is room.
        echo = ""
        if len(raw) <= self._room:
            self._room -= len(raw)
            echo = raw
        self.records.append({"recordId": record_id, "result": "ProcessingFailed", "data": echo})

    def drop(self, record_id: str, event: str) -> None:
        self._tally.dropped[event] += 1
        self.records.append({"recordId": record_id, "result": "Dropped", "data": ""})

    def ok(self, record_id: str, raw: str, outcome: Accepted, arrival_ms: int) -> None:
        records = outcome.records
        lines = dumps(records[0], option=OPT_APPEND_NEWLINE) if len(records) == 1 else outcome.to_json_lines()
        data = b2a_base64(lines, newline=False).decode("ascii")
        size = len(data) + PARTITION_KEYS_BYTES
        if size > self._room:
            self.fail(record_id, raw, "response_too_large",
                      "the transformed batch would exceed Lambda's 6 MB response; resend this record", arrival_ms)
            return
        self._room -= size
        self._tally.ok += 1
        self._tally.rows_out += len(records)
        self._tally.dropped.update(outcome.dropped)
        if arrival_ms:
            self.lags.append(arrival_ms - records[-1]["event_time_ms"])
        # The partition dict is made fresh for each outcome: it can be handed over as it is.
        self.records.append({"recordId": record_id, "result": "Ok", "data": data,
                             "metadata": {"partitionKeys": outcome.partition}})  # type: ignore[typeddict-item]


def transform_records(records: object, window: TimeWindow = DEFAULT_WINDOW,
                      limit: int = RESPONSE_LIMIT_BYTES) -> tuple[Response, Tally]:
    """Decide every record; each input recordId appears exactly once in the response, in order."""
    tally = Tally()
    items: list[Any] = records if isinstance(records, list) else []
    record_ids = [str(r.get("recordId", "")) if r.__class__ is dict else "" for r in items]
    response = _Response(tally, limit, record_ids)
    for record, record_id in zip(items, record_ids, strict=True):
        item: dict[str, Any] = record if record.__class__ is dict else {}
        arrival = item.get("approximateArrivalTimestamp")
        arrival_ms = arrival if arrival.__class__ is int else 0
        raw: Any = item.get("data")
        try:
            outcome = normalize(_decode(raw), arrival_ms, window)
        except RecordRejected as rejected:
            response.fail(record_id, raw if raw.__class__ is str else "", rejected.code, rejected.message, arrival_ms)
            continue
        except Exception as exc:  # a bug must fail one record, never the batch
            LOG.exception("unexpected error normalizing record %s", record_id)
            response.fail(record_id, raw if raw.__class__ is str else "", "internal_error",
                          f"{type(exc).__name__}: {exc}", arrival_ms)
            continue
        if isinstance(outcome, Accepted):
            response.ok(record_id, raw, outcome, arrival_ms)
        else:
            response.drop(record_id, outcome.event)
    tally.records_in = len(items)
    if response.lags:
        tally.lag_max_ms, tally.lag_sum_ms = max(response.lags), sum(response.lags)
    return {"records": response.records}, tally
