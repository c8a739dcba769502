"""One delivery stream: buffer, transform through the Lambda, partition, write to the S3 stand-in.

Follows the service's contracts (docs/local-stack.md): processor buffer hints batch the Lambda
invocations; the response must name every input recordId exactly once with a known result, or the
whole batch is retried and finally failed; records go to objects named like Firehose's under the
evaluated Prefix; failures go under ErrorOutputPrefix as Firehose's error-record JSON lines.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from local_stack.firehose.prefix import MissingPartitionKey, evaluate_prefix
from local_stack.s3 import LocalS3
from local_stack.template import LOCAL_REGION, DeliveryStreamSettings
from ohlcv_core.errors import ContractError

LOG = logging.getLogger(__name__)

Invoke = Callable[[dict[str, Any]], Any]
LAMBDA_PAYLOAD_LIMIT = 6 * 1024 * 1024
VALID_RESULTS = frozenset({"Ok", "Dropped", "ProcessingFailed"})


@dataclass(frozen=True, slots=True)
class BufferedRecord:
    record_id: str
    data: bytes
    arrival_ms: int


@dataclass(frozen=True, slots=True)
class _Failure:
    record: BufferedRecord
    error_code: str
    error_message: str
    attempts: int


@dataclass
class StreamStats:
    records_in: int = 0
    bytes_in: int = 0
    delivered: int = 0
    dropped: int = 0
    failed: int = 0
    objects: int = 0
    invocations: int = 0
    error_codes: Counter[str] = field(default_factory=Counter)


def _new_random_string() -> str:
    return str(uuid.uuid4())


class DeliveryStream:
    def __init__(self, settings: DeliveryStreamSettings, s3: LocalS3, invoke: Invoke | None,
                 clock: Callable[[], float] = time.time,
                 random_string: Callable[[], str] = _new_random_string) -> None:
        self.settings = settings
        self._s3 = s3
        self._invoke = invoke
        self._clock = clock
        self._random = random_string
        self._buffer: list[BufferedRecord] = []
        self._buffered_bytes = 0
        self._oldest_ms: int | None = None
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self.stats = StreamStats()
        self.created_ms = int(clock() * 1000)

    # -- intake ------------------------------------------------------------------------------------
    def put(self, payloads: list[bytes]) -> list[str]:
        now_ms = int(self._clock() * 1000)
        ids = [f"{uuid.uuid4().hex}{now_ms:016x}" for _ in payloads]
        with self._lock:
            for record_id, data in zip(ids, payloads, strict=True):
                self._buffer.append(BufferedRecord(record_id, data, now_ms))
                self._buffered_bytes += len(data)
                self.stats.records_in += 1
                self.stats.bytes_in += len(data)
            if self._oldest_ms is None and payloads:
                self._oldest_ms = now_ms
        return ids

    @property
    def buffered_bytes(self) -> int:
        return self._buffered_bytes

    def due(self) -> bool:
        """Buffering hints: whichever of size and interval is reached first."""
        with self._lock:
            if not self._buffer or self._oldest_ms is None:
                return False
            age_s = self._clock() - self._oldest_ms / 1000
            return (self._buffered_bytes >= self.settings.buffer_size_bytes
                    or age_s >= self.settings.buffer_interval_s)

    # -- delivery ----------------------------------------------------------------------------------
    def flush(self) -> None:
        with self._flush_lock:
            with self._lock:
                records, self._buffer = self._buffer, []
                self._buffered_bytes, self._oldest_ms = 0, None
            if records:
                self._deliver(records)

    def _deliver(self, records: list[BufferedRecord]) -> None:
        ok: list[tuple[BufferedRecord, bytes, dict[str, str] | None]] = []
        failures: list[_Failure] = []
        if self._invoke is None:
            ok = [(r, r.data, None) for r in records]
        else:
            for batch in self._invocation_batches(records):
                batch_ok, batch_failed = self._transform(batch)
                ok.extend(batch_ok)
                failures.extend(batch_failed)
        self._write_ok(ok, failures)
        self._write_failures(failures)

    def _invocation_batches(self, records: list[BufferedRecord]) -> list[list[BufferedRecord]]:
        limit = min(self.settings.processor_buffer_bytes, LAMBDA_PAYLOAD_LIMIT // 2)
        batches: list[list[BufferedRecord]] = [[]]
        size = 0
        for record in records:
            encoded = (len(record.data) + 2) // 3 * 4 + 120
            if batches[-1] and size + encoded > limit:
                batches.append([])
                size = 0
            batches[-1].append(record)
            size += encoded
        return batches

    def _event(self, batch: list[BufferedRecord]) -> dict[str, Any]:
        return {
            "invocationId": str(uuid.uuid4()),
            "deliveryStreamArn": self.settings.arn,
            "region": LOCAL_REGION,
            "records": [{"recordId": r.record_id, "approximateArrivalTimestamp": r.arrival_ms,
                         "data": base64.b64encode(r.data).decode("ascii")} for r in batch],
        }

    def _transform(self, batch: list[BufferedRecord]
                   ) -> tuple[list[tuple[BufferedRecord, bytes, dict[str, str] | None]], list[_Failure]]:
        assert self._invoke is not None
        attempts = self.settings.processor_retries + 1
        last_error = ("Lambda.FunctionError", "no attempt made")
        for attempt in range(1, attempts + 1):
            self.stats.invocations += 1
            try:
                response = self._invoke(self._event(batch))
                return self._check_response(batch, response, attempt)
            except ContractError as exc:
                last_error = ("Lambda.InvalidResponse", str(exc))
            except Exception as exc:  # noqa: BLE001 - any handler failure is a failed invocation, as on AWS
                last_error = ("Lambda.FunctionError", f"{type(exc).__name__}: {exc}")
            LOG.warning("transform invocation %d/%d failed: %s", attempt, attempts, last_error[1])
        return [], [_Failure(r, last_error[0], last_error[1], attempts) for r in batch]

    def _check_response(self, batch: list[BufferedRecord], response: Any, attempt: int
                        ) -> tuple[list[tuple[BufferedRecord, bytes, dict[str, str] | None]], list[_Failure]]:
        if not isinstance(response, dict) or not isinstance(response.get("records"), list):
            raise ContractError("response has no 'records' list")
        if len(orjson.dumps(response)) > LAMBDA_PAYLOAD_LIMIT:
            raise ContractError("response is larger than Lambda's 6 MB limit")
        by_id = {r.record_id: r for r in batch}
        seen: set[str] = set()
        ok: list[tuple[BufferedRecord, bytes, dict[str, str] | None]] = []
        failed: list[_Failure] = []
        for item in response["records"]:
            record_id = item.get("recordId") if isinstance(item, dict) else None
            if record_id not in by_id:
                raise ContractError(f"response names unknown recordId {record_id!r}")
            if record_id in seen:
                raise ContractError(f"response names recordId {record_id!r} twice")
            seen.add(record_id)
            result = item.get("result")
            if result not in VALID_RESULTS:
                raise ContractError(f"record {record_id}: result {result!r} is not Ok, Dropped or ProcessingFailed")
            record = by_id[record_id]
            if result == "Dropped":
                self.stats.dropped += 1
            elif result == "ProcessingFailed":
                failed.append(_Failure(record, "Lambda.ProcessingFailed",
                                       "The Lambda function returned ProcessingFailed for this record.", attempt))
            else:
                try:
                    data = base64.b64decode(item.get("data", ""), validate=True)
                except (binascii.Error, ValueError, TypeError) as exc:
                    raise ContractError(f"record {record_id}: data is not base64") from exc
                keys = (item.get("metadata") or {}).get("partitionKeys")
                ok.append((record, data, dict(keys) if isinstance(keys, dict) else None))
        missing = set(by_id) - seen
        if missing:
            raise ContractError(f"response is missing {len(missing)} recordId(s), e.g. {sorted(missing)[0]!r}")
        return ok, failed

    def _object_name(self, oldest_ms: int) -> str:
        stamp = datetime.fromtimestamp(oldest_ms / 1000, tz=UTC).strftime("%Y-%m-%d-%H-%M-%S")
        return f"{self.settings.name}-1-{stamp}-{self._random()}"

    def _write_ok(self, ok: list[tuple[BufferedRecord, bytes, dict[str, str] | None]],
                  failures: list[_Failure]) -> None:
        groups: dict[str, list[tuple[BufferedRecord, bytes]]] = defaultdict(list)
        for record, data, keys in ok:
            try:
                prefix = evaluate_prefix(self.settings.prefix, arrival_ms=record.arrival_ms,
                                         partition_keys=keys if self.settings.dynamic_partitioning else None,
                                         random_string=self._random)
            except MissingPartitionKey as exc:
                failures.append(_Failure(record, "DynamicPartitioning.MetadataExtractionFailed",
                                         f"partition key {exc} was not returned by the transform", 1))
                continue
            groups[prefix].append((record, data))
        for prefix, items in groups.items():
            oldest = min(r.arrival_ms for r, _ in items)
            self._s3.put_object(self.settings.bucket, prefix + self._object_name(oldest),
                                b"".join(data for _, data in items))
            self.stats.objects += 1
            self.stats.delivered += len(items)

    def _write_failures(self, failures: list[_Failure]) -> None:
        if not failures:
            return
        now_ms = int(self._clock() * 1000)
        groups: dict[str, list[_Failure]] = defaultdict(list)
        for failure in failures:
            error_type = "processing-failed"
            prefix = evaluate_prefix(self.settings.error_prefix, arrival_ms=failure.record.arrival_ms,
                                     partition_keys=None, random_string=self._random,
                                     error_output_type=error_type)
            groups[prefix].append(failure)
            self.stats.failed += 1
            self.stats.error_codes[failure.error_code] += 1
        for prefix, items in groups.items():
            lines = [orjson.dumps({
                "attemptsMade": f.attempts, "arrivalTimestamp": f.record.arrival_ms,
                "errorCode": f.error_code, "errorMessage": f.error_message,
                "attemptEndingTimestamp": now_ms,
                "rawData": base64.b64encode(f.record.data).decode("ascii"),
                "lambdaArn": self.settings.processor.arn if self.settings.processor else "",
            }) + b"\n" for f in items]
            oldest = min(f.record.arrival_ms for f in items)
            self._s3.put_object(self.settings.bucket, prefix + self._object_name(oldest), b"".join(lines))
            self.stats.objects += 1
