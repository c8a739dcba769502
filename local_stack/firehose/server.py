"""The local AWS endpoint: JSON 1.1 APIs over HTTP on 127.0.0.1, so boto3 talks to it through
`endpoint_url` (or `AWS_ENDPOINT_URL`, as the local Lambda functions do). It serves Firehose, and any
other service handed to it by its X-Amz-Target prefix (the stack adds Glue, SQS and Athena)."""

from __future__ import annotations

import base64
import binascii
import contextlib
import logging
import random
import threading
import uuid
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from http.server import HTTPServer
from typing import Any

import orjson

from local_stack.api import ApiError, Operation, Operations
from local_stack.bounded import BoundedHandler, BoundedServer, ClientBounds, busy_response
from local_stack.firehose.delivery import DeliveryStream
from ohlcv_core.limits import FIREHOSE_MAX_BATCH_BYTES, FIREHOSE_MAX_BATCH_RECORDS, FIREHOSE_MAX_RECORD_BYTES

LOG = logging.getLogger(__name__)
TARGET_PREFIX = "Firehose_20150804."
STATUS_PATH = "/_local/status"
MAX_BATCH_RECORDS = FIREHOSE_MAX_BATCH_RECORDS
MAX_RECORD_BYTES = FIREHOSE_MAX_RECORD_BYTES
MAX_REQUEST_BYTES = FIREHOSE_MAX_BATCH_BYTES


def _decode_record(record: Any) -> bytes:
    if not isinstance(record, dict) or not isinstance(record.get("Data"), str):
        raise ApiError("ValidationException", "Record.Data is required")
    try:
        data = base64.b64decode(record["Data"], validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ApiError("SerializationException", "Record.Data is not valid base64") from exc
    if len(data) > MAX_RECORD_BYTES:
        raise ApiError("ValidationException",
                       f"1 validation error detected: Value at 'record.data' failed to satisfy constraint: "
                       f"Member must have length less than or equal to {MAX_RECORD_BYTES}")
    return data


@dataclass
class FirehoseFaults:
    """Fault injection for reliability tests: what AWS does on a bad day, at the rates asked for."""

    throttle_rate: float = 0.0  # whole Put calls answered ServiceUnavailableException
    partial_failure_rate: float = 0.0  # records of a PutRecordBatch failed (FailedPutCount > 0)
    seed: int = 0


class FirehoseApi:
    """The operations, independent of HTTP."""

    def __init__(self, streams: dict[str, DeliveryStream], faults: FirehoseFaults | None = None) -> None:
        self.streams = streams
        self.faults = faults or FirehoseFaults()
        self._rng = random.Random(self.faults.seed)
        self._rng_lock = threading.Lock()
        self.throttled = 0
        self.failed_puts = 0
        self.intake_open = True
        self._closed_why = ""
        self.refused_closed = 0
        self._in_flight = 0
        self._settled = threading.Condition()

    def close_intake(self, timeout_s: float = 30.0, *, why: str = "the local stack is stopping") -> bool:
        """From now on every Put is refused (ServiceUnavailableException, which clients retry); returns once
        the Puts already accepted are in their buffers, so that nothing acknowledged misses the final
        delivery (False if they did not finish within the timeout)."""
        with self._settled:
            self.intake_open, self._closed_why = False, why
            return self._settled.wait_for(lambda: self._in_flight == 0, timeout=timeout_s)

    def open_intake(self) -> None:
        """Puts are taken again: an outage (`close_intake(why=...)`) is over."""
        with self._settled:
            self.intake_open = True

    @contextlib.contextmanager
    def _intake(self) -> Iterator[None]:
        with self._settled:
            if not self.intake_open:
                self.refused_closed += 1
                raise ApiError("ServiceUnavailableException", f"{self._closed_why}; try again later", status=503)
            self._in_flight += 1
        try:
            yield
        finally:
            with self._settled:
                self._in_flight -= 1
                self._settled.notify_all()

    def _throttle(self) -> None:
        with self._rng_lock:
            throttled = self._rng.random() < self.faults.throttle_rate
        if throttled:
            self.throttled += 1
            raise ApiError("ServiceUnavailableException", "Slow down.", status=503)

    def _stream(self, body: dict[str, Any]) -> DeliveryStream:
        name = body.get("DeliveryStreamName")
        if not isinstance(name, str) or name not in self.streams:
            raise ApiError("ResourceNotFoundException",
                           f"Firehose {name} under account 000000000000 not found.")
        return self.streams[name]

    def put_record(self, body: dict[str, Any]) -> dict[str, Any]:
        stream = self._stream(body)
        payload = _decode_record(body.get("Record"))
        with self._intake():
            self._throttle()
            (record_id,) = stream.put([payload])
        return {"RecordId": record_id, "Encrypted": False}

    def put_record_batch(self, body: dict[str, Any]) -> dict[str, Any]:
        stream = self._stream(body)
        records = body.get("Records")
        if not isinstance(records, list) or not records:
            raise ApiError("ValidationException", "Records must contain at least 1 record")
        if len(records) > MAX_BATCH_RECORDS:
            raise ApiError("ValidationException",
                           f"1 validation error detected: Value at 'records' failed to satisfy constraint: "
                           f"Member must have length less than or equal to {MAX_BATCH_RECORDS}")
        payloads = [_decode_record(r) for r in records]
        if sum(len(p) for p in payloads) > MAX_REQUEST_BYTES:
            raise ApiError("InvalidArgumentException", "Records size exceeds 4 MiB limit")
        with self._intake():
            self._throttle()
            with self._rng_lock:
                failing = [self._rng.random() < self.faults.partial_failure_rate for _ in payloads]
            ids = iter(stream.put([p for p, fail in zip(payloads, failing, strict=True) if not fail]))
        responses = [{"ErrorCode": "ServiceUnavailableException", "ErrorMessage": "Slow down."} if fail
                     else {"RecordId": next(ids)} for fail in failing]
        self.failed_puts += sum(failing)
        return {"FailedPutCount": sum(failing), "Encrypted": False, "RequestResponses": responses}

    def describe_delivery_stream(self, body: dict[str, Any]) -> dict[str, Any]:
        stream = self._stream(body)
        s = stream.settings
        target = s.destination
        destination: dict[str, Any] = {
            "RoleARN": "arn:aws:iam::000000000000:role/local",
            "BucketARN": f"arn:aws:s3:::{target.bucket}",
            "Prefix": target.prefix,
            "ErrorOutputPrefix": target.error_prefix,
            "BufferingHints": {"SizeInMBs": target.buffer_size_bytes // (1024 * 1024),
                               "IntervalInSeconds": target.buffer_interval_s},
            "CompressionFormat": target.compression,
            "EncryptionConfiguration": {"NoEncryptionConfig": "NoEncryption"},
            "DynamicPartitioningConfiguration": {"Enabled": s.dynamic_partitioning},
        }
        if s.processor is not None:
            destination["ProcessingConfiguration"] = {"Enabled": True, "Processors": [{"Type": "Lambda", "Parameters": [
                {"ParameterName": "LambdaArn", "ParameterValue": s.processor.arn},
                {"ParameterName": "BufferSizeInMBs", "ParameterValue": str(s.processor_buffer_bytes / 1048576)},
                {"ParameterName": "BufferIntervalInSeconds", "ParameterValue": str(s.processor_buffer_interval_s)},
                {"ParameterName": "NumberOfRetries", "ParameterValue": str(s.processor_retries)},
            ]}]}
        return {"DeliveryStreamDescription": {
            "DeliveryStreamName": s.name, "DeliveryStreamARN": s.arn, "DeliveryStreamStatus": "ACTIVE",
            "DeliveryStreamType": "DirectPut", "VersionId": "1",
            "CreateTimestamp": stream.created_ms / 1000,
            "Destinations": [{"DestinationId": "destinationId-000000000001",
                              "ExtendedS3DestinationDescription": destination}],
            "HasMoreDestinations": False,
        }}

    def list_delivery_streams(self, body: dict[str, Any]) -> dict[str, Any]:
        return {"DeliveryStreamNames": sorted(self.streams), "HasMoreDeliveryStreams": False}

    def operations(self) -> Operations:
        return {"PutRecord": self.put_record, "PutRecordBatch": self.put_record_batch,
                "DescribeDeliveryStream": self.describe_delivery_stream,
                "ListDeliveryStreams": self.list_delivery_streams}


class _Handler(BoundedHandler):
    server: _FirehoseHttpServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, the body waits for the client's delayed ACK
    # (40 ms a request on Linux). Firehose answers at once.
    disable_nagle_algorithm = True

    def log_message(self, format: str, *args: Any) -> None:
        LOG.debug(format, *args)

    def _reply(self, status: int, payload: dict[str, Any]) -> None:
        body = orjson.dumps(payload)
        self.send_response(status)
        self.send_header("Content-Type", "application/x-amz-json-1.1")
        self.send_header("Content-Length", str(len(body)))
        self.send_header("x-amzn-RequestId", str(uuid.uuid4()))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.rstrip("/") != STATUS_PATH:
            self._reply(404, {"__type": "UnknownOperationException", "message": f"GET {self.path}"})
            return
        self._reply(200, self.server.status())

    def _length(self) -> int:
        """The request's Content-Length, checked before a byte of the body is read."""
        raw = self.headers.get("Content-Length")
        if raw is None or not raw.strip().isascii() or not raw.strip().isdigit():  # ('²' is a digit to isdigit)
            raise ApiError("SerializationException", "a Content-Length header with the body's size is required",
                           status=411)
        length = int(raw)
        if length > MAX_REQUEST_BYTES * 2:
            raise ApiError("InvalidArgumentException", f"request of {length} bytes is too large", status=413)
        return length

    def do_POST(self) -> None:
        target = self.headers.get("X-Amz-Target", "")
        try:
            length = self._length()
        except ApiError as exc:
            self.close_connection = True  # the body was not read: the connection cannot be reused
            self._reply(exc.status, {"__type": exc.error_type, "message": exc.message})
            return
        raw = self.rfile.read(length)
        try:
            if len(raw) < length:
                raise ApiError("SerializationException", "the request body ended early")
            operation = self.server.operation(target)
            try:
                body = orjson.loads(raw) if raw else {}
            except orjson.JSONDecodeError as exc:
                raise ApiError("SerializationException", "request body is not JSON") from exc
            if not isinstance(body, dict):
                raise ApiError("SerializationException", f"request body is a JSON {type(body).__name__}, "
                                                         "not an object")
            result = operation(body)
        except ApiError as exc:
            self._reply(exc.status, {"__type": exc.error_type, "message": exc.message})
            return
        self._reply(200, result)


class _FirehoseHttpServer(BoundedServer, HTTPServer):
    busy = busy_response(b'{"__type":"ServiceUnavailableException","message":"too many connections"}',
                         "application/x-amz-json-1.1")

    def __init__(self, address: tuple[str, int], api: FirehoseApi, services: Mapping[str, Operations],
                 extra_status: Callable[[], dict[str, Any]] | None, *, bounds: ClientBounds) -> None:
        super().__init__(address, _Handler, bounds=bounds)
        self.api = api
        self.services = {TARGET_PREFIX: api.operations(), **services}
        self._extra_status = extra_status

    def operation(self, target: str) -> Operation:
        for prefix, operations in self.services.items():
            if target.startswith(prefix):
                name = target.removeprefix(prefix)
                if name not in operations:
                    raise ApiError("UnknownOperationException", f"operation {name} is not supported locally")
                return operations[name]
        raise ApiError("UnknownOperationException", f"unknown target {target!r}")

    def status(self) -> dict[str, Any]:
        """What `ohlcv local status` shows: the streams, the injected faults' effects, and the rest of the stack."""
        return {"streams": [stream.status() for stream in self.api.streams.values()],
                "api": {"throttled_calls": self.api.throttled, "failed_puts": self.api.failed_puts,
                        "refused_while_stopping": self.api.refused_closed,
                        "refused_connections": self.refused_connections, "hung_up": self.hung_up},
                **(self._extra_status() if self._extra_status else {})}


class FirehoseEndpoint:
    """HTTP endpoint plus the flusher that honours each stream's buffering hints."""

    def __init__(self, streams: dict[str, DeliveryStream], *, host: str = "127.0.0.1", port: int = 0,
                 tick_s: float = 0.5, faults: FirehoseFaults | None = None,
                 extra_status: Callable[[], dict[str, Any]] | None = None,
                 services: Mapping[str, Operations] | None = None, bounds: ClientBounds | None = None) -> None:
        self.streams = streams
        self.api = FirehoseApi(streams, faults)
        self._server = _FirehoseHttpServer((host, port), self.api, services or {}, extra_status,
                                           bounds=bounds or ClientBounds())
        self._tick_s = tick_s
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._server.serve_forever, name="firehose-http", daemon=True),
                         threading.Thread(target=self._flush_loop, name="firehose-flusher", daemon=True)]

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    def status(self) -> dict[str, Any]:
        """What the endpoint's status path answers: streams (buffered bytes included), API, stack."""
        return self._server.status()

    def start(self) -> FirehoseEndpoint:
        for thread in self._threads:
            thread.start()
        return self

    def _flush_loop(self) -> None:
        while not self._stop.wait(self._tick_s):
            for stream in self.streams.values():
                try:
                    stream.tick()
                except Exception:  # logged; what could not be written stays buffered for the next tick
                    LOG.exception("delivery for %s failed", stream.settings.name)

    def drain(self) -> None:
        """Deliver everything buffered now (what Firehose does when the buffer interval ends)."""
        for stream in self.streams.values():
            stream.flush()

    def stop(self) -> None:
        self._stop.set()
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        for thread in self._threads:
            thread.join(timeout=10)
        self.drain()
