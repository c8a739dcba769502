"""An operator's two levers on compaction, the same against `ohlcv local up` and a deployed stack:

- `ohlcv compact --from --to`: compact a date range now. The dates are put on the compaction trigger's
  queue as one "Job Dates Deferred" message, due at once, so they take the path every event takes: one
  run when a run may start (never beside a running one), coalesced with whatever else waits.
- `ohlcv redrive --dead-letters`: what a dead-letter queue holds goes back to the queue it came from
  (SQS's StartMessageMoveTask), each message with a fresh receive count.
- `ohlcv migrate-lake`: a lake curated before bars_1d's partitions were years gets them now. Every
  compaction run folds the day partitions it finds into their years (glue_jobs.compact_bars); this asks
  for a run at once, of today's date (whose raw objects are there to rebuild from), by the same queue.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
from botocore.config import Config

from job_trigger.events import deferred_event
from ohlcv_core.errors import ConfigError
from producers.aws import session_for
from stack_tools.template import StackTemplate

CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=30, retries={"total_max_attempts": 3, "mode": "standard"})
MAX_DATES = 20_000  # 55 years of days: a message of about 260 KB, SQS's limit (`date_range(..., MAX_DATES)`)


def sqs_client(region: str, endpoint_url: str | None = None) -> Any:
    return session_for(endpoint_url).client("sqs", region_name=region, endpoint_url=endpoint_url,
                                             config=CLIENT_CONFIG)


@dataclass(frozen=True)
class Target:
    """The stack's compaction queue and job, and its dead-letter queues: names from the template (for the
    stack's name), URLs and ARNs from SQS (AWS's, or the local endpoint's)."""

    compaction_queue_url: str
    compaction_job: str
    dead_letter_queues: tuple[tuple[str, str], ...]  # (URL, ARN)


def target_of(template: StackTemplate, sqs: Any) -> Target:
    queues = template.queues()
    (mapping,) = [m for m in template.event_source_mappings() if m.function.logical_id == "TriggerFunction"]
    dead_letter_ids = {q.dead_letter_queue for q in queues if q.dead_letter_queue}

    def url(name: str) -> str:
        try:
            return str(sqs.get_queue_url(QueueName=name)["QueueUrl"])
        except Exception as exc:  # noqa: BLE001 - any answer but a URL: one line that says which queue
            raise ConfigError(f"queue {name} not found ({type(exc).__name__}): is the stack's name right, and "
                              "is it running?") from None

    dead = []
    for queue in queues:
        if queue.logical_id in dead_letter_ids:
            found = url(queue.name)
            arn = sqs.get_queue_attributes(QueueUrl=found, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
            dead.append((found, str(arn)))
    return Target(url(mapping.queue.name), template.glue_job("CompactionJob").name, tuple(dead))


def compact(sqs: Any, target: Target, dates: list[str], out: Callable[[str], None] = print) -> None:
    body = deferred_event(target.compaction_job, dates, redrive=0, failed_starts=0)
    sqs.send_message(QueueUrl=target.compaction_queue_url, MessageBody=orjson.dumps(body).decode(), DelaySeconds=0)
    out(f"{len(dates)} dates ({dates[0]} to {dates[-1]}) queued for {target.compaction_job}: the next run "
        "takes them, as soon as none is going")


def redrive_dead_letters(sqs: Any, target: Target, out: Callable[[str], None] = print) -> int:
    moved = 0
    for url, arn in target.dead_letter_queues:
        name = arn.rsplit(":", 1)[-1]
        waiting = int(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
                      ["Attributes"].get("ApproximateNumberOfMessages", 0))
        if not waiting:
            out(f"{name}: empty")
            continue
        sqs.start_message_move_task(SourceArn=arn)
        moved += waiting
        out(f"{name}: {waiting} messages moved back to the queue they came from")
    return moved


def migrate_lake(sqs: Any, target: Target, today: str, out: Callable[[str], None] = print) -> None:
    compact(sqs, target, [today], out=lambda _line: None)
    out(f"queued for {target.compaction_job}: its next run (of {today}, as soon as none is going) folds "
        "bars_1d's day partitions, if any are left, into a partition a year and retires them; its log says "
        "how many. Until then bars_1d reads only the years runs have already written.")
