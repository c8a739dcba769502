"""Envelope -> raw-zone records: the transform's whole decision, free of any Lambda or Firehose detail."""

from __future__ import annotations

from typing import NamedTuple

import orjson

from ohlcv_core.envelope import Envelope, decode_envelopes
from ohlcv_core.errors import RecordRejected
from ohlcv_core.keys import PartitionKeys, bar_idempotency_key, partition_keys, price_idempotency_key
from ohlcv_core.limits import FIREHOSE_MAX_RECORD_BYTES
from ohlcv_core.price_frames import usual_price
from ohlcv_core.schema import RAW_SCHEMA_VERSION, RawBarRecord, RawPriceRecord, RawRecord
from ohlcv_core.timeseries import Bar, parse_time_series
from ohlcv_core.twelvedata import PriceValues, load_frame, price_values
from ohlcv_core.window import TimeWindow

# Anything larger did not come through Firehose's API.
MAX_RECORD_BYTES = FIREHOSE_MAX_RECORD_BYTES
DEFAULT_WINDOW = TimeWindow()


_BETWEEN_RECORDS = b'},{"schema_version":'
_NEXT_LINE = b'}\n{"schema_version":'


class Accepted(NamedTuple):
    """Records for one partition. (NamedTuples here: one is built per record on the hot path.)"""

    records: tuple[RawRecord, ...]
    partition: PartitionKeys
    dropped: tuple[str, ...] = ()  # events of a packed record that carried no market data

    def to_json_lines(self) -> bytes:
        """One JSON object per line, serialized as one array and split between its objects (one call instead
        of one per record: a third of the transform's time). `},{"schema_version":` occurs only between two
        records: a record is flat and starts with that key, a `"` inside a string is escaped, and the `"`
        that closes a string is followed by `,` or `}`, never a letter (tests/unit/test_fast_paths.py)."""
        return orjson.dumps(self.records)[1:-1].replace(_BETWEEN_RECORDS, _NEXT_LINE) + b"\n"


class Dropped(NamedTuple):
    """Valid, but no market data: heartbeats, subscribe-status, REST errors and empty responses."""

    event: str


Outcome = Accepted | Dropped


def _venue(value: str | None) -> str | None:
    return value.strip() if value else None


def _price_record(event: PriceValues, envelope: Envelope, arrival_ms: int) -> RawPriceRecord:
    symbol, timestamp_s, price, bid, ask, day_volume, exchange, mic, currency, base, quote, kind = event
    exchange = exchange.strip() if exchange else None
    return {
        "schema_version": RAW_SCHEMA_VERSION, "kind": "price", "symbol": symbol,
        "exchange": exchange, "mic_code": mic.upper() if mic else None,
        "currency": currency, "currency_base": base, "currency_quote": quote,
        "instrument_type": kind, "event_time_ms": timestamp_s * 1000,
        "price": price, "bid": bid, "ask": ask, "day_volume": day_volume,
        "received_at_ms": envelope["received_at_ms"], "arrival_ms": arrival_ms, "source": envelope["source"],
        "idempotency_key": price_idempotency_key((symbol, exchange, timestamp_s, price, bid, ask, day_volume)),
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


def _bars(envelope: Envelope, arrival_ms: int, window: TimeWindow) -> Outcome:
    reference_ms = arrival_ms if arrival_ms > 0 else envelope["received_at_ms"]
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


def frame_price(frame: str | bytes) -> PriceValues | str:
    """A streamed frame's checked price values, or the name of its event when it is no price; raises
    RecordRejected when it is neither."""
    values = usual_price(frame)
    if values is not None:
        return values
    event, obj = load_frame(frame)
    return price_values(obj) if event == "price" else event


def pack_hour(frame: str | bytes) -> int | None:
    """The UTC hour (since the epoch) whose partition a streamed frame's record would be filed under,
    if it is a price event the transform accepts on its content; None for anything else. The producer
    packs only frames of one hour together, so a pack is filed whole and fails only on its time window
    (which its quotes share) or a frame this check let through."""
    try:
        values = frame_price(frame)
    except RecordRejected:
        return None
    return None if isinstance(values, str) else values[1] // 3600


def normalize(data: bytes, arrival_ms: int, window: TimeWindow = DEFAULT_WINDOW) -> Outcome:
    """Decide one Firehose record. Raises RecordRejected (with a reason code) for what cannot be used.

    A record packing several envelopes is decided whole: its rows are filed under one partition, and
    one envelope that cannot be used fails the record (Firehose keeps it under the error prefix, and
    `ohlcv redrive` resends its envelopes one by one)."""
    if len(data) > MAX_RECORD_BYTES:
        raise RecordRejected("record_too_large", f"record of {len(data)} bytes exceeds {MAX_RECORD_BYTES}")
    envelopes = decode_envelopes(data)
    if len(envelopes) == 1:
        return _one(envelopes[0], arrival_ms, window)
    records: list[RawRecord] = []
    dropped: list[str] = []
    first: tuple[int, PartitionKeys | None] | None = None  # the record's partition: (price hour, None) or (0, bars')
    for index, envelope in enumerate(envelopes):
        try:
            if envelope["source"] == "twelvedata.ws":
                price = _price(envelope, arrival_ms, window)
                if isinstance(price, str):
                    dropped.append(price)
                    continue
                rows: tuple[RawRecord, ...] = (price,)
                partition: tuple[int, PartitionKeys | None] = (price["event_time_ms"] // 3_600_000, None)
            else:
                outcome = _bars(envelope, arrival_ms, window)
                if isinstance(outcome, Dropped):
                    dropped.append(outcome.event)
                    continue
                rows, partition = outcome.records, (0, outcome.partition)
        except RecordRejected as rejected:
            raise RecordRejected(rejected.code, f"envelope {index + 1} of {len(envelopes)}: {rejected.message}"
                                 ) from rejected
        if first is None:
            first = partition
        elif partition != first:
            raise RecordRejected("spans_partitions", f"envelope {index + 1} of {len(envelopes)} falls in another "
                                                     "partition than the first: pack one UTC hour's quotes")
        records += rows
    if first is None:
        return Dropped(dropped[0])
    keys = first[1] or partition_keys("price", first[0] * 3_600_000)
    return Accepted(tuple(records), keys, tuple(dropped))


def _one(envelope: Envelope, arrival_ms: int, window: TimeWindow) -> Outcome:
    if envelope["source"] != "twelvedata.ws":
        return _bars(envelope, arrival_ms, window)
    price = _price(envelope, arrival_ms, window)
    if isinstance(price, str):
        return Dropped(price)
    return Accepted((price,), partition_keys("price", price["event_time_ms"]))


def _price(envelope: Envelope, arrival_ms: int, window: TimeWindow) -> RawPriceRecord | str:
    """A streamed frame's raw-zone record, or the name of its event when it is no price."""
    values = frame_price(envelope["payload"])
    if isinstance(values, str):
        return values
    record = _price_record(values, envelope, arrival_ms)
    event_ms = record["event_time_ms"]
    reference_ms = arrival_ms if arrival_ms > 0 else envelope["received_at_ms"]
    if not window.admits_price(event_ms, reference_ms):
        window.check("price", event_ms, reference_ms)
    return record
