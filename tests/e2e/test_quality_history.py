"""Quality over real history, loaded through the backfill path: GOOG's daily bars of 2012 and EUR/USD's
hourly bars of two December weeks of 2017 (backtesting.py's published files), served by the stand-in
with five anomalies planted in GOOG's. The local stack compacts what the backfill sends, and each
compaction that succeeds starts a quality run for its dates (the template's trigger).

Every planted anomaly is caught and named; the clean series raise one thing more, which is real:
EUR/USD has no bars for the 24 hours of Christmas Day 2017 (the forex market's one closed weekday of
those weeks). docs/quality.md lists what the rules find over the whole of both files.
"""

from __future__ import annotations

import copy
from datetime import datetime
from typing import Any

import pytest

from local_stack.rejects import rejected_records
from local_stack.stack import AT_ONCE, LocalStack, prepare_lake
from local_stack.twelvedata.catalog import SeriesData
from local_stack.twelvedata.history import published_history, read_series
from local_stack.twelvedata.server import TwelveDataStandIn, running_in_thread
from ohlcv_cli.demo import zones_of
from ohlcv_cli.main import main
from ohlcv_core.backfill import requested_span
from ohlcv_core.config import DEFAULT_REGION
from ohlcv_core.recording import Header, Recording
from producers.aws import firehose_client
from producers.backfill import Backfill, PartitionPacer
from producers.checkpoints import FileCheckpoints
from producers.firehose_sink import FirehoseSink
from producers.rest import TwelveDataRest
from tests.e2e.test_backfill import CompressedClock

PLANTED = {
    ("no_spikes", "GOOG", "2012-03-15"),  # the close 30% up ...
    ("no_spikes", "GOOG", "2012-03-16"),  # ... and the next day's return back
    ("sessions_complete", "GOOG", "2012-05-11"),  # 2012-05-10 missing
    ("sessions_complete", "GOOG", "2012-06-15"),  # 2012-06-14 impossible: rejected at the door, so missing
    ("no_repeated_bars", "GOOG", "2012-08-16"),  # 2012-08-15's bar served again as 2012-08-16's
    ("price_moves_daily", "GOOG", "2012-10-04"),  # frozen from 2012-10-01: the 4th day standing still ...
    ("price_moves_daily", "GOOG", "2012-10-05"),  # ... and the 5th
}
REAL = {("hours_complete", "EUR/USD", "2017-12-25")}  # Christmas: the bar at 22:00 follows 24 closed hours
REFUSED: dict[str, list[str]] = {}  # the backfill's refused bars, by symbol (the fixture's runs fill it)


def plant(series: SeriesData) -> SeriesData:
    planted = copy.deepcopy(series)
    bars = planted.bars
    day = {values["datetime"][:10]: start for start, values in bars.items()}

    def values(date: str) -> dict[str, str]:
        return bars[day[date]]

    spike = values("2012-03-15")
    up = float(spike["close"]) * 1.3
    spike.update(close=f"{up:.5f}", high=f"{max(up, float(spike['high'])):.5f}")
    del bars[day["2012-05-10"]]
    impossible = values("2012-06-14")
    impossible["high"] = f"{float(impossible['close']) - 1:.5f}"
    bars[day["2012-08-16"]] = {**values("2012-08-15"), "datetime": "2012-08-16"}
    still = values("2012-09-28")["close"]
    for date in ("2012-10-01", "2012-10-02", "2012-10-03", "2012-10-04", "2012-10-05"):
        values(date).update(open=still, high=still, low=still, close=still)
    return planted


@pytest.fixture(scope="module")
def checked(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> LocalStack:
    history = {f.meta["symbol"]: read_series(f) for f in published_history()}
    assert {"GOOG", "EUR/USD"} <= set(history), "backtesting.py's data files are a test dependency"
    history["GOOG"] = plant(history["GOOG"])
    clock = CompressedClock(datetime(2026, 1, 5, 12).timestamp())
    stand_in = TwelveDataStandIn(Recording(Header(("GOOG",)), ()), speed=0, wall_clock=clock.time,
                                 history=history.values())
    stack = LocalStack(prepare_lake(tmp_path_factory.mktemp("lake"), fresh=True), lambda: spark,
                       parameters={"CompactionBatchSize": "1000", **AT_ONCE}).start()  # a backfill's deployment
    try:
        with running_in_thread(stand_in):
            sink = FirehoseSink(firehose_client(DEFAULT_REGION, stack.firehose.url), stack.stream_settings.name)
            backfill = Backfill(TwelveDataRest(stand_in.rest_url, None, clock=clock.time), sink,
                                FileCheckpoints(tmp_path_factory.mktemp("checkpoints")),
                                pacer=PartitionPacer(400, 60, clock=clock.time, sleep=clock.sleep),
                                clock=clock.time, sleep=clock.sleep)
            for symbol, interval, start, end in (("GOOG", "1day", "2012-01-01", "2012-12-31"),
                                                 ("EUR/USD", "1h", "2017-12-18", "2017-12-29")):
                report = backfill.run(backfill.plan((symbol,), interval, requested_span(start, end, interval)))
                assert not report.failed
                REFUSED.update(report.refused)
        stack.close_intake()
        stack.settle()
    finally:
        stack.stop()
    return stack


def test_every_planted_anomaly_is_caught_and_named_and_the_clean_series_raise_only_real_ones(
        checked: LocalStack) -> None:
    runs = [run for run in checked.glue.runs if run.job_name.endswith("check-quality")]
    assert runs and {run.state for run in runs} == {"SUCCEEDED"}, [run.error_message for run in runs]
    rows = checked.athena.query("SELECT rule, symbol, dt, action, reason FROM quality_quarantine").rows
    assert {(rule, symbol, dt) for rule, symbol, dt, _, _ in rows} == PLANTED | REAL
    assert {action for *_, action, _ in rows} == {"flagged"}
    reasons = {rule: reason for rule, _, _, _, reason in rows}
    assert reasons["sessions_complete"].startswith("no trading day is missing between a symbol's daily bars")
    # the impossible bar never reached the lake: the backfill refused it alone, with the transform's reason
    # (the rest of its day's envelope loaded), so nothing of GOOG's is in the error zone
    ((refused,),) = REFUSED.values()
    assert set(REFUSED) == {"GOOG"} and refused.startswith("2012-06-14 (invalid_bar: ")
    zones = zones_of(checked)
    assert list(rejected_records(zones.errors, zones.logs)) == []


def test_the_results_say_which_rules_failed_with_how_many_rows(checked: LocalStack) -> None:
    rows = checked.athena.query(
        "SELECT rule, sum(rows_failed), bool_and(outcome = 'Passed') FROM quality_results GROUP BY rule").rows
    failed = {rule: count for rule, count, passed in rows if not passed}
    assert failed == {"no_spikes": 2, "sessions_complete": 2, "no_repeated_bars": 1, "price_moves_daily": 2,
                      "hours_complete": 1}
    assert len(rows) == 18  # every rule has its row in every run


def test_ohlcv_quality_rechecks_a_range_prints_it_and_exits_non_zero_on_a_blocking_failure(
        checked: LocalStack, spark: Any, capsys: pytest.CaptureFixture[str]) -> None:
    # WHEN a person checks GOOG's May and June again
    capsys.readouterr()
    try:
        code = main(["quality", "--lake", str(zones_of(checked).logs.parent), "--from", "2012-05-01",
                     "--to", "2012-06-30", "--symbols", "GOOG"])
    finally:  # the command's session settings land on the shared test session: put back the tests' own
        spark.conf.set("spark.sql.shuffle.partitions", "2")
    out = capsys.readouterr().out
    # THEN the blocking rule that fails (the two missing sessions) fails the command
    assert code == 1
    assert "blocking rules failed: sessions_complete\n" in out
    line = next(x for x in out.splitlines() if x.startswith("sessions_complete"))
    # (43 sessions in May and June 2012, two of them missing: 41 bars, the 2 after a gap fail: 39/41 pass)
    assert line.split()[2:7] == ["blocking", "Failed", "0.9512", "41", "2"], line
    # AND the quarantine of those dates holds what the triggered runs found, not twice
    rows = checked.athena.query("SELECT rule, symbol, dt FROM quality_quarantine WHERE dt BETWEEN '2012-05-01' "
                                "AND '2012-06-30'").rows
    assert sorted(rows) == sorted((r, s, d) for r, s, d in PLANTED if "2012-05-01" <= d <= "2012-06-30")
