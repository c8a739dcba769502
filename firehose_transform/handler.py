"""Lambda entry point: Powertools logging and EMF metrics around transform_records."""

from __future__ import annotations

import functools
import hashlib
import os
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from firehose_transform.transform import Response, Tally, transform_records
from ohlcv_core import config
from ohlcv_core.emf import LIVE_DIMENSION
from ohlcv_core.window import TimeWindow

# Module level on purpose: Lambda reuses them across warm invocations (Powertools' own pattern). Service
# name, metrics namespace and log level are the POWERTOOLS_* variables the stack sets.
logger = Logger()
metrics = Metrics()


@functools.cache
def _window() -> TimeWindow:
    """Resolved once, at the first invocation (not at import), from the function's environment."""
    return TimeWindow.from_environ(os.environ)


def raw_digest(data: str) -> str:
    """SHA-256 of a record's base64 data: equal to the digest of `rawData` in Firehose's error record."""
    return hashlib.sha256(data.encode("ascii", "replace")).hexdigest()


def _emit(tally: Tally) -> None:
    for rejection in tally.rejections:
        # The reason lives here (CloudWatch) and in the RecordsFailed metrics; raw_sha256 joins this
        # line to the record Firehose writes under the error prefix.
        logger.warning("record rejected", extra={
            "record_id": rejection.record_id, "reason_code": rejection.code, "reason": rejection.message,
            "arrival_ms": rejection.arrival_ms, "raw_sha256": raw_digest(rejection.data)})
    for code, count in tally.failed_by_reason.items():
        metrics.add_metric(name=f"RecordsFailed.{code}", unit=MetricUnit.Count, value=count)
    metrics.add_metric(name="RecordsIn", unit=MetricUnit.Count, value=tally.records_in)
    metrics.add_metric(name="RecordsOk", unit=MetricUnit.Count, value=tally.ok)
    metrics.add_metric(name="RowsOut", unit=MetricUnit.Count, value=tally.rows_out)
    metrics.add_metric(name="RecordsDropped", unit=MetricUnit.Count, value=sum(tally.dropped.values()))
    metrics.add_metric(name="RecordsFailed", unit=MetricUnit.Count, value=len(tally.rejections))
    if tally.ok:
        metrics.add_metric(name="EventTimeLagMaxMs", unit=MetricUnit.Milliseconds, value=tally.lag_max_ms)
        metrics.add_metric(name="EventTimeLagAvgMs", unit=MetricUnit.Milliseconds, value=tally.lag_sum_ms / tally.ok)
    logger.info("batch transformed", extra={
        "records": tally.records_in, "ok": tally.ok, "rows_out": tally.rows_out, "dropped": dict(tally.dropped),
        "failed": dict(tally.failed_by_reason), "event_time_lag_max_ms": tally.lag_max_ms})


def live_path(event: Any, environ: Mapping[str, str]) -> bool:
    """Whether the hot path's stream invoked us (OHLCV_LIVE_STREAM names it): its figures are its own,
    so that the record path's metrics and alarms count each record once."""
    name = environ.get(config.ENV_LIVE_STREAM, "")
    arn = event.get("deliveryStreamArn") if isinstance(event, dict) else None
    return bool(name) and isinstance(arn, str) and arn.endswith(f":deliverystream/{name}")


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: Any, context: LambdaContext) -> Response:
    records = event.get("records") if isinstance(event, dict) else None
    if live_path(event, os.environ):
        metrics.add_dimension(name=LIVE_DIMENSION, value="live")
        logger.append_keys(**{LIVE_DIMENSION: "live"})
    response, tally = transform_records(records, _window())
    _emit(tally)
    return response
