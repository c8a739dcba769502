"""The stand-in server: Twelve Data's WebSocket protocol and REST time_series on 127.0.0.1.

Each client gets its own replay of the recording, starting at its first subscribe and paced by the
recorded receive times (`speed` x faster; 0 = as fast as possible), filtered to its subscriptions; or,
with `live`, one timeline for all, so that a client that reconnects has missed what went by meanwhile.
At the end of the recording the server closes the socket normally (code 1000), so that a finite
replay has an end a client can see.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http import HTTPStatus
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import orjson
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.datastructures import Headers
from websockets.exceptions import ConnectionClosed
from websockets.http11 import Request, Response

from local_stack.bounded import ClientBounds
from local_stack.twelvedata.catalog import Catalog, ReplayFrame, SeriesData, build_catalog
from local_stack.twelvedata.clients import ClientCount
from local_stack.twelvedata.rest import Access, answer_time_series, error_body
from ohlcv_core.recording import Recording
from ohlcv_core.td_protocol import ServerSession

LOG = logging.getLogger(__name__)
WS_PATH = "/v1/quotes/price"
MAX_CLIENT_MESSAGE = 1024 * 1024
T = TypeVar("T")


@dataclass
class Faults:
    """Scripted failures, for tests of the clients' resilience."""

    refuse_auth: bool = False  # every WebSocket upgrade and REST call gets Twelve Data's 401
    drop_after_frames: int | None = None  # abort the TCP connection (no close frame) after N price frames
    drop_connections: int = 1  # ... for the first N connections only
    stall_after_frames: int | None = None  # then go silent: no frames, no heartbeat replies, socket open
    rest_429_burst: int = 0  # the next N REST requests get 429
    rest_5xx_burst: int = 0  # the next N REST requests get 503 (the service failing)
    rest_delay_s: float = 0.0  # each REST answer takes this long (a slow service)


@dataclass
class CreditLimit:
    """Twelve Data's per-minute REST budget: 1 credit per symbol per request."""

    per_minute: int
    errors_with_http_200: bool = False  # the service also answers errors with HTTP 200 and the code in the body


@dataclass
class ConnectionRecord:
    """One client connection: when it opened and closed (the server's clock) and how it ended."""

    number: int
    opened_s: float
    closed_s: float | None = None
    ended_by: str = "open"  # "client" (it closed or went away), "dropped" (a fault aborted it), "server"


@dataclass
class StandInStats:
    connections: int = 0
    frames_sent: int = 0
    rest_requests: int = 0
    rest_refused: int = 0
    dropped_connections: int = 0
    clients_finished: int = 0
    subscribed: list[set[str]] = field(default_factory=list)
    connection_log: list[ConnectionRecord] = field(default_factory=list)
    stalls: int = 0
    injected_frames: int = 0
    credit_log: list[tuple[float, int]] = field(default_factory=list)  # (wall time, credits) of each served call
    rest_log: list[dict[str, str]] = field(default_factory=list)  # every time_series request's parameters

    def credits_by_minute(self) -> dict[int, int]:
        """Credits spent in each minute of the wall clock (refused calls spend none)."""
        spent: dict[int, int] = {}
        for at, credits in self.credit_log:
            spent[int(at // 60)] = spent.get(int(at // 60), 0) + credits
        return spent


def _json_response(status: int, body: bytes, content_type: str = "application/json",
                   extra: dict[str, str] | None = None) -> Response:
    # "Connection: close": websockets answers one HTTP request per connection; say so, so clients let go.
    headers = Headers({"Content-Type": content_type, "Content-Length": str(len(body)), "Connection": "close",
                       **(extra or {})})
    return Response(status, HTTPStatus(status).phrase, headers, body)


class TwelveDataStandIn:
    def __init__(self, recording: Recording, *, speed: float = 1.0, api_key: str | None = None,
                 close_at_end: bool = True, live: bool = False, faults: Faults | None = None,
                 credits: CreditLimit | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                 clock: Callable[[], float] = time.monotonic, wall_clock: Callable[[], float] = time.time,
                 on_sent: Callable[[int, ReplayFrame], None] | None = None, rest_up_to_now: bool = False,
                 history: Iterable[SeriesData] = (), access: Access | None = None,
                 bounds: ClientBounds | None = None) -> None:
        self.catalog: Catalog = build_catalog(recording)
        self.clients = ClientCount(bounds or ClientBounds())
        for series in history:
            self.catalog.series[(str(series.meta["symbol"]).upper(), str(series.meta["interval"]))] = series
        self.access = access or Access()
        self.speed = speed
        self.api_key = api_key
        self.close_at_end = close_at_end
        self.live = live
        self._timeline_start: float | None = None
        self.faults = faults or Faults()
        self.credits = credits
        self._sleep = sleep
        self._clock = clock
        self._wall_clock = wall_clock
        self._credit_minute = -1
        self._credits_used = 0
        self._server: Server | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._open: dict[int, tuple[ServerConnection, ConnectionRecord]] = {}  # by connection number
        self._stalled_until = 0.0
        self._on_sent = on_sent
        self.rest_up_to_now = rest_up_to_now
        self.stats = StandInStats()

    # -- HTTP side ---------------------------------------------------------------------------------
    def _authorized(self, request: Request, params: dict[str, str]) -> bool:
        if self.faults.refuse_auth:
            return False
        if self.api_key is None:
            return True
        header = request.headers.get("Authorization", "")
        supplied = (params.get("apikey") or request.headers.get("X-TD-APIKEY")
                    or header.removeprefix("apikey ").strip())
        return supplied == self.api_key

    async def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if connection in self.clients.refused:
            return _json_response(503, orjson.dumps(error_body(503, "too many connections from this client")),
                                  extra={"Retry-After": "1"})
        url = urlsplit(request.path)
        params = dict(parse_qsl(url.query))
        if url.path == "/time_series" and self.faults.rest_delay_s > 0:
            await self._sleep(self.faults.rest_delay_s)
        if not self._authorized(request, params):
            body = orjson.dumps(error_body(401, "**apikey** parameter is incorrect or not specified."))
            return _json_response(401, body)
        if url.path == WS_PATH:
            return None
        if url.path == "/time_series":
            return self._time_series(params)
        if url.path == "/technical_indicators":
            # Clients (the official one, at start-up) read the indicator catalogue; the stand-in has none.
            return _json_response(200, orjson.dumps({"data": {}, "status": "ok"}))
        return _json_response(404, orjson.dumps(error_body(404, f"{url.path} is not served by the stand-in")))

    def _spend_credits(self, cost: int) -> tuple[bool, dict[str, str]]:
        if self.credits is None:
            return True, {}
        minute = int(self._wall_clock() // 60)
        if minute != self._credit_minute:
            self._credit_minute, self._credits_used = minute, 0
        allowed = self._credits_used + cost <= self.credits.per_minute
        if allowed:
            self._credits_used += cost
            self.stats.credit_log.append((self._wall_clock(), cost))
        left = max(0, self.credits.per_minute - self._credits_used)
        return allowed, {"api-credits-used": str(self._credits_used), "api-credits-left": str(left)}

    def _time_series(self, params: dict[str, str]) -> Response:
        self.stats.rest_requests += 1
        self.stats.rest_log.append({k: v for k, v in params.items() if k != "apikey"})
        cost = max(1, len([s for s in params.get("symbol", "").split(",") if s.strip()]))
        allowed, headers = self._spend_credits(cost)
        if self.faults.rest_5xx_burst > 0:
            self.faults.rest_5xx_burst -= 1
            self.stats.rest_refused += 1
            return _json_response(503, orjson.dumps(error_body(503, "Service temporarily unavailable")))
        if self.faults.rest_429_burst > 0 or not allowed:
            self.faults.rest_429_burst = max(0, self.faults.rest_429_burst - 1)
            self.stats.rest_refused += 1
            limit = self.credits.per_minute if self.credits else 8
            body = orjson.dumps(error_body(429, f"You have run out of API credits for the current minute. "
                                                f"{self._credits_used + cost} API credits were used, with the current "
                                                f"limit being {limit}. Wait for the next minute or consider "
                                                "switching to a higher tier plan at https://twelvedata.com/pricing"))
            status = 200 if self.credits and self.credits.errors_with_http_200 else 429
            return _json_response(status, body, extra=headers)
        status, content_type, body = answer_time_series(self.catalog, params, until=self._live_now(),
                                                        access=self.access)
        return _json_response(status, body, content_type, headers)

    def _live_now(self) -> datetime | None:
        """With `rest_up_to_now` in live mode, where the one timeline is, in the recording's time: REST
        knows only the bars that have ended by then, as the real service does. None otherwise (every bar
        of the recording is known, whenever it is asked for)."""
        if not (self.live and self.rest_up_to_now) or self.speed <= 0 or self.catalog.first_us is None:
            return None
        elapsed_s = 0.0 if self._timeline_start is None else (self._clock() - self._timeline_start) * self.speed
        return datetime.fromtimestamp(self.catalog.first_us / 1e6 + elapsed_s, tz=UTC)

    # -- WebSocket side ----------------------------------------------------------------------------
    async def _handle(self, connection: ServerConnection) -> None:
        self.stats.connections += 1
        number = self.stats.connections
        record = ConnectionRecord(number, self._wall_clock())
        self.stats.connection_log.append(record)
        self._open[number] = (connection, record)
        session = ServerSession(self.catalog.instruments)
        self.stats.subscribed.append(session.subscriptions)
        replay: asyncio.Task[None] | None = None
        stalled = asyncio.Event()
        try:
            async for message in connection:
                reply, started = session.receive(message)
                if reply is not None and not stalled.is_set() and not self._stalled():
                    await connection.send(orjson.dumps(reply).decode())
                if started and replay is None:
                    replay = asyncio.create_task(self._replay(connection, session.subscriptions, record, stalled))
        except ConnectionClosed:
            pass
        finally:
            self._open.pop(number, None)
            record.closed_s = self._wall_clock()
            if record.ended_by == "open":
                record.ended_by = "server" if replay is not None and replay.done() else "client"
            if replay is not None:
                replay.cancel()
                # a replay may have ended on the closed socket itself (a fault aborted it mid-send)
                with contextlib.suppress(asyncio.CancelledError, ConnectionClosed):
                    await replay

    def _stalled(self) -> bool:
        return self._clock() < self._stalled_until

    async def _replay(self, connection: ServerConnection, subscriptions: set[str], record: ConnectionRecord,
                      stalled: asyncio.Event) -> None:
        number = record.number
        started = self._clock()
        position_us = 0.0
        if self.live and self.speed > 0:
            # One timeline for everyone, as a live feed: a client (re)connecting resumes at "now" and never
            # sees what went by while it was away.
            if self._timeline_start is None:
                self._timeline_start = started
            started = self._timeline_start
            position_us = (self._clock() - started) * self.speed * 1e6
        sent = 0
        faults = self.faults
        drop_after = faults.drop_after_frames if number <= faults.drop_connections else None
        for frame in self.catalog.frames:
            if frame.offset_us < position_us:
                continue
            if self.speed > 0:
                delay = started + frame.offset_us / 1e6 / self.speed - self._clock()
                if delay > 0:
                    await self._sleep(delay)
            if frame.symbol is not None and frame.symbol not in subscriptions:
                continue
            if drop_after is not None and sent >= drop_after:
                self._abort(connection, record)
                return
            if faults.stall_after_frames is not None and sent >= faults.stall_after_frames:
                stalled.set()
                await asyncio.Event().wait()  # silent until the client gives up
            while self._stalled():
                await self._sleep(self._stalled_until - self._clock())
            await connection.send(frame.text)
            sent += 1
            self.stats.frames_sent += 1
            if self._on_sent is not None:
                self._on_sent(number, frame)
        self.stats.clients_finished += 1
        if self.close_at_end:
            await connection.close(1000, "end of recording")

    def _abort(self, connection: ServerConnection, record: ConnectionRecord) -> None:
        """A dropped socket: no close frame, as a network failure."""
        self.stats.dropped_connections += 1
        record.ended_by = "dropped"
        connection.transport.abort()

    # -- faults on demand (the chaos suite's) ------------------------------------------------------
    async def drop_all(self) -> int:
        """Abort every open connection, as a network failure would; returns how many."""
        open_now = list(self._open.values())
        for connection, record in open_now:
            self._abort(connection, record)
        return len(open_now)

    async def stall(self, seconds: float) -> None:
        """Go silent for `seconds` on every connection (frames and heartbeat replies held), sockets open."""
        self.stats.stalls += 1
        self._stalled_until = max(self._stalled_until, self._clock() + seconds)

    async def inject(self, text: str) -> int:
        """Send one frame, as the server, to every open connection; returns how many got it."""
        sent = 0
        for connection, _ in list(self._open.values()):
            with contextlib.suppress(ConnectionClosed):
                await connection.send(text)
                sent += 1
        self.stats.injected_frames += sent
        return sent

    def act(self, action: Coroutine[Any, Any, T], timeout_s: float = 10.0) -> T:
        """Run one of the above from another thread (the stand-in serves from its own loop)."""
        assert self._loop is not None, "start() first"
        return asyncio.run_coroutine_threadsafe(action, self._loop).result(timeout=timeout_s)

    # -- lifecycle ---------------------------------------------------------------------------------
    async def start(self, host: str = "127.0.0.1", port: int = 0) -> None:
        self._loop = asyncio.get_running_loop()
        self._server = await serve(self._handle, host, port, process_request=self._process_request,
                                   max_size=MAX_CLIENT_MESSAGE, ping_interval=30, ping_timeout=10, close_timeout=2,
                                   open_timeout=self.clients.bounds.request_s,
                                   create_connection=self.clients.connection_class())

    @property
    def port(self) -> int:
        assert self._server is not None, "start() first"
        return int(next(iter(self._server.sockets)).getsockname()[1])

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}{WS_PATH}"

    @property
    def rest_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()


@contextlib.contextmanager
def running_in_thread(stand_in: TwelveDataStandIn, host: str = "127.0.0.1", port: int = 0
                      ) -> Iterator[TwelveDataStandIn]:
    """Serve from a background thread with its own event loop (for synchronous callers and tests)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="twelvedata-stand-in", daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(stand_in.start(host, port), loop).result(timeout=10)
    try:
        yield stand_in
    finally:
        asyncio.run_coroutine_threadsafe(stand_in.stop(), loop).result(timeout=10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=10)
        loop.close()
