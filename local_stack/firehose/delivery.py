"""One delivery stream: buffer, transform, partition, buffer again per partition, write to S3.

As Firehose does it: records are buffered for the processor by its own hints (size, interval) and
handed to the Lambda; what comes back is buffered per destination (per partition with dynamic
partitioning) by the stream's buffering hints; each buffer becomes one object named like Firehose's,
under the evaluated Prefix, compressed as configured. Failures go under ErrorOutputPrefix as Firehose's
error-record JSON lines; with source-record backup on, the untransformed records go to the backup
destination with its own hints. `tick()` does what is due; `flush()` delivers everything now.
"""

from __future__ import annotations

import base64
import gzip
import logging
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson

from local_stack.firehose.prefix import evaluate_prefix, missing_partition_keys
from local_stack.firehose.processing import Invoke, Processor
from local_stack.firehose.records import BufferedRecord, Failure, Transformed
from local_stack.s3 import LocalS3
from stack_tools.template import DeliveryStreamSettings, S3Target

LOG = logging.getLogger(__name__)
PartitionKey = tuple[tuple[str, str], ...]


@dataclass
class StreamStats:
    records_in: int = 0
    bytes_in: int = 0
    delivered: int = 0
    dropped: int = 0
    failed: int = 0
    objects: int = 0
    backup_objects: int = 0
    invocations: int = 0
    failed_invocations: int = 0
    error_codes: Counter[str] = field(default_factory=Counter)


@dataclass
class _Buffer:
    """Records waiting for one destination; its age counts from the first record in it."""

    items: list[Any] = field(default_factory=list)
    size: int = 0
    first_ms: int = 0

    def add(self, item: Any, size: int, now_ms: int) -> None:
        if not self.items:
            self.first_ms = now_ms
        self.items.append(item)
        self.size += size

    def due(self, now_ms: int, size_limit: int, interval_s: float) -> bool:
        return bool(self.items) and (self.size >= size_limit or now_ms - self.first_ms >= interval_s * 1000)

    def take(self) -> list[Any]:
        items, self.items, self.size = self.items, [], 0
        return items


def _new_random_string() -> str:
    return str(uuid.uuid4())


class DeliveryStream:
    def __init__(self, settings: DeliveryStreamSettings, s3: LocalS3, invoke: Invoke | None,
                 clock: Callable[[], float] = time.time,
                 random_string: Callable[[], str] = _new_random_string) -> None:
        self.settings = settings
        self._s3 = s3
        self._processor = Processor(settings, invoke) if invoke is not None else None
        self._clock = clock
        self._random = random_string
        self._intake = _Buffer()
        self._destinations: dict[PartitionKey, _Buffer] = {}
        self._backup = _Buffer()
        self._failures: list[Failure] = []  # records the stream failed, waiting to be written under the error prefix
        self._lock = threading.Lock()
        self._delivery_lock = threading.Lock()
        self.stats = StreamStats()
        self.created_ms = int(clock() * 1000)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    # -- intake --------------------------------------------------------------------------------------
    def put(self, payloads: list[bytes]) -> list[str]:
        now_ms = self._now_ms()
        ids = [f"{uuid.uuid4().hex}{now_ms:016x}" for _ in payloads]
        with self._lock:
            for record_id, data in zip(ids, payloads, strict=True):
                record = BufferedRecord(record_id, data, now_ms)
                self._intake.add(record, len(data), now_ms)
                if self.settings.backup is not None:
                    self._backup.add(record, len(data), now_ms)
                self.stats.records_in += 1
                self.stats.bytes_in += len(data)
        return ids

    @property
    def buffered_bytes(self) -> int:
        with self._lock:
            return self._intake.size + sum(b.size for b in self._destinations.values())

    def status(self) -> dict[str, Any]:
        with self._lock:
            return {"name": self.settings.name, "buffered_records": len(self._intake.items) + sum(
                        len(b.items) for b in self._destinations.values()),
                    "buffered_bytes": self._intake.size + sum(b.size for b in self._destinations.values()),
                    "open_partitions": len(self._destinations),
                    **{k: v for k, v in self.stats.__dict__.items() if k != "error_codes"},
                    "error_codes": dict(self.stats.error_codes)}

    # -- delivery ------------------------------------------------------------------------------------
    def tick(self) -> None:
        """Do what the buffering hints say is due now."""
        self._deliver(force=False)

    def flush(self) -> None:
        """Deliver everything buffered, due or not (the end of a run, a graceful stop)."""
        self._deliver(force=True)

    def _deliver(self, *, force: bool) -> None:
        s = self.settings
        with self._delivery_lock:
            now_ms = self._now_ms()
            with self._lock:
                size_hint, interval = ((s.processor_buffer_bytes, s.processor_buffer_interval_s)
                                       if self._processor else (0, 0))
                records = self._intake.take() if force or self._intake.due(now_ms, size_hint, interval) else []
            if records:
                self._route(self._transform(records), now_ms)
            # Each write that S3 refuses leaves what it held buffered, for the next tick (as Firehose retries).
            self._write_due(now_ms, force)
            self._write_failures()
            if s.backup is not None:
                self._write_backup(now_ms, force, s.backup)

    def _transform(self, records: list[BufferedRecord]) -> list[Transformed]:
        if self._processor is None:
            return [Transformed(r, r.data, None) for r in records]
        ok: list[Transformed] = []
        failures: list[Failure] = []
        for batch in self._processor.batches(records):
            batch_ok, batch_failed = self._processor.process(batch)
            ok += batch_ok
            failures += batch_failed
        self.stats.invocations = self._processor.invocations
        self.stats.failed_invocations = self._processor.failed_invocations
        self.stats.dropped = self._processor.dropped
        self._fail(failures)
        return ok

    def _route(self, transformed: list[Transformed], now_ms: int) -> None:
        failures = []
        with self._lock:
            for item in transformed:
                keys: PartitionKey = ()
                if self.settings.dynamic_partitioning:
                    missing = missing_partition_keys(self.settings.destination.prefix, item.partition_keys)
                    if missing:
                        failures.append(Failure(item.source, "DynamicPartitioning.MetadataExtractionFailed",
                                                f"partition key {missing[0]} was not returned by the transform", 1))
                        continue
                    keys = tuple(sorted((item.partition_keys or {}).items()))
                self._destinations.setdefault(keys, _Buffer()).add(item, len(item.data), now_ms)
        self._fail(failures)

    def _write_due(self, now_ms: int, force: bool) -> None:
        s = self.settings.destination
        with self._lock:
            ready = [(keys, buffer.take()) for keys, buffer in self._destinations.items()
                     if force or buffer.due(now_ms, s.buffer_size_bytes, s.buffer_interval_s)]
            for keys, _ in ready:
                del self._destinations[keys]
        for index, (keys, items) in enumerate(ready):
            oldest = min(i.source.arrival_ms for i in items)
            prefix = evaluate_prefix(s.prefix, arrival_ms=oldest, partition_keys=dict(keys) or None,
                                     random_string=self._random)
            try:
                self._put(s.bucket, prefix, oldest, b"".join(i.data for i in items), s.compression)
            except OSError:
                with self._lock:  # this partition and every one not yet written go back into their buffers
                    for unwritten_keys, unwritten in ready[index:]:
                        buffer = self._destinations.setdefault(unwritten_keys, _Buffer())
                        for item in unwritten:
                            buffer.add(item, len(item.data), now_ms)
                raise
            self.stats.delivered += len(items)

    def _object_name(self, oldest_ms: int) -> str:
        stamp = datetime.fromtimestamp(oldest_ms / 1000, tz=UTC).strftime("%Y-%m-%d-%H-%M-%S")
        return f"{self.settings.name}-1-{stamp}-{self._random()}"

    def _put(self, bucket: str, prefix: str, oldest_ms: int, body: bytes, compression: str,
             *, backup: bool = False) -> None:
        name = prefix + self._object_name(oldest_ms)
        if compression == "GZIP":
            body, name = gzip.compress(body, mtime=0), name + ".gz"
        elif compression != "UNCOMPRESSED":
            raise NotImplementedError(f"CompressionFormat {compression} is not supported by the local stack")
        self._s3.put_object(bucket, name, body)
        if backup:
            self.stats.backup_objects += 1
        else:
            self.stats.objects += 1

    def _write_backup(self, now_ms: int, force: bool, backup: S3Target) -> None:
        with self._lock:
            due = force or self._backup.due(now_ms, backup.buffer_size_bytes, backup.buffer_interval_s)
            records: list[BufferedRecord] = self._backup.take() if due else []
        if not records:
            return
        oldest = min(r.arrival_ms for r in records)
        prefix = evaluate_prefix(backup.prefix, arrival_ms=oldest, partition_keys=None, random_string=self._random)
        try:
            self._put(backup.bucket, prefix, oldest, b"".join(r.data for r in records), backup.compression,
                      backup=True)
        except OSError:
            with self._lock:
                for record in records:
                    self._backup.add(record, len(record.data), now_ms)
            raise

    def _fail(self, failures: list[Failure]) -> None:
        with self._lock:
            self._failures += failures
            for failure in failures:
                self.stats.failed += 1
                self.stats.error_codes[failure.error_code] += 1

    def _write_failures(self) -> None:
        with self._lock:
            failures, self._failures = self._failures, []
        if not failures:
            return
        now_ms = self._now_ms()
        groups: dict[str, list[Failure]] = {}
        for failure in failures:
            prefix = evaluate_prefix(self.settings.destination.error_prefix, arrival_ms=failure.record.arrival_ms,
                                     partition_keys=None, random_string=self._random,
                                     error_output_type="processing-failed")
            groups.setdefault(prefix, []).append(failure)
        lambda_arn = self.settings.processor.arn if self.settings.processor else ""
        destination = self.settings.destination
        pending = list(groups.items())
        for index, (prefix, items) in enumerate(pending):
            lines = [orjson.dumps({
                "attemptsMade": f.attempts, "arrivalTimestamp": f.record.arrival_ms,
                "errorCode": f.error_code, "errorMessage": f.error_message,
                "attemptEndingTimestamp": now_ms,
                "rawData": base64.b64encode(f.record.data).decode("ascii"), "lambdaArn": lambda_arn,
            }) + b"\n" for f in items]
            oldest = min(f.record.arrival_ms for f in items)
            try:
                self._put(destination.bucket, prefix, oldest, b"".join(lines), destination.compression)
            except OSError:
                with self._lock:  # kept, in order, ahead of any that failed since
                    self._failures[:0] = [f for _, unwritten in pending[index:] for f in unwritten]
                raise
