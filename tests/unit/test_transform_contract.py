"""The transform's response contract holds for any input (property-based) and under Lambda's 6 MB limit."""

from __future__ import annotations

import base64
import json
import math
from typing import Any, get_args

import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from firehose_transform.transform import RESPONSE_LIMIT_BYTES, transform_records
from ohlcv_core.envelope import encode_envelope
from ohlcv_core.errors import ReasonCode
from ohlcv_core.window import TimeWindow

REASONS = set(get_args(ReasonCode))
WIDE = TimeWindow(max_future_s=10**10, max_price_age_s=10**10, max_bar_age_s=10**10)

json_scalars = st.one_of(st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
                         st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20))
json_values = st.recursive(json_scalars, lambda inner: st.lists(inner, max_size=4)
                           | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=12)


def _dump(value: Any) -> str:
    return json.dumps(value, allow_nan=True)  # NaN and Infinity as the Python encoder writes them


price_payloads = st.fixed_dictionaries(
    {"event": st.sampled_from(["price", "heartbeat", "subscribe-status", "price"])},
    optional={"symbol": st.one_of(st.text(max_size=12), st.sampled_from(["AAPL", "EUR/USD", "BTC/USD"]), json_values),
              "timestamp": st.one_of(st.integers(1_600_000_000, 1_900_000_000), json_values),
              "price": st.one_of(st.floats(allow_nan=True, allow_infinity=True), st.integers(), json_values),
              "bid": json_values, "ask": json_values, "day_volume": st.one_of(st.integers(), json_values),
              "exchange": json_values, "mic_code": json_values},
).map(_dump)
bar_payloads = st.fixed_dictionaries(
    {"values": st.lists(st.fixed_dictionaries(
        {"datetime": st.sampled_from(["2023-08-24 10:40:00", "2023-08-24", "garbage", "2023-08-24 11:40:00"])},
        optional={k: st.one_of(st.sampled_from(["1", "2.5", "0", "-1", "NaN", "1e999", ""]), json_values)
                  for k in ("open", "high", "low", "close", "volume")}), max_size=3)},
    optional={"meta": st.fixed_dictionaries({}, optional={"symbol": json_values, "interval": st.sampled_from(
        ["1min", "1day", "bogus"]), "exchange_timezone": st.sampled_from(["America/New_York", "UTC", "Nope/Zone"])}),
              "status": st.sampled_from(["ok", "error"])},
).map(_dump)


@st.composite
def record_data(draw: st.DrawFn) -> Any:
    kind = draw(st.sampled_from(["bytes", "envelope", "bar", "not_base64", "not_string", "json"]))
    if kind == "bytes":
        return base64.b64encode(draw(st.binary(max_size=64))).decode()
    if kind == "envelope":
        payload = draw(st.one_of(price_payloads, st.text(max_size=40)))
        return base64.b64encode(encode_envelope(payload, draw(st.integers(0, 2**45)), "twelvedata.ws")).decode()
    if kind == "bar":
        envelope = encode_envelope(draw(bar_payloads), 1, "twelvedata.rest.time_series", {"symbol": "AAPL"})
        return base64.b64encode(envelope).decode()
    if kind == "json":
        return base64.b64encode(_dump(draw(json_values)).encode()).decode()
    if kind == "not_base64":
        return draw(st.text(max_size=16))
    return draw(json_values)


records = st.lists(st.fixed_dictionaries(
    {"recordId": st.uuids().map(str), "data": record_data()},
    optional={"approximateArrivalTimestamp": st.one_of(st.integers(0, 2**45), json_values)}), max_size=12)


def _check_contract(event_records: list[dict[str, Any]], response: dict[str, Any], limit: int) -> None:
    out = response["records"]
    assert [r["recordId"] for r in out] == [str(r.get("recordId", "")) for r in event_records]
    assert len(json.dumps(response)) <= limit
    for record in out:
        assert record["result"] in ("Ok", "Dropped", "ProcessingFailed")
        if record["result"] == "Ok":
            lines = base64.b64decode(record["data"]).split(b"\n")
            assert lines[-1] == b"" and len(lines) >= 2
            for line in lines[:-1]:
                row = orjson.loads(line)
                assert row["kind"] in ("price", "bar") and row["idempotency_key"]
                assert math.isfinite(row.get("price", row.get("close")))
            keys = record["metadata"]["partitionKeys"]
            assert set(keys) == {"kind", "dt", "hour"} and keys["kind"] == row["kind"]


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(records)
def test_any_input_gets_a_valid_response_and_every_failure_has_a_reason(event_records: list[dict[str, Any]]) -> None:
    response, tally = transform_records(event_records, WIDE)
    _check_contract(event_records, dict(response), RESPONSE_LIMIT_BYTES)
    failed = [r for r in response["records"] if r["result"] == "ProcessingFailed"]
    assert len(failed) == len(tally.rejections)
    assert all(r.code in REASONS and r.message for r in tally.rejections)
    assert [r.record_id for r in tally.rejections] == [r["recordId"] for r in failed]


def test_non_list_records_and_non_dict_records_never_raise() -> None:
    assert transform_records(None)[0] == {"records": []}
    response, tally = transform_records([None, 5, "x"], WIDE)
    assert [r["result"] for r in response["records"]] == ["ProcessingFailed"] * 3
    assert {r.code for r in tally.rejections} == {"not_base64"}


def test_an_oversize_record_is_failed_with_its_reason() -> None:
    big = base64.b64encode(b"x" * (1000 * 1024 + 1)).decode()
    response, tally = transform_records([{"recordId": "r", "data": big, "approximateArrivalTimestamp": 1}], WIDE)
    assert response["records"][0]["result"] == "ProcessingFailed"
    assert tally.rejections[0].code == "record_too_large"


def _price_event_records(count: int) -> list[dict[str, Any]]:
    out = []
    for index in range(count):
        frame = orjson.dumps({"event": "price", "symbol": "AAPL", "currency": "USD", "exchange": "NASDAQ",
                              "mic_code": "XNGS", "type": "Common Stock", "timestamp": 1692888600 + index % 3600,
                              "price": 177.0 + index % 100 / 100, "day_volume": 1_000_000 + index}).decode()
        data = encode_envelope(frame, 1692888600000 + index, "twelvedata.ws")
        out.append({"recordId": f"{index:056d}", "approximateArrivalTimestamp": 1692888600000 + index,
                    "data": base64.b64encode(data).decode()})
    return out


def test_a_6_mb_event_gets_a_response_under_the_limit_and_only_the_overflow_fails() -> None:
    event_records = _price_event_records(16_000)
    assert len(json.dumps({"records": event_records})) > 5_900_000
    response, tally = transform_records(event_records, WIDE)
    _check_contract(event_records, dict(response), 6 * 1024 * 1024)
    results = [r["result"] for r in response["records"]]
    first_failure = results.index("ProcessingFailed")
    assert set(results[:first_failure]) == {"Ok"} and set(results[first_failure:]) == {"ProcessingFailed"}
    assert {r.code for r in tally.rejections} == {"response_too_large"}
    assert 0 < tally.ok < len(event_records)


def test_a_hostile_symbol_or_field_never_moves_a_record_out_of_its_time_partition() -> None:
    # GIVEN prices whose symbol and fields look like paths or templates
    hostile = ["A/../../X", "B/./..", "C:../../etc", "D_${dt}", "E!{partitionKeyFromLambda:dt}"]
    frames = [orjson.dumps({"event": "price", "symbol": s, "exchange": "../../x", "mic_code": "!{firehose:x}",
                            "timestamp": 1692888600, "price": 1.0}).decode() for s in hostile]
    records = [{"recordId": str(i), "approximateArrivalTimestamp": 1692888600_500,
                "data": base64.b64encode(encode_envelope(f, 1692888600_200, "twelvedata.ws")).decode()}
               for i, f in enumerate(frames)]
    response, _ = transform_records(records, WIDE)
    # THEN each is either refused with a reason or partitioned by its event time and kind alone
    for record in response["records"]:
        if record["result"] == "Ok":
            assert record["metadata"]["partitionKeys"] == {"kind": "price", "dt": "2023-08-24", "hour": "14"}
        else:
            assert record["result"] == "ProcessingFailed"
    assert sum(r["result"] == "Ok" for r in response["records"]) >= 2  # the path-like ones are valid symbols
