"""A week of the stack's event machinery in seconds (`ohlcv simulate`): the template's rules, queues and
mappings, both triggers' code, and a model of Glue, on one clock. Every date touched ends compacted by a
run that started after its last object, no message is dead-lettered, and the cadence bounds runs, lag
and bill."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from ohlcv_cli.simulate import (
    SCENARIOS,
    SIMULATION_START,
    Report,
    default_workload,
    history,
    report_lines,
    simulate,
    streaming,
)
from stack_tools.template import StackTemplate

START = SIMULATION_START
ROOT = Path(__file__).resolve().parents[2]
DEFAULTS = StackTemplate().parameters


@pytest.fixture(scope="module")
def week() -> Report:
    return simulate(default_workload(START, days=7), start=START)


@pytest.fixture(scope="module")
def feed_alone() -> Report:
    return simulate(default_workload(START, days=7, backfills=False), start=START)


def test_every_date_of_a_week_with_two_backfills_is_compacted_as_one_clean_run_would(week: Report) -> None:
    assert week.touched_dates > 2_600  # ten years of trading days, a month of hours, the week's own
    assert week.stale_dates == []
    assert week.dead_letters == 0
    assert week.deferrals > 1_000  # the dates waited: the coalescing is what is tested


def test_the_cadence_bounds_the_runs_and_the_feeds_lag(feed_alone: Report, week: Report) -> None:
    interval = float(DEFAULTS["CompactionIntervalSeconds"])
    quality_interval = float(DEFAULTS["QualityIntervalSeconds"])
    compaction = "ohlcv-local-compact-bars"
    for report in (feed_alone, week):
        assert report.runs_per_day[compaction] <= 86_400 / interval + 1
        assert report.runs_per_day["ohlcv-local-check-quality"] <= 86_400 / quality_interval + 1
    assert feed_alone.runs_per_day[compaction] > 86_400 / interval * 0.9  # a 24/7 feed fills every interval
    assert feed_alone.longest_lag_s["streaming"] <= 30 * 60  # the bound for the default stack
    assert week.longest_lag_s["streaming"] > feed_alone.longest_lag_s["streaming"]  # a long run delays it


def test_without_a_cadence_the_same_feed_costs_far_more_runs() -> None:
    day = list(streaming(START, 1, 60))
    at_once = simulate(day, start=START, parameters={"CompactionIntervalSeconds": "0", "QualityIntervalSeconds": "0"})
    paced = simulate(day, start=START)
    name = "ohlcv-local-compact-bars"
    assert at_once.runs_per_day[name] > 5 * paced.runs_per_day[name]
    assert at_once.glue_usd > 5 * paced.glue_usd
    assert at_once.stale_dates == paced.stale_dates == [] and at_once.dead_letters == paced.dead_letters == 0


def test_a_backfill_paces_its_partitions_per_buffer_interval() -> None:
    loaded = list(history(timedelta(0), symbols=2, first=START - timedelta(days=10), days=10, hourly=True,
                          partitions_per_interval=100, buffer_s=60, name="b"))
    assert len(loaded) == 2 * 10 * 24
    per_interval: dict[float, int] = {}
    for arrival in loaded:
        per_interval[arrival.at_s] = per_interval.get(arrival.at_s, 0) + 1
    assert max(per_interval.values()) == 100 and min(per_interval) == 60


def test_docs_compaction_shows_the_default_weeks_report(feed_alone: Report, week: Report) -> None:
    docs = (ROOT / "docs" / "compaction.md").read_text(encoding="utf-8")
    shown = docs.split("<!-- ohlcv simulate: begin -->", 1)[1].split("<!-- ohlcv simulate: end -->", 1)[0]
    (alone, both) = [title for _, title in SCENARIOS]
    printed = "\n".join(report_lines([(alone, feed_alone), (both, week)]))
    assert shown.strip() == f"```\n$ ohlcv simulate\n{printed}\n```"
