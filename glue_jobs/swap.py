"""Staging, then swapping partitions in: readers never see a partial partition, a crash at any point
leaves the previous good data, and the next run repairs what a crash left.

A run writes every table's partitions in one Spark write, under `<root>/_staging/<run>/table=<t>/dt=.../`,
then, partition by partition, moves the live one to `<root>/_trash/<run>/<table>/dt=...`, the staged one into place, and
deletes the old. Moves are Hadoop FileSystem renames: atomic on a local or HDFS file system. (On S3 a
rename is a copy; there the same layout wants a table format with atomic commits, such as Iceberg on
Glue 5: see docs/compaction.md.)
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Mapping
from typing import Any

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

LOG = logging.getLogger(__name__)


class PartitionSwap:
    def __init__(self, spark: SparkSession, root: str) -> None:
        jvm = spark.sparkContext._jvm
        assert jvm is not None, "a live SparkContext has a JVM gateway"
        self._jvm = jvm
        self._root = root.rstrip("/")
        self._fs = jvm.org.apache.hadoop.fs.Path(self._root).getFileSystem(
            spark.sparkContext._jsc.hadoopConfiguration())

    def _path(self, *parts: str) -> Any:
        return self._jvm.org.apache.hadoop.fs.Path("/".join([self._root, *parts]))

    def _staged(self, run_id: str, table: str, *partition: str) -> Any:
        return self._path("_staging", run_id, f"table={table}", *partition)

    def recover(self) -> int:
        """Undo what a crashed run left: live partitions moved aside come back; stale staging goes."""
        restored = 0
        trash = self._path("_trash")
        if self._fs.exists(trash):
            for run in self._fs.listStatus(trash):
                for table in self._fs.listStatus(run.getPath()):
                    for partition in self._fs.listStatus(table.getPath()):
                        live = self._path(table.getPath().getName(), partition.getPath().getName())
                        if self._fs.exists(live):
                            self._fs.delete(partition.getPath(), True)
                        else:
                            self._fs.mkdirs(live.getParent())
                            self._fs.rename(partition.getPath(), live)
                            restored += 1
            self._fs.delete(trash, True)
        self._fs.delete(self._path("_staging"), True)
        if restored:
            LOG.warning("restored %d partition(s) a crashed run had moved aside", restored)
        return restored

    def write(self, tables: Mapping[str, DataFrame], run_id: str, max_records_per_file: int) -> None:
        """Stage every table at once: one Spark job, whatever the number of tables (each job has fixed
        costs that, for the small rollups, outweigh their work). Rows sorted by symbol and time in each file."""
        union = functools.reduce(DataFrame.unionByName,
                                 [frame.withColumn("table", F.lit(name)) for name, frame in tables.items()])
        (union.repartition("table", "dt").sortWithinPartitions("symbol", "bar_start")
         .write.mode("overwrite").option("maxRecordsPerFile", max_records_per_file)
         .partitionBy("table", "dt").parquet(f"{self._root}/_staging/{run_id}"))

    def finish(self, run_id: str) -> None:
        """A run's own leftovers go; the shared folders too once empty."""
        for folder in ("_staging", "_trash"):
            self._fs.delete(self._path(folder, run_id), True)
            shared = self._path(folder)
            if self._fs.exists(shared) and not self._fs.listStatus(shared):
                self._fs.delete(shared, True)

    def swap(self, run_id: str, table: str, partitions: list[str], crash_after_aside: bool = False) -> None:
        for dt in partitions:
            name = f"dt={dt}"
            live, staged = self._path(table, name), self._staged(run_id, table, name)
            aside = self._path("_trash", run_id, table, name)
            if self._fs.exists(live):
                self._fs.mkdirs(aside.getParent())
                self._fs.rename(live, aside)
                if crash_after_aside:
                    raise SystemExit("crash injected between moving the old partition aside and moving the new in")
            if self._fs.exists(staged):
                self._fs.mkdirs(live.getParent())
                self._fs.rename(staged, live)
            self._fs.delete(aside, True)
        self._fs.delete(self._staged(run_id, table), True)
        self._fs.delete(self._path("_trash", run_id), True)
