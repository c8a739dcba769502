"""Twelve Data WebSocket source: connect, subscribe, heartbeat, yield every frame with its receive time;
reconnect after a drop, an error or silence, with capped jittered backoff (reset once the service
answers a subscription, so a server that accepts and drops at once is not hammered), and resubscribe.

Yields what happened, in order: `Subscribed` (a connection is up and the subscription sent), every
`ReceivedFrame`, `Disconnected` (with why). Auth failures stop it (AuthError) instead of hammering.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, ConnectionClosedOK, InvalidHandshake, InvalidStatus

from ohlcv_core.errors import OhlcvError
from producers.backoff import Backoff

LOG = logging.getLogger(__name__)
HEARTBEAT_S = 10.0
IDLE_TIMEOUT_S = 60.0
AUTH_STATUSES = frozenset({401, 403})


class AuthError(OhlcvError):
    """Twelve Data refused the API key: retrying would only burn the key's connection attempts."""


@dataclass(frozen=True, slots=True)
class ReceivedFrame:
    received_at_ms: int
    text: str
    conn: int = 1


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


async def _heartbeat(ws: ClientConnection, interval_s: float, sleep: Callable[[float], Awaitable[None]]) -> None:
    message = orjson.dumps({"action": "heartbeat"}).decode()
    while True:
        await sleep(interval_s)
        await ws.send(message)


def subscribe_message(symbols: tuple[str, ...]) -> str:
    return orjson.dumps({"action": "subscribe", "params": {"symbols": ",".join(symbols)}}).decode()


async def resilient_stream(url: str, symbols: tuple[str, ...], *, api_key: str | None,
                           exit_on_close: bool = False, heartbeat_s: float = HEARTBEAT_S,
                           idle_timeout_s: float = IDLE_TIMEOUT_S, open_timeout_s: float = 10.0,
                           backoff: Backoff | None = None, max_reconnects: int | None = None,
                           sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
                           clock: Callable[[], float] = time.time) -> AsyncGenerator[StreamItem, None]:
    """Stream until cancelled; with `exit_on_close`, until the server closes normally (a finite replay)."""
    backoff = backoff or Backoff(base_s=1.0, cap_s=30.0)
    headers = {"X-TD-APIKEY": api_key} if api_key else None
    message = subscribe_message(symbols)
    conn = 0
    while True:
        conn += 1
        reason = ""
        try:
            async with connect(url, additional_headers=headers, open_timeout=open_timeout_s, max_size=2**22,
                               ping_interval=30, ping_timeout=10) as ws:
                await ws.send(message)
                yield Subscribed(conn, message, int(clock() * 1000))
                beat = asyncio.create_task(_heartbeat(ws, heartbeat_s, sleep))
                answered = False
                try:
                    while True:
                        received = await asyncio.wait_for(ws.recv(), timeout=idle_timeout_s)
                        if not answered:  # the service answered the subscription: the backoff starts over
                            answered = True
                            backoff.reset()
                        text = received if isinstance(received, str) else received.decode("utf-8", "replace")
                        yield ReceivedFrame(int(clock() * 1000), text, conn)
                finally:
                    beat.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await beat
        except ConnectionClosedOK as closed:
            if exit_on_close:
                LOG.info("server closed the stream: %s", closed.rcvd.reason if closed.rcvd else "")
                return
            reason = f"closed by the server ({closed})"
        except InvalidStatus as refused:
            status = refused.response.status_code
            if status in AUTH_STATUSES:
                raise AuthError(f"Twelve Data refused the connection with HTTP {status}: "
                                "check the API key") from refused
            reason = f"handshake refused with HTTP {status}"
        except TimeoutError:
            reason = f"no message for {idle_timeout_s:.0f} s"
        except (ConnectionClosed, InvalidHandshake, OSError) as exc:
            reason = f"{type(exc).__name__}: {exc}"
        yield Disconnected(conn, reason, int(clock() * 1000))
        if max_reconnects is not None and conn > max_reconnects:
            raise OhlcvError(f"gave up after {max_reconnects} reconnects: {reason}")
        delay = backoff.next_delay()
        LOG.warning("connection %d lost (%s); reconnecting in %.1f s", conn, reason, delay)
        await sleep(delay)
