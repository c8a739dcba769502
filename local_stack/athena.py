"""Athena stand-in: DuckDB over the lake's folders, tables from the template, views from sql/ (Athena
dialect, transpiled with sqlglot). Partition columns come from the paths (hive layout), as partition
projection derives them on AWS."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import duckdb
import sqlglot
from sqlglot.errors import ParseError

from local_stack.s3 import LocalS3
from local_stack.template import StackTemplate, TableSettings
from ohlcv_core.errors import ConfigError, PipelineError

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


def _duck_type(glue_type: str) -> str:
    if glue_type not in _DUCK_TYPES:
        raise ConfigError(f"Glue type {glue_type!r} has no local mapping")
    return _DUCK_TYPES[glue_type]


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _table_sql(table: TableSettings, folder: Path) -> str:
    columns = [*table.columns, *table.partition_keys]
    select = ", ".join(f"CAST({_quote(c.name)} AS {_duck_type(c.type)}) AS {_quote(c.name)}" for c in columns)
    files = [p for p in folder.rglob("*") if p.is_file() and not p.name.startswith((".", "_"))] \
        if folder.exists() else []
    if not files:
        empty = ", ".join(f"CAST(NULL AS {_duck_type(c.type)}) AS {_quote(c.name)}" for c in columns)
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

    def connect(self) -> duckdb.DuckDBPyConnection:
        connection = duckdb.connect(":memory:")
        databases = {t.database for t in self._template.tables()}
        for database in databases:
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(database)}")
        for table in self._template.tables():
            folder = self._s3.path_of(table.location)
            connection.execute(f"CREATE VIEW {_quote(table.database)}.{_quote(table.name)} AS "
                               f"{_table_sql(table, folder)}")
        for view in sorted((self._sql_dir / "views").glob("*.sql")):
            for statement in to_duckdb(view.read_text(encoding="utf-8")):
                connection.execute(statement)
        if len(databases) == 1:
            connection.execute(f"SET schema = '{next(iter(databases))}'")
        return connection

    def query(self, sql: str, parameters: Sequence[Any] | None = None) -> QueryResult:
        statements = to_duckdb(sql)
        if len(statements) != 1:
            raise ConfigError("give exactly one SQL statement")
        with self.connect() as connection:
            try:
                cursor = connection.execute(statements[0], parameters or [])
            except duckdb.Error as exc:
                raise PipelineError(f"query failed: {exc}") from exc
            columns = tuple(d[0] for d in cursor.description or ())
            return QueryResult(columns, cursor.fetchall())
