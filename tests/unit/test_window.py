from __future__ import annotations

import pytest

from ohlcv_core.envelope import encode_envelope
from ohlcv_core.errors import ConfigError, RecordRejected
from ohlcv_core.normalize import Accepted, normalize
from ohlcv_core.window import TimeWindow

EVENT_S = 1692888600
DEFAULT = TimeWindow()


def _price_at(arrival_ms: int, window: TimeWindow = DEFAULT) -> object:
    frame = f'{{"event":"price","symbol":"AAPL","timestamp":{EVENT_S},"price":177.5}}'
    return normalize(encode_envelope(frame, arrival_ms, "twelvedata.ws"), arrival_ms, window)


def test_events_near_arrival_pass() -> None:
    assert isinstance(_price_at(EVENT_S * 1000 + 1500), Accepted)
    assert isinstance(_price_at(EVENT_S * 1000 - 200_000), Accepted)  # producer clock behind: 200 s ahead


@pytest.mark.parametrize("arrival_ms", [EVENT_S * 1000 - 301_000, EVENT_S * 1000 + 8 * 86_400_000])
def test_far_future_and_stale_prices_are_rejected(arrival_ms: int) -> None:
    with pytest.raises(RecordRejected) as caught:
        _price_at(arrival_ms)
    assert caught.value.code == "timestamp_out_of_window"


def test_the_window_comes_from_the_environment() -> None:
    window = TimeWindow.from_environ({"OHLCV_MAX_PRICE_AGE_S": "864000"})
    assert isinstance(_price_at(EVENT_S * 1000 + 8 * 86_400_000, window), Accepted)
    with pytest.raises(ConfigError, match="OHLCV_MAX_FUTURE_S"):
        TimeWindow.from_environ({"OHLCV_MAX_FUTURE_S": "soon"})
    with pytest.raises(ConfigError, match="negative"):
        TimeWindow.from_environ({"OHLCV_MAX_BAR_AGE_S": "-1"})


def test_without_an_arrival_time_the_receive_time_is_the_reference() -> None:
    frame = f'{{"event":"price","symbol":"AAPL","timestamp":{EVENT_S},"price":177.5}}'
    stale = encode_envelope(frame, EVENT_S * 1000 + 30 * 86_400_000, "twelvedata.ws")
    with pytest.raises(RecordRejected):
        normalize(stale, 0)
