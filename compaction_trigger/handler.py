"""Lambda on the SQS queue that buffers the raw zone's Object Created events (EventBridge -> SQS).

One invocation = one batch (the event source mapping's BatchSize and MaximumBatchingWindowInSeconds):
the dates it touched are compacted by one StartJobRun. Each message is read by Powertools' batch
processor: one that cannot be read is reported failed alone (partial batch response), so after the
queue's maxReceiveCount it waits in the dead-letter queue for a person. If Glue refuses the start (a run
is already going: MaxConcurrentRuns), every message is reported failed, so SQS delivers the batch again
later. A run that fails after Glue's own retries comes back too: its "Glue Job State Change" event
reaches the same queue, and its dates are compacted again (at most MAX_REDRIVES times, then the event
goes to the dead-letter queue). Nothing is lost, and reruns are safe because the job rebuilds whole dates.

Service name, metrics namespace and log level are the POWERTOOLS_* variables the stack sets.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass, field
from typing import Any, Protocol

import boto3
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from compaction_trigger.events import is_partition_date, touched_dates
from ohlcv_core import config
from ohlcv_core.errors import ConfigError

# Module level on purpose: Lambda reuses them across warm invocations (Powertools' own pattern); both
# read their settings from the POWERTOOLS_* variables of the function's environment.
logger = Logger()
metrics = Metrics()


class GlueClient(Protocol):
    def start_job_run(self, *, JobName: str, Arguments: dict[str, str]) -> dict[str, Any]: ...

    def get_job_run(self, *, JobName: str, RunId: str) -> dict[str, Any]: ...


# boto3's argument names above. A run that failed after Glue's own retries is started again this many
# times, then left for a person.
MAX_REDRIVES = 3
FAILED_STATES = frozenset({"FAILED", "TIMEOUT", "ERROR"})


class MessageFailed(Exception):
    """This message alone is reported failed (it comes back, and in the end rests in the DLQ)."""


@functools.cache
def _settings() -> tuple[str, str]:
    job = os.environ.get(config.ENV_COMPACTION_JOB)
    bucket = os.environ.get(config.ENV_RAW_BUCKET)
    if not job or not bucket:
        raise ConfigError(f"{config.ENV_COMPACTION_JOB} and {config.ENV_RAW_BUCKET} must be set")
    return job, bucket


@functools.cache
def _glue() -> GlueClient:
    """Glue's API where the environment points the SDK (AWS's; the local stack's through AWS_ENDPOINT_URL)."""
    client: GlueClient = boto3.client("glue")
    return client


@dataclass
class Outcome:
    response: dict[str, Any]
    events: int = 0
    unreadable: int = 0
    started: bool = False
    refused: bool = False
    redriven: int = 0
    given_up: int = 0
    dates: list[str] = field(default_factory=list)


def _failed_run(event: Any, job_name: str) -> str | None:
    """The run id of a "Glue Job State Change" event for a failed run of our job."""
    if not isinstance(event, dict) or event.get("detail-type") != "Glue Job State Change":
        return None
    detail = event.get("detail")
    if not isinstance(detail, dict) or detail.get("jobName") != job_name or detail.get("state") not in FAILED_STATES:
        return None
    run_id = detail.get("jobRunId")
    return run_id if isinstance(run_id, str) else None


class _Batch:
    """What the batch's messages ask for: the dates to compact, and how often they were redriven."""

    def __init__(self, glue: GlueClient, job_name: str, bucket: str, log: logging.Logger | Logger,
                 outcome: Outcome) -> None:
        self.glue, self.job_name, self.bucket, self.log, self.outcome = glue, job_name, bucket, log, outcome
        self.dates: set[str] = set()
        self.redrive = 0

    def read(self, record: SQSRecord) -> None:
        try:
            event = record.json_body
        except (TypeError, ValueError) as exc:
            self.outcome.unreadable += 1
            raise MessageFailed(f"message {record.message_id} is not JSON") from exc
        run_id = _failed_run(event, self.job_name)
        if run_id is None:
            self.dates.update(touched_dates([event], self.bucket))
            return
        try:
            arguments = self.glue.get_job_run(JobName=self.job_name, RunId=run_id)["JobRun"].get("Arguments") or {}
        except Exception as exc:
            self.log.warning("cannot read failed run %s; its message will be delivered again", run_id,
                             extra={"job_run_id": run_id, "error": f"{type(exc).__name__}: {exc}"})
            raise MessageFailed(f"run {run_id} cannot be read") from exc
        redrives = str(arguments.get("--redrive", "0"))
        previous = int(redrives) if redrives.isdigit() else MAX_REDRIVES  # unreadable: left for a person
        failed_dates = [d for d in str(arguments.get("--dates", "")).split(",") if is_partition_date(d)]
        if previous >= MAX_REDRIVES:
            self.log.error("compaction of %s failed %d times; left for a person (dead-letter queue)",
                           ",".join(failed_dates), previous + 1, extra={"dates": failed_dates, "job_run_id": run_id})
            self.outcome.given_up += 1
            raise MessageFailed(f"run {run_id} was redriven {previous} times")
        self.dates.update(failed_dates)
        self.redrive = max(self.redrive, previous + 1)
        self.outcome.redriven += 1


def handle_batch(event: dict[str, Any], glue: GlueClient, job_name: str, bucket: str,
                 log: logging.Logger | Logger) -> Outcome:
    """The trigger's decision, with its Glue client and log handed in."""
    records = event.get("Records") or []
    outcome = Outcome({"batchItemFailures": []}, events=len(records))
    batch = _Batch(glue, job_name, bucket, log, outcome)
    processor = BatchProcessor(event_type=EventType.SQS, raise_on_entire_batch_failure=False)
    with processor(records=records, handler=batch.read):
        processor.process()
    outcome.response = dict(processor.response())
    outcome.dates = sorted(batch.dates)
    if not outcome.dates:
        return outcome
    arguments = {"--dates": ",".join(outcome.dates)}
    if batch.redrive:
        arguments["--redrive"] = str(batch.redrive)
    try:
        run = glue.start_job_run(JobName=job_name, Arguments=arguments)
    except Exception as exc:  # a refused or failed start: the whole batch comes back later  # noqa: BLE001
        log.warning("compaction not started; the batch will be delivered again",
                    extra={"dates": outcome.dates, "error": f"{type(exc).__name__}: {exc}"})
        outcome.response = {"batchItemFailures": [{"itemIdentifier": r.get("messageId", "")} for r in records]}
        outcome.refused = True
        return outcome
    log.info("compaction started", extra={"dates": outcome.dates, "job_run_id": run.get("JobRunId")})
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
    metrics.add_metric(name="FailedRunsRedriven", unit=MetricUnit.Count, value=outcome.redriven)
    metrics.add_metric(name="FailedRunsGivenUp", unit=MetricUnit.Count, value=outcome.given_up)
    return outcome.response
