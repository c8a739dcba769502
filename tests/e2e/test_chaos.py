"""The short seeded chaos run (`make chaos` runs the long one): every fault kind once, over the whole
local pipeline, then the reconciliation must pass: nothing lost that the design absorbs, nothing counted
twice, every minute's bar there and right, every SIGTERM ended in time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from chaos.plan import FAULT_KINDS
from chaos.report import format_report
from chaos.run import ChaosSettings, run_chaos


def test_a_short_seeded_chaos_run_loses_and_duplicates_nothing(spark: Any, tmp_path: Path) -> None:
    # (quality runs kept: they must judge the bars of ACME, a feed without exchanges, without failing)
    settings = ChaosSettings(seed=11, seconds=60, per_second=4, pause_s=(0.5, 1.5), repair_every_s=6)
    report = run_chaos(settings, tmp_path, spark)
    text = format_report(report)
    assert sorted({fault.kind for fault in report.injected}) == sorted(FAULT_KINDS), text
    r = report.reconciliation
    # Not 0.9: the stack restart is a Firehose outage; with the spool's 16 KiB full, the producer holds
    # what it receives in memory (backpressure), and the SIGKILL that follows may find it there: lost by
    # design, repaired from REST. The loss follows the outage's length: 12 % on CI (a 6.6 s restart), 32 to
    # 40 % in this test run alone on 2 cores (restarts of 17 to 21 s).
    # The feed holds 5 symbols x 4/s x 60 s; the stand-in sends only while a producer is connected, and
    # the restarts take longer on a busy machine (788 to 816 sent in five runs).
    assert r.events_sent > 750 and r.in_raw > 0.5 * r.events_sent, text
    assert (r.unabsorbed, r.curated_duplicates, r.curated_missing) == (0, 0, 0), text
    assert (r.minutes_without_bar, r.bars_twice, r.wrong_bars, r.planted_missing) == ([], [], [], []), text
    # every loss is named by the stop that lost it, and each of its minutes has REST's bar
    assert r.unrepaired == [], text
    assert report.stack_counts["quality runs"] > 0 and report.stack_counts["quality runs failed"] == 0, text
    assert report.ok, text
