"""The curated zone's layout and the rules that keep it readable at every instant.

    <root>/<table>/<partition>/symlink.txt     the partition: one URI per line, its Parquet files
    <root>/data/run=<run>/table=<table>/<partition>/part-*.parquet
                                               what a run wrote; never changed, deleted once unreferenced
    <root>/_journal/<run>.json                 what a run set out to replace, until that is collected

A partition is named by its Hive folder: `dt=<date>` (a day's bars), or `year=<yyyy>` for the tables
whose day is a bar a symbol (ohlcv_core.schema.YEAR_PARTITIONED); partition_of says which.

Readers (Athena through Hive's SymlinkTextInputFormat, the jobs, the local Athena) read a partition's
manifest, then the files it names. A run publishes a partition by replacing its manifest: one object
written whole, so on S3 as on a local disk a reader sees the old partition or the new, never a mix, and
a crash at any instant leaves every partition as the last finished publication left it. A superseded
file is deleted only once it has been out of its manifest for longer than a query may run.

Writers are serialized (the job's MaxConcurrentRuns is 1): the journal's record of the manifests a run
replaces is read before it writes and stays true until it publishes.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from ohlcv_core.schema import YEAR_PARTITIONED

MANIFEST_NAME = "symlink.txt"
DATA_FOLDER = "data"
JOURNAL_FOLDER = "_journal"


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


def partition_key(table: str) -> str:
    """The column a table's partitions are named by (the Spark write's partition column)."""
    return "year" if table in YEAR_PARTITIONED else "dt"


def partition_of(table: str, dt: str) -> str:
    """The partition that holds a table's bars of the day `dt` (yyyy-MM-dd)."""
    return f"year={dt[:4]}" if table in YEAR_PARTITIONED else f"dt={dt}"


def partitions_of(table: str, dts: Sequence[str]) -> list[str]:
    return sorted({partition_of(table, dt) for dt in dts})


def manifest_url(root: str, table: str, partition: str) -> str:
    return _join(root, table, partition, MANIFEST_NAME)


def run_url(root: str, run_id: str) -> str:
    return _join(root, DATA_FOLDER, f"run={run_id}")


def written_url(root: str, run_id: str, table: str, partition: str) -> str:
    """The folder a run's Spark write (partitioned by table, then the table's key) puts a partition's files in."""
    return _join(run_url(root, run_id), f"table={table}", partition)


def written_partition(root: str, run_id: str, url: str) -> tuple[str, str] | None:
    """(table, partition) of a data file a run's Spark write left (see written_url); None for anything else."""
    folder = run_url(root, run_id) + "/"
    if not url.startswith(folder) or not is_data_file(url):
        return None
    parts = url[len(folder):].split("/")
    if len(parts) != 3 or not parts[0].startswith("table=") or "=" not in parts[1]:
        return None
    return parts[0].removeprefix("table="), parts[1]


def journal_url(root: str, run_id: str) -> str:
    return _join(root, JOURNAL_FOLDER, f"{run_id}.json")


def is_data_file(url: str) -> bool:
    """Parquet files only: not the committer's markers, not a local file system's hidden checksums."""
    name = url.rsplit("/", 1)[-1]
    return name.endswith(".parquet") and not name.startswith((".", "_"))


def render_manifest(files: Sequence[str]) -> bytes:
    if any("\n" in f or not f.strip() for f in files):
        raise ValueError("a manifest line is one file's URI")
    return b"".join(f"{f}\n".encode() for f in sorted(files))


def parse_manifest(body: bytes) -> list[str]:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise ValueError("not a manifest: one file URI a line, UTF-8") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


@dataclass(frozen=True)
class Journal:
    """A run's intent, written before its data: the partitions it will publish and, for each, the files
    its manifest named then (those the run will supersede); stamped when the run has published them all."""

    run_id: str
    written_ms: int
    replaces: Mapping[str, Mapping[str, tuple[str, ...]]] = field(default_factory=dict)  # table -> partition -> files
    published_ms: int | None = None

    def to_json(self) -> bytes:
        # json, not orjson: the Glue job's code ships without third-party packages
        return json.dumps({"run_id": self.run_id, "written_ms": self.written_ms, "published_ms": self.published_ms,
                           "replaces": {t: {d: list(f) for d, f in dts.items()} for t, dts in self.replaces.items()}},
                          sort_keys=True).encode()

    @classmethod
    def from_json(cls, body: bytes) -> Journal:
        data = json.loads(body)
        published = data.get("published_ms")
        # (a journal written before partitions were named by their folder named a day's partition by its date)
        return cls(str(data["run_id"]), int(data["written_ms"]),
                   {str(t): {(d if "=" in d else f"dt={d}"): tuple(str(f) for f in files) for d, files in dts.items()}
                    for t, dts in data["replaces"].items()},
                   None if published is None else int(published))

    def partitions(self) -> list[tuple[str, str]]:
        return [(table, part) for table, parts in sorted(self.replaces.items()) for part in sorted(parts)]

    def in_grace(self, now_s: float, keep_superseded_s: float) -> bool:
        """A finished run whose superseded files a query may still hold: nothing of it to decide yet."""
        return self.published_ms is not None and now_s - self.published_ms / 1000 < keep_superseded_s


@dataclass(frozen=True)
class Published:
    """A partition as readers see it now: the files its manifest names and when it was written."""

    files: frozenset[str]
    modified_s: float


def collectable(journal: Journal, table: str, partition: str, *, published: Published | None, written: Sequence[str],
                now_s: float, keep_superseded_s: float) -> frozenset[str] | None:
    """The files of one of a journal's partitions that can go now (an empty set: none are garbage), or
    None while they must stay.

    A finished run superseded its partitions' files when it published them, so they go once the grace has
    passed since; what it wrote, a later run supersedes and answers for. A run that did not finish (it
    crashed) may have published some partitions: the files it superseded and those it wrote, less what
    the manifest names, go once the manifest's last replacement is older than the grace (each was dropped
    by that replacement or an earlier one); a partition never published has no reader, so they go at once.
    """
    current = published.files if published is not None else frozenset()
    superseded = frozenset(journal.replaces.get(table, {}).get(partition, ())) - current
    if journal.published_ms is not None:
        return None if journal.in_grace(now_s, keep_superseded_s) else superseded
    garbage = superseded | (frozenset(written) - current)
    if published is not None and garbage and now_s - published.modified_s < keep_superseded_s:
        return None
    return garbage
