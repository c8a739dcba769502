"""The stand-in over real sockets: the WebSocket protocol and REST time_series, served from a recording."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import requests
from websockets.asyncio.client import connect

from local_stack.twelvedata.server import TwelveDataStandIn, running_in_thread
from ohlcv_core.recording import Entry, Header, RestExchange, WsFrame, encode_recording, read_recording
from tests.fixtures import load_text

AAPL_REST = load_text("twelvedata/rest-time-series-1min-aapl.json")


def _price(symbol: str, ts: int, price: float) -> str:
    return orjson.dumps({"event": "price", "symbol": symbol, "timestamp": ts, "price": price}).decode()


@pytest.fixture
def recording(tmp_path: Path) -> Path:
    entries: list[Entry] = [
        WsFrame(1_000_000, 1, "in", '{"event":"subscribe-status","status":"ok","success":[{"symbol":"AAPL",'
                '"exchange":"NASDAQ","country":"United States","type":"Common Stock"}],"fails":null}'),
        WsFrame(2_000_000, 1, "in", _price("AAPL", 1692888600, 177.0)),
        WsFrame(2_100_000, 1, "in", _price("EUR/USD", 1692888600, 1.08)),
        WsFrame(2_200_000, 1, "in", '{"event":"heartbeat","status":"ok"}'),
        WsFrame(2_300_000, 1, "in", _price("AAPL", 1692888601, 177.1)),
        RestExchange(3_000_000, "/time_series", {"symbol": "AAPL", "interval": "1min"}, 200, AAPL_REST),
    ]
    path = tmp_path / "small.tdrec.gz"
    path.write_bytes(encode_recording(Header(("AAPL", "EUR/USD")), entries))
    return path


@pytest.fixture
def stand_in(recording: Path) -> Iterator[TwelveDataStandIn]:
    with running_in_thread(TwelveDataStandIn(read_recording(recording), speed=0)) as server:
        yield server


async def _session(url: str, messages: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], int | None]:
    received = []
    async with connect(url, open_timeout=5) as ws:
        for message in messages:
            await ws.send(orjson.dumps(message).decode())
        async for frame in ws:
            received.append(orjson.loads(frame))
    return received, ws.close_code


def test_subscribe_replays_only_the_subscribed_symbols_then_closes(stand_in: TwelveDataStandIn) -> None:
    received, close_code = asyncio.run(_session(stand_in.ws_url, [
        {"action": "subscribe", "params": {"symbols": "AAPL,NOPE"}},
    ]))
    status, *prices = received
    assert status["event"] == "subscribe-status"
    assert [s["symbol"] for s in status["success"]] == ["AAPL"]
    assert status["fails"] == [{"symbol": "NOPE"}]
    assert [(p["symbol"], p["price"]) for p in prices] == [("AAPL", 177.0), ("AAPL", 177.1)]
    assert close_code == 1000


def test_only_failures_give_an_error_status_with_a_null_success_list(stand_in: TwelveDataStandIn) -> None:
    received, _ = asyncio.run(_session(stand_in.ws_url, [
        {"action": "heartbeat"},
        {"action": "subscribe", "params": {"symbols": [{"symbol": "GBP/USD"}]}},
        {"action": "subscribe", "params": {"symbols": [{"symbol": "EUR/USD", "exchange": "FOREX"}]}},
    ]))
    assert received[0] == {"event": "heartbeat", "status": "ok"}
    assert received[1] == {"event": "subscribe-status", "status": "error", "success": None,
                           "fails": [{"symbol": "GBP/USD"}]}
    assert [p["symbol"] for p in received[3:]] == ["EUR/USD"]


def test_time_series_is_answered_from_the_recording(stand_in: TwelveDataStandIn) -> None:
    response = requests.get(f"{stand_in.rest_url}/time_series", timeout=5, params={
        "symbol": "AAPL", "interval": "1min", "start_date": "2023-08-24 10:50:00",
        "end_date": "2023-08-24 10:52:00", "order": "asc"})
    body = response.json()
    assert response.status_code == 200 and body["status"] == "ok"
    assert [v["datetime"] for v in body["values"]] == ["2023-08-24 10:50:00", "2023-08-24 10:51:00",
                                                       "2023-08-24 10:52:00"]
    assert body["values"][1] == {"datetime": "2023-08-24 10:51:00", "open": "178.03999", "high": "178.15500",
                                 "low": "178.03000", "close": "178.11760", "volume": "143380"}


def test_time_series_in_utc_latest_first_with_outputsize(stand_in: TwelveDataStandIn) -> None:
    body = requests.get(f"{stand_in.rest_url}/time_series", timeout=5, params={
        "symbol": "AAPL", "interval": "1min", "timezone": "UTC", "outputsize": "2"}).json()
    assert [v["datetime"] for v in body["values"]] == ["2023-08-24 15:09:00", "2023-08-24 15:08:00"]
    assert body["meta"]["exchange_timezone"] == "UTC"


def test_time_series_errors_and_csv(stand_in: TwelveDataStandIn) -> None:
    missing = requests.get(f"{stand_in.rest_url}/time_series", timeout=5,
                           params={"symbol": "ZZZZ", "interval": "1min"})
    assert missing.status_code == 400 and missing.json()["status"] == "error"
    csv = requests.get(f"{stand_in.rest_url}/time_series", timeout=5,
                       params={"symbol": "AAPL", "interval": "1min", "outputsize": "1", "format": "CSV"})
    assert csv.text.splitlines() == ["datetime;open;high;low;close;volume",
                                     "2023-08-24 11:09:00;177.91010;178.02000;177.91000;178.00121;293189"]


def test_a_configured_api_key_is_enforced(recording: Path) -> None:
    with running_in_thread(TwelveDataStandIn(read_recording(recording), speed=0, api_key="k")) as server:
        refused = requests.get(f"{server.rest_url}/time_series", timeout=5,
                               params={"symbol": "AAPL", "interval": "1min"})
        assert refused.status_code == 401 and refused.json()["code"] == 401
        allowed = requests.get(f"{server.rest_url}/time_series", timeout=5,
                               params={"symbol": "AAPL", "interval": "1min", "apikey": "k"})
        assert allowed.status_code == 200


def test_several_clients_at_once_each_get_their_own_symbols(stand_in: TwelveDataStandIn) -> None:
    async def both() -> list[tuple[list[dict[str, Any]], int | None]]:
        return list(await asyncio.gather(
            _session(stand_in.ws_url, [{"action": "subscribe", "params": {"symbols": "AAPL"}}]),
            _session(stand_in.ws_url, [{"action": "subscribe", "params": {"symbols": "EUR/USD"}}]),
            _session(stand_in.ws_url, [{"action": "subscribe", "params": {"symbols": "AAPL,EUR/USD"}}]),
        ))

    results = asyncio.run(both())
    symbols = [[e["symbol"] for e in received if e.get("event") == "price"] for received, _ in results]
    assert symbols == [["AAPL", "AAPL"], ["EUR/USD"], ["AAPL", "EUR/USD", "AAPL"]]
    assert stand_in.stats.connections == 3
