"""Lambda on the SQS queue that buffers the raw zone's Object Created events (EventBridge -> SQS).

One invocation = one batch (the event source mapping's BatchSize and MaximumBatchingWindowInSeconds):
the dates it touched are compacted by one StartJobRun. If Glue refuses (a run is already going:
MaxConcurrentRuns), every message is reported failed, so SQS delivers it again later; after the queue's
maxReceiveCount it lands in the dead-letter queue, kept for a person. Nothing is lost, and reruns are
safe because the job rebuilds whole dates.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass
from typing import Any, Protocol

import boto3
import orjson
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext

from compaction_trigger.events import touched_dates
from ohlcv_core import config
from ohlcv_core.errors import ConfigError

SERVICE = "compaction_trigger"
logger = Logger(service=SERVICE)
metrics = Metrics(namespace="OhlcvEngine", service=SERVICE)


class GlueClient(Protocol):
    def start_job_run(self, *, JobName: str, Arguments: dict[str, str]) -> dict[str, Any]: ...


@functools.cache
def _settings() -> tuple[str, str]:
    job = os.environ.get(config.ENV_COMPACTION_JOB)
    bucket = os.environ.get(config.ENV_RAW_BUCKET)
    if not job or not bucket:
        raise ConfigError(f"{config.ENV_COMPACTION_JOB} and {config.ENV_RAW_BUCKET} must be set")
    return job, bucket


@functools.cache
def _glue() -> GlueClient:
    """On AWS; the local stack passes its own Glue to the handler instead."""
    client: GlueClient = boto3.client("glue")
    return client


@dataclass
class Outcome:
    response: dict[str, Any]
    events: int = 0
    unreadable: int = 0
    started: bool = False
    refused: bool = False


def handle_batch(event: dict[str, Any], glue: GlueClient, job_name: str, bucket: str,
                 log: logging.Logger | Logger) -> Outcome:
    """The trigger's decision, with its Glue client and log handed in (AWS's, or the local stack's)."""
    records = event.get("Records") or []
    events, unreadable = [], []
    for record in records:
        try:
            events.append(orjson.loads(record["body"]))
        except (KeyError, TypeError, orjson.JSONDecodeError):
            unreadable.append(record.get("messageId", ""))
    # An unreadable message is reported failed every time: after maxReceiveCount it waits in the DLQ.
    outcome = Outcome({"batchItemFailures": [{"itemIdentifier": m} for m in unreadable]}, len(records),
                      len(unreadable))
    dates = touched_dates(events, bucket)
    if not dates:
        return outcome
    try:
        run = glue.start_job_run(JobName=job_name, Arguments={"--dates": ",".join(dates)})
    except Exception as exc:  # a refused or failed start: the whole batch comes back later  # noqa: BLE001
        log.warning("compaction not started; the batch will be delivered again",
                    extra={"dates": dates, "error": f"{type(exc).__name__}: {exc}"})
        outcome.response = {"batchItemFailures": [{"itemIdentifier": r.get("messageId", "")} for r in records]}
        outcome.refused = True
        return outcome
    log.info("compaction started", extra={"dates": dates, "job_run_id": run.get("JobRunId")})
    outcome.started = True
    return outcome


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    job_name, bucket = _settings()
    outcome = handle_batch(event, _glue(), job_name, bucket, logger)
    metrics.add_metric(name="EventsIn", unit=MetricUnit.Count, value=outcome.events)
    metrics.add_metric(name="EventsUnreadable", unit=MetricUnit.Count, value=outcome.unreadable)
    metrics.add_metric(name="CompactionsStarted", unit=MetricUnit.Count, value=int(outcome.started))
    metrics.add_metric(name="CompactionStartsRefused", unit=MetricUnit.Count, value=int(outcome.refused))
    return outcome.response
