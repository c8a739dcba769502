"""Envelope -> raw-zone records: the transform's whole decision, free of any Lambda or Firehose detail."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from ohlcv_core.envelope import Envelope, decode_envelope
from ohlcv_core.errors import RecordRejected
from ohlcv_core.keys import PartitionKeys, bar_idempotency_key, partition_keys, price_idempotency_key
from ohlcv_core.schema import RAW_SCHEMA_VERSION, RawBarRecord, RawPriceRecord, RawRecord
from ohlcv_core.timeseries import Bar, parse_time_series
from ohlcv_core.twelvedata import ControlEvent, PriceEvent, parse_frame
from ohlcv_core.window import TimeWindow

# A Firehose record is at most 1,000 KiB; anything larger did not come through Firehose's API.
MAX_RECORD_BYTES = 1000 * 1024
DEFAULT_WINDOW = TimeWindow()


@dataclass(frozen=True, slots=True)
class Accepted:
    records: tuple[RawRecord, ...]
    partition: PartitionKeys

    def to_json_lines(self) -> bytes:
        return b"".join(orjson.dumps(r) + b"\n" for r in self.records)


@dataclass(frozen=True, slots=True)
class Dropped:
    """Valid, but no market data: heartbeats, subscribe-status, REST errors and empty responses."""

    event: str


Outcome = Accepted | Dropped


def _venue(value: str | None) -> str | None:
    return value.strip() if value else None


def _price_record(event: PriceEvent, envelope: Envelope, arrival_ms: int) -> RawPriceRecord:
    return {
        "schema_version": RAW_SCHEMA_VERSION, "kind": "price", "symbol": event.symbol,
        "exchange": _venue(event.exchange), "mic_code": event.mic_code.upper() if event.mic_code else None,
        "currency": event.currency, "currency_base": event.currency_base, "currency_quote": event.currency_quote,
        "instrument_type": event.instrument_type, "event_time_ms": event.timestamp_s * 1000,
        "price": event.price, "bid": event.bid, "ask": event.ask, "day_volume": event.day_volume,
        "received_at_ms": envelope["received_at_ms"], "arrival_ms": arrival_ms, "source": envelope["source"],
        "idempotency_key": price_idempotency_key(event),
    }


def _bar_record(bar: Bar, envelope: Envelope, arrival_ms: int) -> RawBarRecord:
    mic = bar.instrument.get("mic_code")
    return {
        "schema_version": RAW_SCHEMA_VERSION, "kind": "bar", "symbol": bar.symbol,
        "exchange": _venue(bar.instrument.get("exchange")), "mic_code": mic.upper() if mic else None,
        "currency": bar.instrument.get("currency"), "currency_base": bar.instrument.get("currency_base"),
        "currency_quote": bar.instrument.get("currency_quote"), "instrument_type": bar.instrument.get("type"),
        "interval": bar.interval, "time_zone": bar.time_zone, "bar_datetime": bar.bar_datetime,
        "event_time_ms": bar.start_ms, "open": bar.open, "high": bar.high, "low": bar.low, "close": bar.close,
        "volume": bar.volume, "received_at_ms": envelope["received_at_ms"], "arrival_ms": arrival_ms,
        "source": envelope["source"], "idempotency_key": bar_idempotency_key(bar),
    }


def _prices(envelope: Envelope, arrival_ms: int, window: TimeWindow, reference_ms: int) -> Outcome:
    frame = parse_frame(envelope["payload"])
    if isinstance(frame, ControlEvent):
        return Dropped(event=frame.event)
    record = _price_record(frame, envelope, arrival_ms)
    window.check("price", record["event_time_ms"], reference_ms)
    return Accepted(records=(record,), partition=partition_keys("price", record["event_time_ms"]))


def _bars(envelope: Envelope, arrival_ms: int, window: TimeWindow, reference_ms: int) -> Outcome:
    bars, empty_reason = parse_time_series(envelope["payload"], envelope.get("request", {}))
    if empty_reason is not None:
        return Dropped(event=empty_reason)
    partition = partition_keys("bar", bars[0].start_ms)
    for bar in bars:
        window.check("bar", bar.start_ms, reference_ms)
        if partition_keys("bar", bar.start_ms) != partition:
            raise RecordRejected("spans_partitions", f"bars from {bars[0].bar_datetime} to {bar.bar_datetime} fall "
                                                     "in different UTC hours: send one envelope per hour")
    return Accepted(records=tuple(_bar_record(b, envelope, arrival_ms) for b in bars), partition=partition)


def normalize(data: bytes, arrival_ms: int, window: TimeWindow = DEFAULT_WINDOW) -> Outcome:
    """Decide one Firehose record. Raises RecordRejected (with a reason code) for what cannot be used."""
    if len(data) > MAX_RECORD_BYTES:
        raise RecordRejected("record_too_large", f"record of {len(data)} bytes exceeds {MAX_RECORD_BYTES}")
    envelope = decode_envelope(data)
    reference_ms = arrival_ms if arrival_ms > 0 else envelope["received_at_ms"]
    if envelope["source"] == "twelvedata.ws":
        return _prices(envelope, arrival_ms, window, reference_ms)
    return _bars(envelope, arrival_ms, window, reference_ms)
