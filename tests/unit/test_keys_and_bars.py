from __future__ import annotations

from typing import Any

import pytest

from ohlcv_core.bars import minute_start_ms, volume_increment
from ohlcv_core.envelope import encode_envelope
from ohlcv_core.keys import parse_partition_path, partition_keys, price_idempotency_key
from ohlcv_core.normalize import Accepted, Dropped, normalize
from ohlcv_core.twelvedata import PriceEvent, parse_frame
from tests.fixtures import load_text

FRAME = load_text("twelvedata/ws-price-aapl-with-mic.json").strip()


def _event() -> PriceEvent:
    event = parse_frame(FRAME)
    assert isinstance(event, PriceEvent)
    return event


def test_resend_and_replay_map_to_the_same_key() -> None:
    # GIVEN the same frame received twice (a reconnect replay) at different times
    first = normalize(encode_envelope(FRAME, 1684508044100, "twelvedata.ws"), 1684508044200)
    again = normalize(encode_envelope(FRAME, 1684508999999, "twelvedata.ws"), 1684509000500)
    # THEN both carry the same idempotency key, but keep their own receive and arrival times
    assert isinstance(first, Accepted) and isinstance(again, Accepted)
    assert first.records[0]["idempotency_key"] == again.records[0]["idempotency_key"]
    assert first.records[0]["received_at_ms"] != again.records[0]["received_at_ms"]


@pytest.mark.parametrize("change", [{"price": 175.7}, {"timestamp_s": 1684508045}, {"day_volume": 15991538},
                                    {"symbol": "MSFT"}, {"bid": 175.6}])
def test_different_content_gives_a_different_key(change: dict[str, Any]) -> None:
    assert price_idempotency_key(_event()._replace(**change).identity()) != price_idempotency_key(_event().identity())


def test_partition_keys_come_from_event_time_in_utc() -> None:
    assert partition_keys("price", 1684508044000) == {"kind": "price", "dt": "2023-05-19", "hour": "14"}
    assert partition_keys("price", 1692921599999) == {"kind": "price", "dt": "2023-08-24", "hour": "23"}
    assert partition_keys("price", 1692921600000) == {"kind": "price", "dt": "2023-08-25", "hour": "00"}


def test_normalized_record_partitions_by_event_time_not_arrival() -> None:
    outcome = normalize(encode_envelope(FRAME, 1684508044100, "twelvedata.ws"), arrival_ms=1684511644000)
    assert isinstance(outcome, Accepted)
    assert outcome.partition == {"kind": "price", "dt": "2023-05-19", "hour": "14"}
    (record,) = outcome.records
    assert record["event_time_ms"] == 1684508044000
    assert record["arrival_ms"] == 1684511644000
    assert outcome.to_json_lines().endswith(b"\n")


def test_heartbeats_and_status_are_dropped() -> None:
    heartbeat = encode_envelope('{"event":"heartbeat","status":"ok"}', 1, "twelvedata.ws")
    assert normalize(heartbeat, 2) == Dropped("heartbeat")


def test_partition_path_parsing() -> None:
    key = "raw/kind=price/dt=2023-08-24/hour=14/ohlcv-local-prices-1-2023-08-24-14-50-00-x"
    assert parse_partition_path(key) == {"kind": "price", "dt": "2023-08-24", "hour": "14"}
    assert parse_partition_path("errors/processing-failed/2023/08/24/14/x") == {}


def test_minute_start() -> None:
    assert minute_start_ms(1692888659999) == 1692888600000
    assert minute_start_ms(1692888660000) == 1692888660000


@pytest.mark.parametrize(("previous", "current", "expected"), [
    (100, 150, 50),
    (150, 150, 0),
    (15_000_000, 1_200, 1_200),  # the trading day rolled over: the new total is all since the reset
    (None, 150, None),           # no baseline: unknown, not zero
    (150, None, None),           # no volume (forex, crypto)
])
def test_volume_increment(previous: int | None, current: int | None, expected: int | None) -> None:
    assert volume_increment(previous, current) == expected
