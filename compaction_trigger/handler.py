"""Lambda on the SQS queue that buffers the raw zone's Object Created events (EventBridge -> SQS).

One invocation = one batch (the event source mapping's BatchSize and MaximumBatchingWindowInSeconds):
the dates it touched are compacted by one StartJobRun. If Glue refuses (a run is already going:
MaxConcurrentRuns), every message is reported failed, so SQS delivers it again later; after the queue's
maxReceiveCount it lands in the dead-letter queue, kept for a person. A run that fails after Glue's own
retries comes back too: its "Glue Job State Change" event reaches the same queue, and its dates are
compacted again (at most MAX_REDRIVES times, then the event goes to the dead-letter queue). Nothing is
lost, and reruns are safe because the job rebuilds whole dates.
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

    def get_job_run(self, *, JobName: str, RunId: str) -> dict[str, Any]: ...


# boto3's argument names above. A run that failed after Glue's own retries is started again this many
# times, then left for a person.
MAX_REDRIVES = 3
FAILED_STATES = frozenset({"FAILED", "TIMEOUT", "ERROR"})


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
    redriven: int = 0
    given_up: int = 0


def _failed_run(event: Any, job_name: str) -> str | None:
    """The run id of a "Glue Job State Change" event for a failed run of our job."""
    if not isinstance(event, dict) or event.get("detail-type") != "Glue Job State Change":
        return None
    detail = event.get("detail") or {}
    if detail.get("jobName") != job_name or detail.get("state") not in FAILED_STATES:
        return None
    run_id = detail.get("jobRunId")
    return run_id if isinstance(run_id, str) else None


def _redrives(glue: GlueClient, job_name: str, events: list[tuple[str, Any]], log: logging.Logger | Logger,
              outcome: Outcome) -> tuple[set[str], int]:
    """Dates of failed runs to compact again, and how many times they have been; past MAX_REDRIVES the
    message is reported failed (it ends in the DLQ, for a person)."""
    dates: set[str] = set()
    count = 0
    for message_id, event in events:
        run_id = _failed_run(event, job_name)
        if run_id is None:
            continue
        try:
            arguments = glue.get_job_run(JobName=job_name, RunId=run_id)["JobRun"].get("Arguments") or {}
        except Exception as exc:  # noqa: BLE001 - this message alone comes back; the rest of the batch goes on
            log.warning("cannot read failed run %s; its message will be delivered again", run_id,
                        extra={"job_run_id": run_id, "error": f"{type(exc).__name__}: {exc}"})
            outcome.response["batchItemFailures"].append({"itemIdentifier": message_id})
            continue
        previous = int(arguments.get("--redrive", "0"))
        failed_dates = [d for d in str(arguments.get("--dates", "")).split(",") if d]
        if previous >= MAX_REDRIVES:
            log.error("compaction of %s failed %d times; left for a person (dead-letter queue)",
                      ",".join(failed_dates), previous + 1, extra={"dates": failed_dates, "job_run_id": run_id})
            outcome.response["batchItemFailures"].append({"itemIdentifier": message_id})
            outcome.given_up += 1
            continue
        dates.update(failed_dates)
        count = max(count, previous + 1)
        outcome.redriven += 1
    return dates, count


def handle_batch(event: dict[str, Any], glue: GlueClient, job_name: str, bucket: str,
                 log: logging.Logger | Logger) -> Outcome:
    """The trigger's decision, with its Glue client and log handed in (AWS's, or the local stack's)."""
    records = event.get("Records") or []
    events: list[tuple[str, Any]] = []
    unreadable = []
    for record in records:
        try:
            events.append((record.get("messageId", ""), orjson.loads(record["body"])))
        except (KeyError, TypeError, orjson.JSONDecodeError):
            unreadable.append(record.get("messageId", ""))
    # An unreadable message is reported failed every time: after maxReceiveCount it waits in the DLQ.
    outcome = Outcome({"batchItemFailures": [{"itemIdentifier": m} for m in unreadable]}, len(records),
                      len(unreadable))
    redrive_dates, redrive = _redrives(glue, job_name, events, log, outcome)
    dates = sorted(set(touched_dates([e for _, e in events], bucket)) | redrive_dates)
    if not dates:
        return outcome
    arguments = {"--dates": ",".join(dates)}
    if redrive:
        arguments["--redrive"] = str(redrive)
    try:
        run = glue.start_job_run(JobName=job_name, Arguments=arguments)
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
    metrics.add_metric(name="FailedRunsRedriven", unit=MetricUnit.Count, value=outcome.redriven)
    metrics.add_metric(name="FailedRunsGivenUp", unit=MetricUnit.Count, value=outcome.given_up)
    return outcome.response
