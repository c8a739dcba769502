"""Lambda entry point: Powertools logging and metrics around transform_records."""

from __future__ import annotations

import hashlib
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from firehose_transform.transform import Response, transform_records

SERVICE = "firehose_transform"
NAMESPACE = "OhlcvEngine"

# Module level on purpose: Lambda reuses them across warm invocations (Powertools' own pattern).
logger = Logger(service=SERVICE)
metrics = Metrics(namespace=NAMESPACE, service=SERVICE)


def _raw_digest(data: object) -> str:
    return hashlib.sha256(data.encode("ascii", "replace") if isinstance(data, str) else b"").hexdigest()


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> Response:
    records = event.get("records")
    records = records if isinstance(records, list) else []
    response, tally = transform_records(records)
    by_id = {str(r.get("recordId", "")): r.get("data") for r in records}
    for rejection in tally.rejections:
        # The reason lives here (CloudWatch) and in the RecordsFailed metrics; raw_sha256 joins this
        # line to the record Firehose writes under the error prefix (sha256 of its rawData).
        logger.warning("record rejected", extra={
            "record_id": rejection.record_id, "reason_code": rejection.code, "reason": rejection.message,
            "arrival_ms": rejection.arrival_ms, "raw_sha256": _raw_digest(by_id.get(rejection.record_id)),
        })
        metrics.add_metric(name=f"RecordsFailed.{rejection.code}", unit=MetricUnit.Count, value=1)
    metrics.add_metric(name="RecordsIn", unit=MetricUnit.Count, value=len(records))
    metrics.add_metric(name="RecordsOk", unit=MetricUnit.Count, value=tally.ok)
    metrics.add_metric(name="RecordsDropped", unit=MetricUnit.Count, value=sum(tally.dropped.values()))
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=len(tally.rejections))
    logger.info("batch transformed", extra={"records": len(records), "ok": tally.ok,
                                            "dropped": dict(tally.dropped), "failed": len(tally.rejections)})
    return response
