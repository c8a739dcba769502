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
    ServerEvent,
    StreamError,
    SubscribeStatus,
)

LOG = logging.getLogger(__name__)


class AuthError(OhlcvError):
    """Twelve Data refused the API key: retrying would only burn the key's connection attempts."""


@dataclass(frozen=True, slots=True)
class ReceivedFrame:
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


class _Dead(Exception):
    """The protocol declared the connection dead (silence past the idle timeout)."""


def _on_event(event: ServerEvent, connection: ClientConnection) -> None:
    if isinstance(event, StreamError) and event.auth:
        raise AuthError(f"Twelve Data refused the API key inside the stream (code {event.code}): {event.message}")
    if isinstance(event, SubscribeStatus) and event.fails:
        LOG.warning("Twelve Data refused these symbols: %s", ", ".join(sorted(set(event.fails))))


async def resilient_stream(url: str, symbols: tuple[str, ...], *, api_key: str | None,
                           exit_on_close: bool = False, heartbeat_s: float = HEARTBEAT_S,
                           idle_timeout_s: float = IDLE_TIMEOUT_S, open_timeout_s: float = 10.0,
                           close_timeout_s: float = 2.0,
                           policy: ReconnectPolicy | None = None, max_reconnects: int | None = None,
                           sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                           clock: Callable[[], float] = time.time) -> AsyncGenerator[StreamItem, None]:
    """Stream until cancelled; with `exit_on_close`, until the server closes normally (a finite replay)."""
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
                while True:
                    now = clock()
                    if connection.dead(now):
                        raise _Dead
                    if connection.heartbeat_due(now):
                        await ws.send(connection.heartbeat(now))
                    try:
                        # asyncio.timeout, not wait_for: a cancellation racing a completed receive is kept
                        async with asyncio.timeout(connection.wait_s(now)):
                            received = await ws.recv()
                    except TimeoutError:
                        continue
                    text = received if isinstance(received, str) else received.decode("utf-8", "replace")
                    now = clock()
                    event = connection.receive(text, now)
                    _on_event(event, connection)
                    yield ReceivedFrame(int(now * 1000), text, conn, event)
        except ConnectionClosedOK as closed:
            if exit_on_close:
                LOG.info("server closed the stream: %s", closed.rcvd.reason if closed.rcvd else "")
                return
            outcome, reason = "closed", f"closed by the server (code {closed.rcvd.code if closed.rcvd else '?'})"
        except InvalidStatus as refused:
            status = refused.response.status_code
            if status in AUTH_CODES:
                raise AuthError(f"Twelve Data refused the connection with HTTP {status}: "
                                "check the API key") from refused
            outcome, reason = "refused", f"handshake refused with HTTP {status}"
        except _Dead:
            reason = f"no message for {idle_timeout_s:.0f} s"
        except (ConnectionClosed, InvalidHandshake, OSError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        yield Disconnected(conn, reason, int(clock() * 1000))
        decision = policy.after(outcome, connection, reason)
        if isinstance(decision, GiveUp):
            raise OhlcvError(decision.reason)
        LOG.warning("connection %d lost (%s); reconnecting in %.1f s", conn, reason, decision.delay_s)
        await sleep(decision.delay_s)
