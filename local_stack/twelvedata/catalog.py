"""What a recording can serve: price frames by symbol (for streaming) and bars (for REST time_series)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import orjson

from ohlcv_core.errors import RecordRejected
from ohlcv_core.recording import Recording
from ohlcv_core.timeseries import parse_bar_datetime, zone_of
from ohlcv_core.twelvedata import PriceEvent, parse_frame, salvage_symbol


@dataclass(frozen=True, slots=True)
class ReplayFrame:
    offset_us: int          # receive time relative to the first replayed frame
    symbol: str | None      # None: unattributable (sent to every subscribed client)
    text: str


@dataclass
class SeriesData:
    meta: dict[str, Any]
    bars: dict[datetime, dict[str, str]] = field(default_factory=dict)  # UTC bar start -> values


@dataclass
class Catalog:
    frames: list[ReplayFrame]
    instruments: dict[str, dict[str, Any]]  # symbol -> its subscribe-status "success" entry
    series: dict[tuple[str, str], SeriesData]  # (symbol, interval) -> bars
    first_us: int | None = None  # the recorded receive time of the first replayed frame


def _status_entries(recording: Recording) -> dict[str, dict[str, Any]]:
    entries: dict[str, dict[str, Any]] = {}
    for frame in recording.inbound_frames():
        try:
            obj = orjson.loads(frame.frame)
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict) and obj.get("event") == "subscribe-status":
            for item in obj.get("success") or []:
                if isinstance(item, dict) and item.get("symbol"):
                    entries.setdefault(str(item["symbol"]).upper(), item)
    return entries


def build_catalog(recording: Recording) -> Catalog:
    instruments = _status_entries(recording)
    frames: list[ReplayFrame] = []
    first_us: int | None = None
    for frame in recording.inbound_frames():
        symbol: str | None
        try:
            parsed = parse_frame(frame.frame)
        except RecordRejected:
            symbol = salvage_symbol(frame.frame)
        else:
            if not isinstance(parsed, PriceEvent):
                continue  # replies to the recorder (status, heartbeats) are produced live, per client
            symbol = parsed.symbol
            instruments.setdefault(symbol, {"symbol": symbol, "exchange": parsed.exchange or "",
                                            "country": "", "type": parsed.instrument_type or ""})
        first_us = frame.recv_us if first_us is None else first_us
        frames.append(ReplayFrame(frame.recv_us - first_us, symbol, frame.frame))
    series: dict[tuple[str, str], SeriesData] = {}
    for exchange in recording.rest_exchanges():
        if exchange.path != "/time_series" or exchange.status != 200:
            continue
        body = orjson.loads(exchange.body)
        responses = [body] if "meta" in body or "values" in body else list(body.values())
        for response in responses:
            meta = response.get("meta") or {}
            symbol = str(meta.get("symbol") or exchange.params.get("symbol", "")).upper()
            interval = str(meta.get("interval") or exchange.params.get("interval", ""))
            data = series.setdefault((symbol, interval), SeriesData(meta=meta))
            zone = zone_of(meta.get("exchange_timezone"))
            for values in response.get("values") or []:
                # A later response for the same bar wins: it was received last (documented rule).
                data.bars[parse_bar_datetime(values["datetime"], zone)] = values
    return Catalog(frames=frames, instruments=instruments, series=series, first_us=first_us)
