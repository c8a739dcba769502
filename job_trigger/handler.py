"""Lambda on an SQS queue of events that ask for a Glue job's run (EventBridge -> SQS): the stack has one
for compaction (the raw zone's Object Created events) and one for quality (compaction's succeeded runs).

One invocation = one batch (the event source mapping's BatchSize and MaximumBatchingWindowInSeconds):
the dates it names are handed to one StartJobRun of the job. An Object Created event names the date of
its raw partition (OHLCV_RAW_BUCKET); a "Glue Job State Change" of a succeeded run of the job it follows
(OHLCV_AFTER_JOB) names that run's dates. Each message is read by Powertools' batch
processor: one that cannot be read is reported failed alone (partial batch response), so after the
queue's maxReceiveCount it waits in the dead-letter queue for a person. If Glue refuses the start (a run
is already going: MaxConcurrentRuns), every message is reported failed, so SQS delivers the batch again
later. A run that fails after Glue's own retries comes back too: its "Glue Job State Change" event
reaches the same queue, and its dates are run again (at most MAX_REDRIVES times, then the event goes to
the dead-letter queue). Nothing is lost, and reruns are safe because each job rebuilds whole dates.

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

from job_trigger.events import is_partition_date, touched_dates
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
SUCCEEDED_STATES = frozenset({"SUCCEEDED"})


class MessageFailed(Exception):
    """This message alone is reported failed (it comes back, and in the end rests in the DLQ)."""


@dataclass(frozen=True)
class TriggerSettings:
    job: str  # the job to start
    bucket: str | None = None  # Object Created events of this bucket's raw zone name dates
    after_job: str | None = None  # succeeded runs of this job name dates


@functools.cache
def _settings() -> TriggerSettings:
    job = os.environ.get(config.ENV_TRIGGER_JOB)
    bucket = os.environ.get(config.ENV_RAW_BUCKET) or None
    after = os.environ.get(config.ENV_AFTER_JOB) or None
    if not job or not (bucket or after):
        raise ConfigError(f"{config.ENV_TRIGGER_JOB} must be set, with {config.ENV_RAW_BUCKET} or "
                          f"{config.ENV_AFTER_JOB} (what names the dates)")
    return TriggerSettings(job, bucket, after)


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


def _run_of(event: Any, job_name: str | None, states: frozenset[str]) -> str | None:
    """The run id of a "Glue Job State Change" event for a run of the job that ended in one of `states`."""
    if job_name is None or not isinstance(event, dict) or event.get("detail-type") != "Glue Job State Change":
        return None
    detail = event.get("detail")
    if not isinstance(detail, dict) or detail.get("jobName") != job_name or detail.get("state") not in states:
        return None
    run_id = detail.get("jobRunId")
    return run_id if isinstance(run_id, str) else None


def _run_dates(arguments: dict[str, Any]) -> list[str]:
    return [d for d in str(arguments.get("--dates", "")).split(",") if is_partition_date(d)]


class _Batch:
    """What the batch's messages ask for: the dates to run, and how often they were redriven."""

    def __init__(self, glue: GlueClient, settings: TriggerSettings, log: logging.Logger | Logger,
                 outcome: Outcome) -> None:
        self.glue, self.settings, self.log, self.outcome = glue, settings, log, outcome
        self.job_name = settings.job
        self.dates: set[str] = set()
        self.redrive = 0

    def _arguments(self, job: str, run_id: str) -> dict[str, Any]:
        try:
            run = self.glue.get_job_run(JobName=job, RunId=run_id)["JobRun"]
            arguments: dict[str, Any] = run.get("Arguments") or {}
        except Exception as exc:
            self.log.warning("cannot read run %s of %s; its message will be delivered again", run_id, job,
                             extra={"job_run_id": run_id, "error": f"{type(exc).__name__}: {exc}"})
            raise MessageFailed(f"run {run_id} cannot be read") from exc
        return arguments

    def read(self, record: SQSRecord) -> None:
        try:
            event = record.json_body
        except (TypeError, ValueError) as exc:
            self.outcome.unreadable += 1
            raise MessageFailed(f"message {record.message_id} is not JSON") from exc
        succeeded = _run_of(event, self.settings.after_job, SUCCEEDED_STATES)
        if succeeded is not None:
            self.dates.update(_run_dates(self._arguments(str(self.settings.after_job), succeeded)))
            return
        run_id = _run_of(event, self.job_name, FAILED_STATES)
        if run_id is None:
            if self.settings.bucket:
                self.dates.update(touched_dates([event], self.settings.bucket))
            return
        arguments = self._arguments(self.job_name, run_id)
        redrives = str(arguments.get("--redrive", "0"))
        previous = int(redrives) if redrives.isdigit() else MAX_REDRIVES  # unreadable: left for a person
        failed_dates = _run_dates(arguments)
        if previous >= MAX_REDRIVES:
            self.log.error("%s of %s failed %d times; left for a person (dead-letter queue)", self.job_name,
                           ",".join(failed_dates), previous + 1, extra={"dates": failed_dates, "job_run_id": run_id})
            self.outcome.given_up += 1
            raise MessageFailed(f"run {run_id} was redriven {previous} times")
        self.dates.update(failed_dates)
        self.redrive = max(self.redrive, previous + 1)
        self.outcome.redriven += 1


def handle_batch(event: dict[str, Any], glue: GlueClient, settings: TriggerSettings,
                 log: logging.Logger | Logger) -> Outcome:
    """The trigger's decision, with its Glue client and log handed in."""
    records = event.get("Records") or []
    outcome = Outcome({"batchItemFailures": []}, events=len(records))
    batch = _Batch(glue, settings, log, outcome)
    job_name = settings.job
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
        log.warning("%s not started; the batch will be delivered again", job_name,
                    extra={"dates": outcome.dates, "error": f"{type(exc).__name__}: {exc}"})
        outcome.response = {"batchItemFailures": [{"itemIdentifier": r.get("messageId", "")} for r in records]}
        outcome.refused = True
        return outcome
    log.info("%s started", job_name, extra={"dates": outcome.dates, "job_run_id": run.get("JobRunId")})
    outcome.started = True
    return outcome


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    outcome = handle_batch(event, _glue(), _settings(), logger)
    metrics.add_metric(name="EventsIn", unit=MetricUnit.Count, value=outcome.events)
    metrics.add_metric(name="EventsUnreadable", unit=MetricUnit.Count, value=outcome.unreadable)
    metrics.add_metric(name="RunsStarted", unit=MetricUnit.Count, value=int(outcome.started))
    metrics.add_metric(name="RunStartsRefused", unit=MetricUnit.Count, value=int(outcome.refused))
    metrics.add_metric(name="FailedRunsRedriven", unit=MetricUnit.Count, value=outcome.redriven)
    metrics.add_metric(name="FailedRunsGivenUp", unit=MetricUnit.Count, value=outcome.given_up)
    return outcome.response
