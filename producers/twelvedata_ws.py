"""Twelve Data WebSocket source: the I/O around `ohlcv_core.td_protocol`. Connects, subscribes, sends
heartbeats when the protocol says they are due, yields every frame with its receive time and what the
protocol read it as; after a drop, an error or silence it reconnects when the reconnect policy says
(capped jittered backoff that starts over only after a connection that streamed prices) and resubscribes.

Yields what happened, in order: `Subscribed` (a connection is up and the subscription sent), every
`ReceivedFrame`, `Disconnected` (with why). An API-key refusal, at the handshake or inside the stream,
stops it (AuthError) instead of hammering.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import NamedTuple

from websockets.asyncio.client import ClientConnection as WebSocket
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake, InvalidStatus

from ohlcv_core.errors import OhlcvError
from ohlcv_core.td_protocol import (
    AUTH_CODES,
    HEARTBEAT_S,
    IDLE_TIMEOUT_S,
    ClientConnection,
    GiveUp,
    Outcome,
    ReconnectPolicy,
    ResetStatus,
    ServerEvent,
    StreamError,
    SubscribeStatus,
)
from producers.tasks import cancel_and_settle

LOG = logging.getLogger(__name__)


class AuthError(OhlcvError):
    """Twelve Data refused the API key: retrying would only burn the key's connection attempts."""


class ReceivedFrame(NamedTuple):
    """One text frame as received. (A NamedTuple: one is made per quote, and a frozen dataclass costs
    three times as much to build.)"""

    received_at_ms: int
    text: str
    conn: int = 1
    event: ServerEvent | None = None  # what the protocol read it as (None for frames replayed from a file)


@dataclass(frozen=True, slots=True)
class Subscribed:
    conn: int
    message: str  # the subscribe message as sent
    at_ms: int


@dataclass(frozen=True, slots=True)
class Disconnected:
    conn: int
    reason: str
    at_ms: int


StreamItem = ReceivedFrame | Subscribed | Disconnected


async def _keep_alive(ws: WebSocket, connection: ClientConnection, clock: Callable[[], float]) -> None:
    """The protocol's timers, beside the receive loop rather than around each receive (a timeout per
    frame costs about 7 µs, a sixth of the producer's time per quote): heartbeats when they are due, and a
    connection silent past the idle timeout aborted, which ends the pending receive."""
    try:
        while not connection.dead(clock()):
            if connection.heartbeat_due(clock()):
                await ws.send(connection.heartbeat(clock()))
            await asyncio.sleep(max(connection.wait_s(clock()), 0.01))
    except ConnectionClosed:
        return  # the receive loop sees the same close and says why
    ws.transport.abort()


def _on_event(event: ServerEvent) -> None:
    if isinstance(event, StreamError) and event.auth:
        raise AuthError(f"Twelve Data refused the API key inside the stream (code {event.code}): {event.message}")
    if isinstance(event, SubscribeStatus) and event.fails:
        LOG.warning("Twelve Data refused these symbols: %s", ", ".join(sorted(set(event.fails))))
    if isinstance(event, SubscribeStatus) and not event.success:
        LOG.error("Twelve Data's subscribe-status subscribed none of the symbols (status %s): the stream carries "
                  "no prices until the next connection", "ok" if event.ok else "error")


async def _stop_when_told(ws: WebSocket, connection: ClientConnection, stop: asyncio.Event, drain_s: float,
                          clock: Callable[[], float]) -> None:
    """Once `stop` is set: ask the service to stop sending (reset) and give its reply `drain_s` to come
    (the receive loop ends there, every frame before it read); past that, abort the connection."""
    await stop.wait()
    try:
        await ws.send(connection.reset(clock()))
    except ConnectionClosed:
        return
    await asyncio.sleep(drain_s)
    LOG.warning("no reply to the reset within %.1f s: closing the stream without it", drain_s)
    ws.transport.abort()


def _why(exc: BaseException) -> str:
    """Why a connection ended, in our words: a close frame's code, never its reason text (the peer's words,
    which may carry anything, a secret included), nor a handshake's headers."""
    if isinstance(exc, ConnectionClosed):
        frame = exc.rcvd or exc.sent
        return f"{type(exc).__name__}: close code {frame.code if frame else 'none (no close frame)'}"
    if isinstance(exc, InvalidHandshake):
        return f"{type(exc).__name__}: the handshake failed"
    return f"{type(exc).__name__}: {exc}"  # a local socket error: our own system's words


async def resilient_stream(url: str, symbols: tuple[str, ...], *, api_key: str | None,
                           exit_on_close: bool = False, heartbeat_s: float = HEARTBEAT_S,
                           idle_timeout_s: float = IDLE_TIMEOUT_S, open_timeout_s: float = 10.0,
                           close_timeout_s: float = 2.0,
                           policy: ReconnectPolicy | None = None, max_reconnects: int | None = None,
                           stop: asyncio.Event | None = None, drain_s: float = 1.0,
                           sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                           clock: Callable[[], float] = time.time) -> AsyncGenerator[StreamItem, None]:
    """Stream until cancelled; with `exit_on_close`, until the server closes normally (a finite replay);
    with `stop`, until it is set and the frames already on their way have been read (see `_stop_when_told`)."""
    stop = stop or asyncio.Event()
    policy = policy or ReconnectPolicy(max_reconnects=max_reconnects)
    headers = {"X-TD-APIKEY": api_key} if api_key else None
    conn = 0
    while True:
        conn += 1
        connection: ClientConnection | None = None
        outcome: Outcome = "dropped"
        try:
            # close_timeout bounds the closing handshake when the stream is stopped: a server busy sending
            # (websockets' default waits 10 s for its close frame) must not hold a shutdown past its deadline
            async with connect(url, additional_headers=headers, open_timeout=open_timeout_s, max_size=2**22,
                               ping_interval=30, ping_timeout=10, close_timeout=close_timeout_s) as ws:
                connection = ClientConnection(symbols, clock(), heartbeat_s, idle_timeout_s)
                message = connection.subscribe()
                await ws.send(message)
                yield Subscribed(conn, message, int(clock() * 1000))
                # No timeout around the receive (3.11's wait_for could lose a cancellation racing a
                # completed receive): the keep-alive aborts a silent connection instead.
                helpers = [asyncio.create_task(_keep_alive(ws, connection, clock)),
                           asyncio.create_task(_stop_when_told(ws, connection, stop, drain_s, clock))]
                try:
                    while True:
                        received = await ws.recv()
                        text = received if isinstance(received, str) else received.decode("utf-8", "replace")
                        now = clock()
                        event = connection.receive(text, now)
                        _on_event(event)
                        yield ReceivedFrame(int(now * 1000), text, conn, event)
                        if connection.resetting and isinstance(event, ResetStatus):
                            return  # every frame sent before the reset has been read
                finally:
                    await cancel_and_settle(helpers, "the keep-alive or the stopper")
        except ConnectionClosedOK as closed:
            if exit_on_close:
                LOG.info("server closed the stream (code %s)", closed.rcvd.code if closed.rcvd else "?")
                return
            outcome, reason = "closed", f"closed by the server (code {closed.rcvd.code if closed.rcvd else '?'})"
        except InvalidStatus as refused:
            status = refused.response.status_code
            if status in AUTH_CODES:
                raise AuthError(f"Twelve Data refused the connection with HTTP {status}: "
                                "check the API key") from refused
            outcome, reason = "refused", f"handshake refused with HTTP {status}"
        except (ConnectionClosed, InvalidHandshake, OSError) as exc:
            silent = connection is not None and connection.dead(clock())
            reason = f"no message for {idle_timeout_s:g} s" if silent else _why(exc)
        yield Disconnected(conn, reason, int(clock() * 1000))
        if stop.is_set():
            return
        decision = policy.after(outcome, connection, reason)
        if isinstance(decision, GiveUp):
            raise OhlcvError(decision.reason)
        LOG.warning("connection %d lost (%s); reconnecting in %.1f s", conn, reason, decision.delay_s)
        await sleep(decision.delay_s)
