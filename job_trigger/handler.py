"""Lambda on an SQS queue of events that ask for a Glue job's run (EventBridge -> SQS): the stack has one
for compaction (the raw zone's Object Created events) and one for quality (compaction's succeeded runs).

One invocation = one batch (the event source mapping's BatchSize and MaximumBatchingWindowInSeconds):
the dates it names are handed to one StartJobRun of the job. An Object Created event names the date of
its raw partition (OHLCV_RAW_BUCKET); a "Glue Job State Change" of a succeeded run of the job it follows
(OHLCV_AFTER_JOB) names that run's dates. Each message is read by Powertools' batch
processor: one that cannot be read is reported failed alone (partial batch response), so after the
queue's maxReceiveCount it waits in the dead-letter queue for a person.

Runs coalesce (`job_trigger.cadence`): while a run of the job is going, or less than the interval
(OHLCV_RUN_INTERVAL_S) has passed since the last one started, the batch's dates are deferred: sent back
to the trigger's own queue (OHLCV_TRIGGER_QUEUE_URL) as one message, delayed until a run may start, and
the batch is done. No receive of the original messages is spent waiting, and every date touched
meanwhile joins the next run. A start Glue refuses for being busy is deferred the same way; any other
failed start is deferred with its count raised, and after MAX_FAILED_STARTS the batch is reported failed,
so SQS redelivers it and in the end the dead-letter queue holds it. A run that fails after Glue's own
retries comes back too: its "Glue Job State Change" event reaches the same queue, and its dates are run
again (at most MAX_REDRIVES times, then the event goes to the dead-letter queue). Nothing is lost, and
reruns are safe because each job rebuilds whole dates.

Service name, metrics namespace and log level are the POWERTOOLS_* variables the stack sets.
"""

from __future__ import annotations

import functools
import logging
import os
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import boto3
import orjson
from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.batch import BatchProcessor, EventType
from aws_lambda_powertools.utilities.data_classes.sqs_event import SQSRecord
from aws_lambda_powertools.utilities.typing import LambdaContext

from job_trigger.cadence import BUSY_RETRY_S, delay_seconds, seconds_to_wait
from job_trigger.events import deferred_event, deferred_of, is_partition_date, touched_dates
from ohlcv_core import config
from ohlcv_core.errors import ConfigError

# Module level on purpose: Lambda reuses them across warm invocations (Powertools' own pattern); both
# read their settings from the POWERTOOLS_* variables of the function's environment.
logger = Logger()
metrics = Metrics()


class GlueClient(Protocol):
    def start_job_run(self, *, JobName: str, Arguments: dict[str, str]) -> dict[str, Any]: ...

    def get_job_run(self, *, JobName: str, RunId: str) -> dict[str, Any]: ...

    def get_job_runs(self, *, JobName: str, MaxResults: int) -> dict[str, Any]: ...


class SqsClient(Protocol):
    def send_message(self, *, QueueUrl: str, MessageBody: str, DelaySeconds: int) -> dict[str, Any]: ...


# boto3's argument names above. A run that failed after Glue's own retries is started again this many
# times, then left for a person; a start that fails for another reason than a busy job, this many times.
MAX_REDRIVES = 3
MAX_FAILED_STARTS = 5
RECENT_RUNS = 10  # the runs read to tell whether one is going, and when the last began
FAILED_STATES = frozenset({"FAILED", "TIMEOUT", "ERROR"})
SUCCEEDED_STATES = frozenset({"SUCCEEDED"})


class MessageFailed(Exception):
    """This message alone is reported failed (it comes back, and in the end rests in the DLQ)."""


@dataclass(frozen=True)
class TriggerSettings:
    job: str  # the job to start
    bucket: str | None = None  # Object Created events of this bucket's raw zone name dates
    after_job: str | None = None  # succeeded runs of this job name dates
    queue_url: str | None = None  # the trigger's own queue, where deferred dates wait (None: no deferral)
    interval_s: float = 0.0  # at most one run starts per interval


def settings_from(environ: Mapping[str, str]) -> TriggerSettings:
    """The trigger's settings from its environment (the stack sets it), checked."""
    job = environ.get(config.ENV_TRIGGER_JOB)
    bucket = environ.get(config.ENV_RAW_BUCKET) or None
    after = environ.get(config.ENV_AFTER_JOB) or None
    if not job or not (bucket or after):
        raise ConfigError(f"{config.ENV_TRIGGER_JOB} must be set, with {config.ENV_RAW_BUCKET} or "
                          f"{config.ENV_AFTER_JOB} (what names the dates)")
    interval = config.resolve_number(None, environ, config.ENV_RUN_INTERVAL_S, 0.0, minimum=0.0)
    return TriggerSettings(job, bucket, after, environ.get(config.ENV_TRIGGER_QUEUE_URL) or None, interval)


@functools.cache
def _settings() -> TriggerSettings:
    return settings_from(os.environ)


@functools.cache
def _glue() -> GlueClient:
    """Glue's API where the environment points the SDK (AWS's; the local stack's through AWS_ENDPOINT_URL)."""
    client: GlueClient = boto3.client("glue")
    return client


@functools.cache
def _sqs() -> SqsClient:
    client: SqsClient = boto3.client("sqs")
    return client


@dataclass
class Outcome:
    response: dict[str, Any]
    events: int = 0
    unreadable: int = 0
    started: bool = False
    refused: bool = False  # the start failed and the batch was reported failed
    deferred: bool = False  # the dates wait in one delayed message on the trigger's queue
    delay_s: int = 0
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
        self.failed_starts = 0

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
        deferred = deferred_of(event, self.job_name)
        if deferred is not None:
            dates, redrive, failed_starts = deferred
            self.dates.update(dates)
            self.redrive = max(self.redrive, redrive)
            self.failed_starts = max(self.failed_starts, failed_starts)
            return
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

    def defer(self, sqs: SqsClient | None, records: list[Any], wait_s: float, *, reason: str) -> Outcome:
        """The batch's dates in one message on the trigger's queue, delayed; the batch itself is done."""
        settings, outcome = self.settings, self.outcome
        assert sqs is not None and settings.queue_url is not None
        body = deferred_event(settings.job, outcome.dates, self.redrive, self.failed_starts)
        delay = delay_seconds(wait_s)
        try:
            sqs.send_message(QueueUrl=settings.queue_url, MessageBody=orjson.dumps(body).decode(),
                             DelaySeconds=delay)
        except Exception as exc:  # noqa: BLE001 - not deferred: the batch comes back as it is
            self.log.warning("%s: dates not deferred; the batch will be delivered again", settings.job,
                             extra={"dates": outcome.dates, "error": f"{type(exc).__name__}: {exc}"})
            return _fail_all(outcome, records)
        self.log.info("%s deferred %d s: %s", settings.job, delay, reason,
                      extra={"dates": outcome.dates, "delay_s": delay, "failed_starts": self.failed_starts})
        outcome.deferred, outcome.delay_s = True, delay
        return outcome


def _started_s(value: Any) -> float:
    """StartedOn as epoch seconds: botocore parses it to a datetime; a bare number is already seconds."""
    return value.timestamp() if isinstance(value, datetime) else float(value or 0)


def _wait_s(glue: GlueClient, settings: TriggerSettings, now: Callable[[], float],
            log: logging.Logger | Logger) -> float:
    """How long until a run of the job may start (0: now). Unknown (the runs cannot be read): 0, and the
    start itself says whether the job is busy."""
    try:
        runs = glue.get_job_runs(JobName=settings.job, MaxResults=RECENT_RUNS).get("JobRuns") or []
    except Exception as exc:  # noqa: BLE001 - reading the runs only saves a refused start
        log.warning("cannot read the runs of %s: %s", settings.job, exc)
        return 0.0
    return seconds_to_wait(((str(r.get("JobRunState")), _started_s(r.get("StartedOn"))) for r in runs),
                           now(), settings.interval_s)


def _busy(exc: Exception) -> bool:
    """Glue's refusal of a run beside a running one (botocore's ClientError carries the service's code)."""
    response = getattr(exc, "response", None)
    code = response.get("Error", {}).get("Code") if isinstance(response, dict) else None
    return code == "ConcurrentRunsExceededException"


def handle_batch(event: dict[str, Any], glue: GlueClient, settings: TriggerSettings,
                 log: logging.Logger | Logger, *, sqs: SqsClient | None = None,
                 now: Callable[[], float] = time.time) -> Outcome:
    """The trigger's decision, with its clients, clock and log handed in."""
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
    can_defer = sqs is not None and settings.queue_url is not None
    wait = _wait_s(glue, settings, now, log) if can_defer else 0.0
    if wait > 0:
        return batch.defer(sqs, records, wait, reason="a run may not start yet")
    arguments = {"--dates": ",".join(outcome.dates)}
    if batch.redrive:
        arguments["--redrive"] = str(batch.redrive)
    try:
        run = glue.start_job_run(JobName=job_name, Arguments=arguments)
    except Exception as exc:  # a refused or failed start  # noqa: BLE001
        reason = f"{type(exc).__name__}: {exc}"
        if can_defer and _busy(exc):  # a run began since the runs were read: as busy as ever
            return batch.defer(sqs, records, BUSY_RETRY_S, reason=reason)
        if can_defer and batch.failed_starts + 1 < MAX_FAILED_STARTS:  # capped, doubling waits
            batch.failed_starts += 1
            return batch.defer(sqs, records, BUSY_RETRY_S * 2 ** (batch.failed_starts - 1), reason=reason)
        log.warning("%s not started; the batch will be delivered again", job_name,
                    extra={"dates": outcome.dates, "error": f"{type(exc).__name__}: {exc}"})
        return _fail_all(outcome, records)
    log.info("%s started", job_name, extra={"dates": outcome.dates, "job_run_id": run.get("JobRunId")})
    outcome.started = True
    return outcome


def _fail_all(outcome: Outcome, records: list[Any]) -> Outcome:
    """Every message comes back (after its visibility timeout), its receive count raised."""
    outcome.response = {"batchItemFailures": [{"itemIdentifier": r.get("messageId", "")} for r in records]}
    outcome.refused = True
    return outcome


@metrics.log_metrics
@logger.inject_lambda_context(clear_state=True)
def lambda_handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    settings = _settings()
    outcome = handle_batch(event, _glue(), settings, logger, sqs=_sqs() if settings.queue_url else None)
    metrics.add_metric(name="EventsIn", unit=MetricUnit.Count, value=outcome.events)
    metrics.add_metric(name="EventsUnreadable", unit=MetricUnit.Count, value=outcome.unreadable)
    metrics.add_metric(name="RunsStarted", unit=MetricUnit.Count, value=int(outcome.started))
    metrics.add_metric(name="RunStartsRefused", unit=MetricUnit.Count, value=int(outcome.refused))
    metrics.add_metric(name="RunsDeferred", unit=MetricUnit.Count, value=int(outcome.deferred))
    metrics.add_metric(name="FailedRunsRedriven", unit=MetricUnit.Count, value=outcome.redriven)
    metrics.add_metric(name="FailedRunsGivenUp", unit=MetricUnit.Count, value=outcome.given_up)
    return outcome.response
