"""Publishing a run's partitions (the layout and its rules: ohlcv_core.curated).

A run (1) collects what earlier runs left, (2) writes its journal, (3) has Spark write its data into a
folder of its own, (4) replaces each partition's manifest, (5) stamps its journal and collects again.
Nothing is renamed or overwritten but the manifests and journals, so the same steps are safe on S3,
where a rename is a copy.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from glue_jobs.store import ObjectStore
from ohlcv_core.curated import (
    JOURNAL_FOLDER,
    Journal,
    Published,
    collectable,
    is_data_file,
    journal_url,
    manifest_url,
    parse_manifest,
    render_manifest,
    run_url,
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

    def published(self, table: str, dt: str) -> Published | None:
        found = self._store.read(manifest_url(self._root, table, dt))
        if found is None:
            return None
        body, modified_s = found
        return Published(frozenset(parse_manifest(body)), modified_s)

    def files(self, table: str, dts: Sequence[str]) -> list[str]:
        """The files readers see in the partitions now."""
        return sorted(f for dt in dts if (p := self.published(table, dt)) for f in p.files)

    def begin(self, run_id: str, partitions: Mapping[str, Sequence[str]]) -> str:
        """Collect what earlier runs left, record what this run will replace; where its data goes."""
        if self._store.list(run_url(self._root, run_id)):
            raise ConfigError(f"run {run_id} has written here before: a run id is used once")
        self.collect()
        replaces = {table: {dt: tuple(self.files(table, [dt])) for dt in dts} for table, dts in partitions.items()}
        self._store.write(journal_url(self._root, run_id),
                          Journal(run_id, int(self._clock() * 1000), replaces).to_json())
        return run_url(self._root, run_id)

    def _written(self, run_id: str) -> dict[tuple[str, str], list[str]]:
        """What a run's Spark write left, by (table, dt), from the `table=…/dt=…/` of each file."""
        folder = run_url(self._root, run_id)
        written: dict[tuple[str, str], list[str]] = {}
        for item in self._store.list(folder):
            parts = item.url[len(folder):].strip("/").split("/")
            if len(parts) == 3 and parts[0].startswith("table=") and parts[1].startswith("dt=") \
                    and is_data_file(item.url):
                written.setdefault((parts[0][6:], parts[1][3:]), []).append(item.url)
        return written

    def publish(self, run_id: str, table: str, dts: Sequence[str], *, crash_after_first: bool = False) -> int:
        """Replace the partitions' manifests with what the run wrote (an emptied partition gets an empty
        manifest: its readers must see it empty, and its superseded files need the time it was emptied)."""
        written = self._written(run_id)
        count = 0
        for dt in dts:
            files = written.get((table, dt), [])
            if not files and self.published(table, dt) is None:
                continue
            self._store.write(manifest_url(self._root, table, dt), render_manifest(files))
            count += 1
            if crash_after_first:
                raise CrashInjected(f"crash injected after publishing {table} dt={dt}")
        return count

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
                    self._delete_leftovers(journal.run_id)
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
        """Files deleted, and whether nothing of the run is left to decide."""
        written = self._written(journal.run_id)
        deleted, done = 0, True
        for table, dt in sorted({*journal.partitions(), *written}):
            doomed = collectable(journal, table, dt, published=self.published(table, dt),
                                 written=written.get((table, dt), []), now_s=now, keep_superseded_s=self._keep_s)
            if doomed is None:
                done = False
            elif doomed:
                self._store.delete(sorted(doomed))
                deleted += len(doomed)
        return deleted, done

    def _delete_leftovers(self, run_id: str) -> None:
        """What a writer leaves beside the data: its commit marker, a killed writer's temporary files."""
        folder = run_url(self._root, run_id)
        self._store.delete([i.url for i in self._store.list(folder) if not is_data_file(i.url)])
