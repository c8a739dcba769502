"""The whole local stack, enumerated from the template: every S3 bucket (a folder), delivery stream,
Lambda function (a sandbox process each), SQS queue and event source mapping, EventBridge rule and
schedule, Glue job and table. Nothing here names a unit: adding one to the template adds it here.

One HTTP endpoint serves the AWS APIs the code calls (Firehose for producers, Glue for functions):
functions reach it through `AWS_ENDPOINT_URL`, as they reach AWS's on AWS.
"""

from __future__ import annotations

import functools
import logging
import shutil
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from lake_sql.athena import LocalAthena
from local_stack.athena_api import TARGET_PREFIX as ATHENA_TARGET_PREFIX
from local_stack.athena_api import AthenaApi
from local_stack.clock import StackClock
from local_stack.events import LocalEventBus
from local_stack.firehose.delivery import DeliveryStream
from local_stack.firehose.processing import Invoke, failing_sometimes
from local_stack.firehose.server import FirehoseEndpoint, FirehoseFaults
from local_stack.glue import TARGET_PREFIX as GLUE_TARGET_PREFIX
from local_stack.glue import GlueApi, GlueFaults, LocalGlue
from local_stack.lambda_runtime import LocalLambda
from local_stack.s3 import LocalS3
from local_stack.sqs import TARGET_PREFIX as SQS_TARGET_PREFIX
from local_stack.sqs import LocalEventSource, LocalQueue, SqsApi
from local_stack.tasks import LocalTasks
from ohlcv_core import config
from ohlcv_core.errors import ConfigError, PipelineError
from stack_tools.template import DEFAULT_TEMPLATE, DeliveryStreamSettings, StackTemplate

LOG = logging.getLogger(__name__)
LAKE_MARKER = ".ohlcv-lake"
# The triggers' cadence off (CompactionIntervalSeconds, QualityIntervalSeconds): a run starts as soon as none
# is going. For a stack that must compact what it was given at once (the demo, the tests, the chaos run):
# the triggers read their interval on real time, which `settle` does not skip.
AT_ONCE = {"CompactionIntervalSeconds": "0", "QualityIntervalSeconds": "0"}
SETTLE_ROUNDS = 100  # bounds a drain whose consumers keep refusing (messages reach a DLQ well before)


@dataclass(frozen=True)
class LocalFaults:
    firehose: FirehoseFaults = field(default_factory=FirehoseFaults)
    lambda_error_rate: float = 0.0  # of the delivery streams' transform invocations
    glue: GlueFaults = field(default_factory=GlueFaults)


def prepare_lake(lake: Path, *, fresh: bool) -> Path:
    """Create the lake folder; with `fresh`, empty it first, but only if we made it (marker file)."""
    lake = lake.resolve()
    if lake.exists() and not lake.is_dir():
        raise ConfigError(f"{lake} is a file, not a lake folder")
    if fresh and lake.exists() and any(lake.iterdir()):
        if not (lake / LAKE_MARKER).exists():
            raise ConfigError(f"{lake} is not empty and was not made by ohlcv: refusing to clear it")
        shutil.rmtree(lake)
    lake.mkdir(parents=True, exist_ok=True)
    (lake / LAKE_MARKER).write_text("made by ohlcv; `ohlcv demo` may clear this folder\n", encoding="utf-8")
    return lake


def sandbox_credentials(endpoint_url: str) -> dict[str, str]:
    """What a local function's AWS SDK needs to call the local endpoint: the URL, and credentials
    (Lambda hands every function its role's in the same variables)."""
    return {"AWS_ENDPOINT_URL": endpoint_url, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_SESSION_TOKEN": "local"}


class LocalStack:
    def __init__(self, lake: Path, spark: Callable[[], Any], *, template_path: Path = DEFAULT_TEMPLATE,
                 port: int = 0, parameters: Mapping[str, str] | None = None,
                 faults: LocalFaults | None = None, clock: Callable[[], float] = time.time,
                 glue_startup_s: float = 0.0) -> None:
        """`clock` is the base of the stack's time (queues' and schedules'; `local_stack.clock`);
        `glue_startup_s` delays each Glue run's start as Glue's provisioning does (10-30 s on AWS)."""
        self.lake = lake
        self.clock = StackClock(clock)
        faults = faults or LocalFaults()
        self.template = StackTemplate(template_path, parameters=parameters)
        self.s3 = LocalS3(lake / "s3")
        self.glue = LocalGlue(self.template.glue_jobs(), self.s3, spark, log_dir=lake / "cloudwatch" / "glue",
                              faults=faults.glue, startup_s=glue_startup_s)
        self.streams: dict[str, DeliveryStream] = {}
        self.queues = self._queues(lake / "sqs")
        self.athena = LocalAthena(self.template, self.s3)
        self.athena_api = AthenaApi(self.athena, self.template.workgroups())
        self.firehose = FirehoseEndpoint(self.streams, port=port, faults=faults.firehose, extra_status=self.status,
                                         services={GLUE_TARGET_PREFIX: GlueApi(self.glue).operations(),
                                                   SQS_TARGET_PREFIX: SqsApi(self.queues).operations(),
                                                   ATHENA_TARGET_PREFIX: self.athena_api.operations()})
        aws = sandbox_credentials(self.firehose.url)
        self.functions = {f.logical_id: LocalLambda(f, lake / "cloudwatch", aws)
                          for f in self.template.lambda_functions()}
        # The record path's delivery stream (the one that writes the raw zone), and the hot path's when
        # the parameters deploy one (LivePath): resolved once, as every stream is.
        self.stream_settings: DeliveryStreamSettings = self.template.delivery_stream()
        self.live_stream_settings: DeliveryStreamSettings | None = self.template.live_stream()
        for settings in self.template.delivery_streams():
            invoke: Invoke | None = None
            if settings.processor is not None:
                invoke = self.functions[settings.processor.logical_id].invoke
                if faults.lambda_error_rate:
                    invoke = failing_sometimes(invoke, faults.lambda_error_rate, faults.firehose.seed)
            self.streams[settings.name] = DeliveryStream(settings, self.s3, invoke)
        self.mappings = [
            LocalEventSource(m, self.queues[m.queue.logical_id], self.functions[m.function.logical_id].invoke,
                             clock=self.clock)
            for m in self.template.event_source_mappings()]
        self.tasks = LocalTasks(self.template.task_definitions(), lake=lake, s3=self.s3,
                                endpoints={config.ENV_FIREHOSE_ENDPOINT: self.firehose.url})
        self.bus = LocalEventBus(self.template.rules(), queues=self.queues,
                                 functions={lid: f.invoke for lid, f in self.functions.items()},
                                 tasks={lid: functools.partial(self.tasks.run, lid) for lid in self.tasks.definitions},
                                 clock=self.clock)
        notifying = {b.name for b in self.template.buckets() if b.eventbridge}
        self.s3.subscribe(lambda event: self.bus.put(event) if event["detail"]["bucket"]["name"] in notifying else None)
        self.glue.on_state_change(self.bus.put)

    def _queues(self, folder: Path) -> dict[str, LocalQueue]:
        settings = {q.logical_id: q for q in self.template.queues()}
        dead_letter_ids = {q.dead_letter_queue for q in settings.values() if q.dead_letter_queue}
        queues = {lid: LocalQueue(q, folder=folder, clock=self.clock) for lid, q in settings.items()
                  if lid in dead_letter_ids}
        for lid, q in settings.items():
            if lid not in queues:
                queues[lid] = LocalQueue(q, dead_letters=queues.get(q.dead_letter_queue or ""), clock=self.clock)
        return queues


    def status(self) -> dict[str, Any]:
        return {"lake": str(self.lake), "glue": self.glue.status(),
                "functions": [f.status() for f in self.functions.values()],
                "queues": [q.status() for q in self.queues.values()],
                "rules": self.bus.status(), "skipped_targets": self.bus.stats.skipped}

    def start(self) -> LocalStack:
        self.firehose.start()
        return self

    def poll(self, *, force: bool = False) -> int:
        """One turn of the event machinery: schedules that are due fire; every mapping hands its function
        the batches that are due (all of them with `force`). Returns the messages consumed."""
        self.bus.tick()
        return sum(mapping.poll(force=force) for mapping in self.mappings)

    def busy(self) -> bool:
        return not (self.glue.idle() and self.bus.idle())

    def settle(self, timeout_s: float = 1800.0) -> None:
        """Drive every event to its end: deliver what Firehose buffers, then hand queued messages to their
        functions and wait for the runs they start, until no message waits and no run is going. Waits on
        SQS's clock (a message's delay, a failed one's visibility timeout) are skipped, not slept through
        (`local_stack.clock`); a message its consumer keeps refusing ends in its dead-letter queue, as on AWS."""
        deadline = time.monotonic() + timeout_s
        self.firehose.drain()
        for _ in range(SETTLE_ROUNDS):
            self.poll(force=True)
            while self.busy():
                if time.monotonic() > deadline:
                    raise PipelineError(f"the local stack did not settle within {timeout_s:.0f} s")
                self.glue.wait_idle(timeout_s=1.0)
                time.sleep(0.05)
            waiting = [m.queue for m in self.mappings if m.queue.pending]
            if not waiting and not self.busy():
                return
            if not any(q.visible for q in waiting):
                self.clock.skip_to(min(t for q in waiting if (t := q.next_visible_s()) is not None))
        raise PipelineError(f"messages still wait after {SETTLE_ROUNDS} rounds: "
                            + ", ".join(f"{q.settings.name} {q.pending}" for q in waiting))

    def close_intake(self) -> None:
        """Producers are refused from now on; what was acknowledged is delivered by `settle`."""
        if not self.firehose.api.close_intake():
            LOG.error("puts accepted before intake closed had not reached their buffers after the wait; "
                      "records they acknowledged may miss the final delivery")

    def stop(self) -> None:
        """Close intake, deliver every buffer, let started runs and invocations finish, stop the sandboxes.
        Events still queued stay queued (`settle` first to carry them through). Tasks stop first: they
        send to the intake."""
        self.tasks.stop()
        self.close_intake()
        try:
            self.firehose.stop()
        finally:
            self.bus.close()
            self.athena_api.close()
            self.glue.close()
            for function in self.functions.values():
                function.close()
