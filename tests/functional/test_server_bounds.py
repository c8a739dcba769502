"""Every server of ours bounds its clients alike (local_stack/bounded.py): a request whole within its
time, a client's connections capped, one log line for each client that is refused or hung up on, and
the others served meanwhile. The servers: the local AWS endpoint, the dashboard, the Twelve Data stand-in.

Clients are told apart by address: the whole of 127.0.0.0/8 is loopback, so the hostile client
connects from 127.0.0.2 and the well-behaved one from 127.0.0.1."""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dashboards.app import Dashboard, DashboardServer
from dashboards.sources import DashboardSources
from lake_sql.athena import LocalAthena
from local_stack.bounded import ClientBounds
from local_stack.firehose.server import FirehoseEndpoint
from local_stack.s3 import LocalS3
from local_stack.twelvedata.server import TwelveDataStandIn, running_in_thread
from ohlcv_core.recording import Header, Recording
from stack_tools.template import StackTemplate

BOUNDS = ClientBounds(request_s=1.0, max_connections=16, per_client=3)
HOSTILE, WELL_BEHAVED = "127.0.0.2", "127.0.0.1"


@dataclass(frozen=True)
class Served:
    port: int
    request: bytes  # a request the server answers (not 503)


@contextlib.contextmanager
def _firehose(tmp_path: Path) -> Iterator[Served]:
    endpoint = FirehoseEndpoint({}, bounds=BOUNDS).start()
    try:
        yield Served(int(endpoint.url.rsplit(":", 1)[1]), b"GET /_local/status HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        endpoint.stop()


@contextlib.contextmanager
def _dashboard(tmp_path: Path) -> Iterator[Served]:
    sources = DashboardSources(LocalAthena(StackTemplate(), LocalS3(tmp_path / "s3")), tmp_path / "cloudwatch")
    server = DashboardServer(Dashboard(sources), port=0, bounds=BOUNDS).start()
    try:
        yield Served(int(server.url.rstrip("/").rsplit(":", 1)[1]), b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
    finally:
        server.stop()


@contextlib.contextmanager
def _stand_in(tmp_path: Path) -> Iterator[Served]:
    with running_in_thread(TwelveDataStandIn(Recording(Header(("AAPL",)), ()), speed=0, bounds=BOUNDS)) as stand_in:
        yield Served(stand_in.port, b"GET /time_series?symbol=AAPL&interval=1min HTTP/1.1\r\nHost: x\r\n\r\n")


SERVERS: dict[str, Callable[[Path], contextlib.AbstractContextManager[Served]]] = {
    "local AWS endpoint": _firehose, "dashboard": _dashboard, "Twelve Data stand-in": _stand_in}


def _connect(port: int, source: str) -> socket.socket:
    return socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))


def _ask(port: int, request: bytes, source: str = WELL_BEHAVED) -> bytes:
    with _connect(port, source) as sock:
        sock.sendall(request)
        return sock.recv(65536)


def _lines(caplog: pytest.LogCaptureFixture, client: str, words: str) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.getMessage().startswith(f"client {client}") and words in
            r.getMessage()]


@pytest.mark.parametrize("server", SERVERS)
def test_a_client_past_its_connections_is_refused_and_said_once_while_others_are_served(
        server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING")
    with SERVERS[server](tmp_path) as served:
        # GIVEN a client holding as many connections as one client may
        held = [_connect(served.port, HOSTILE) for _ in range(BOUNDS.per_client)]
        try:
            time.sleep(0.1)
            # WHEN it asks three times more
            answers = [_ask(served.port, served.request, HOSTILE) for _ in range(3)]
            # THEN each is answered 503 at once; the refusal is said once; another client is served
            assert all(a.startswith(b"HTTP/1.1 503") for a in answers), answers
            assert len(_lines(caplog, HOSTILE, "refused")) == 1, caplog.text
            assert not _ask(served.port, served.request).startswith(b"HTTP/1.1 503")
        finally:
            for sock in held:
                sock.close()
        # AND once its connections are gone, it is served again
        time.sleep(0.3)
        assert not _ask(served.port, served.request, HOSTILE).startswith(b"HTTP/1.1 503")


@pytest.mark.parametrize("server", SERVERS)
def test_a_client_trickling_a_request_is_hung_up_on_in_time_and_said_once_while_others_are_served(
        server: str, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level("WARNING")
    with SERVERS[server](tmp_path) as served, _connect(served.port, HOSTILE) as sock:
        # GIVEN a client sending its request a byte every 0.1 s: each read in time, the whole never
        started = time.monotonic()
        served_meanwhile: list[bytes] = []
        with contextlib.suppress(OSError):
            for byte in served.request * 10:
                sock.sendall(bytes([byte]))
                time.sleep(0.1)
                if not served_meanwhile:  # WHEN another client asks meanwhile, it is answered
                    served_meanwhile.append(_ask(served.port, served.request))
                if time.monotonic() - started > 6:
                    break
        sock.settimeout(5)
        with contextlib.suppress(OSError):
            sock.recv(1024)  # b"" (closed), or a reset
        closed_after = time.monotonic() - started
        # THEN it was hung up on within the request's time (and the serving loop's poll), and said once
        assert closed_after < BOUNDS.request_s + 2.5, closed_after
        assert not served_meanwhile[0].startswith(b"HTTP/1.1 503")
        time.sleep(0.2)
        assert len(_lines(caplog, HOSTILE, "hung up")) == 1, caplog.text
