"""Crash safety, idempotency and batch-split independence of the compaction job."""

from __future__ import annotations

import hashlib
import itertools
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from glue_jobs.compact_bars import main
from ohlcv_core.bars import MINUTE_MS
from tests.curated import published_files, published_tables
from tests.functional.test_compaction_job import T0, _record, _write_raw
from tests.job_arguments import template_defaults

TABLES = ("bars_1m", "bars_5m", "bars_1h", "bars_1d")


def _content(curated: Path) -> dict[str, list[dict[str, Any]]]:
    """Each table's rows as readers see them, in order: byte-for-byte in content, whatever the file names."""
    return published_tables(curated)


def _raw_day(raw: Path, day_offset: int = 0) -> None:
    base = T0 + day_offset * 86_400
    _write_raw(raw, "14", f"a{day_offset}", [_record("AAPL", base + s, 100 + s % 7, 1_000 + s * 10)
                                             for s in range(0, 900, 4)], dt=f"2023-08-{24 + day_offset}")
    _write_raw(raw, "14", f"b{day_offset}", [_record("EUR/USD", base + s, 1.08 + s / 1e5) for s in range(1, 900, 5)],
               dt=f"2023-08-{24 + day_offset}")


def _args(raw: Path, curated: Path, dates: str, *extra: str) -> list[str]:
    return [*template_defaults(), "--raw_location", f"{raw}/", "--curated_location", f"{curated}/", "--dates", dates,
            *extra]


@pytest.fixture(scope="module")
def clean(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any]]:
    """GIVEN two days of raw data, compacted once, cleanly, from nothing."""
    base = tmp_path_factory.mktemp("clean")
    _raw_day(base / "raw", 0)
    _raw_day(base / "raw", 1)
    main(_args(base / "raw", base / "curated", "2023-08-24,2023-08-25"), spark=spark)
    return base / "raw", _content(base / "curated")


def _whole_partitions(seen: dict[str, list[dict[str, Any]]], *versions: dict[str, list[dict[str, Any]]]) -> None:
    """Each partition readers see is one of the versions' partitions, whole."""
    for table in TABLES:
        for dt in {r["dt"] for r in seen[table]}:
            assert [r for r in seen[table] if r["dt"] == dt] in [
                [r for r in version[table] if r["dt"] == dt] for version in versions], (table, dt)


def _unreferenced(curated: Path) -> list[Path]:
    """Data files no manifest names, and journals: what a finished collection leaves none of."""
    named = {Path(f) for table in TABLES for files in published_files(curated, table).values() for f in files}
    data = {p for p in (curated / "data").rglob("*.parquet") if not p.name.startswith(".")}
    return sorted(data - named) + sorted((curated / "_journal").glob("*"))


@pytest.mark.parametrize("crash_at", ["staged", "publishing", "rollups"])
def test_a_crash_at_any_point_leaves_good_data_and_a_rerun_equals_a_clean_run(
        spark: Any, tmp_path: Path, clean: tuple[Path, dict[str, Any]], crash_at: str) -> None:
    raw, expected = clean
    curated = tmp_path / "curated"
    main(_args(raw, curated, "2023-08-24"), spark=spark)  # the previous good data: one day compacted
    before = _content(curated)
    with pytest.raises(SystemExit):
        main(_args(raw, curated, "2023-08-24,2023-08-25", "--crash_at", crash_at), spark=spark)
    # THEN at once, with nothing repaired, readers see whole partitions: the previous good ones, or the new
    after_crash = _content(curated)
    _whole_partitions(after_crash, before, expected)
    if crash_at == "staged":
        assert after_crash == before
    if crash_at == "rollups":
        assert after_crash["bars_1m"] == expected["bars_1m"]
        assert {t: after_crash[t] for t in TABLES[1:]} == {t: before[t] for t in TABLES[1:]}
    # WHEN the work is run again (superseded files collected at once: no reader to wait for)
    main(_args(raw, curated, "2023-08-24,2023-08-25", "--keep_superseded_s", "0"), spark=spark)
    assert _content(curated) == expected
    assert _unreferenced(curated) == []


def test_superseded_files_stay_readable_for_the_grace_then_go(spark: Any, tmp_path: Path,
                                                              clean: tuple[Path, dict[str, Any]]) -> None:
    raw, expected = clean
    curated = tmp_path / "curated"
    main(_args(raw, curated, "2023-08-24,2023-08-25"), spark=spark)
    held = published_files(curated, "bars_1m")  # what a query planned now reads
    main(_args(raw, curated, "2023-08-24,2023-08-25"), spark=spark)
    assert published_files(curated, "bars_1m") != held
    assert all(Path(f).exists() for files in held.values() for f in files)  # the query can still finish
    main(_args(raw, curated, "2023-08-24,2023-08-25", "--keep_superseded_s", "0"), spark=spark)
    assert not any(Path(f).exists() for files in held.values() for f in files)
    assert _content(curated) == expected and _unreferenced(curated) == []


def test_running_twice_gives_identical_files_content(spark: Any, tmp_path: Path,
                                                      clean: tuple[Path, dict[str, Any]]) -> None:
    raw, expected = clean
    curated = tmp_path / "curated"
    for _ in range(2):
        main(_args(raw, curated, "2023-08-24,2023-08-25"), spark=spark)
        assert _content(curated) == expected
    digest = hashlib.sha256(repr(_content(curated)).encode()).hexdigest()
    main(_args(raw, curated, "2023-08-24,2023-08-25"), spark=spark)
    assert hashlib.sha256(repr(_content(curated)).encode()).hexdigest() == digest


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(cuts=st.lists(st.integers(min_value=1, max_value=399), min_size=1, max_size=2, unique=True))
def test_any_split_of_the_input_into_event_batches_gives_the_same_tables(
        spark: Any, tmp_path_factory: pytest.TempPathFactory, cuts: list[int]) -> None:
    # GIVEN the same events, arriving as objects in batches (each batch triggers a run of the dates it touched)
    base = tmp_path_factory.mktemp("split")
    events = [_record("MSFT", T0 + s * 7, 300 + s % 11, 5_000 + s * 3) for s in range(400)]
    one_shot_raw, split_raw = base / "one" / "raw", base / "split" / "raw"
    _write_raw(one_shot_raw, "14", "all", events)
    main(_args(one_shot_raw, base / "one" / "curated", "2023-08-24"), spark=spark)
    bounds = [0, *sorted(cuts), len(events)]
    for index, (start, end) in enumerate(itertools.pairwise(bounds)):
        _write_raw(split_raw, "14", f"part{index}", events[start:end])
        main(_args(split_raw, base / "split" / "curated", "2023-08-24"), spark=spark)
    assert _content(base / "split" / "curated") == _content(base / "one" / "curated")
    assert len(_content(base / "one" / "curated")["bars_1m"]) == (400 * 7) // (MINUTE_MS // 1000) + 1


_JOB = """
import sys
from glue_jobs.compact_bars import main
from glue_jobs.session import local_session
main(sys.argv[1:], spark=local_session("killed", shuffle_partitions=2))
"""


def test_a_job_killed_while_spark_writes_leaves_good_data(spark: Any, tmp_path: Path,
                                                          clean: tuple[Path, dict[str, Any]]) -> None:
    raw, expected = clean
    curated = tmp_path / "curated"
    main(_args(raw, curated, "2023-08-24"), spark=spark)
    before = _content(curated)
    # WHEN a job in its own process is killed (SIGKILL) as soon as its data folder appears: mid-write
    process = subprocess.Popen([sys.executable, "-c", _JOB, *_args(raw, curated, "2023-08-24,2023-08-25")],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120

    def writing() -> bool:
        return len(list((curated / "data").glob("run=*"))) > 1

    while not writing() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    assert process.poll() is None, "the job finished before it could be killed"
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    # THEN readers see the previous good data, with nothing repaired; a rerun equals a clean run
    assert _content(curated) == before
    main(_args(raw, curated, "2023-08-24,2023-08-25", "--keep_superseded_s", "0"), spark=spark)
    assert _content(curated) == expected
    assert _unreferenced(curated) == []
