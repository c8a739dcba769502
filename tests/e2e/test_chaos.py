"""The short seeded chaos run (`make chaos` runs the long one): every fault kind once, over the whole
local pipeline, then the reconciliation must pass: nothing lost that the design absorbs, nothing counted
twice, every minute's bar there and right, every SIGTERM ended in time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from chaos.plan import FAULT_KINDS
from chaos.report import format_report
from chaos.run import ChaosSettings, run_chaos

pytestmark = pytest.mark.e2e


def test_a_short_seeded_chaos_run_loses_and_duplicates_nothing(spark: Any, tmp_path: Path) -> None:
    # (no quality runs: they are not what the reconciliation judges, and `make chaos` keeps them)
    settings = ChaosSettings(seed=11, seconds=60, per_second=4, pause_s=(0.5, 1.5), repair_every_s=6,
                             quality_after_compaction=False)
    report = run_chaos(settings, tmp_path, spark)
    text = format_report(report)
    assert sorted({fault.kind for fault in report.injected}) == sorted(FAULT_KINDS), text
    r = report.reconciliation
    # Not 0.9: the SIGKILL lands while the stack restarts, and if the 16 KiB spool is full by then, the
    # producer holds in memory everything since it filled (backpressure), all lost by design and repaired
    # from REST. One run on CI lost 12 %, one on 2 cores 32 %: the kill comes 12 to 22 s into the 60 s feed.
    assert r.events_sent > 800 and r.in_raw > 0.5 * r.events_sent, text
    assert (r.unabsorbed, r.curated_duplicates, r.curated_missing) == (0, 0, 0), text
    assert (r.minutes_without_bar, r.bars_twice, r.wrong_bars, r.planted_missing) == ([], [], [], []), text
    assert report.ok, text
