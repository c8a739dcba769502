"""Twelve Data's protocol without sockets: frames in, decisions out (ohlcv_core.td_protocol)."""

from __future__ import annotations

import random

import orjson
import pytest

from ohlcv_core.td_protocol import (
    HEARTBEAT_MESSAGE,
    RESET_MESSAGE,
    ClientConnection,
    GiveUp,
    HeartbeatReply,
    PriceSeen,
    Reconnect,
    ReconnectPolicy,
    ResetStatus,
    ServerSession,
    StreamError,
    SubscribeStatus,
    Unrecognised,
    read_server_frame,
    subscribe_message,
)
from tests.fixtures import load_text


def test_the_captured_server_frames_read_as_their_events() -> None:
    assert read_server_frame(load_text("twelvedata/ws-price-amzn.json")) == PriceSeen("AMZN", 1667563304)
    ok = read_server_frame(load_text("twelvedata/ws-subscribe-status-ok-aapl.json"))
    assert isinstance(ok, SubscribeStatus) and ok.ok and ok.success == ("AAPL",) and ok.fails == ()
    refused = read_server_frame(load_text("twelvedata/ws-subscribe-status-error-gbpusd.json"))
    assert isinstance(refused, SubscribeStatus) and not refused.ok and refused.fails == ("GBP/USD",)
    assert read_server_frame('{"event":"heartbeat","status":"ok"}') == HeartbeatReply(ok=True)


@pytest.mark.parametrize(("text", "expected"), [
    ('{"status":"error","code":401,"message":null}', StreamError(401, "")),
    ('{"status":"error","code":"403","message":17}', StreamError(403, "")),
    ('{"status":"error","message":"Invalid API key"}', StreamError(None, "Invalid API key")),
    ('{"event":"subscribe-status","status":"error","code":401,"message":"**apikey** is incorrect"}',
     StreamError(401, "**apikey** is incorrect")),
    ('{"event":"subscribe-status","fails":5,"success":"x"}', SubscribeStatus(False, (), ())),
    ('{"event":"subscribe-status","status":"ok","fails":[{"symbol":3},"x",{"symbol":"BAD"}]}',
     SubscribeStatus(True, (), ("BAD",))),
    ('{"event":"price","symbol":7,"timestamp":true}', PriceSeen(None, None)),
    ('["price"]', Unrecognised(None)),
    ("{torn", Unrecognised(None)),
    ('{"event":"reset-status","status":"ok"}', ResetStatus(ok=True)),
    ('{"event":"reset-status","status":[]}', ResetStatus(ok=False)),
    ('{"event":"unheard-of"}', Unrecognised("unheard-of")),
])
def test_malformed_control_frames_are_events_never_exceptions(text: str, expected: object) -> None:
    assert read_server_frame(text) == expected


def test_which_errors_are_about_the_key() -> None:
    assert StreamError(401, "").auth and StreamError(None, "Invalid API key").auth
    assert not StreamError(429, "You have run out of API credits").auth and not StreamError(None, "").auth


def test_a_connection_subscribes_beats_and_declares_silence_dead() -> None:
    # GIVEN a connection opened at t=100 with a 10 s heartbeat and a 60 s idle timeout
    connection = ClientConnection(("AAPL", "EUR/USD"), opened_at=100.0)
    assert orjson.loads(connection.subscribe()) == {"action": "subscribe", "params": {"symbols": "AAPL,EUR/USD"}}
    assert connection.subscribe() == subscribe_message(("AAPL", "EUR/USD"))
    # THEN the first heartbeat is due 10 s in, and the wait until then is what is left of it
    assert not connection.heartbeat_due(105.0) and connection.wait_s(105.0) == 5.0
    assert connection.heartbeat_due(110.0) and connection.heartbeat(110.0) == HEARTBEAT_MESSAGE
    assert connection.wait_s(110.0) == 10.0
    # WHEN frames arrive, they keep the connection alive, and prices are counted
    assert isinstance(connection.receive(load_text("twelvedata/ws-price-amzn.json"), 150.0), PriceSeen)
    assert isinstance(connection.receive(load_text("twelvedata/ws-subscribe-status-error-gbpusd.json"), 151.0),
                      SubscribeStatus)
    assert connection.prices == 1
    assert not connection.dead(210.0) and connection.dead(211.0)  # 60 s after the last frame


def test_the_backoff_grows_until_a_connection_streams_prices_then_starts_over() -> None:
    policy = ReconnectPolicy(base_s=1.0, cap_s=8.0, rng=random.Random(1))
    silent = ClientConnection(("AAPL",), opened_at=0.0)
    # a server that accepts and drops at once: the ceiling doubles each time, capped
    ceilings: list[float] = []
    for _ in range(6):
        decision = policy.after("dropped", silent, "reset by peer")
        assert isinstance(decision, Reconnect)
        ceilings.append(min(8.0, 2.0 ** (len(ceilings))))
        assert 0 <= decision.delay_s <= ceilings[-1]
    assert policy._failures == 6
    # a connection that streamed prices: the next delay is drawn from the base again
    streamed = ClientConnection(("AAPL",), opened_at=0.0)
    streamed.receive(load_text("twelvedata/ws-price-amzn.json"), 1.0)
    decision = policy.after("closed", streamed, "closed by the server")
    assert isinstance(decision, Reconnect) and decision.delay_s <= 1.0


def test_an_auth_refusal_and_the_reconnect_budget_end_it() -> None:
    assert isinstance(ReconnectPolicy().after("auth", None, "HTTP 401"), GiveUp)
    policy = ReconnectPolicy(max_reconnects=2, rng=random.Random(0))
    assert [type(policy.after("refused", None, "HTTP 503")) for _ in range(3)] == [Reconnect, Reconnect, GiveUp]


def test_the_server_side_answers_as_the_service_does() -> None:
    session = ServerSession({"AAPL": {"symbol": "AAPL", "exchange": "NASDAQ"}})
    reply, started = session.receive('{"action":"subscribe","params":{"symbols":"AAPL,NOPE"}}')
    assert started and session.subscriptions == {"AAPL"}
    assert reply == {"event": "subscribe-status", "status": "ok", "success": [{"symbol": "AAPL", "exchange": "NASDAQ"}],
                     "fails": [{"symbol": "NOPE"}]}
    # what the client reads of that reply is what it asked for
    status = read_server_frame(orjson.dumps(reply).decode())
    assert isinstance(status, SubscribeStatus) and status.success == ("AAPL",) and status.fails == ("NOPE",)
    assert session.receive(HEARTBEAT_MESSAGE) == ({"event": "heartbeat", "status": "ok"}, False)
    assert session.receive('{"action":"unsubscribe","params":{"symbols":[{"symbol":"AAPL"}]}}')[0] is not None
    assert session.subscriptions == set()
    assert session.receive("{torn")[0] == {"event": "message-processing", "status": "error",
                                          "messages": ["invalid JSON"]}
    assert session.receive('{"action":"dance"}')[1] is False
    refused, started = session.receive('{"action":"subscribe","params":{"symbols":"NOPE"}}')
    assert not started and refused is not None and refused["status"] == "error"


def test_a_stopping_client_resets_and_the_server_answers_after_its_last_price() -> None:
    # GIVEN a subscribed session on both sides
    server = ServerSession({"AAPL": {"symbol": "AAPL"}})
    client = ClientConnection(("AAPL",), opened_at=100.0)
    server.receive(client.subscribe())
    # WHEN the client stops, at 130 s
    message = client.reset(130.0)
    reply, _ = server.receive(message)
    # THEN it asked for nothing more, the server unsubscribed it and said so, and the client reads that as the end
    assert message == RESET_MESSAGE and client.resetting and server.subscriptions == set()
    assert read_server_frame(orjson.dumps(reply).decode()) == ResetStatus(ok=True)
    assert not client.dead(130.0 + client.idle_timeout_s - 1)  # the reply is awaited from the reset on
