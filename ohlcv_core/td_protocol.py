"""Twelve Data's WebSocket protocol without I/O (as python-websockets keeps `protocol.py` apart from its
asyncio connection): what to send, what a received text frame means, when a heartbeat is due, when a
silent connection is dead, and whether and when to reconnect. The producer's client, the recorder (through
that client) and the stand-in server drive these objects with the texts they send and receive and the
time it is; the objects never touch a socket or a clock of their own.

Protocol facts (Twelve Data's WebSocket documentation; real frames in tests/fixtures/twelvedata/):
subscribe with a comma list or a list of objects; the service answers `subscribe-status`
(`success`/`fails` may be null), streams `price` events, replies to `{"action":"heartbeat"}`; errors
inside the stream look like `{"status":"error","code":401,"message":...}` and their format is
unconfirmed, so every field is read defensively: a malformed control frame is an `Unrecognised` event,
never an exception.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

import orjson

HEARTBEAT_S = 10.0  # the interval Twelve Data's own clients use
IDLE_TIMEOUT_S = 60.0  # no frame at all for this long (heartbeat replies included): the connection is dead
AUTH_CODES = frozenset({401, 403})
MAX_TEXT = 200  # how much of a server's message is kept in an event


# -- what the client sends ----------------------------------------------------------------------------
def subscribe_message(symbols: tuple[str, ...]) -> str:
    return orjson.dumps({"action": "subscribe", "params": {"symbols": ",".join(symbols)}}).decode()


HEARTBEAT_MESSAGE = orjson.dumps({"action": "heartbeat"}).decode()
# Unsubscribes from everything: the service answers "reset-status" after the last price it sent, so a
# client that stops reads up to that reply and has every frame that was on its way.
RESET_MESSAGE = orjson.dumps({"action": "reset"}).decode()


# -- what the server sends, as the client reads it ----------------------------------------------------
@dataclass(frozen=True, slots=True)
class PriceSeen:
    """A price event, looked at only as far as the client needs (the transform validates it fully)."""

    symbol: str | None
    timestamp_s: int | None


@dataclass(frozen=True, slots=True)
class SubscribeStatus:
    ok: bool
    success: tuple[str, ...]
    fails: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class StreamError:
    code: int | None
    message: str

    @property
    def auth(self) -> bool:
        return self.code in AUTH_CODES or "api key" in self.message.lower() or "apikey" in self.message.lower()


@dataclass(frozen=True, slots=True)
class HeartbeatReply:
    ok: bool


@dataclass(frozen=True, slots=True)
class ResetStatus:
    """The reply to a reset: no price follows it on this connection."""

    ok: bool


@dataclass(frozen=True, slots=True)
class Unrecognised:
    """Not JSON, not an object, or an event the client has no use for: passed on, never fatal."""

    event: str | None


ServerEvent = PriceSeen | SubscribeStatus | StreamError | HeartbeatReply | ResetStatus | Unrecognised


def _text(value: object) -> str:
    return value[:MAX_TEXT] if isinstance(value, str) else ""


def _code(value: object) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return None


def _symbols(items: object) -> tuple[str, ...]:
    if not isinstance(items, list):
        return ()
    return tuple(str(item["symbol"])[:64] for item in items
                 if isinstance(item, dict) and isinstance(item.get("symbol"), str))


def _price(obj: dict[str, Any]) -> ServerEvent:
    symbol, timestamp = obj.get("symbol"), obj.get("timestamp")
    return PriceSeen(symbol if isinstance(symbol, str) else None,
                     timestamp if isinstance(timestamp, int) and not isinstance(timestamp, bool) else None)


def _subscribe_status(obj: dict[str, Any]) -> ServerEvent:
    code = _code(obj.get("code"))
    if code in AUTH_CODES:  # a subscription refused for the key, not for a symbol
        return StreamError(code, _text(obj.get("message")))
    return SubscribeStatus(obj.get("status") == "ok", _symbols(obj.get("success")), _symbols(obj.get("fails")))


def _heartbeat(obj: dict[str, Any]) -> ServerEvent:
    return HeartbeatReply(obj.get("status") == "ok")


def _reset_status(obj: dict[str, Any]) -> ServerEvent:
    return ResetStatus(obj.get("status") == "ok")


_READERS = {"price": _price, "subscribe-status": _subscribe_status, "heartbeat": _heartbeat,
            "reset-status": _reset_status}


def read_server_frame(text: str) -> ServerEvent:
    """What a text frame from the service means to the client."""
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError:
        return Unrecognised(None)
    if not isinstance(obj, dict):
        return Unrecognised(None)
    event = obj.get("event")
    name = event if isinstance(event, str) else None
    if name in _READERS:
        return _READERS[name](obj)
    if obj.get("status") == "error":
        return StreamError(_code(obj.get("code")), _text(obj.get("message")) or _text(str(obj.get("messages", ""))))
    return Unrecognised(name)


# -- one connection, client side ----------------------------------------------------------------------
@dataclass
class ClientConnection:
    """The state of one connection: its subscription, how many prices it streamed, and its timers."""

    symbols: tuple[str, ...]
    opened_at: float
    heartbeat_s: float = HEARTBEAT_S
    idle_timeout_s: float = IDLE_TIMEOUT_S
    last_received: float = 0.0
    last_heartbeat: float = 0.0
    prices: int = 0
    resetting: bool = False

    def __post_init__(self) -> None:
        self.last_received = self.last_heartbeat = self.opened_at

    def subscribe(self) -> str:
        return subscribe_message(self.symbols)

    def receive(self, text: str, now: float) -> ServerEvent:
        self.last_received = now
        event = read_server_frame(text)
        if isinstance(event, PriceSeen):
            self.prices += 1
        return event

    def reset(self, now: float) -> str:
        """The client is stopping: what to send so that the service stops sending."""
        self.resetting = True
        self.last_received = now  # the reply is awaited from now, not from the last frame
        return RESET_MESSAGE

    def heartbeat_due(self, now: float) -> bool:
        return now - self.last_heartbeat >= self.heartbeat_s

    def heartbeat(self, now: float) -> str:
        self.last_heartbeat = now
        return HEARTBEAT_MESSAGE

    def dead(self, now: float) -> bool:
        """No frame for the idle timeout: the service or the path to it is gone, whatever TCP says."""
        return now - self.last_received >= self.idle_timeout_s

    def wait_s(self, now: float) -> float:
        """How long the connection may wait for a frame before it has something to do."""
        return max(0.0, min(self.last_heartbeat + self.heartbeat_s, self.last_received + self.idle_timeout_s) - now)


# -- reconnecting -------------------------------------------------------------------------------------
Outcome = Literal["closed", "refused", "auth", "dropped"]


@dataclass(frozen=True, slots=True)
class Reconnect:
    delay_s: float


@dataclass(frozen=True, slots=True)
class GiveUp:
    reason: str


@dataclass
class ReconnectPolicy:
    """Capped exponential backoff with full jitter. The backoff starts over only after a connection that
    streamed prices, so a server that accepts and drops at once is retried ever more slowly; an auth
    refusal ends it (retrying burns the key's connection attempts); `max_reconnects` bounds the rest."""

    base_s: float = 1.0
    cap_s: float = 30.0
    max_reconnects: int | None = None
    rng: random.Random = field(default_factory=random.Random)
    _failures: int = 0
    reconnects: int = 0

    def after(self, outcome: Outcome, connection: ClientConnection | None, reason: str) -> Reconnect | GiveUp:
        if outcome == "auth":
            return GiveUp(f"Twelve Data refused the API key: {reason}")
        if connection is not None and connection.prices:
            self._failures = 0
        self.reconnects += 1
        if self.max_reconnects is not None and self.reconnects > self.max_reconnects:
            return GiveUp(f"gave up after {self.max_reconnects} reconnects: {reason}")
        ceiling = min(self.cap_s, self.base_s * (2 ** self._failures))
        self._failures += 1
        return Reconnect(self.rng.uniform(0, ceiling))


# -- the server side (the stand-in) -------------------------------------------------------------------
def requested_symbols(params: object) -> list[str]:
    """Symbols of a subscribe/unsubscribe `params`: "AAPL,RY:TSX" or [{"symbol": ..., "exchange": ...}]."""
    if not isinstance(params, dict):
        return []
    symbols = params.get("symbols")
    if isinstance(symbols, str):
        return [s.strip().split(":", 1)[0].upper() for s in symbols.split(",") if s.strip()]
    if isinstance(symbols, list):
        return [str(item["symbol"]).upper() for item in symbols if isinstance(item, dict) and item.get("symbol")]
    return []


@dataclass
class ServerSession:
    """One client's subscriptions as the service keeps them, and its answers to the client's messages."""

    instruments: Mapping[str, Mapping[str, Any]]  # symbol -> what subscribe-status reports for it
    subscriptions: set[str] = field(default_factory=set)

    def receive(self, message: str | bytes) -> tuple[dict[str, Any] | None, bool]:
        """(the reply to send, whether this message started a subscription)."""
        try:
            obj = orjson.loads(message)
        except orjson.JSONDecodeError:
            return {"event": "message-processing", "status": "error", "messages": ["invalid JSON"]}, False
        action = obj.get("action") if isinstance(obj, dict) else None
        if action == "heartbeat":
            return {"event": "heartbeat", "status": "ok"}, False
        if action == "reset":
            self.subscriptions.clear()
            return {"event": "reset-status", "status": "ok"}, False
        if action in ("subscribe", "unsubscribe"):
            symbols = requested_symbols(obj.get("params"))
            known = [s for s in symbols if s in self.instruments]
            failed = [s for s in symbols if s not in self.instruments]
            if action == "unsubscribe":
                self.subscriptions.difference_update(symbols)
                return {"event": "unsubscribe-status", "status": "ok",
                        "success": [{"symbol": s} for s in known] or None, "fails": None}, False
            self.subscriptions.update(known)
            return {"event": "subscribe-status", "status": "ok" if known else "error",
                    "success": [dict(self.instruments[s]) for s in known] or None,
                    "fails": [{"symbol": s} for s in failed] or None}, bool(known)
        return {"event": "message-processing", "status": "error", "messages": [f"unknown action {action!r}"]}, False
