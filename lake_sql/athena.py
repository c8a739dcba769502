"""Athena on DuckDB: the lake's folders, tables from the template, views from sql/ (Athena's dialect,
run with Athena's semantics by lake_sql.dialect). Partition columns come from the
paths (hive layout), as partition projection derives them on AWS; a symlink table's partitions are the
manifests in those paths, read as Hive's SymlinkTextInputFormat reads them."""

from __future__ import annotations

import functools
import json
import math
import re
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, Protocol
from zoneinfo import ZoneInfo

import duckdb
import sqlglot
from sqlglot import exp
from sqlglot.errors import ParseError

from lake_sql.dialect import MACROS, SESSION_SETUP, Translation, UnsupportedSql, parse_error, translate
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
    types: tuple[str, ...] = ()  # DuckDB's type of each column (stack_tools.quicksight reads them)


def _java_double(value: float) -> str:
    """A double as Athena prints it (Java's Double.toString): plain between 1e-3 and 1e7, else d.dddEn."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        return repr(float(value))
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    shown = "".join(map(str, digits))
    scale = len(digits) - 1 + int(exponent)
    return f"{'-' if sign else ''}{shown[0]}.{shown[1:] or '0'}E{scale}"


def _timestamp_text(value: datetime) -> str:
    text = value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"
    return f"{text} {getattr(value.tzinfo, 'key', 'UTC')}" if value.tzinfo is not None else text


def _interval_text(value: timedelta) -> str:
    seconds = value.seconds + value.microseconds / 1e6
    return f"{value.days} {int(seconds // 3600):02d}:{int(seconds % 3600 // 60):02d}:{seconds % 60:06.3f}"


def _inner(value: Any) -> str:
    return "null" if value is None else str(athena_text(value))


# Checked in order: bool before int's relatives, datetime before date (a datetime is a date).
_TEXT: tuple[tuple[type | tuple[type, ...], Callable[[Any], str]], ...] = (
    (bool, lambda v: "true" if v else "false"),
    (float, _java_double),
    (datetime, _timestamp_text),
    (date, lambda v: v.isoformat()),
    (timedelta, _interval_text),
    ((list, tuple), lambda v: "[" + ", ".join(_inner(x) for x in v) + "]"),
    (dict, lambda v: "{" + ", ".join(f"{_inner(k)}={_inner(x)}" for k, x in v.items()) + "}"),
)


def athena_text(value: Any) -> str | None:
    """A value as Athena's API returns it (every value as text, NULL as None): timestamps with
    milliseconds, a zone's name after a zoned one, arrays as [a, b], maps as {k=v}."""
    if value is None:
        return None
    for kind, text in _TEXT:
        if isinstance(value, kind):
            return text(value)
    return str(value)


def _in_zones(rows: list[tuple[Any, ...]], zones: Sequence[str | None]) -> list[tuple[Any, ...]]:
    """A timestamp with time zone comes back in its own zone, as Athena returns it."""
    targets = [(i, ZoneInfo(z)) for i, z in enumerate(zones) if z is not None]
    if not targets:
        return rows
    out = []
    for row in rows:
        values = list(row)
        for i, zone in targets:
            if isinstance(values[i], datetime):
                values[i] = values[i].astimezone(zone)
        out.append(tuple(values))
    return out


_DUCK_TO_ATHENA = {"VARCHAR": "varchar", "BIGINT": "bigint", "DOUBLE": "double", "TIMESTAMP": "timestamp",
                   "INTEGER": "integer", "DATE": "date", "BOOLEAN": "boolean",
                   "TIMESTAMP WITH TIME ZONE": "timestamp with time zone"}
_MISSING_FUNCTION = re.compile(r"(?:Scalar|Aggregate|Table) Function with name (\w+) does not exist")
_MISSING_TABLE = re.compile(r"Table with name (\w+) does not exist")


@functools.lru_cache(maxsize=256)
def _translate_cached(sql: str, schema_json: str, database: str | None) -> Translation:
    return translate(sql, json.loads(schema_json), database)


def translated(sql: str, schema: dict[str, dict[str, dict[str, str]]], database: str | None = None) -> Translation:
    """translate(), remembered: a dashboard runs the same few statements over the same catalog again and
    again, and sqlglot's parse, qualify and type pass cost more than DuckDB's answer for small ones."""
    return _translate_cached(sql, json.dumps(schema, sort_keys=True), database)


@functools.lru_cache(maxsize=64)
def _creates_a_view(sql: str) -> bool:
    statement = sqlglot.parse_one(sql, read="athena")
    return isinstance(statement, exp.Create) and statement.kind == "VIEW"


def catalog_schema(connection: duckdb.DuckDBPyConnection) -> dict[str, dict[str, dict[str, str]]]:
    """Every table and view of the connection, as sqlglot reads types: database -> table -> column -> type."""
    schema: dict[str, dict[str, dict[str, str]]] = {}
    for database, table, column, kind in connection.execute(
            "SELECT table_schema, table_name, column_name, data_type FROM information_schema.columns "
            "WHERE table_catalog = current_database()").fetchall():
        schema.setdefault(database, {}).setdefault(table, {})[column] = _DUCK_TO_ATHENA.get(kind, "varchar")
    return schema


def query_error(exc: duckdb.Error) -> Exception:
    """DuckDB's error as the user of Athena SQL needs it: what in their query cannot run, and why."""
    text = str(exc)
    if (missing := _MISSING_FUNCTION.search(text)) is not None:
        return UnsupportedSql(f"{missing.group(1)}: not a function the local engine runs (docs/sql.md lists "
                              "the ones that do)")
    if (table := _MISSING_TABLE.search(text)) is not None:
        return ConfigError(f"table {table.group(1)} does not exist")
    if "Division by zero" in text:
        return PipelineError("Division by zero")
    if "Unknown TimeZone" in text:
        return UnsupportedSql("time zone: the local engine knows IANA zone names only "
                              f"({text.splitlines()[0]})")
    return PipelineError(f"query failed: {text.splitlines()[0]}")


@functools.lru_cache(maxsize=256)
def _refuse_writes(sql: str) -> None:
    try:
        statements = [s for s in sqlglot.parse(sql, read="athena") if s is not None]
    except ParseError as exc:
        raise parse_error(exc) from None
    if len(statements) != 1:
        raise ConfigError(f"give one SQL statement, not {len(statements)}")
    if not isinstance(statements[0], exp.Query | exp.Describe):
        verb = (sql.split() or ["nothing"])[0].upper()  # the statement's own word, not the parser's reading of it
        raise ConfigError(f"only reading statements run here (SELECT, WITH, DESCRIBE), not {verb}: the lake's "
                          "folders are its tables' only copy")


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


def _has_visible_file(folder: Path) -> bool:
    if not folder.exists():
        return False
    return any(p.is_file() and not any(part.startswith((".", "_")) for part in p.relative_to(folder).parts)
               for p in folder.rglob("*"))


Signature = tuple[object, ...]


class Lake(Protocol):
    """Where a lake's buckets are on disk (local_stack.s3.LocalS3 is one)."""

    @property
    def root(self) -> Path: ...

    def path_of(self, uri: str) -> Path: ...


class LocalAthena:
    """The catalog is one DuckDB database kept open: rebuilt only when what its views bake in changes (a
    symlink table's manifests, a table's first file, a view's text), so a query pays for its own work,
    not for re-reading the catalog. Each query runs on a cursor of its own (safe across threads)."""

    def __init__(self, template: StackTemplate, s3: Lake, sql_dir: Path = SQL_DIR) -> None:
        self._template = template
        self._s3 = s3
        self._sql_dir = sql_dir
        self._lock = threading.Lock()
        self._catalog: tuple[duckdb.DuckDBPyConnection, dict[str, dict[str, dict[str, str]]], Signature] | None = None
        # Unqualified names are read in the stack's database, as in Athena's query execution context.
        databases = {t.database for t in template.tables()}
        self.database = next(iter(databases)) if len(databases) == 1 else None

    def _local_path(self, uri: str) -> Path:
        """A manifest's line: an s3:// URI (as on AWS) or the absolute path the local job wrote."""
        return self._s3.path_of(uri) if uri.startswith("s3://") else Path(uri)

    def connect(self) -> duckdb.DuckDBPyConnection:
        connection = duckdb.connect(":memory:")
        for setting in (*SESSION_SETUP, *MACROS):
            connection.execute(setting)
        # The lake's folder and nothing else: no extension installed or loaded on a query's behalf, no file
        # or URL outside it, and no query may change that (whatever the translator lets through).
        root = self._s3.root.resolve().as_posix().replace("'", "''")
        # What a statement read (the Athena stand-in's bytes scanned): collected, never printed.
        connection.execute("SET enable_profiling = 'no_output'")
        for setting in ("SET autoinstall_known_extensions = false", "SET autoload_known_extensions = false",
                        f"SET allowed_directories = ['{root}']", "SET enable_external_access = false",
                        "SET lock_configuration = true"):
            connection.execute(setting)
        databases = {t.database for t in self._template.tables()}
        for name in databases:
            connection.execute(f"CREATE SCHEMA IF NOT EXISTS {_quote(name)}")
        for table in self._template.tables():
            folder = self._s3.path_of(table.location)
            connection.execute(f"CREATE VIEW {_quote(table.database)}.{_quote(table.name)} AS "
                               f"{_table_sql(table, folder, self._local_path)}")
        if self.database is not None:
            connection.execute(f"SET schema = '{self.database}'")
        for view in sorted((self._sql_dir / "views").glob("*.sql")):
            self._create_view(connection, view)
        return connection

    def _create_view(self, connection: duckdb.DuckDBPyConnection, view: Path) -> None:
        text = view.read_text(encoding="utf-8")
        if not _creates_a_view(text):
            raise ConfigError(f"{view}: a file in sql/views/ holds one CREATE VIEW")
        try:
            connection.execute(translated(text, catalog_schema(connection), self.database).sql)
        except duckdb.Error as exc:
            raise PipelineError(f"{view.name}: {query_error(exc)}") from exc

    def _signature(self) -> Signature:
        parts: list[object] = []
        for table in self._template.tables():
            folder = self._s3.path_of(table.location)
            if table.symlink:
                parts.append(tuple((p.as_posix(), p.stat().st_mtime_ns, p.stat().st_size)
                                   for p in _visible_files(folder)))
            else:
                parts.append(_has_visible_file(folder))
        parts.append(tuple((p.name, p.stat().st_mtime_ns) for p in sorted((self._sql_dir / "views").glob("*.sql"))))
        return tuple(parts)

    def _current(self, signature: Signature) -> tuple[duckdb.DuckDBPyConnection, dict[str, dict[str, dict[str, str]]]]:
        """The catalog for the lake as `signature` says it is, rebuilt if it moved on (under the lock)."""
        if self._catalog is None or self._catalog[2] != signature:
            connection = self.connect()
            self._catalog = (connection, catalog_schema(connection), signature)
        return self._catalog[0], self._catalog[1]

    def _open(self) -> tuple[duckdb.DuckDBPyConnection, dict[str, dict[str, dict[str, str]]]]:
        """A cursor on the current catalog, and its schema. (A catalog replaced while another thread
        reads it is closed when its last cursor goes.)"""
        signature = self._signature()
        with self._lock:
            catalog, schema = self._current(signature)
            cursor = catalog.cursor()
        if self.database is not None:  # a cursor starts from the database's defaults: the search path again
            cursor.execute(f"SET schema = '{self.database}'")
        return cursor, schema

    def query(self, sql: str, parameters: Sequence[Any] | None = None) -> QueryResult:
        """One statement that reads: a query (SELECT, WITH, set operations) or DESCRIBE. The lake's
        folders are the tables' only copy (manifests included), so nothing run here may write."""
        _refuse_writes(sql)
        connection, schema = self._open()
        with connection:
            return self._run(connection, schema, sql, parameters)

    def query_scanned(self, sql: str, parameters: Sequence[Any] | None = None) -> tuple[QueryResult, int]:
        """As `query`, with the bytes the engine read from the lake's files to answer it (what Athena
        reports as DataScannedInBytes). One at a time: the catalog's own connection profiles it."""
        _refuse_writes(sql)
        signature = self._signature()
        with self._lock:
            connection, schema = self._current(signature)
            result = self._run(connection, schema, sql, parameters)
            profile = json.loads(connection.get_profiling_information(format="json"))
        return result, int((profile.get("io") or {}).get("total_bytes_read", 0))

    def _run(self, connection: duckdb.DuckDBPyConnection, schema: dict[str, dict[str, dict[str, str]]], sql: str,
             parameters: Sequence[Any] | None) -> QueryResult:
        translation = translated(sql, schema, self.database)
        try:
            cursor = connection.execute(translation.sql, parameters or [])
            rows = cursor.fetchall()
        except duckdb.Error as exc:
            raise query_error(exc) from exc
        columns = tuple(d[0] for d in cursor.description or ())
        types = tuple(str(d[1]) for d in cursor.description or ())
        zones = translation.zones if len(translation.zones) == len(columns) else ()
        return QueryResult(columns, _in_zones(rows, zones), types)
