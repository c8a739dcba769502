"""Publication of curated partitions by manifest, on a local disk and on S3 (moto), without Spark: the
tests write a run's data files where its Spark write would."""

from __future__ import annotations

import itertools
import time
from collections.abc import Iterable, Iterator
from pathlib import Path

import boto3
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from glue_jobs.publish import CrashInjected, Publisher
from glue_jobs.store import LocalStore, ObjectStore, S3Store
from ohlcv_core.curated import JOURNAL_FOLDER, manifest_url, parse_manifest, written_url
from ohlcv_core.errors import PipelineError

KEEP_S = 600.0


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["local", "s3"])
def lake(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[ObjectStore, str]]:
    if request.param == "local":
        yield LocalStore(), (tmp_path / "curated").as_posix()
        return
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="curated")
        yield S3Store(client), "s3://curated"


def _write(store: ObjectStore, root: str, run: str, table: str, part: str, *, names: int = 2) -> list[str]:
    """What a run's Spark write leaves: data files, their commit marker."""
    files = [f"{written_url(root, run, table, part)}/part-{n:05d}-{run}.snappy.parquet" for n in range(names)]
    for file in files:
        store.write(file, f"rows of {run} {table} {part}".encode())
    store.write(f"{root}/data/run={run}/_SUCCESS", b"")
    return files


def _finished_run(publisher: Publisher, lake: tuple[ObjectStore, str], run: str, table: str,
                  dts: list[str]) -> dict[str, list[str]]:
    """A run that wrote and published every partition: its files by dt."""
    store, root = lake
    publisher.begin(run, {table: dts})
    files = {dt: _write(store, root, run, table, dt) for dt in dts}
    publisher.publish(table, dts, publisher.written(run))
    publisher.finish(run)
    return files


def _seen(store: ObjectStore, root: str, table: str, dt: str) -> list[str] | None:
    found = store.read(manifest_url(root, table, dt))
    return None if found is None else parse_manifest(found[0])


def _objects(store: ObjectStore, root: str, folder: str) -> list[str]:
    return [o.url for o in store.list(f"{root}/{folder}")]


def test_a_reader_sees_the_old_files_until_the_new_are_published_then_the_old_go_after_the_grace(
        lake: tuple[ObjectStore, str]) -> None:
    store, root = lake
    clock = Clock()
    publisher = Publisher(store, root, keep_superseded_s=KEEP_S, clock=clock)
    # GIVEN run a published a partition
    publisher.begin("a", {"bars_1m": ["dt=2023-08-24"]})
    old = _write(store, root, "a", "bars_1m", "dt=2023-08-24")
    assert publisher.publish("bars_1m", ["dt=2023-08-24"], publisher.written("a")) == 1
    publisher.finish("a")
    assert _seen(store, root, "bars_1m", "dt=2023-08-24") == sorted(old)
    # WHEN run b writes the same partition: readers still see a's files until b publishes
    publisher.begin("b", {"bars_1m": ["dt=2023-08-24"]})
    new = _write(store, root, "b", "bars_1m", "dt=2023-08-24", names=3)
    assert _seen(store, root, "bars_1m", "dt=2023-08-24") == sorted(old)
    publisher.publish("bars_1m", ["dt=2023-08-24"], publisher.written("b"))
    assert _seen(store, root, "bars_1m", "dt=2023-08-24") == sorted(new)
    # THEN a query that read a's manifest can still read a's files while the grace lasts
    assert publisher.finish("b").files_deleted == 0
    assert all(store.read(f) is not None for f in old)
    clock.now += KEEP_S + 1
    collected = publisher.collect()
    assert collected.files_deleted == len(old) and collected.runs_pending == 0
    assert all(store.read(f) is None for f in old) and all(store.read(f) is not None for f in new)
    assert _objects(store, root, JOURNAL_FOLDER) == []
    assert sorted(_objects(store, root, "data")) == sorted(new)  # the commit markers went with the journals


def test_a_run_that_crashed_before_publishing_leaves_readers_the_old_data_and_its_files_are_collected(
        tmp_path: Path) -> None:
    # (a local store on the test's clock: a crashed run is judged by its manifests' age, which S3 stamps)
    clock = Clock()
    store, root = LocalStore(clock), (tmp_path / "curated").as_posix()
    lake = (store, root)
    publisher = Publisher(store, root, keep_superseded_s=KEEP_S, clock=clock)
    good = _finished_run(publisher, lake, "a", "bars_1m", ["dt=2023-08-24"])["dt=2023-08-24"]
    clock.now += KEEP_S + 1
    # GIVEN run b wrote 24 August again and a first 25 August, then died before publishing either
    publisher.begin("b", {"bars_1m": ["dt=2023-08-24", "dt=2023-08-25"]})
    crashed = {dt: _write(store, root, "b", "bars_1m", dt) for dt in ("dt=2023-08-24", "dt=2023-08-25")}
    assert _seen(store, root, "bars_1m", "dt=2023-08-24") == sorted(good)
    assert _seen(store, root, "bars_1m", "dt=2023-08-25") is None
    # WHEN the next run publishes 24 August: b's 25 August goes at once (never published, nobody can be
    # reading it); what b wrote for 24 August and a's files wait out the grace of that publication
    c = _finished_run(publisher, lake, "c", "bars_1m", ["dt=2023-08-24"])["dt=2023-08-24"]
    assert all(store.read(f) is None for f in crashed["dt=2023-08-25"])
    assert all(store.read(f) is not None for f in [*crashed["dt=2023-08-24"], *good])
    # THEN after it only c's files and nothing to decide are left
    clock.now += KEEP_S + 1
    publisher.collect()
    assert sorted(_objects(store, root, "data")) == sorted(c)
    assert _objects(store, root, JOURNAL_FOLDER) == []


def test_a_write_killed_half_way_leaves_a_temporary_file_that_nothing_reads(tmp_path: Path) -> None:
    store, root = LocalStore(), (tmp_path / "curated").as_posix()
    publisher = Publisher(store, root, keep_superseded_s=0)
    _finished_run(publisher, (store, root), "a", "bars_1m", ["dt=2023-08-24"])
    (tmp_path / "curated" / JOURNAL_FOLDER).mkdir(exist_ok=True)
    (tmp_path / "curated" / JOURNAL_FOLDER / ".b.json.0a1b.tmp").write_bytes(b'{"run_id": "b", "writ')
    (tmp_path / "curated" / "bars_1m" / "dt=2023-08-24" / ".symlink.txt.0a1b.tmp").write_bytes(b"/half/a/li")
    assert publisher.collect().runs_closed == 0  # the torn journal is no journal
    assert _seen(store, root, "bars_1m", "dt=2023-08-24") is not None


def test_a_refused_delete_leaves_the_files_for_the_next_collection(tmp_path: Path) -> None:
    class Refusing(LocalStore):
        refuse = True

        def delete(self, urls: Iterable[str]) -> None:
            if self.refuse:
                raise PipelineError("S3 refused to delete 2 object(s)")
            super().delete(urls)

    clock = Clock()
    store, root = Refusing(clock), (tmp_path / "curated").as_posix()
    publisher = Publisher(store, root, keep_superseded_s=KEEP_S, clock=clock)
    old = _finished_run(publisher, (store, root), "a", "bars_1m", ["dt=2023-08-24"])["dt=2023-08-24"]
    _finished_run(publisher, (store, root), "b", "bars_1m", ["dt=2023-08-24"])
    clock.now += KEEP_S + 1
    assert publisher.collect().runs_pending == 2  # refused: logged, both journals kept
    assert all(store.read(f) is not None for f in old)
    store.refuse = False
    assert publisher.collect().files_deleted == len(old)
    assert all(store.read(f) is None for f in old)


def test_a_run_id_is_used_once(lake: tuple[ObjectStore, str]) -> None:
    from ohlcv_core.errors import ConfigError

    store, root = lake
    publisher = Publisher(store, root, keep_superseded_s=KEEP_S)
    publisher.begin("a", {"bars_1m": ["dt=2023-08-24"]})
    _write(store, root, "a", "bars_1m", "dt=2023-08-24")
    with pytest.raises(ConfigError, match="used once"):
        publisher.begin("a", {"bars_1m": ["dt=2023-08-24"]})


def test_a_crash_between_two_publications_leaves_each_partition_whole(lake: tuple[ObjectStore, str]) -> None:
    store, root = lake
    publisher = Publisher(store, root, keep_superseded_s=KEEP_S)
    old = _finished_run(publisher, lake, "a", "bars_1m", ["dt=2023-08-24", "dt=2023-08-25"])
    publisher.begin("b", {"bars_1m": ["dt=2023-08-24", "dt=2023-08-25"]})
    new = {dt: _write(store, root, "b", "bars_1m", dt) for dt in ("dt=2023-08-24", "dt=2023-08-25")}
    with pytest.raises(CrashInjected):
        publisher.publish("bars_1m", ["dt=2023-08-24", "dt=2023-08-25"], publisher.written("b"),
                          crash_after_first=True)
    assert _seen(store, root, "bars_1m", "dt=2023-08-24") == sorted(new["dt=2023-08-24"])
    assert _seen(store, root, "bars_1m", "dt=2023-08-25") == sorted(old["dt=2023-08-25"])


def test_an_emptied_partition_is_published_empty_and_its_old_files_go_after_the_grace(
        lake: tuple[ObjectStore, str]) -> None:
    store, root = lake
    clock = Clock()
    publisher = Publisher(store, root, keep_superseded_s=KEEP_S, clock=clock)
    old = _finished_run(publisher, lake, "a", "bars_1h", ["dt=2023-08-24"])["dt=2023-08-24"]
    publisher.begin("b", {"bars_1h": ["dt=2023-08-24", "dt=2023-08-25"]})
    # 25 August: nothing, ever
    assert publisher.publish("bars_1h", ["dt=2023-08-24", "dt=2023-08-25"], publisher.written("b")) == 1
    publisher.finish("b")
    assert _seen(store, root, "bars_1h", "dt=2023-08-24") == []
    assert _seen(store, root, "bars_1h", "dt=2023-08-25") is None
    clock.now += KEEP_S + 1
    publisher.collect()
    assert all(store.read(f) is None for f in old)


def test_a_partition_republished_every_minute_still_has_its_old_versions_collected(
        lake: tuple[ObjectStore, str]) -> None:
    # GIVEN today's partition, compacted again by a run every minute (its manifest is never an hour old)
    store, root = lake
    clock = Clock()
    publisher = Publisher(store, root, keep_superseded_s=KEEP_S, clock=clock)
    versions = []
    for minute in range(25):
        last_collection = clock.now
        written = _finished_run(publisher, lake, f"m{minute:02d}", "bars_1m", ["dt=2023-08-24"])
        versions.append((clock.now, written["dt=2023-08-24"]))
        clock.now += KEEP_S / 7 + 3  # no version replaced exactly a grace before a collection
    # THEN a version goes once it has been out of the manifest for the grace: only the last seven or so stay
    for (_, files), (replaced_at, _) in itertools.pairwise(versions):
        gone = last_collection - replaced_at >= KEEP_S
        assert all((store.read(f) is None) == gone for f in files), (replaced_at, last_collection)
    assert sum(1 for _, files in versions if store.read(files[0]) is not None) == 8
    assert len(_objects(store, root, JOURNAL_FOLDER)) == 7  # those of the runs that replaced the seven


def test_day_partitions_of_a_year_partitioned_table_are_found_retired_and_their_files_collected(
        lake: tuple[ObjectStore, str]) -> None:
    # GIVEN bars_1d as the earlier layout published it: a partition a day
    store, root = lake
    clock = Clock()
    publisher = Publisher(store, root, keep_superseded_s=KEEP_S, clock=clock)
    days = ["dt=2023-08-24", "dt=2023-08-25"]
    old = _finished_run(publisher, lake, "a", "bars_1d", days)
    assert publisher.outdated("bars_1d") == days
    assert publisher.outdated("bars_1m") == []
    # WHEN a run folds them into their year and retires them
    publisher.begin("b", {"bars_1d": ["year=2023", *days]})
    year = _write(store, root, "b", "bars_1d", "year=2023")
    assert publisher.publish("bars_1d", ["year=2023"], publisher.written("b")) == 1
    assert publisher.retire("bars_1d", days) == 2
    publisher.finish("b")
    # THEN readers see the year; the days' manifests are gone, their files only after the grace
    assert _seen(store, root, "bars_1d", "year=2023") == sorted(year)
    assert publisher.outdated("bars_1d") == []
    assert all(store.read(f) is not None for files in old.values() for f in files)
    clock.now += KEEP_S + 1
    publisher.collect()
    assert sorted(_objects(store, root, "data")) == sorted(year)


def test_a_journal_of_the_earlier_layout_names_its_days_by_their_folders() -> None:
    from ohlcv_core.curated import Journal

    body = b'{"run_id": "a", "written_ms": 1, "published_ms": null, "replaces": {"bars_1d": {"2023-08-24": ["f"]}}}'
    assert Journal.from_json(body).partitions() == [("bars_1d", "dt=2023-08-24")]


# -- the invariant, over any sequence of runs, crashes and collections --------------------------------
DATES = ("dt=2023-08-24", "dt=2023-08-25", "dt=2023-08-26")  # (partitions: their folders)
step = st.tuples(st.lists(st.sampled_from(DATES), min_size=1, max_size=3, unique=True),  # the run's dates
                 st.integers(min_value=0, max_value=3),  # how far it gets: written, 1, 2, all published
                 st.sampled_from([0.0, KEEP_S / 2, KEEP_S * 2]))  # time passing after it


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(steps=st.lists(step, min_size=1, max_size=6))
def test_no_published_file_is_ever_deleted_and_nothing_unpublished_outlives_the_grace(
        tmp_path_factory: pytest.TempPathFactory, steps: list[tuple[list[str], int, float]]) -> None:
    clock = Clock()
    store, root = LocalStore(clock), (tmp_path_factory.mktemp("lake") / "curated").as_posix()
    publisher = Publisher(store, root, keep_superseded_s=KEEP_S, clock=clock)
    # what every reader may hold: each manifest ever published, while the grace after its replacement lasts
    held: list[tuple[list[str], float]] = []

    def check_readers() -> None:
        for dt in DATES:
            for file in _seen(store, root, "bars_1m", dt) or []:
                assert store.read(file) is not None, f"a published file is gone: {file}"
        for files, until in held:
            if clock.now < until:
                assert all(store.read(f) is not None for f in files), "a file went within the grace"

    for index, (dates, reach, later) in enumerate(steps):
        run = f"r{index}"
        before = {dt: _seen(store, root, "bars_1m", dt) for dt in dates}
        publisher.begin(run, {"bars_1m": sorted(dates)})
        for dt in dates:
            _write(store, root, run, "bars_1m", dt)
        for dt in sorted(dates)[:reach]:
            publisher.publish("bars_1m", [dt], publisher.written(run))
            if before[dt]:
                held.append((before[dt] or [], clock.now + KEEP_S))
        if reach >= len(dates):
            publisher.finish(run)
        check_readers()
        clock.now += later
        publisher.collect()
        check_readers()
    clock.now += KEEP_S + 1
    publisher.collect()
    check_readers()
    published = {f for dt in DATES for f in _seen(store, root, "bars_1m", dt) or []}
    assert {o.url for o in store.list(f"{root}/data")} == published
    assert store.list(f"{root}/{JOURNAL_FOLDER}") == []


def test_the_store_for_a_location_is_chosen_by_its_scheme() -> None:
    from glue_jobs.store import store_for
    from ohlcv_core.errors import ConfigError

    assert isinstance(store_for("s3://bucket/", s3_client=object()), S3Store)
    assert isinstance(store_for("/tmp/lake/curated"), LocalStore)
    with pytest.raises(ConfigError, match="absolute path"):
        store_for("lake/curated")
