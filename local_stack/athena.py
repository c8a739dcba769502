"""Athena stand-in: DuckDB over the lake's folders, tables from the template, views from sql/ (Athena
dialect, transpiled with sqlglot). Partition columns come from the paths (hive layout), as partition
projection derives them on AWS; a symlink table's partitions are the manifests in those paths, read as
Hive's SymlinkTextInputFormat reads them."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from local_stack.s3 import LocalS3
from ohlcv_core.curated import parse_manifest
from ohlcv_core.errors import ConfigError, PipelineError
from stack_tools.template import StackTemplate, TableSettings

SQL_DIR = Path(__file__).resolve().parent.parent / "sql"
_DUCK_TYPES = {"string": "VARCHAR", "bigint": "BIGINT", "double": "DOUBLE", "timestamp": "TIMESTAMP",
               "int": "INTEGER", "date": "DATE", "boolean": "BOOLEAN"}


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]


def to_duckdb(sql: str) -> list[str]:
    try:
        return [s for s in sqlglot.transpile(sql, read="athena", write="duckdb") if s.strip()]
    except ParseError as exc:
        raise ConfigError(f"not valid Athena SQL: {exc}") from exc


def _refuse_writes(sql: str) -> None:
    try:
        statement = sqlglot.parse_one(sql, read="athena")
    except ParseError as exc:
        raise ConfigError(f"not valid Athena SQL: {exc}") from exc
    if not isinstance(statement, exp.Query | exp.Describe):
        raise ConfigError(f"only queries run here (SELECT, WITH, DESCRIBE); {type(statement).__name__.upper()} "
                          "could write into the lake")


def _duck_type(glue_type: str) -> str:
    if glue_type not in _DUCK_TYPES:
        raise ConfigError(f"Glue type {glue_type!r} has no local mapping")
    return _DUCK_TYPES[glue_type]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _visible_files(folder: Path) -> list[Path]:
    """What Athena reads under a location: files, hidden ones (. or _) left aside, as Hive leaves them."""
    if not folder.exists():
        return []
    return [p for p in sorted(folder.rglob("*")) if p.is_file()
            and not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts)]


def _symlink_sql(table: TableSettings, folder: Path, resolve: Callable[[str], Path]) -> str | None:
    """A symlink table: every file in a partition's folder is a manifest naming data files, one URI a
    line; the partition values come from the manifest's folder, not from where the data lies."""
    keys = [c.name for c in table.partition_keys]
    named: list[tuple[str, ...]] = []
    for manifest in _visible_files(folder):
        parts = manifest.relative_to(folder).parts[:-1]
        if len(parts) != len(keys) or any(not p.startswith(f"{k}=") for p, k in zip(parts, keys, strict=True)):
            continue
        values = tuple(p.split("=", 1)[1] for p in parts)
        try:
            lines = parse_manifest(manifest.read_bytes())
        except ValueError as exc:
            raise PipelineError(f"{table.name}: {manifest} is in a symlink table's partition: {exc}") from exc
        named += [(resolve(line).as_posix(), *values) for line in lines]
    if not named:
        return None
    files = ", ".join(_literal(f) for f in dict.fromkeys(row[0] for row in named))
    mapping = ", ".join("(" + ", ".join(_literal(v) for v in row) + ")" for row in named)
    select = ", ".join([*(f"CAST(_data.{_quote(c.name)} AS {_duck_type(c.type)}) AS {_quote(c.name)}"
                          for c in table.columns),
                        *(f"CAST(_named.{_quote(c.name)} AS {_duck_type(c.type)}) AS {_quote(c.name)}"
                          for c in table.partition_keys)])
    return (f"SELECT {select} FROM read_parquet([{files}], filename=true, union_by_name=true) AS _data "
            f"JOIN (VALUES {mapping}) AS _named(_file, {', '.join(_quote(k) for k in keys)}) "
            "ON _data.filename = _named._file")


def _table_sql(table: TableSettings, folder: Path, resolve: Callable[[str], Path]) -> str:
    columns = [*table.columns, *table.partition_keys]
    select = ", ".join(f"CAST({_quote(c.name)} AS {_duck_type(c.type)}) AS {_quote(c.name)}" for c in columns)
    empty = ", ".join(f"CAST(NULL AS {_duck_type(c.type)}) AS {_quote(c.name)}" for c in columns)
    if table.symlink:
        return _symlink_sql(table, folder, resolve) or f"SELECT {empty} WHERE false"
    if not _visible_files(folder):
        return f"SELECT {empty} WHERE false"
    hive_types = "{" + ", ".join(f"'{c.name}': '{_duck_type(c.type)}'" for c in table.partition_keys) + "}"
    pattern = (folder / "**" / "*").as_posix().replace("'", "''")
    if table.format == "parquet":
        source = (f"read_parquet('{pattern}.parquet', hive_partitioning=true, hive_types={hive_types}, "
                  "union_by_name=true)")
    else:
        spec = "{" + ", ".join(f"'{c.name}': '{_duck_type(c.type)}'" for c in table.columns) + "}"
        source = (f"read_json('{pattern}', format='newline_delimited', columns={spec}, "
                  f"hive_partitioning=true, hive_types={hive_types})")
    return f"SELECT {select} FROM {source}"


class LocalAthena:
    def __init__(self, template: StackTemplate, s3: LocalS3, sql_dir: Path = SQL_DIR) -> None:
        self._template = template
        self._s3 = s3
        self._sql_dir = sql_dir

    def _local_path(self, uri: str) -> Path:
        """A manifest's line: an s3:// URI (as on AWS) or the absolute path the local job wrote."""
        return self._s3.path_of(uri) if uri.startswith("s3://") else Path(uri)

    def connect(self) -> duckdb.DuckDBPyConnection:
        connection = duckdb.connect(":memory:")
        databases = {t.database for t in self._template.tables()}
        for database in databases:
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(database)}")
        for table in self._template.tables():
            folder = self._s3.path_of(table.location)
            connection.execute(f"CREATE VIEW {_quote(table.database)}.{_quote(table.name)} AS "
                               f"{_table_sql(table, folder, self._local_path)}")
        for view in sorted((self._sql_dir / "views").glob("*.sql")):
            for statement in to_duckdb(view.read_text(encoding="utf-8")):
                connection.execute(statement)
        if len(databases) == 1:
            connection.execute(f"SET schema = '{next(iter(databases))}'")
        return connection

    def query(self, sql: str, parameters: Sequence[Any] | None = None) -> QueryResult:
        """One statement that reads: a query (SELECT, WITH, set operations) or DESCRIBE. The lake's
        folders are the tables' only copy (manifests included), so nothing run here may write."""
        statements = to_duckdb(sql)
        if len(statements) != 1:
            raise ConfigError("give exactly one SQL statement")
        _refuse_writes(sql)
        with self.connect() as connection:
            try:
                cursor = connection.execute(statements[0], parameters or [])
            except duckdb.Error as exc:
                raise PipelineError(f"query failed: {exc}") from exc
            columns = tuple(d[0] for d in cursor.description or ())
            return QueryResult(columns, cursor.fetchall())
