"""The live view (sql/views/bars_1m_live.sql) gives each minute exactly once across the boundary between
what compaction has published and what is only in the raw zone: while compaction is behind, when a run
dies half-way through publishing, and after it; and a minute computed from the raw zone has the values
compaction then publishes for it. Over generated raw zones of unusual instruments and values, its minutes
are the definition's (ohlcv_core.bars), each UTC day's series on its own (the view's documented difference)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from glue_jobs.compact_bars import main
from glue_jobs.publish import CrashInjected
from lake_sql.athena import LocalAthena
from local_stack.s3 import LocalS3
from ohlcv_core.bars import minute_bars
from stack_tools.queries import named_query
from stack_tools.template import StackTemplate
from tests.bars import as_bar, differences
from tests.functional.test_compaction_job import T0, _record, _write_raw
from tests.fuzz_lake import fuzz_case, write_raw
from tests.job_arguments import template_defaults

DAYS = ("2023-08-24", "2023-08-25")
LIVE = "SELECT symbol, bar_start, open, high, low, close, volume, tick_count, compacted FROM bars_1m_live"


def _lake(root: Path) -> tuple[LocalAthena, Path, Path]:
    template, s3 = StackTemplate(), LocalS3(root)
    locations = {t.name: s3.path_of(t.location) for t in template.tables()}
    return LocalAthena(template, s3), locations["raw_prices"], locations["bars_1m"].parent


def _write_days(raw: Path) -> None:
    for offset, day in enumerate(DAYS):
        base = T0 + offset * 86_400
        ticks = [_record("AAPL", base + s, 100 + s % 7, 1_000 + s * 10) for s in range(0, 900, 4)]
        _write_raw(raw, "14", f"a{offset}", ticks, dt=day)
        _write_raw(raw, "14", f"a{offset}-copy", ticks[::3], dt=day)  # Firehose's retries: copies of records
        _write_raw(raw, "14", f"b{offset}", [_record("EUR/USD", base + s, 1.08 + s / 1e5) for s in range(1, 900, 5)],
                   dt=day)


def _compact(raw: Path, curated: Path, spark: Any, *extra: str) -> None:
    main([*template_defaults(), "--raw_location", f"{raw}/", "--curated_location", f"{curated}/",
          "--dates", ",".join(DAYS), *extra], spark=spark)


def _live(athena: LocalAthena) -> list[tuple[Any, ...]]:
    rows = athena.query(LIVE).rows
    assert len(rows) == len({(r[0], r[1]) for r in rows}), "a minute appears twice"
    return rows


def test_each_minute_once_behind_during_and_after_compaction(spark: Any, tmp_path: Path) -> None:
    athena, raw, curated = _lake(tmp_path)
    _write_days(raw)
    # GIVEN compaction behind: every minute comes from the raw zone
    behind = _live(athena)
    assert behind and {r[-1] for r in behind} == {False}
    minutes = {(r[0], r[1]) for r in behind}
    # WHEN a run dies after publishing its first partition: some minutes are compacted, the rest are not
    with pytest.raises(CrashInjected):
        _compact(raw, curated, spark, "--crash_at", "publishing")
    during = _live(athena)
    assert {(r[0], r[1]) for r in during} == minutes
    assert {r[-1] for r in during} == {True, False}
    # THEN after a clean run every minute is compacted, once, with the values the raw zone gave
    _compact(raw, curated, spark)
    after = _live(athena)
    assert {(r[0], r[1]) for r in after} == minutes and {r[-1] for r in after} == {True}
    published = {(r[0], r[1]): r[2:8] for r in after}
    firsts = {min(m for m in minutes if m[0] == symbol and m[1].date() == day)
              for symbol, day in {(m[0], m[1].date()) for m in minutes}}
    for row in behind:
        key = (row[0], row[1])
        expected = published[key]
        assert row[2:6] == expected[:4] and row[7] == expected[5]  # OHLC and tick count
        if key not in firsts:  # a day's first minute has no increment from the day before (docs/sql.md)
            assert row[6] == expected[4]


def test_the_candles_query_reads_the_live_view(spark: Any, tmp_path: Path) -> None:
    athena, raw, _ = _lake(tmp_path)
    _write_days(raw)
    query = named_query("intraday_candles")
    rows = athena.query(query.sql, query.bind({"symbols": "AAPL", "from": DAYS[0], "to": DAYS[0]})).rows
    assert rows and {r[0] for r in rows} == {"AAPL"} and {r[1].date().isoformat() for r in rows} == {DAYS[0]}
    assert [r[1] for r in rows] == sorted(r[1] for r in rows)


@pytest.mark.parametrize("seed", range(1, 7))
def test_the_view_computes_each_minute_as_the_definition_does(tmp_path: Path, seed: int) -> None:
    # GIVEN a generated raw zone (tests/fuzz_lake.py), nothing compacted
    athena, raw, _ = _lake(tmp_path)
    case = fuzz_case(seed)
    write_raw(case, raw.parent)
    # WHEN the view is read
    rows = athena.query("SELECT * FROM bars_1m_live")
    got = [as_bar(dict(zip(rows.columns, row, strict=True))) for row in rows.rows]
    # THEN each minute is the definition's over the same records, a day's series starting afresh
    by_day: dict[str, tuple[list[Any], list[Any]]] = {}
    for accepted in case.accepted:
        prices, bars = by_day.setdefault(accepted.partition["dt"], ([], []))
        (prices if accepted.partition["kind"] == "price" else bars).extend(accepted.records)
    expected = [bar for prices, bars in by_day.values() for bar in minute_bars(prices, bars)]
    wrong = differences(expected, got)
    assert not wrong, f"seed {seed}:\n" + "\n".join(wrong[:20])


def test_ties_in_event_time_are_ordered_as_the_definition_orders_them(tmp_path: Path) -> None:
    # GIVEN events of one second, one without day_volume: Athena sorts nulls last unless told, Spark first
    athena, raw, _ = _lake(tmp_path)
    records = [_record("AAPL", T0 + 5, 12.0, 2_000), _record("AAPL", T0 + 5, 11.0),
               _record("AAPL", T0 + 5, 10.0, 2_000)]
    _write_raw(raw, "14", "ties", records)
    rows = athena.query("SELECT open, close FROM bars_1m_live").rows
    expected = minute_bars([orjson.loads(line) for line in records])
    assert rows == [(b.open, b.close) for b in expected] == [(11.0, 12.0)]
