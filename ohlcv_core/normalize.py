"""Envelope -> raw-zone record: the transform's whole decision, free of any Lambda or Firehose detail."""

from __future__ import annotations

from dataclasses import dataclass

import orjson

from ohlcv_core.envelope import decode_envelope
from ohlcv_core.errors import RecordRejected
from ohlcv_core.keys import PartitionKeys, partition_keys, price_idempotency_key
from ohlcv_core.schema import RAW_SCHEMA_VERSION, RawPriceRecord
from ohlcv_core.twelvedata import ControlEvent, parse_frame


@dataclass(frozen=True, slots=True)
class Accepted:
    record: RawPriceRecord
    partition: PartitionKeys

    def to_json_line(self) -> bytes:
        return orjson.dumps(self.record) + b"\n"


@dataclass(frozen=True, slots=True)
class Dropped:
    """A frame that is valid but carries no market data (heartbeat, subscribe-status...)."""

    event: str


Outcome = Accepted | Dropped


def normalize(data: bytes, arrival_ms: int) -> Outcome:
    """Decide one Firehose record. Raises RecordRejected (with a reason code) for what cannot be used."""
    envelope = decode_envelope(data)
    if envelope["source"] != "twelvedata.ws":
        raise RecordRejected("unknown_event", f"source {envelope['source']} is not normalized by this version")
    frame = parse_frame(envelope["payload"])
    if isinstance(frame, ControlEvent):
        return Dropped(event=frame.event)
    event_time_ms = frame.timestamp_s * 1000
    record: RawPriceRecord = {
        "schema_version": RAW_SCHEMA_VERSION,
        "kind": "price",
        "symbol": frame.symbol,
        "exchange": frame.exchange,
        "mic_code": frame.mic_code,
        "currency": frame.currency,
        "currency_base": frame.currency_base,
        "currency_quote": frame.currency_quote,
        "instrument_type": frame.instrument_type,
        "event_time_ms": event_time_ms,
        "price": frame.price,
        "bid": frame.bid,
        "ask": frame.ask,
        "day_volume": frame.day_volume,
        "received_at_ms": envelope["received_at_ms"],
        "arrival_ms": arrival_ms,
        "source": envelope["source"],
        "idempotency_key": price_idempotency_key(frame),
    }
    return Accepted(record=record, partition=partition_keys("price", event_time_ms))
