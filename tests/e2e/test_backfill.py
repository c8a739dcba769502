"""Backfill end to end: real published history from the stand-in, at the free plan's 8 credits a minute,
through the local stack (Firehose, the transform, the raw zone, the trigger, compaction) into the curated
tables. Time is compressed: the credit limiter, the partition pacer and the stand-in's credit minutes
read one clock that a wait advances at once. The stack is deployed with the template's batch size: the
daily history touches far more dates than one batch holds, and more batches arrive than one run takes
at once, so dates wait beside a running job (deferred, not refused) and every one is compacted."""

from __future__ import annotations

import math
import threading
from datetime import datetime
from typing import Any

import pandas as pd  # type: ignore[import-untyped]
import pytest

from local_stack.stack import AT_ONCE, LocalStack, prepare_lake
from local_stack.twelvedata.history import published_history, read_series
from local_stack.twelvedata.server import CreditLimit, TwelveDataStandIn, running_in_thread
from ohlcv_core.backfill import requested_span
from ohlcv_core.config import DEFAULT_REGION
from ohlcv_core.recording import Header, Recording
from producers.aws import firehose_client
from producers.backfill import Backfill, BackfillReport, PartitionPacer
from producers.checkpoints import FileCheckpoints
from producers.firehose_sink import FirehoseSink
from producers.rest import CreditLimiter, TwelveDataRest
from stack_tools.queries import named_query
from tests.curated import published_files

BUDGET = 8  # credits a minute: Twelve Data's free plan
FIRST_DAY, LAST_DAY = "2004-01-01", "2013-12-31"  # all of GOOG's published daily bars: 2,148 days


class CompressedClock:
    """Real time, plus every wait taken so far: a wait returns at once and moves the clock past it."""

    def __init__(self, start: float) -> None:
        self._now = start
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def time(self) -> float:
        with self._lock:
            self._now += 0.001
            return self._now

    def sleep(self, seconds: float) -> None:
        with self._lock:
            self._now += max(seconds, 0.0)
            self.waited_s += max(seconds, 0.0)


def _served(stand_in: TwelveDataStandIn, symbol: str, interval: str, first: datetime, last: datetime
            ) -> dict[str, tuple[float, float, float, float, float | None]]:
    bars = stand_in.catalog.series[(symbol, interval)].bars
    return {values["datetime"][:10] if interval == "1day" else start.strftime("%Y-%m-%d %H:%M:%S"):
            (float(values["open"]), float(values["high"]), float(values["low"]), float(values["close"]),
             float(values["volume"]) if "volume" in values else None)
            for start, values in bars.items() if first <= start.replace(tzinfo=None) <= last}


@pytest.fixture(scope="module")
def loaded(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    history = {f.meta["symbol"]: read_series(f) for f in published_history()}
    assert {"GOOG", "EUR/USD"} <= set(history), "backtesting.py's data files are a test dependency"
    clock = CompressedClock(datetime(2026, 1, 5, 12).timestamp())
    stand_in = TwelveDataStandIn(Recording(Header(("GOOG",)), ()), speed=0, credits=CreditLimit(BUDGET),
                                 wall_clock=clock.time, history=history.values())
    # (quality over backfilled history is tests/e2e/test_quality_history.py's: not run again here)
    stack = LocalStack(prepare_lake(tmp_path_factory.mktemp("lake"), fresh=True), lambda: spark,
                       parameters={"QualityAfterCompaction": "false", **AT_ONCE}).start()
    reports: list[BackfillReport] = []
    try:
        with running_in_thread(stand_in):
            rest = TwelveDataRest(stand_in.rest_url, None, limiter=CreditLimiter(BUDGET, clock=clock.time,
                                                                                 sleep=clock.sleep),
                                  clock=clock.time)
            sink = FirehoseSink(firehose_client(DEFAULT_REGION, stack.firehose.url), stack.stream_settings.name)
            pacer = PartitionPacer(400, 60, clock=clock.time, sleep=clock.sleep)
            backfill = Backfill(rest, sink, FileCheckpoints(tmp_path_factory.mktemp("checkpoints")), pacer=pacer,
                                clock=clock.time, sleep=clock.sleep)
            for symbols, interval, start, end in ((("GOOG", "NOPE"), "1day", FIRST_DAY, LAST_DAY),
                                                  (("EUR/USD",), "1h", "2017-06-05", "2017-06-23")):
                planned = backfill.plan(symbols, interval, requested_span(start, end, interval))
                reports.append(backfill.run(planned))
        stack.close_intake()
        stack.settle()
    finally:
        stack.stop()
    return {"stand_in": stand_in, "stack": stack, "reports": reports, "clock": clock, "pacer": pacer}


def _curated(stack: LocalStack, table: str, symbol: str, daily: bool) -> dict[str, tuple[Any, ...]]:
    when = "dt" if daily else "date_format(bar_start, '%Y-%m-%d %H:%i:%s')"
    rows = stack.athena.query(f"SELECT {when}, open, high, low, close, volume, source, final FROM {table} "
                              f"WHERE symbol = '{symbol}' ORDER BY bar_start").rows
    return {str(row[0]): tuple(row[1:]) for row in rows}


def test_daily_history_becomes_bars_1d_equal_to_the_served_bars(loaded: dict[str, Any]) -> None:
    served = _served(loaded["stand_in"], "GOOG", "1day", datetime(2004, 1, 1), datetime(2013, 12, 31, 23))
    curated = _curated(loaded["stack"], "bars_1d", "GOOG", daily=True)
    assert len(served) == 2148  # eight and a half years of trading days
    assert {day: values[:5] for day, values in curated.items()} == served
    assert {values[5:] for values in curated.values()} == {("rest", True)}
    # AND the ten years are ten partitions of a file each, however many runs wrote them
    stack = loaded["stack"]
    root = stack.s3.bucket_path(next(b.name for b in stack.template.buckets() if b.logical_id == "CuratedBucket"))
    assert {part: len(files) for part, files in published_files(root, "bars_1d").items()} == {
        f"year={year}": 1 for year in range(2004, 2014)}


def test_dates_beside_a_running_job_wait_for_the_next_run_and_none_is_dead_lettered(
        loaded: dict[str, Any]) -> None:
    stack: LocalStack = loaded["stack"]
    (mapping,) = [m for m in stack.mappings if m.settings.function.logical_id == "TriggerFunction"]
    compaction = [run for run in stack.glue.runs if run.job_name == stack.template.glue_job("CompactionJob").name]
    dates = {d for run in compaction for d in run.requested["--dates"].split(",")}
    assert len(dates) > 2 * mapping.settings.batch_size  # more dates than batches hold...
    assert len(compaction) < len(dates) / mapping.settings.batch_size  # ...in fewer runs: they coalesced
    assert {run.state for run in compaction} == {"SUCCEEDED"}
    assert mapping.dead_lettered == 0
    assert all(q.pending == 0 for q in stack.queues.values())  # the dead-letter queues included


def test_hourly_history_becomes_bars_1h_equal_to_the_served_bars(loaded: dict[str, Any]) -> None:
    served = _served(loaded["stand_in"], "EUR/USD", "1h", datetime(2017, 6, 5), datetime(2017, 6, 23, 23, 59))
    curated = _curated(loaded["stack"], "bars_1h", "EUR/USD", daily=False)
    assert len(served) > 300  # three weeks of hours
    assert {hour: values[:5] for hour, values in curated.items()} == served  # forex: no volume


def test_the_credit_budget_holds_in_every_minute(loaded: dict[str, Any]) -> None:
    spent = loaded["stand_in"].stats.credits_by_minute()
    assert spent and max(spent.values()) <= BUDGET
    assert loaded["stand_in"].stats.rest_refused == 0  # the limiter waited instead of being refused


def test_an_unknown_symbol_fails_alone_with_the_services_message(loaded: dict[str, Any]) -> None:
    daily, hourly = loaded["reports"]
    assert set(daily.failed) == {"NOPE"} and "symbol** not found" in daily.failed["NOPE"]
    assert daily.bars_by_symbol["GOOG"] > 500 and not hourly.failed
    assert loaded["stack"].athena.query("SELECT count(*) FROM raw_bars WHERE symbol = 'NOPE'").rows == [(0,)]


def test_daily_bars_open_at_most_400_partitions_per_buffer_interval(loaded: dict[str, Any]) -> None:
    # two years of daily bars are about 500 raw-zone partitions: the pacer waited for buffers to flush
    assert loaded["pacer"].waited_s >= 60


def test_a_stack_deployed_without_quality_after_compaction_starts_no_quality_run(loaded: dict[str, Any]) -> None:
    stack: LocalStack = loaded["stack"]
    jobs = {run.job_name for run in stack.glue.runs}
    assert jobs == {stack.template.glue_job("CompactionJob").name}
    (rule,) = [r for r in stack.template.rules() if r.logical_id == "CompactionSucceededRule"]
    assert not rule.enabled


# -- the analyses of sql/queries/ over the backfilled history, against pandas over the served bars ----------
def _frame(loaded: dict[str, Any]) -> Any:
    served = _served(loaded["stand_in"], "GOOG", "1day", datetime(2012, 1, 1), datetime(2012, 12, 31, 23))
    frame = pd.DataFrame([(day, *values) for day, values in served.items()],
                         columns=["day", "open", "high", "low", "close", "volume"]).sort_values("day")
    return frame.reset_index(drop=True)


def _named(stack: LocalStack, name: str) -> list[dict[str, Any]]:
    query = named_query(name)
    result = stack.athena.query(query.sql, query.bind({"symbols": "GOOG,NOPE", "from": "2012-01-01",
                                                       "to": "2012-12-31"}))
    return [dict(zip(result.columns, row, strict=True)) for row in result.rows]


def _close(a: Any, b: Any) -> bool:
    return bool((a is None and isinstance(b, float) and math.isnan(b)) or a == pytest.approx(b, rel=1e-9))


def test_the_daily_analyses_equal_pandas_over_the_published_bars(loaded: dict[str, Any]) -> None:
    frame, stack = _frame(loaded), loaded["stack"]
    (stats,) = _named(stack, "symbol_stats")
    assert (stats["days"], stats["max_high"], stats["min_low"]) == (len(frame), frame.high.max(), frame.low.min())
    assert all(_close(stats[k], v) for k, v in (("avg_open", frame.open.mean()), ("avg_close", frame.close.mean()),
                                                ("total_volume", frame.volume.sum())))
    (spread,) = _named(stack, "average_daily_range")
    assert _close(spread["avg_range"], (frame.high - frame.low).mean())
    assert _close(spread["avg_range_pct"], ((frame.high - frame.low) / frame.open * 100).mean())
    assert [r["volume"] for r in _named(stack, "daily_volume")] == frame.volume.tolist()


def test_the_daily_changes_and_returns_equal_pandas(loaded: dict[str, Any]) -> None:
    frame, stack = _frame(loaded), loaded["stack"]
    change = _named(stack, "daily_change")
    expected_return = (frame.close.pct_change() * 100).tolist()
    assert [r["day"] for r in change] == frame.day.tolist()
    assert all(_close(r["change_pct"], v) for r, v in zip(change, ((frame.close - frame.open) / frame.open * 100),
                                                          strict=True))
    assert change[0]["return_pct"] is None
    assert all(_close(r["return_pct"], v) for r, v in zip(change[1:], expected_return[1:], strict=True))
    scatter = _named(stack, "price_vs_volume")
    assert all(_close(r["return_pct"], v) for r, v in zip(scatter[1:], expected_return[1:], strict=True))


def test_the_monthly_extreme_correlation_and_summary_analyses_equal_pandas(loaded: dict[str, Any]) -> None:
    frame, stack = _frame(loaded), loaded["stack"]
    monthly = _named(stack, "monthly_volume")
    by_month = frame.groupby(frame.day.str[:7]).volume.agg(["count", "sum"])
    assert [(r["month"], r["days"], r["total_volume"]) for r in monthly] == [
        (month, row["count"], row["sum"]) for month, row in by_month.iterrows()]
    (extremes,) = _named(stack, "extreme_closes")
    assert (extremes["highest_close"], extremes["highest_close_day"]) == (frame.close.max(),
                                                                          frame.day[frame.close.idxmax()])
    assert (extremes["lowest_close"], extremes["lowest_close_day"]) == (frame.close.min(),
                                                                        frame.day[frame.close.idxmin()])
    (correlation,) = _named(stack, "price_volume_correlation")
    returns = frame.close.pct_change()
    assert correlation["returns"] == len(frame) - 1
    assert _close(correlation["return_volume_corr"], returns.corr(frame.volume))
    assert _close(correlation["abs_return_volume_corr"], returns.abs().corr(frame.volume))
    (summary,) = _named(stack, "symbol_summary")
    assert (summary["first_day"], summary["last_day"], summary["first_open"], summary["last_close"]) == (
        frame.day.iloc[0], frame.day.iloc[-1], frame.open.iloc[0], frame.close.iloc[-1])
    assert summary["final_days"] == len(frame)
