"""EventBridge rule -> SQS queue -> Lambda event source mapping, as the stack wires them, on one machine.

Events matching a rule's pattern become SQS messages; the trigger code runs on batches of up to
BatchSize messages, once the batch is full or its oldest message has waited MaximumBatchingWindow
(`poll`), or at once when draining (`poll(force=True)`). Messages it reports failed come back with their
receive count raised; past the queue's maxReceiveCount they go to the dead-letter queue, which is
written to `<lake>/sqs/<dlq>.jsonl` for a person to see.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from local_stack.template import LOCAL_REGION, EventSourceSettings

LOG = logging.getLogger(__name__)
Handler = Callable[[dict[str, Any]], dict[str, Any]]


def matches(pattern: Mapping[str, Any], event: Mapping[str, Any]) -> bool:
    """The EventBridge pattern forms the stack uses: lists of exact values, {"prefix": ...}, nesting."""
    for key, expected in pattern.items():
        value = event.get(key) if isinstance(event, Mapping) else None
        if isinstance(expected, Mapping):
            if not isinstance(value, Mapping) or not matches(expected, value):
                return False
        elif isinstance(expected, list):
            if not any(_matches_one(option, value) for option in expected):
                return False
        else:
            return False
    return True


def _matches_one(option: Any, value: Any) -> bool:
    if isinstance(option, Mapping):
        if "prefix" in option:
            return isinstance(value, str) and value.startswith(str(option["prefix"]))
        return False
    return bool(option == value)


@dataclass
class _Message:
    message_id: str
    body: str
    sent_ms: int
    receive_count: int = 0


class LocalEventSource:
    def __init__(self, settings: EventSourceSettings, handler: Handler, dlq_dir: Path,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self._handler = handler
        self._dlq_path = dlq_dir / f"{settings.dead_letter_queue or settings.queue_name + '-dlq'}.jsonl"
        self._clock = clock
        self._queue: list[_Message] = []
        self._lock = threading.Lock()
        self._poll_lock = threading.Lock()
        self.invocations = 0
        self.dead_letters = 0

    @property
    def pending(self) -> int:
        return len(self._queue)

    def publish(self, event: dict[str, Any]) -> None:
        """An event on the bus: queued if one of the queue's rules matches it."""
        if any(matches(rule.event_pattern, event) for rule in self.settings.rules):
            with self._lock:
                self._queue.append(_Message(str(uuid.uuid4()), orjson.dumps(event).decode(),
                                            int(self._clock() * 1000)))

    def _sqs_record(self, message: _Message) -> dict[str, Any]:
        return {"messageId": message.message_id, "receiptHandle": uuid.uuid4().hex, "body": message.body,
                "attributes": {"ApproximateReceiveCount": str(message.receive_count),
                               "SentTimestamp": str(message.sent_ms), "SenderId": "events.amazonaws.com",
                               "ApproximateFirstReceiveTimestamp": str(message.sent_ms)},
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(message.body.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs", "eventSourceARN": self.settings.queue_arn, "awsRegion": LOCAL_REGION}

    def _due(self, now_ms: int) -> bool:
        return bool(self._queue) and (len(self._queue) >= self.settings.batch_size
                                      or now_ms - self._queue[0].sent_ms >= self.settings.window_s * 1000)

    def poll(self, *, force: bool = False) -> int:
        """Deliver the batches that are due (all of them with `force`); returns messages delivered."""
        delivered = 0
        with self._poll_lock:
            while True:
                with self._lock:
                    if not (self._queue and (force or self._due(int(self._clock() * 1000)))):
                        return delivered
                    batch = self._queue[: self.settings.batch_size]
                    del self._queue[: len(batch)]
                for message in batch:
                    message.receive_count += 1
                self.invocations += 1
                try:
                    response = self._handler({"Records": [self._sqs_record(m) for m in batch]})
                except Exception:  # an invocation that fails returns the whole batch to the queue, as on AWS
                    LOG.exception("the consumer of %s failed; %d messages go back",
                                  self.settings.queue_name, len(batch))
                    response = {"batchItemFailures": [{"itemIdentifier": m.message_id} for m in batch]}
                failed = {f.get("itemIdentifier") for f in (response or {}).get("batchItemFailures", [])}
                self._requeue([m for m in batch if m.message_id in failed])
                delivered += len(batch) - len(failed)
                if failed and force:
                    return delivered  # a drain does not spin on a refusing consumer

    def _requeue(self, failed: list[_Message]) -> None:
        limit = self.settings.max_receive_count
        dead = [m for m in failed if limit is not None and m.receive_count >= limit]
        with self._lock:
            self._queue[:0] = [m for m in failed if m not in dead]
        if dead:
            self._dlq_path.parent.mkdir(parents=True, exist_ok=True)
            with self._dlq_path.open("ab") as handle:
                for message in dead:
                    handle.write(orjson.dumps({"messageId": message.message_id, "receiveCount": message.receive_count,
                                               "body": message.body}) + b"\n")
            self.dead_letters += len(dead)
