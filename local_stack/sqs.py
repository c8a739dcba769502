"""SQS queues and Lambda event source mappings, as the template declares them, on one machine.

A queue keeps its messages in order, and keeps SQS's timing on its clock: a message sent with a delay
(the queue's DelaySeconds, or the message's own) is invisible until it is due; a received message is
invisible for the queue's VisibilityTimeout, and is gone only when deleted. A mapping hands its function
batches of up to BatchSize visible messages, once the batch is full or its oldest message has waited
MaximumBatchingWindow (`poll`), or at once when draining (`poll(force=True)`). Messages the function
reports failed (ReportBatchItemFailures), or all of a batch whose invocation failed, stay invisible
until their visibility timeout ends, then come back with their receive count raised; past the queue's
maxReceiveCount they move to its dead-letter queue, and are also appended to `<dlq>.jsonl` in the
stack's `sqs/` folder for a person to read.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from local_stack.api import ApiError, Operations
from stack_tools.template import LOCAL_REGION, EventSourceMappingSettings, QueueSettings

LOG = logging.getLogger(__name__)
MAX_DELAY_S = 900  # SQS's longest DelaySeconds
MAX_MESSAGE_BYTES = 262_144  # SQS's default MaximumMessageSize (256 KiB)
TARGET_PREFIX = "AmazonSQS."
Handler = Callable[[dict[str, Any]], Any]


@dataclass
class Message:
    message_id: str
    body: str
    sent_ms: int
    receive_count: int = 0
    visible_ms: int = 0  # invisible before this time: a delay, or a receive's visibility timeout


class LocalQueue:
    def __init__(self, settings: QueueSettings, *, dead_letters: LocalQueue | None = None,
                 folder: Path | None = None, clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.dead_letters = dead_letters
        self._file = folder / f"{settings.name}.jsonl" if folder is not None else None
        self._clock = clock
        self._messages: list[Message] = []
        self._lock = threading.Lock()
        self.received = 0

    @property
    def pending(self) -> int:
        """Messages not deleted yet: visible, delayed or in flight."""
        return len(self._messages)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    @property
    def visible(self) -> int:
        now = self._now_ms()
        with self._lock:
            return sum(1 for m in self._messages if m.visible_ms <= now)

    def next_visible_s(self) -> float | None:
        """When the next invisible message becomes visible (None: none is invisible)."""
        now = self._now_ms()
        with self._lock:
            times = [m.visible_ms for m in self._messages if m.visible_ms > now]
        return min(times) / 1000 if times else None

    def send(self, body: str, delay_s: int | None = None) -> Message:
        """SendMessage: invisible for `delay_s` (SQS's 0-900), or the queue's DelaySeconds."""
        delay = self.settings.delay_s if delay_s is None else delay_s
        if not 0 <= delay <= MAX_DELAY_S:
            raise ValueError(f"DelaySeconds must be 0 to {MAX_DELAY_S}, not {delay}")
        now = self._now_ms()
        message = Message(str(uuid.uuid4()), body, now, visible_ms=now + delay * 1000)
        self.add(message)
        return message

    def add(self, message: Message) -> None:
        """A message as it is, receive count included (the dead-letter queue's way in)."""
        with self._lock:
            self._messages.append(message)
            self.received += 1
        if self._file is not None:  # a dead-letter queue's messages are kept on disk too, for a person
            self._file.parent.mkdir(parents=True, exist_ok=True)
            with self._file.open("ab") as handle:
                handle.write(orjson.dumps({"messageId": message.message_id, "receiveCount": message.receive_count,
                                           "body": message.body}) + b"\n")

    def oldest_ms(self) -> int | None:
        """Since when the oldest visible message has been waiting (sent, or visible again)."""
        now = self._now_ms()
        with self._lock:
            return next((max(m.sent_ms, m.visible_ms) for m in self._messages if m.visible_ms <= now), None)

    def take(self, count: int) -> list[Message]:
        """ReceiveMessage: up to `count` visible messages, each invisible for the visibility timeout."""
        now = self._now_ms()
        with self._lock:
            batch = [m for m in self._messages if m.visible_ms <= now][:count]
            for message in batch:
                message.receive_count += 1
                message.visible_ms = now + self.settings.visibility_timeout_s * 1000
        return batch

    def delete(self, messages: list[Message]) -> None:
        gone = {m.message_id for m in messages}
        with self._lock:
            self._messages = [m for m in self._messages if m.message_id not in gone]

    def give_back(self, failed: list[Message]) -> int:
        """Failed messages stay invisible until their visibility timeout ends; those past maxReceiveCount
        go to the dead-letter queue instead. Returns how many were dead-lettered."""
        limit, dead_letters = self.settings.max_receive_count, self.dead_letters
        dead = ([m for m in failed if limit is not None and m.receive_count >= limit]
                if dead_letters is not None else [])
        self.delete(dead)
        for message in dead:
            assert dead_letters is not None
            message.visible_ms = 0  # visible at once in the dead-letter queue, as SQS moves it
            LOG.warning("message %s left %s after %d receives: moved to %s", message.message_id, self.settings.name,
                        message.receive_count, dead_letters.settings.name)
            dead_letters.add(message)
        return len(dead)

    def move_all(self, target: LocalQueue) -> int:
        """Every message, visible or not, to `target` as new messages (fresh receive counts)."""
        with self._lock:
            moving, self._messages = self._messages, []
        for message in moving:
            target.send(message.body, delay_s=0)
        if self._file is not None and moving:  # the file is what waits here, for a person: emptied with it
            self._file.write_bytes(b"")
        return len(moving)

    def status(self) -> dict[str, Any]:
        return {"name": self.settings.name, "pending": self.pending, "visible": self.visible,
                "received": self.received}


class LocalEventSource:
    """One event source mapping: its queue, its function, its batching."""

    def __init__(self, settings: EventSourceMappingSettings, queue: LocalQueue, handler: Handler,
                 clock: Callable[[], float] = time.time) -> None:
        self.settings = settings
        self.queue = queue
        self._handler = handler
        self._clock = clock
        self._poll_lock = threading.Lock()
        self.invocations = 0
        self.dead_lettered = 0

    def _sqs_record(self, message: Message) -> dict[str, Any]:
        return {"messageId": message.message_id, "receiptHandle": uuid.uuid4().hex, "body": message.body,
                "attributes": {"ApproximateReceiveCount": str(message.receive_count),
                               "SentTimestamp": str(message.sent_ms), "SenderId": "events.amazonaws.com",
                               "ApproximateFirstReceiveTimestamp": str(message.sent_ms)},
                "messageAttributes": {},
                "md5OfBody": hashlib.md5(message.body.encode(), usedforsecurity=False).hexdigest(),
                "eventSource": "aws:sqs", "eventSourceARN": self.queue.settings.arn, "awsRegion": LOCAL_REGION}

    def _due(self) -> bool:
        oldest = self.queue.oldest_ms()
        return oldest is not None and (self.queue.visible >= self.settings.batch_size
                                       or self._clock() * 1000 - oldest >= self.settings.window_s * 1000)

    def _failed_ids(self, batch: list[Message]) -> set[str]:
        try:
            response = self._handler({"Records": [self._sqs_record(m) for m in batch]})
        except Exception as exc:  # noqa: BLE001 - a failed invocation returns the whole batch, as on AWS
            LOG.warning("%s failed on a batch of %d from %s; it goes back: %s", self.settings.function.function_name,
                        len(batch), self.queue.settings.name, exc)
            return {m.message_id for m in batch}
        if not self.settings.report_batch_item_failures:
            return set()
        failures = (response or {}).get("batchItemFailures", []) if isinstance(response, dict) else []
        return {str(f.get("itemIdentifier")) for f in failures if isinstance(f, dict)}

    def poll(self, *, force: bool = False) -> int:
        """Deliver the batches that are due (all of them with `force`); returns messages consumed."""
        consumed = 0
        with self._poll_lock:
            while self.queue.visible and (force or self._due()):
                batch = self.queue.take(self.settings.batch_size)
                if not batch:
                    break
                self.invocations += 1
                failed = self._failed_ids(batch)
                self.queue.delete([m for m in batch if m.message_id not in failed])
                self.dead_lettered += self.queue.give_back([m for m in batch if m.message_id in failed])
                consumed += len(batch) - len(failed)
                if failed and force:
                    break  # a drain does not spin on a refusing consumer
        return consumed


class SqsApi:
    """SQS's JSON API operations the stack's functions call (SendMessage: a trigger's deferred dates),
    answered by the local queues, found by their URL as Ref gives it, or by name."""

    def __init__(self, queues: dict[str, LocalQueue]) -> None:
        self._queues = queues

    def _queue(self, url: object) -> LocalQueue:
        for queue in self._queues.values():
            if url in (queue.settings.url, queue.settings.name) or (
                    isinstance(url, str) and url.rstrip("/").rsplit("/", 1)[-1] == queue.settings.name):
                return queue
        raise ApiError("com.amazonaws.sqs#QueueDoesNotExist", f"The specified queue does not exist: {url}")

    def send_message(self, body: dict[str, Any]) -> dict[str, Any]:
        queue = self._queue(body.get("QueueUrl"))
        text, delay = body.get("MessageBody"), body.get("DelaySeconds")
        if not isinstance(text, str) or not text:
            raise ApiError("com.amazonaws.sqs#MissingParameter", "MessageBody is required")
        if len(text.encode()) > MAX_MESSAGE_BYTES:
            raise ApiError("com.amazonaws.sqs#InvalidParameterValue",
                           f"MessageBody is longer than {MAX_MESSAGE_BYTES} bytes")
        if delay is not None and (not isinstance(delay, int) or not 0 <= delay <= MAX_DELAY_S):
            raise ApiError("com.amazonaws.sqs#InvalidParameterValue",
                           f"DelaySeconds must be 0 to {MAX_DELAY_S}, not {delay!r}")
        message = queue.send(text, delay)
        return {"MessageId": message.message_id,
                "MD5OfMessageBody": hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()}

    def _by_arn(self, arn: object) -> LocalQueue:
        for queue in self._queues.values():
            if queue.settings.arn == arn:
                return queue
        raise ApiError("com.amazonaws.sqs#ResourceNotFoundException", f"no queue has the ARN {arn}")

    def get_queue_url(self, body: dict[str, Any]) -> dict[str, Any]:
        name = body.get("QueueName")
        for queue in self._queues.values():
            if queue.settings.name == name:
                return {"QueueUrl": queue.settings.url}
        raise ApiError("com.amazonaws.sqs#QueueDoesNotExist", f"The specified queue does not exist: {name}")

    def get_queue_attributes(self, body: dict[str, Any]) -> dict[str, Any]:
        queue = self._queue(body.get("QueueUrl"))
        return {"Attributes": {"QueueArn": queue.settings.arn, "ApproximateNumberOfMessages": str(queue.visible),
                               "ApproximateNumberOfMessagesNotVisible": str(queue.pending - queue.visible)}}

    def start_message_move_task(self, body: dict[str, Any]) -> dict[str, Any]:
        """A dead-letter queue's messages back to the queue whose redrive policy sends them there (SQS's
        default destination), each with a fresh receive count, as a redrive from the console does."""
        dead_letters = self._by_arn(body.get("SourceArn"))
        destination = body.get("DestinationArn")
        sources = [q for q in self._queues.values() if q.dead_letters is dead_letters]
        target = self._by_arn(destination) if destination else (sources[0] if len(sources) == 1 else None)
        if target is None:
            raise ApiError("com.amazonaws.sqs#InvalidParameterValue",
                           f"{dead_letters.settings.name} is the dead-letter queue of {len(sources)} queues: "
                           "give DestinationArn")
        moved = dead_letters.move_all(target)
        LOG.warning("moved %d messages from %s back to %s", moved, dead_letters.settings.name, target.settings.name)
        return {"TaskHandle": f"local-{uuid.uuid4().hex}"}

    def operations(self) -> Operations:
        return {"SendMessage": self.send_message, "GetQueueUrl": self.get_queue_url,
                "GetQueueAttributes": self.get_queue_attributes,
                "StartMessageMoveTask": self.start_message_move_task}
