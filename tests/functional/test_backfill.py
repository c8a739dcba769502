"""The backfill against real servers on loopback: the stand-in serving published history, and the local
Firehose endpoint (its transform a capturing double: what reaches Firehose is what is checked here; the
curated tables are tests/e2e/test_backfill.py's)."""

from __future__ import annotations

import argparse
import copy
import io
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from local_stack.firehose.delivery import DeliveryStream
from local_stack.firehose.server import FirehoseEndpoint
from local_stack.s3 import LocalS3
from local_stack.twelvedata.history import published_history, read_series
from local_stack.twelvedata.rest import Access
from local_stack.twelvedata.server import Faults, TwelveDataStandIn, running_in_thread
from ohlcv_core.backfill import parse_bound, requested_span
from ohlcv_core.config import DEFAULT_REGION
from ohlcv_core.envelope import decode_envelope
from ohlcv_core.recording import Header, Recording
from ohlcv_core.timeseries import parse_time_series
from producers import backfill_main
from producers.aws import firehose_client
from producers.backfill import Backfill
from producers.checkpoints import FileCheckpoints
from producers.firehose_sink import FirehoseSink
from producers.rest import TwelveDataRest
from tests.doubles import CapturingLambda
from tests.stream_settings import template_stream

HISTORY = {f.meta["symbol"]: read_series(f) for f in published_history()}
EMPTY = Recording(Header(("GOOG",)), ())


@pytest.fixture
def firehose(tmp_path: Path) -> Iterator[tuple[FirehoseEndpoint, CapturingLambda, str]]:
    settings = template_stream(destination={"prefix": "landing/"}, dynamic_partitioning=False)
    capture = CapturingLambda()
    endpoint = FirehoseEndpoint({settings.name: DeliveryStream(settings, LocalS3(tmp_path / "s3"),
                                                               invoke=capture)}).start()
    try:
        yield endpoint, capture, settings.name
    finally:
        endpoint.stop()


def _delivered(endpoint: FirehoseEndpoint, capture: CapturingLambda
               ) -> Counter[tuple[str, int, float, float, float, float, float | None]]:
    """Every bar that reached Firehose, as the transform reads it (the buffers flushed first)."""
    endpoint.drain()
    bars: Counter[tuple[str, int, float, float, float, float, float | None]] = Counter()
    for record in capture.records:
        envelope = decode_envelope(record)
        parsed, _ = parse_time_series(envelope["payload"], envelope.get("request", {}))
        bars.update((b.symbol, b.start_ms, b.open, b.high, b.low, b.close, b.volume) for b in parsed)
    return bars


def _served(symbol: str, interval: str, first: str, last: str) -> set[tuple[Any, ...]]:
    span = requested_span(first, last, interval)
    series = HISTORY[symbol]
    return {(symbol, int(start.timestamp() * 1000), float(v["open"]), float(v["high"]), float(v["low"]),
             float(v["close"]), float(v["volume"]) if "volume" in v else None)
            for start, v in series.bars.items()
            if span.start <= parse_bound(v["datetime"]) < span.end}


def _backfill_command(stand_in: TwelveDataStandIn, endpoint: FirehoseEndpoint, stream: str, checkpoints: Path,
                      *extra: str) -> list[str]:
    return [sys.executable, "-m", "producers", "backfill", "--symbols", "GOOG", "--interval", "1day",
            "--start", "2005-01-01", "--end", "2012-12-31", "--bars-per-call", "60", "--credits-per-minute", "0",
            "--max-partitions", "0", "--checkpoints", str(checkpoints), "--rest-url", stand_in.rest_url,
            "--stream", stream, "--firehose-endpoint", endpoint.url, "--region", DEFAULT_REGION, *extra]


def test_a_backfill_killed_half_way_resumes_and_fetches_again_only_the_window_in_flight(
        firehose: tuple[FirehoseEndpoint, CapturingLambda, str], tmp_path: Path) -> None:
    endpoint, capture, stream = firehose
    stand_in = TwelveDataStandIn(EMPTY, speed=0, history=[HISTORY["GOOG"]], faults=Faults(rest_delay_s=0.05))
    env = {**os.environ, "AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}
    with running_in_thread(stand_in):
        command = _backfill_command(stand_in, endpoint, stream, tmp_path / "checkpoints", "--quiet")
        # GIVEN a backfill of 49 windows, SIGKILLed after about a third of them
        first = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 60
        while stand_in.stats.rest_requests < 15 and time.monotonic() < deadline and first.poll() is None:
            time.sleep(0.005)
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        killed_after = stand_in.stats.rest_requests
        # WHEN it is started again, to the end, and then once more
        second = subprocess.run(command, env=env, capture_output=True, timeout=120, check=False)
        requests_after_second = stand_in.stats.rest_requests
        third = subprocess.run(_backfill_command(stand_in, endpoint, stream, tmp_path / "checkpoints"), env=env,
                               capture_output=True, timeout=60, check=False)
    assert first.returncode == -signal.SIGKILL and 15 <= killed_after < 49
    assert second.returncode == 0, second.stderr.decode()
    # THEN every served bar reached Firehose; windows were fetched once, but the one in flight at the kill
    assert set(_delivered(endpoint, capture)) == _served("GOOG", "1day", "2005-01-01", "2012-12-31")
    windows = Counter((r["start_date"], r["end_date"]) for r in stand_in.stats.rest_log)
    assert len(windows) == 49 and sum(windows.values()) - len(windows) <= 1
    # AND a finished backfill run again fetches nothing
    assert third.returncode == 0 and stand_in.stats.rest_requests == requests_after_second
    assert "already loaded: GOOG" in third.stdout.decode() and "0 call(s)" in third.stdout.decode()


def _run(backfill: Backfill, symbols: tuple[str, ...], interval: str, start: str, end: str) -> dict[str, str]:
    return backfill.run(backfill.plan(symbols, interval, requested_span(start, end, interval))).failed


def test_bad_requests_fail_per_symbol_with_the_services_message_and_the_rest_loads(
        firehose: tuple[FirehoseEndpoint, CapturingLambda, str], tmp_path: Path) -> None:
    endpoint, capture, stream = firehose
    stand_in = TwelveDataStandIn(EMPTY, speed=0, history=HISTORY.values(),
                                 access=Access(intervals=frozenset({"1day", "1h", "1month"}),
                                               denied_symbols=frozenset({"TSLA"})))
    with running_in_thread(stand_in):
        sink = FirehoseSink(firehose_client(DEFAULT_REGION, endpoint.url), stream)
        backfill = Backfill(TwelveDataRest(stand_in.rest_url, None), sink, FileCheckpoints(tmp_path),
                            sleep=lambda _: None)
        # a batch in which one symbol's entry is an error body (outside the plan) and one is unknown
        batch = _run(backfill, ("GOOG", "TSLA", "NOPE"), "1day", "2010-01-01",
                     "2010-12-31")
        # a range before the instrument existed (GOOG listed in 2004), and again: reported both times
        before = _run(backfill, ("GOOG",), "1day", "1995-01-01", "1999-12-31")
        again = _run(backfill, ("GOOG",), "1day", "1995-01-01", "1999-12-31")
        # an interval the plan lacks
        weekly = _run(backfill, ("GOOG",), "1week", "2010-01-01", "2010-12-31")
    assert set(batch) == {"TSLA", "NOPE"}
    assert "403" in batch["TSLA"] and "not available with your plan" in batch["TSLA"]
    assert "400" in batch["NOPE"] and "not found" in batch["NOPE"]
    assert before == again == {"GOOG": "no 1day bars between 1995-01-01 and 2000-01-01 (excluded)"}
    assert "403" in weekly["GOOG"] and "interval** 1week" in weekly["GOOG"]
    # THEN Firehose got GOOG's 2010 bars and nothing of the others
    delivered = _delivered(endpoint, capture)
    assert set(delivered) == _served("GOOG", "1day", "2010-01-01", "2010-12-31")
    assert all(orjson.loads(decode_envelope(r)["payload"]).get("status") != "error" for r in capture.records)


def test_the_command_line_says_what_is_wrong_in_one_line(tmp_path: Path) -> None:
    for args, message in ((["--start", "2012-01-01", "--end", "2011-01-01"], "after --end"),
                          (["--start", "2012-01-01", "--end", "soon"], "is not a date")):
        done = subprocess.run([sys.executable, "-m", "ohlcv_cli", "backfill", "--symbols", "GOOG", "--interval",
                               "1day", *args, "--stream", "s", "--checkpoints", str(tmp_path)],
                              capture_output=True, timeout=60, check=False)
        assert done.returncode == 2
        assert done.stderr.decode().count("\n") == 1 and message in done.stderr.decode()


def test_a_service_that_cannot_be_reached_fails_its_symbols_after_bounded_retries(
        firehose: tuple[FirehoseEndpoint, CapturingLambda, str], tmp_path: Path) -> None:
    from local_stack.net import free_port

    endpoint, _, stream = firehose
    waits: list[float] = []
    rest = TwelveDataRest(f"http://127.0.0.1:{free_port()}", None, timeout_s=(1.0, 1.0))
    backfill = Backfill(rest, FirehoseSink(firehose_client(DEFAULT_REGION, endpoint.url), stream),
                        FileCheckpoints(tmp_path), sleep=waits.append)
    failed = _run(backfill, ("GOOG", "MSFT"), "1day", "2010-01-01", "2010-12-31")
    assert set(failed) == {"GOOG", "MSFT"} and "gave up after 5 attempts" in failed["GOOG"]
    assert len(waits) == 4 and max(waits) <= 30  # capped, jittered backoff between the attempts


def test_a_dry_run_prints_the_plan_and_its_credits_without_a_stream(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OHLCV_")}
    done = subprocess.run([sys.executable, "-m", "ohlcv_cli", "backfill", "--symbols", "AAPL,MSFT,EUR/USD",
                           "--interval", "1min", "--start", "2024-01-01", "--end", "2024-03-31", "--dry-run",
                           "--checkpoints", str(tmp_path)], capture_output=True, text=True, env=env, timeout=60,
                          check=False)
    assert done.returncode == 0, done.stderr
    assert "27 call(s), 81 credit(s)" in done.stdout and "about 9 minute(s) of waiting" in done.stdout
    assert not any(tmp_path.iterdir())  # nothing fetched, nothing recorded


def test_a_bad_bar_is_refused_alone_and_named_and_its_hours_good_bars_load(
        firehose: tuple[FirehoseEndpoint, CapturingLambda, str], tmp_path: Path) -> None:
    # GIVEN GOOG's 2010 history with one day whose high is under its close (as a broken feed sends it)
    series = copy.deepcopy(HISTORY["GOOG"])
    bad_start = sorted(start for start in series.bars if start.year == 2010)[40]
    series.bars[bad_start] = {**series.bars[bad_start], "high": "1.0"}
    endpoint, capture, stream = firehose
    stand_in = TwelveDataStandIn(EMPTY, speed=0, history=[series])
    with running_in_thread(stand_in):
        sink = FirehoseSink(firehose_client(DEFAULT_REGION, endpoint.url), stream)
        backfill = Backfill(TwelveDataRest(stand_in.rest_url, None), sink, FileCheckpoints(tmp_path),
                            sleep=lambda _: None)
        report = backfill.run(backfill.plan(("GOOG",), "1day", requested_span("2010-01-01", "2010-12-31", "1day")))
    # THEN every other bar reached Firehose in envelopes the transform accepts whole
    served = _served("GOOG", "1day", "2010-01-01", "2010-12-31")
    delivered = _delivered(endpoint, capture)  # (parse_time_series raises on an envelope it would reject)
    bad_ms = int(bad_start.timestamp() * 1000)
    assert set(delivered) == {bar for bar in served if bar[1] != bad_ms}
    # AND the summary names the refused bar and why; the symbol is not failed
    day = series.bars[bad_start]["datetime"]
    assert report.failed == {} and report.refused == {"GOOG": [report.refused["GOOG"][0]]}
    assert report.refused["GOOG"][0].startswith(f"{day} (invalid_bar:")
    assert any(line.startswith(f"  refused 1 bar(s) of GOOG, the others loaded: {day} (invalid_bar:")
               for line in report.lines())


def test_a_deployed_run_reports_its_outcome_as_the_metric_the_alarm_reads(
        firehose: tuple[FirehoseEndpoint, CapturingLambda, str], tmp_path: Path) -> None:
    endpoint, _, stream = firehose
    stand_in = TwelveDataStandIn(EMPTY, speed=0, history=[HISTORY["GOOG"]])
    parser = argparse.ArgumentParser()
    backfill_main.add_arguments(parser)
    with running_in_thread(stand_in):
        args = parser.parse_args(["--symbols", "GOOG,NOPE", "--interval", "1day", "--start", "2010-01-01",
                                  "--end", "2010-03-31", "--checkpoints", str(tmp_path), "--rest-url",
                                  stand_in.rest_url, "--stream", stream, "--firehose-endpoint", endpoint.url,
                                  "--credits-per-minute", "0", "--quiet"])
        out = io.StringIO()
        environ = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": DEFAULT_REGION,
                   "POWERTOOLS_METRICS_NAMESPACE": "OhlcvEngine"}
        assert backfill_main.run(args, environ, out=out) == backfill_main.EXIT_SOME_FAILED
    (line,) = [orjson.loads(text) for text in out.getvalue().splitlines() if text.startswith("{")]
    assert line["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "OhlcvEngine" and line["service"] == "backfill"
    assert line["SymbolsFailed"] == 1 and line["BarsLoaded"] > 50 and line["BarsRefused"] == 0


def test_a_top_up_over_a_closed_market_ends_well_and_says_so(
        firehose: tuple[FirehoseEndpoint, CapturingLambda, str], tmp_path: Path) -> None:
    endpoint, _, stream = firehose
    stand_in = TwelveDataStandIn(EMPTY, speed=0, history=[HISTORY["GOOG"]])
    with running_in_thread(stand_in):
        sink = FirehoseSink(firehose_client(DEFAULT_REGION, endpoint.url), stream)

        def backfill(folder: Path) -> Backfill:
            return Backfill(TwelveDataRest(stand_in.rest_url, None), sink, FileCheckpoints(folder),
                            sleep=lambda _: None)

        # GIVEN GOOG's January 2010 loaded
        loaded = backfill(tmp_path / "kept")
        assert _run(loaded, ("GOOG",), "1day", "2010-01-01", "2010-01-31") == {}
        # WHEN a top-up asks for a weekend (no session: the service has no bars for it)
        weekend = loaded.run(loaded.plan(("GOOG",), "1day", requested_span("2010-02-06", "2010-02-07", "1day")))
        # AND a first load asks for the same weekend
        first = _run(backfill(tmp_path / "fresh"), ("GOOG",), "1day", "2010-02-06", "2010-02-07")
    # THEN the top-up is no failure, and says why it loaded nothing; the first load, with no history, is
    assert weekend.failed == {} and set(weekend.closed) == {"GOOG"}
    assert "  nothing to load for GOOG: no 1day bars between 2010-02-06 and 2010-02-08: no session" in weekend.lines()
    assert set(first) == {"GOOG"} and "(excluded)" in first["GOOG"]
