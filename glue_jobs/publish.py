"""Publishing a run's partitions (the layout and its rules: ohlcv_core.curated).

A run (1) writes its journal, (2) has Spark write its data into a folder of its own, (3) replaces each
partition's manifest, (4) stamps its journal and collects what it and earlier runs left.
Nothing is renamed or overwritten but the manifests and journals, so the same steps are safe on S3,
where a rename is a copy.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from glue_jobs.store import ObjectStore, StoredObject
from ohlcv_core.curated import (
    JOURNAL_FOLDER,
    MANIFEST_NAME,
    Journal,
    Published,
    collectable,
    is_data_file,
    journal_url,
    manifest_url,
    parse_manifest,
    partition_key,
    render_manifest,
    run_url,
    written_partition,
)
from ohlcv_core.errors import ConfigError, PipelineError

LOG = logging.getLogger(__name__)


@dataclass(frozen=True)
class Collected:
    files_deleted: int
    runs_closed: int
    runs_pending: int


class CrashInjected(SystemExit):
    """Fault injection for the crash tests: the job stops where a killed one would."""


class Publisher:
    def __init__(self, store: ObjectStore, root: str, *, keep_superseded_s: float,
                 clock: Callable[[], float] = time.time) -> None:
        self._store = store
        self._root = root.rstrip("/")
        self._keep_s = keep_superseded_s
        self._clock = clock

    def published(self, table: str, partition: str) -> Published | None:
        found = self._store.read(manifest_url(self._root, table, partition))
        if found is None:
            return None
        body, modified_s = found
        return Published(frozenset(parse_manifest(body)), modified_s)

    def files(self, table: str, partitions: Sequence[str]) -> list[str]:
        """The files readers see in the partitions (ohlcv_core.curated.partition_of) now."""
        return sorted(f for part in partitions if (p := self.published(table, part)) for f in p.files)

    def outdated(self, table: str) -> list[str]:
        """The partitions of `table` published under a layout it no longer has (a day's partition of a
        table now partitioned by year): one listing of the table's folder."""
        folder = f"{self._root}/{table}/"
        key = f"{partition_key(table)}="
        found = set()
        for item in self._store.list(folder):
            parts = item.url[len(folder):].split("/")
            if len(parts) == 2 and parts[1] == MANIFEST_NAME and "=" in parts[0] and not parts[0].startswith(key):
                found.add(parts[0])
        return sorted(found)

    def begin(self, run_id: str, partitions: Mapping[str, Sequence[str]]) -> str:
        """Record what this run will replace; where its data goes. (What earlier runs left is collected
        when a run finishes.)"""
        if self._store.list(run_url(self._root, run_id)):
            raise ConfigError(f"run {run_id} has written here before: a run id is used once")
        replaces = {table: {part: tuple(self.files(table, [part])) for part in parts}
                    for table, parts in partitions.items()}
        self._store.write(journal_url(self._root, run_id),
                          Journal(run_id, int(self._clock() * 1000), replaces).to_json())
        return run_url(self._root, run_id)

    def written(self, run_id: str, objects: Sequence[StoredObject] | None = None) -> dict[tuple[str, str], list[str]]:
        """What a run's Spark writes left, by (table, partition) (from one listing of its folder)."""
        if objects is None:
            objects = self._store.list(run_url(self._root, run_id))
        found: dict[tuple[str, str], list[str]] = {}
        for item in objects:
            partition = written_partition(self._root, run_id, item.url)
            if partition is not None:
                found.setdefault(partition, []).append(item.url)
        return found

    def publish(self, table: str, partitions: Sequence[str], written: Mapping[tuple[str, str], Sequence[str]], *,
                crash_after_first: bool = False) -> int:
        """Replace the partitions' manifests with what the run wrote (`written`). An emptied partition gets
        an empty manifest: its readers must see it empty."""
        count = 0
        for part in partitions:
            files = written.get((table, part), [])
            if not files and self.published(table, part) is None:
                continue
            self._store.write(manifest_url(self._root, table, part), render_manifest(files))
            count += 1
            if crash_after_first:
                raise CrashInjected(f"crash injected after publishing {table} {part}")
        return count

    def retire(self, table: str, partitions: Sequence[str]) -> int:
        """Remove outdated partitions' manifests, once the partitions that now hold their bars are
        published. The run's journal named them, so their files are collected after the grace, as any
        superseded file is (a query that read a manifest before may still be reading them)."""
        urls = [manifest_url(self._root, table, part) for part in partitions]
        if urls:
            self._store.delete(urls)
        return len(urls)

    def finish(self, run_id: str) -> Collected:
        """The run has published every partition: its journal says when, then what can go, goes."""
        url = journal_url(self._root, run_id)
        found = self._store.read(url)
        if found is None:
            raise ConfigError(f"run {run_id} has no journal: it did not begin here")
        journal = dataclasses.replace(Journal.from_json(found[0]), published_ms=int(self._clock() * 1000))
        self._store.write(url, journal.to_json())
        return self.collect()

    def collect(self) -> Collected:
        """Delete what no reader can still see: each journal's superseded files and its run's unpublished
        ones, once collectable; a journal goes when nothing of its run is left to decide. A delete S3
        refuses leaves that journal for the next run (the data is published whatever collection does)."""
        now = self._clock()
        deleted = closed = pending = 0
        for item in self._store.list(f"{self._root}/{JOURNAL_FOLDER}"):
            found = self._store.read(item.url) if item.url.endswith(".json") else None
            if found is None:
                continue
            journal = Journal.from_json(found[0])
            if journal.in_grace(now, self._keep_s):  # decided without reading a manifest
                pending += 1
                continue
            try:
                count, done = self._collect_run(journal, now)
                if done:
                    self._store.delete([item.url])
            except PipelineError as exc:
                LOG.warning("collection of run %s left for the next run: %s", journal.run_id, exc)
                count, done = 0, False
            deleted += count
            closed += done
            pending += not done
        if deleted:
            LOG.info("collected %d superseded or unpublished file(s); %d run(s) closed, %d waiting",
                     deleted, closed, pending)
        return Collected(deleted, closed, pending)

    def _collect_run(self, journal: Journal, now: float) -> tuple[int, bool]:
        """Files deleted, and whether nothing of the run is left to decide (then its leftovers go too:
        the commit marker, a killed writer's temporary files)."""
        objects = self._store.list(run_url(self._root, journal.run_id))
        written = self.written(journal.run_id, objects)
        deleted, done = 0, True
        for table, part in sorted({*journal.partitions(), *written}):
            doomed = collectable(journal, table, part, published=self.published(table, part),
                                 written=written.get((table, part), []), now_s=now, keep_superseded_s=self._keep_s)
            if doomed is None:
                done = False
            elif doomed:
                self._store.delete(sorted(doomed))
                deleted += len(doomed)
        if done:
            self._store.delete([i.url for i in objects if not is_data_file(i.url)])
        return deleted, done
