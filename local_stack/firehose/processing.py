"""The processor stage: the transform Lambda invoked as Firehose invokes it, and its answer checked.

The event has Firehose's shape; invocations are batched by the processor's buffer size (and Lambda's
6 MB). The response must name every input recordId exactly once with a known result and base64 data for
`Ok`; otherwise, or if the function fails, the whole batch is retried `NumberOfRetries` times and then
failed with Firehose's error codes.
"""

from __future__ import annotations

import base64
import binascii
import logging
import random
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from local_stack.firehose.records import BufferedRecord, Failure, Transformed
from ohlcv_core.errors import ContractError
from ohlcv_core.limits import LAMBDA_PAYLOAD_BYTES
from stack_tools.template import LOCAL_REGION, DeliveryStreamSettings

LOG = logging.getLogger(__name__)

Invoke = Callable[[dict[str, Any]], Any]
LAMBDA_PAYLOAD_LIMIT = LAMBDA_PAYLOAD_BYTES
VALID_RESULTS = frozenset({"Ok", "Dropped", "ProcessingFailed"})


def failing_sometimes(invoke: Invoke, rate: float, seed: int = 0) -> Invoke:
    """Fault injection: the function fails (as a Lambda error) on a share of invocations."""
    rng = random.Random(seed)

    def invoke_or_fail(event: dict[str, Any]) -> Any:
        if rng.random() < rate:
            raise RuntimeError("injected Lambda error")
        return invoke(event)

    return invoke_or_fail


class Processor:
    def __init__(self, settings: DeliveryStreamSettings, invoke: Invoke) -> None:
        self._settings = settings
        self._invoke = invoke
        self.invocations = 0
        self.failed_invocations = 0
        self.dropped = 0

    def batches(self, records: list[BufferedRecord]) -> list[list[BufferedRecord]]:
        limit = min(self._settings.processor_buffer_bytes, LAMBDA_PAYLOAD_LIMIT // 2)
        batches: list[list[BufferedRecord]] = [[]]
        size = 0
        for record in records:
            encoded = (len(record.data) + 2) // 3 * 4 + 120
            if batches[-1] and size + encoded > limit:
                batches.append([])
                size = 0
            batches[-1].append(record)
            size += encoded
        return batches if batches[0] else []

    def _event(self, batch: list[BufferedRecord]) -> dict[str, Any]:
        return {
            "invocationId": str(uuid.uuid4()),
            "deliveryStreamArn": self._settings.arn,
            "region": LOCAL_REGION,
            "records": [{"recordId": r.record_id, "approximateArrivalTimestamp": r.arrival_ms,
                         "data": base64.b64encode(r.data).decode("ascii")} for r in batch],
        }

    def process(self, batch: list[BufferedRecord]) -> tuple[list[Transformed], list[Failure]]:
        attempts = self._settings.processor_retries + 1
        last_error = ("Lambda.FunctionError", "no attempt made")
        for attempt in range(1, attempts + 1):
            self.invocations += 1
            try:
                return self._check(batch, self._invoke(self._event(batch)), attempt)
            except ContractError as exc:
                last_error = ("Lambda.InvalidResponse", str(exc))
            except Exception as exc:  # noqa: BLE001 - any failure of the function fails the invocation, as on AWS
                last_error = ("Lambda.FunctionError", f"{type(exc).__name__}: {exc}")
            self.failed_invocations += 1
            LOG.warning("transform invocation %d/%d failed: %s", attempt, attempts, last_error[1])
        return [], [Failure(r, last_error[0], last_error[1], attempts) for r in batch]

    def _check(self, batch: list[BufferedRecord], response: Any, attempt: int
               ) -> tuple[list[Transformed], list[Failure]]:
        if not isinstance(response, dict) or not isinstance(response.get("records"), list):
            raise ContractError("response has no 'records' list")
        if len(orjson.dumps(response)) > LAMBDA_PAYLOAD_LIMIT:
            raise ContractError("response is larger than Lambda's 6 MB limit")
        by_id = {r.record_id: r for r in batch}
        seen: set[str] = set()
        ok: list[Transformed] = []
        failed: list[Failure] = []
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
                self.dropped += 1
            elif result == "ProcessingFailed":
                failed.append(Failure(record, "Lambda.ProcessingFailed",
                                      "The Lambda function returned ProcessingFailed for this record.", attempt))
            else:
                try:
                    data = base64.b64decode(item.get("data", ""), validate=True)
                except (binascii.Error, ValueError, TypeError) as exc:
                    raise ContractError(f"record {record_id}: data is not base64") from exc
                keys = (item.get("metadata") or {}).get("partitionKeys")
                ok.append(Transformed(record, data, dict(keys) if isinstance(keys, dict) else None))
        missing = set(by_id) - seen
        if missing:
            raise ContractError(f"response is missing {len(missing)} recordId(s), e.g. {sorted(missing)[0]!r}")
        return ok, failed
