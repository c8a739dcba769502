"""The real Powertools handler on Firehose events shaped like AWS's samples."""

from __future__ import annotations

import base64
import copy
from collections.abc import Iterator
from typing import Any

import orjson
import pytest

from firehose_transform import handler
from firehose_transform.handler import lambda_handler
from local_stack.lambda_runtime import LocalContext
from ohlcv_core.envelope import encode_envelope
from ohlcv_core.timeseries import split_time_series
from tests.fixtures import load_json, load_text


@pytest.fixture(autouse=True)
def wide_window(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The samples' arrival times (2022) and the captures' event times (2020-2023) are far apart: run the
    handler as a stack deployed with a wide window would (the same environment variables)."""
    monkeypatch.setenv("OHLCV_MAX_FUTURE_S", "315360000")
    monkeypatch.setenv("OHLCV_MAX_PRICE_AGE_S", "315360000")
    handler._window.cache_clear()
    yield
    handler._window.cache_clear()


CONTEXT = LocalContext(function_name="transform", invoked_function_arn="arn:aws:lambda:us-east-1:0:function:t",
                       memory_limit_in_mb=512, aws_request_id="req-1", deadline_ms=2**62)


def _event_with(sample: str, payloads: list[bytes]) -> dict[str, Any]:
    """The AWS sample event, its records' data replaced with ours (ids and timestamps kept)."""
    event: dict[str, Any] = copy.deepcopy(load_json(f"aws-events/{sample}"))
    template = event["records"][0]
    event["records"] = []
    for index, payload in enumerate(payloads):
        record = copy.deepcopy(template)
        record["recordId"] = f"record{index + 1}"
        record["data"] = base64.b64encode(payload).decode()
        event["records"].append(record)
    return event


def _decode(record: dict[str, Any]) -> dict[str, Any]:
    result: dict[str, Any] = orjson.loads(base64.b64decode(record["data"]))
    return result


@pytest.mark.parametrize("sample", ["kinesisFirehosePutEvent.json", "kinesisFirehoseKinesisEvent.json"])
def test_the_aws_sample_events_as_they_are_fail_with_reasons(sample: str, caplog: pytest.LogCaptureFixture) -> None:
    # GIVEN the AWS samples ("Hello World" and {"Hello": "World"}): not our envelopes
    event = load_json(f"aws-events/{sample}")
    response = lambda_handler(event, CONTEXT)
    # THEN every recordId comes back once, failed, with the original data, and the reasons are logged
    assert [r["recordId"] for r in response["records"]] == [r["recordId"] for r in event["records"]]
    assert {r["result"] for r in response["records"]} == {"ProcessingFailed"}
    assert [r["data"] for r in response["records"]] == [r["data"] for r in event["records"]]
    reasons = {getattr(r, "reason_code", None) for r in caplog.records if r.getMessage() == "record rejected"}
    assert reasons == {"bad_envelope"}


@pytest.mark.parametrize("sample", ["kinesisFirehosePutEvent.json", "kinesisFirehoseKinesisEvent.json"])
def test_price_events_are_normalized_and_partitioned_by_event_time(sample: str) -> None:
    frames = [load_text("twelvedata/ws-price-aapl-with-mic.json").strip(),
              load_text("twelvedata/docs-ws-price-xauusd-bid-ask.json"),
              load_text("twelvedata/ws-subscribe-status-ok-aapl.json"),
              '{"event":"heartbeat","status":"ok"}',
              '{"event":"price","symbol":"MSFT","timestamp":1692888901,"price":0}']
    event = _event_with(sample, [encode_envelope(f, 1684508044321, "twelvedata.ws") for f in frames])
    response = lambda_handler(event, CONTEXT)
    records = response["records"]
    assert [r["result"] for r in records] == ["Ok", "Ok", "Dropped", "Dropped", "ProcessingFailed"]
    assert [r["data"] for r in records[2:4]] == ["", ""]
    aapl, gold = _decode(records[0]), _decode(records[1])
    assert aapl["symbol"] == "AAPL" and aapl["event_time_ms"] == 1684508044000 and aapl["day_volume"] == 15991537
    assert aapl["received_at_ms"] == 1684508044321
    assert aapl["arrival_ms"] == event["records"][0]["approximateArrivalTimestamp"]
    assert records[0]["metadata"]["partitionKeys"] == {"kind": "price", "dt": "2023-05-19", "hour": "14"}
    assert (gold["bid"], gold["ask"], gold["day_volume"]) == (1925.05, 1925.32, None)
    assert records[1]["metadata"]["partitionKeys"] == {"kind": "price", "dt": "2022-03-22", "hour": "12"}
    assert base64.b64decode(records[0]["data"]).endswith(b"\n")


def test_undecodable_data_is_failed_not_raised() -> None:
    event = _event_with("kinesisFirehosePutEvent.json", [b"x"])
    event["records"][0]["data"] = "%%% not base64"
    event["records"].append({"recordId": "no-data", "approximateArrivalTimestamp": 1})
    response = lambda_handler(event, CONTEXT)
    assert [(r["recordId"], r["result"]) for r in response["records"]] == [
        ("record1", "ProcessingFailed"), ("no-data", "ProcessingFailed")]


def test_rest_bars_go_through_the_handler_one_envelope_per_hour() -> None:
    body = load_text("twelvedata/rest-time-series-1min-aapl.json")
    parts = split_time_series(body, {"symbol": "AAPL", "interval": "1min", "apikey": "SECRET-KEY"})
    event = _event_with("kinesisFirehoseKinesisEvent.json",
                        [encode_envelope(p, 1692892800000, "twelvedata.rest.time_series", r) for p, r in parts])
    response = lambda_handler(event, CONTEXT)
    assert [r["result"] for r in response["records"]] == ["Ok", "Ok"]
    assert [r["metadata"]["partitionKeys"]["hour"] for r in response["records"]] == ["14", "15"]
    rows = [orjson.loads(line) for r in response["records"] for line in base64.b64decode(r["data"]).splitlines()]
    assert len(rows) == 30 and {row["kind"] for row in rows} == {"bar"}
    assert all(b"SECRET-KEY" not in base64.b64decode(r["data"]) for r in response["records"])


def test_secrets_quoted_in_a_bad_record_never_reach_the_logs(capsys: pytest.CaptureFixture[str],
                                                             caplog: pytest.LogCaptureFixture) -> None:
    frame = '{"event":"price","symbol":"apikey=SECRET123","timestamp":1692888600,"price":1.0}'
    event = _event_with("kinesisFirehosePutEvent.json", [encode_envelope(frame, 1, "twelvedata.ws")])
    response = lambda_handler(event, CONTEXT)
    assert response["records"][0]["result"] == "ProcessingFailed"
    (rejected,) = [r for r in caplog.records if r.getMessage() == "record rejected"]
    assert rejected.reason_code == "invalid_symbol"  # type: ignore[attr-defined]
    assert "SECRET123" not in rejected.reason and "apikey=***" in rejected.reason  # type: ignore[attr-defined]
    assert "SECRET123" not in capsys.readouterr().out


def test_metrics_count_every_outcome_and_the_event_time_lag(capsys: pytest.CaptureFixture[str]) -> None:
    frames = [load_text("twelvedata/ws-price-aapl-with-mic.json").strip(), '{"event":"heartbeat","status":"ok"}',
              '{"event":"price","symbol":"MSFT","timestamp":1684508044,"price":-2}', "{torn"]
    event = _event_with("kinesisFirehosePutEvent.json", [encode_envelope(f, 1, "twelvedata.ws") for f in frames])
    for record in event["records"]:
        record["approximateArrivalTimestamp"] = 1684508044000 + 1500
    lambda_handler(event, CONTEXT)
    (emf,) = [orjson.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
    def value(name: str) -> float:
        raw = emf[name]
        return float(raw[0] if isinstance(raw, list) else raw)

    assert [value(n) for n in ("RecordsIn", "RecordsOk", "RecordsDropped", "RecordsFailed")] == [4, 1, 1, 2]
    assert value("RecordsFailed.invalid_price") == 1 and value("RecordsFailed.not_json") == 1
    assert value("EventTimeLagMaxMs") == 1500
    names = {m["Name"] for m in emf["_aws"]["CloudWatchMetrics"][0]["Metrics"]}
    assert {"RecordsIn", "RecordsOk", "RecordsDropped", "RecordsFailed", "EventTimeLagMaxMs"} <= names


def test_the_hot_paths_invocations_carry_path_live_and_the_record_paths_never(
        capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> None:
    # a warm function invoked by both streams in turn: only the hot path's figures and lines are tagged
    monkeypatch.setenv("OHLCV_LIVE_STREAM", "ohlcv-live")
    frame = load_text("twelvedata/ws-price-aapl-with-mic.json").strip()
    event = _event_with("kinesisFirehosePutEvent.json", [encode_envelope(frame, 1, "twelvedata.ws")])
    streams = {"live": "ohlcv-live", "record": "ohlcv-prices", "again": "ohlcv-live", "after": "ohlcv-prices"}
    tagged = {}
    for call, stream in streams.items():
        event["deliveryStreamArn"] = f"arn:aws:firehose:us-east-1:0:deliverystream/{stream}"
        lambda_handler(event, CONTEXT)
        (emf,) = [orjson.loads(line) for line in capsys.readouterr().out.splitlines() if '"_aws"' in line]
        tagged[call] = (emf.get("path"), ["path"] in [sorted(set(d) - {"service"})
                                                      for d in emf["_aws"]["CloudWatchMetrics"][0]["Dimensions"]],
                        handler.logger.get_current_keys().get("path"))  # the keys of the invocation's lines
    assert tagged == {"live": ("live", True, "live"), "record": (None, False, None),
                      "again": ("live", True, "live"), "after": (None, False, None)}
