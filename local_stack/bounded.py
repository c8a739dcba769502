"""The bounds every threaded HTTP server of ours puts on its clients (the local AWS endpoint, the
dashboard): a request whole within its time, a client's connections and all connections capped, a busy
answer (503) past the caps instead of one thread more, and one log line for each client that is hung
up on or refused, while the others are served as before.

A client that trickles a byte at a time passes every per-read timeout; what stops it is the deadline
on the request as a whole, kept by the serving loop between its polls (`service_actions`: no thread of
its own, nothing on a request's path).
"""

from __future__ import annotations

import contextlib
import logging
import socket
import socketserver
import sys
import threading
import time
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler
from typing import Any

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class ClientBounds:
    request_s: float = 30.0     # one request, from its first byte to its answer; and an idle connection's wait
    max_connections: int = 128  # in all: past it, 503 at once
    per_client: int = 64        # from one address: one client can never take every slot


class Admission:
    """Who may open one more connection: at most `per_client` from one address and `max_connections` in
    all. A refusal is said once a client, until that client is admitted again. Thread-safe."""

    def __init__(self, bounds: ClientBounds) -> None:
        self.bounds = bounds
        self.refused = 0
        self._lock = threading.Lock()
        self._per_client: Counter[str] = Counter()
        self._refusing: set[str] = set()

    def admit(self, client: str) -> bool:
        """Count `client` in if the caps allow (True); else count the refusal (False), and say it."""
        with self._lock:
            held = self._per_client[client]
            if held < self.bounds.per_client and self._per_client.total() < self.bounds.max_connections:
                self._per_client[client] += 1
                self._refusing.discard(client)
                return True
            self.refused += 1
            first = client not in self._refusing
            self._refusing.add(client)
        if first:
            LOG.warning("client %s refused: it holds %d connections (at most %d a client, %d in all); answered 503 "
                        "until one is free", client, held, self.bounds.per_client, self.bounds.max_connections)
        return False

    def release(self, client: str) -> None:
        """One of an admitted client's connections ended."""
        with self._lock:
            self._per_client[client] -= 1
            if self._per_client[client] <= 0:
                del self._per_client[client]


def busy_response(body: bytes = b"", content_type: str = "text/plain") -> bytes:
    return (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: " + content_type.encode() + b"\r\nRetry-After: 1\r\n"
            b"Connection: close\r\nContent-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body)


class BoundedServer(socketserver.ThreadingMixIn, socketserver.TCPServer):
    """Put first among a threading HTTP server's bases; its handler is a `BoundedHandler`."""

    daemon_threads = True
    busy = busy_response(b"too many connections")

    def __init__(self, *args: Any, bounds: ClientBounds, **kwargs: Any) -> None:
        self.bounds = bounds
        self.admission = Admission(bounds)
        self.hung_up = 0
        self._lock = threading.Lock()
        self._open: dict[socket.socket, str] = {}  # connection -> its client's address
        self._started: dict[socket.socket, float] = {}  # connection -> when its request in progress began
        super().__init__(*args, **kwargs)

    @property
    def refused_connections(self) -> int:
        return self.admission.refused

    def process_request(self, request: Any, client_address: Any) -> None:
        """One thread a connection, within the caps; past them a connection is answered 503 and closed."""
        client = str(client_address[0]) if isinstance(client_address, tuple) else str(client_address)
        if not self.admission.admit(client):
            with contextlib.suppress(OSError):
                request.sendall(self.busy)
            self.shutdown_request(request)
            return
        with self._lock:
            self._open[request] = client
        super().process_request(request, client_address)

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            super().process_request_thread(request, client_address)
        finally:
            with self._lock:
                client = self._open.pop(request)
                self._started.pop(request, None)
            self.admission.release(client)

    def request_started(self, connection: socket.socket) -> None:
        with self._lock:
            self._started[connection] = time.monotonic()

    def request_ended(self, connection: socket.socket) -> None:
        with self._lock:
            self._started.pop(connection, None)

    def service_actions(self) -> None:
        """Hang up on every connection whose request has taken longer than `request_s` as a whole."""
        super().service_actions()
        deadline = time.monotonic() - self.bounds.request_s
        with self._lock:
            late = [(c, self._open.get(c, "?")) for c, started in self._started.items() if started < deadline]
            for connection, _ in late:
                del self._started[connection]
            self.hung_up += len(late)
        for connection, client in late:
            LOG.warning("client %s took longer than %.0f s over one request: hung up", client, self.bounds.request_s)
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that went away or misbehaved mid-request: one line, no traceback (socketserver prints
        one), and the others are served as before."""
        exc = sys.exc_info()[1]
        client = client_address[0] if isinstance(client_address, tuple) else client_address
        LOG.warning("client %s: request abandoned (%s)", client or "?", type(exc).__name__ if exc else "unknown error")

    def close_connections(self) -> None:
        """Hang up on every client still connected (a kept-alive connection would otherwise go on being
        served after the server stopped)."""
        with self._lock:
            connections = list(self._open)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)


class BoundedHandler(BaseHTTPRequestHandler):
    """Each read within the request's time (an idle kept-alive connection lets go of its thread), and each
    request timed as a whole by its `BoundedServer`."""

    server: BoundedServer

    def setup(self) -> None:
        super().setup()
        self.connection.settimeout(self.server.bounds.request_s)

    def handle_one_request(self) -> None:
        """The request's time runs from its first byte: a kept-alive connection may idle up to `request_s`
        between requests, and is then closed without a word (it did nothing wrong)."""
        try:
            waiting = self.rfile.peek(1)  # type: ignore[attr-defined]  # a BufferedReader (rbufsize -1)
        except OSError:  # the read timed out, or the client went away
            waiting = b""
        if not waiting:
            self.close_connection = True
            return
        self.server.request_started(self.connection)
        try:
            super().handle_one_request()
        finally:
            self.server.request_ended(self.connection)
