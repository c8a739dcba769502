"""The local AWS endpoint under hostile or careless clients, and while it stops: answers as AWS would,
holds no thread for a stalled client, and never acknowledges a record it then drops."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import orjson
import pytest
import requests
from botocore.exceptions import ClientError

from local_stack.bounded import ClientBounds
from local_stack.firehose.delivery import DeliveryStream
from local_stack.firehose.server import FirehoseEndpoint
from local_stack.s3 import LocalS3
from producers.aws import firehose_client
from tests.doubles import CapturingLambda
from tests.stream_settings import template_stream

STREAM = "hostile"
TARGET = {"X-Amz-Target": "Firehose_20150804.PutRecordBatch", "Content-Type": "application/x-amz-json-1.1"}


MAX_CONNECTIONS = 8


def _endpoint(folder: Path, socket_timeout_s: float = ClientBounds().request_s, port: int = 0
              ) -> tuple[FirehoseEndpoint, CapturingLambda]:
    settings = template_stream(name=STREAM, destination={"prefix": "landing/"}, dynamic_partitioning=False,
                               backup=None)
    capture = CapturingLambda()
    server = FirehoseEndpoint({STREAM: DeliveryStream(settings, LocalS3(folder), invoke=capture)},
                              bounds=ClientBounds(request_s=socket_timeout_s, max_connections=MAX_CONNECTIONS,
                                                  per_client=MAX_CONNECTIONS), port=port)
    return server.start(), capture


@pytest.fixture
def endpoint(tmp_path: Path) -> Iterator[tuple[FirehoseEndpoint, CapturingLambda]]:
    server, capture = _endpoint(tmp_path)
    try:
        yield server, capture
    finally:
        server.stop()


def _raw(url: str, head: bytes, body: bytes = b"", *, read: bool = True) -> bytes:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + body)
        return sock.recv(65536) if read else b""


@pytest.mark.parametrize(("body", "kind"), [(b"[1, 2]", "list"), (b'"text"', "str"), (b"17", "int")])
def test_a_body_that_is_json_but_not_an_object_is_a_serialization_error(
        endpoint: tuple[FirehoseEndpoint, CapturingLambda], body: bytes, kind: str) -> None:
    server, _ = endpoint
    reply = requests.post(server.url, data=body, headers=TARGET, timeout=10)
    assert reply.status_code == 400
    assert reply.json() == {"__type": "SerializationException",
                            "message": f"request body is a JSON {kind}, not an object"}


@pytest.mark.parametrize(("length", "status"), [(b"-5", 411), (b"abc", 411), (b"99999999999", 413),
                                               (b"\xb2", 411)])  # '²': a digit to str.isdigit, not to int()
def test_a_bad_content_length_is_refused_before_any_body_is_read(
        endpoint: tuple[FirehoseEndpoint, CapturingLambda], length: bytes, status: int) -> None:
    server, _ = endpoint
    head = (b"POST / HTTP/1.1\r\nHost: x\r\nX-Amz-Target: Firehose_20150804.PutRecordBatch\r\n"
            b"Content-Length: " + length + b"\r\n\r\n")
    started = time.monotonic()
    answer = _raw(server.url, head)  # no body follows: the answer must not wait for one
    assert answer.startswith(f"HTTP/1.1 {status}".encode()) and time.monotonic() - started < 5


def test_a_stalled_client_lets_go_of_its_thread(tmp_path: Path) -> None:
    server, _ = _endpoint(tmp_path, socket_timeout_s=0.5)
    host, port = server.url.removeprefix("http://").split(":")
    try:
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            sock.sendall(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")  # and then nothing
            sock.settimeout(5)
            assert sock.recv(1024) == b""  # the server closed it: the handler's thread is free
    finally:
        server.stop()


def test_a_client_trickling_a_request_is_hung_up_on_when_the_whole_request_is_late(tmp_path: Path) -> None:
    server, _ = _endpoint(tmp_path, socket_timeout_s=0.5)
    host, port = server.url.removeprefix("http://").split(":")
    request = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n" + b"{" * 100
    try:
        with socket.create_connection((host, int(port)), timeout=10) as sock:
            started = time.monotonic()
            with contextlib.suppress(OSError):
                for byte in request:  # each byte well within the read timeout, the request never whole
                    sock.sendall(bytes([byte]))
                    time.sleep(0.1)
            sock.settimeout(5)
            with contextlib.suppress(OSError):
                assert sock.recv(1024) == b""
            assert time.monotonic() - started < 3  # not the 14 s the trickle would have taken
    finally:
        server.stop()


def test_a_client_that_goes_away_mid_request_costs_one_line_and_no_traceback(
        endpoint: tuple[FirehoseEndpoint, CapturingLambda], capsys: pytest.CaptureFixture[str]) -> None:
    server, _ = endpoint
    for _ in range(3):
        _raw(server.url, b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{", read=False)
    time.sleep(0.5)
    assert "Traceback" not in capsys.readouterr().err
    assert requests.get(f"{server.url}/_local/status", timeout=10).status_code == 200  # still serving


def test_past_its_connection_limit_a_connection_is_answered_503_at_once(
        endpoint: tuple[FirehoseEndpoint, CapturingLambda]) -> None:
    server, _ = endpoint
    host, port = server.url.removeprefix("http://").split(":")
    held = [socket.create_connection((host, int(port)), timeout=10) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.1)  # well within the idle timeout: every slot is held
        answer = _raw(server.url, b"GET /_local/status HTTP/1.1\r\nHost: x\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 503") and b"ServiceUnavailableException" in answer
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.3)
    assert requests.get(f"{server.url}/_local/status", timeout=5).json()["api"]["refused_connections"] >= 1


def test_nothing_acknowledged_is_lost_when_intake_closes_under_load(
        endpoint: tuple[FirehoseEndpoint, CapturingLambda]) -> None:
    # GIVEN four clients putting batches as fast as they can, on kept-alive connections
    server, capture = endpoint
    acknowledged: list[bytes] = []
    refused = 0
    lock = threading.Lock()
    closing = threading.Event()

    clients = [firehose_client("us-east-1", server.url) for _ in range(4)]

    def client(number: int) -> None:
        nonlocal refused
        firehose = clients[number]
        for batch in range(10_000):
            records = [orjson.dumps({"c": number, "b": batch, "r": r}) for r in range(50)]
            try:
                reply = firehose.put_record_batch(DeliveryStreamName=STREAM, Records=[{"Data": d} for d in records])
            except ClientError:
                with lock:
                    refused += 1
                if closing.is_set():
                    return
                continue
            with lock:
                acknowledged.extend(d for d, r in zip(records, reply["RequestResponses"], strict=True)
                                    if "RecordId" in r)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    deadline = time.monotonic() + 30
    while len(acknowledged) < 2000 and time.monotonic() < deadline:
        time.sleep(0.05)
    # WHEN intake closes while they put, then every buffer is delivered
    closing.set()
    assert server.api.close_intake()
    server.drain()
    for thread in threads:
        thread.join(timeout=60)
    # THEN every record any client was told was accepted was delivered
    assert refused >= 4 and len(acknowledged) > 1000
    delivered = set(capture.records)
    assert [d for d in acknowledged if d not in delivered] == []


def test_a_client_kept_alive_across_a_restart_on_the_same_port_reaches_the_new_endpoint(tmp_path: Path) -> None:
    # GIVEN a client whose connection to the endpoint is kept alive
    first, _ = _endpoint(tmp_path / "first")
    port = int(first.url.rsplit(":", 1)[1])
    firehose = firehose_client("us-east-1", first.url)

    def put() -> int:
        return firehose.put_record_batch(DeliveryStreamName=STREAM, Records=[{"Data": b"{}"}])["FailedPutCount"]

    assert put() == 0
    # WHEN the endpoint stops and another starts on its port (`local up` stopped and started again)
    first.api.close_intake()
    first.stop()
    second, _ = _endpoint(tmp_path / "second", port=port)
    try:
        # THEN the client's next puts reach the new endpoint: the stopped one hung up instead of refusing them
        for _ in range(3):
            assert put() == 0
        assert second.streams[STREAM].status()["records_in"] == 3
        assert first.api.refused_closed == 0
    finally:
        second.stop()
