"""The scenario recordings, written out from the readable definitions below.

`python -m tests.scenarios.build` rewrites the .tdrec.gz files; a test proves the checked-in files are
what this makes. Each scenario has a golden file beside it: the curated bars it must produce, worked
out by hand from the frames here (the reasoning is in the golden's "why").
"""

from __future__ import annotations

from pathlib import Path

import orjson

from ohlcv_core.recording import Disconnect, Entry, Header, RestExchange, WsFrame, encode_recording

HERE = Path(__file__).resolve().parent
T = 1692888600  # 2023-08-24 14:50:00 UTC
LATENCY_US = 150_000


def price(symbol: str, ts: int, value: float, day_volume: int | None = None, **extra: object) -> str:
    event: dict[str, object] = {"event": "price", "symbol": symbol, "timestamp": ts, "price": value}
    if day_volume is not None:
        event["day_volume"] = day_volume
    event.update(extra)
    return orjson.dumps(event).decode()


def status(*symbols: str) -> str:
    success = [{"symbol": s, "exchange": "", "country": "", "type": ""} for s in symbols]
    return orjson.dumps({"event": "subscribe-status", "status": "ok", "fails": None, "success": success}).decode()


def session(conn: int, symbols: tuple[str, ...], at_us: int) -> list[Entry]:
    message = orjson.dumps({"action": "subscribe", "params": {"symbols": ",".join(symbols)}}).decode()
    return [WsFrame(at_us, conn, "out", message), WsFrame(at_us + 100_000, conn, "in", status(*symbols))]


def frames(conn: int, texts: list[tuple[int, str]]) -> list[Entry]:
    """(receive second, frame) pairs; each arrives LATENCY after its second."""
    return [WsFrame(second * 1_000_000 + LATENCY_US + i, conn, "in", text) for i, (second, text) in enumerate(texts)]


EQUITY = {"exchange": "NASDAQ", "mic_code": "XNGS", "type": "Common Stock", "currency": "USD"}
AAPL_META = {"symbol": "AAPL", "interval": "1min", "currency": "USD", "exchange_timezone": "America/New_York",
             "exchange": "NASDAQ", "mic_code": "XNGS", "type": "Common Stock"}


def _time_series(recv_us: int, values: list[dict[str, str]]) -> RestExchange:
    params = {"symbol": "AAPL", "interval": "1min", "timezone": "UTC", "order": "asc"}
    body = orjson.dumps({"meta": AAPL_META, "values": values, "status": "ok"}).decode()
    return RestExchange(recv_us, "/time_series", params, 200, body)

SCENARIOS: dict[str, tuple[tuple[str, ...], list[Entry]]] = {
    # A dropped socket; on reconnect the service re-sends the last two events, then goes on.
    "reconnect": (("AAPL",), [
        *session(1, ("AAPL",), T * 1_000_000 - 2_000_000),
        *frames(1, [(T + 1, price("AAPL", T + 1, 100.0, 1000, **EQUITY)),
                    (T + 20, price("AAPL", T + 20, 101.0, 1100, **EQUITY)),
                    (T + 40, price("AAPL", T + 40, 99.0, 1150, **EQUITY))]),
        Disconnect((T + 45) * 1_000_000, 1, "ConnectionClosedError: no close frame received or sent"),
        *session(2, ("AAPL",), (T + 47) * 1_000_000),
        *frames(2, [(T + 48, price("AAPL", T + 20, 101.0, 1100, **EQUITY)),
                    (T + 48, price("AAPL", T + 40, 99.0, 1150, **EQUITY)),
                    (T + 61, price("AAPL", T + 61, 100.5, 1400, **EQUITY)),
                    (T + 90, price("AAPL", T + 90, 102.0, 1500, **EQUITY))]),
    ]),
    # The same frame twice within one connection.
    "duplicates": (("EUR/USD",), [
        *session(1, ("EUR/USD",), T * 1_000_000 - 2_000_000),
        *frames(1, [(T + 5, price("EUR/USD", T + 5, 1.0850)), (T + 5, price("EUR/USD", T + 5, 1.0850)),
                    (T + 30, price("EUR/USD", T + 30, 1.0860)), (T + 31, price("EUR/USD", T + 30, 1.0860)),
                    (T + 50, price("EUR/USD", T + 50, 1.0840))]),
    ]),
    # A late event: received after a later one; bars follow event time, not arrival.
    "out_of_order": (("MSFT",), [
        *session(1, ("MSFT",), T * 1_000_000 - 2_000_000),
        *frames(1, [(T + 10, price("MSFT", T + 10, 300.0, 5000, **EQUITY)),
                    (T + 40, price("MSFT", T + 40, 302.0, 5300, **EQUITY)),
                    (T + 41, price("MSFT", T + 25, 299.0, 5100, **EQUITY)),
                    (T + 59, price("MSFT", T + 59, 301.0, 5400, **EQUITY))]),
    ]),
    # Forex: no day_volume, so no volume; two minutes.
    "forex_no_volume": (("USD/JPY",), [
        *session(1, ("USD/JPY",), T * 1_000_000 - 2_000_000),
        *frames(1, [(T + 3, price("USD/JPY", T + 3, 145.80, currency_base="US Dollar", currency_quote="Japanese Yen")),
                    (T + 58, price("USD/JPY", T + 58, 145.90)), (T + 65, price("USD/JPY", T + 65, 145.70)),
                    (T + 119, price("USD/JPY", T + 119, 145.75))]),
    ]),
    # The trading day ends and the next begins: day_volume starts again from zero.
    "day_boundary": (("AAPL",), [
        *session(1, ("AAPL",), 1692907100 * 1_000_000),
        *frames(1, [(1692907150, price("AAPL", 1692907150, 177.0, 53_990_000, **EQUITY)),
                    (1692907190, price("AAPL", 1692907190, 177.5, 54_000_000, **EQUITY)),
                    (1692970205, price("AAPL", 1692970205, 178.0, 120_000, **EQUITY)),
                    (1692970240, price("AAPL", 1692970240, 178.5, 150_000, **EQUITY))]),
    ]),
    # REST answers 14:50 again a minute later with other values (a reported quirk: a bar corrected after
    # the fact): the latest received wins. REST bars replace the tick bar of their minute.
    "rest_duplicate_datetimes": (("AAPL",), [
        *session(1, ("AAPL",), T * 1_000_000 - 2_000_000),
        *frames(1, [(T + 70, price("AAPL", T + 70, 178.1, 2000, **EQUITY))]),
        _time_series((T + 180) * 1_000_000, [
            {"datetime": "2023-08-24 14:50:00", "open": "178.00000", "high": "178.20000", "low": "177.90000",
             "close": "178.10000", "volume": "1000"},
            {"datetime": "2023-08-24 14:51:00", "open": "178.20000", "high": "178.40000", "low": "178.10000",
             "close": "178.30000", "volume": "900"}]),
        _time_series((T + 240) * 1_000_000, [
            {"datetime": "2023-08-24 14:50:00", "open": "178.00000", "high": "178.30000", "low": "177.90000",
             "close": "178.20000", "volume": "1100"}]),
    ]),
}


def build(name: str) -> bytes:
    symbols, entries = SCENARIOS[name]
    return encode_recording(Header(symbols, note=f"scenario {name}: tests/scenarios/build.py"),
                            sorted(entries, key=lambda e: e.recv_us))


def main() -> None:
    for name in SCENARIOS:
        (HERE / f"{name}.tdrec.gz").write_bytes(build(name))


if __name__ == "__main__":
    main()
