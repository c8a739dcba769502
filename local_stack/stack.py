"""The whole local stack, wired from the template: S3 folders, Firehose endpoint with the transform
Lambda, the compaction job and its trigger, and Athena over the lake."""

from __future__ import annotations

import logging
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from compaction_trigger.handler import handle_batch
from local_stack.athena import LocalAthena
from local_stack.event_source import LocalEventSource
from local_stack.firehose.delivery import DeliveryStream
from local_stack.firehose.processing import Invoke, failing_sometimes
from local_stack.firehose.server import FirehoseEndpoint, FirehoseFaults
from local_stack.glue import LocalGlueClient, LocalGlueJob
from local_stack.lambda_runtime import LocalLambda
from local_stack.s3 import LocalS3
from local_stack.template import DEFAULT_TEMPLATE, DeliveryStreamSettings, StackTemplate
from ohlcv_core import config
from ohlcv_core.errors import ConfigError

LAKE_MARKER = ".ohlcv-lake"


@dataclass(frozen=True)
class LocalFaults:
    firehose: FirehoseFaults = field(default_factory=FirehoseFaults)
    lambda_error_rate: float = 0.0
COMPACTION_JOB = "CompactionJob"
TRIGGER_FUNCTION = "TriggerFunction"


@dataclass(frozen=True)
class Zones:
    raw: Path
    errors: Path
    curated: Path
    logs: Path


class _JsonLines(logging.Formatter):
    """Structured lines with the call's extra fields, like the functions' Powertools logs on AWS."""

    _standard = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}

    def format(self, record: logging.LogRecord) -> str:
        extra = {k: v for k, v in record.__dict__.items() if k not in self._standard}
        return orjson.dumps({"level": record.levelname, "message": record.getMessage(),
                             "timestamp": self.formatTime(record), **extra}, default=str).decode()


def _file_logger(name: str, log_dir: Path) -> logging.Logger:
    """A function's log, written where the transform's goes (the CloudWatch stand-in), not to the console."""
    log_dir.mkdir(parents=True, exist_ok=True)
    logger = logging.getLogger(f"local_stack.functions.{name}")
    if not logger.handlers:
        handler = logging.FileHandler(log_dir / f"{name}.log", encoding="utf-8")
        handler.setFormatter(_JsonLines())
        logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def _static_folder(prefix: str) -> str:
    """The folder part of a prefix before its first expression: `raw/kind=!{...}/` -> `raw/`."""
    head = prefix.split("!{", 1)[0]
    return head[: head.rfind("/") + 1]


def prepare_lake(lake: Path, *, fresh: bool) -> Path:
    """Create the lake folder; with `fresh`, empty it first, but only if we made it (marker file)."""
    lake = lake.resolve()
    if fresh and lake.exists() and any(lake.iterdir()):
        if not (lake / LAKE_MARKER).exists():
            raise ConfigError(f"{lake} is not empty and was not made by ohlcv: refusing to clear it")
        shutil.rmtree(lake)
    lake.mkdir(parents=True, exist_ok=True)
    (lake / LAKE_MARKER).write_text("made by ohlcv; `ohlcv demo` may clear this folder\n", encoding="utf-8")
    return lake


class LocalStack:
    def __init__(self, lake: Path, spark: Callable[[], Any], *, template_path: Path = DEFAULT_TEMPLATE,
                 port: int = 0, parameters: Mapping[str, str] | None = None,
                 faults: LocalFaults | None = None) -> None:
        self.lake = lake
        faults = faults or LocalFaults()
        self.template = StackTemplate(template_path, parameters=parameters)
        self.s3 = LocalS3(lake / "s3")
        self.stream_settings: DeliveryStreamSettings = self.template.delivery_stream()
        processor = self.stream_settings.processor
        self.transform = LocalLambda(processor, lake / "cloudwatch") if processor else None
        invoke: Invoke | None = self.transform.invoke if self.transform else None
        if invoke is not None and faults.lambda_error_rate:
            invoke = failing_sometimes(invoke, faults.lambda_error_rate, faults.firehose.seed)
        self.stream = DeliveryStream(self.stream_settings, self.s3, invoke)
        self.firehose = FirehoseEndpoint({self.stream_settings.name: self.stream}, port=port,
                                         faults=faults.firehose, extra_status=self.status)
        self.compaction = LocalGlueJob(self.template.glue_job(COMPACTION_JOB), self.s3, spark,
                                       log_dir=lake / "cloudwatch" / "glue")
        self.glue = LocalGlueClient({self.compaction.settings.name: self.compaction})
        # S3 -> EventBridge rule -> SQS -> the trigger's code, as the template wires them.
        source = self.template.event_source(TRIGGER_FUNCTION)
        job_name = source.function.environment[config.ENV_COMPACTION_JOB]
        raw_bucket = source.function.environment[config.ENV_RAW_BUCKET]
        trigger_log = _file_logger(source.function.function_name, lake / "cloudwatch")
        self.events = LocalEventSource(
            source, lambda event: handle_batch(event, self.glue, job_name, raw_bucket, trigger_log).response,
            lake / "sqs")
        self.s3.subscribe(self.events.publish)
        self.compaction.on_state_change(self.events.publish)  # failed runs come back through the same queue
        self.athena = LocalAthena(self.template, self.s3)

    def status(self) -> dict[str, Any]:
        runs = [{"id": r.id, "state": r.state, "attempt": r.attempt, "seconds": r.execution_time_s,
                 "error": r.error_message, "log": str(r.log_path) if r.log_path else None}
                for r in self.compaction.runs[-20:]]
        return {"lake": str(self.lake), "glue": {"job": self.compaction.settings.name, "runs": runs,
                                                 "pending_events": self.events.pending,
                                                 "dead_letters": self.events.dead_letters},
                "zones": {k: str(v) for k, v in self.zones.__dict__.items()}}

    @property
    def zones(self) -> Zones:
        bucket = self.s3.bucket_path(self.stream_settings.destination.bucket)
        static_prefix = _static_folder(self.stream_settings.destination.prefix)
        error_prefix = _static_folder(self.stream_settings.destination.error_prefix)
        return Zones(raw=bucket / static_prefix, errors=bucket / error_prefix,
                     curated=self.s3.path_of(self.compaction.settings.default_arguments["--curated_location"]),
                     logs=self.lake / "cloudwatch")

    def start(self) -> LocalStack:
        self.firehose.start()
        return self

    def stop(self) -> None:
        """Stop intake, deliver everything buffered, stop the Lambda sandbox."""
        self.firehose.stop()
        if self.transform is not None:
            self.transform.close()
