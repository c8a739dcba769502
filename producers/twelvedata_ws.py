"""Twelve Data WebSocket source: connect, subscribe, heartbeat, yield every frame with its receive time."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass

import orjson
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosedOK

LOG = logging.getLogger(__name__)
HEARTBEAT_S = 10.0


@dataclass(frozen=True, slots=True)
class ReceivedFrame:
    received_at_ms: int
    text: str


async def _heartbeat(send: Callable[[str], object], interval_s: float) -> None:
    message = orjson.dumps({"action": "heartbeat"}).decode()
    while True:
        await asyncio.sleep(interval_s)
        await send(message)  # type: ignore[misc]


async def stream_frames(url: str, symbols: tuple[str, ...], *, api_key: str | None,
                        heartbeat_s: float = HEARTBEAT_S, open_timeout_s: float = 10.0,
                        clock: Callable[[], float] = time.time) -> AsyncIterator[ReceivedFrame]:
    """Frames until the server closes normally. (Reconnects and gap repair wrap this: see issue #6.)"""
    headers = {"X-TD-APIKEY": api_key} if api_key else None
    async with connect(url, additional_headers=headers, open_timeout=open_timeout_s, max_size=2**22) as ws:
        await ws.send(orjson.dumps({"action": "subscribe", "params": {"symbols": ",".join(symbols)}}).decode())
        beat = asyncio.create_task(_heartbeat(ws.send, heartbeat_s))
        try:
            while True:
                try:
                    message = await ws.recv()
                except ConnectionClosedOK:
                    LOG.info("server closed the stream: %s", ws.close_reason)
                    return
                text = message if isinstance(message, str) else message.decode("utf-8", "replace")
                yield ReceivedFrame(int(clock() * 1000), text)
        finally:
            beat.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await beat
