"""`ohlcv query`: a named query of sql/queries/ with its parameters, or ad-hoc Athena SQL, on the local
lake, printed as a table or written as CSV, JSON Lines or Parquet. Values print as Athena's API prints
them (lake_sql.athena.athena_text); JSON Lines keeps numbers and booleans as JSON's."""

from __future__ import annotations

import argparse
import csv
import io
import sys
from collections.abc import Sequence
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

import orjson
import pyarrow as pa
import pyarrow.parquet as pq

from lake_sql.athena import LocalAthena, QueryResult, athena_text
from local_stack.s3 import LocalS3
from ohlcv_core.errors import ConfigError
from stack_tools.queries import named_queries, named_query
from stack_tools.template import StackTemplate


def _is_named(text: str) -> bool:
    return text.replace("_", "").isalnum() and text.islower()


def list_queries(out: TextIO) -> None:
    for query in named_queries().values():
        flags = " ".join(f"--{p} …" for p in query.parameters)
        out.write(f"{query.name}  {flags}\n    {query.description}\n")


def table_text(result: QueryResult) -> str:
    rows = [["NULL" if v is None else str(athena_text(v)) for v in row] for row in result.rows]
    widths = [max([len(c), *(len(r[i]) for r in rows)]) for i, c in enumerate(result.columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths)]
    lines += ["  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    return "\n".join([*lines, f"({len(rows)} rows)"]) + "\n"


def csv_text(result: QueryResult) -> str:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(result.columns)
    writer.writerows([["" if v is None else athena_text(v) for v in row] for row in result.rows])
    return buffer.getvalue()


def _json_value(value: Any) -> Any:
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime | date):
        return athena_text(value)
    if isinstance(value, list | tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {str(athena_text(k)): _json_value(v) for k, v in value.items()}
    return athena_text(value)


def jsonl_bytes(result: QueryResult) -> bytes:
    return b"".join(orjson.dumps({c: _json_value(v) for c, v in zip(result.columns, row, strict=True)},
                                 option=orjson.OPT_SERIALIZE_NUMPY) + b"\n" for row in result.rows)


def write_parquet(result: QueryResult, path: Path) -> None:
    columns = {name: [row[i] for row in result.rows] for i, name in enumerate(result.columns)}
    pq.write_table(pa.table(columns), path)


def run(athena: LocalAthena, args: argparse.Namespace, out: TextIO) -> int:
    if args.list:
        list_queries(out)
        return 0
    if not args.sql:
        raise ConfigError("give a named query (ohlcv query --list shows them) or a SQL statement")
    if _is_named(args.sql):
        query = named_query(args.sql)
        parameters: Sequence[str] = query.bind({"symbols": args.symbols or "", "from": args.start or "",
                                                "to": args.end or ""})
        sql = query.sql
    else:
        if args.symbols or args.start or args.end:
            raise ConfigError("--symbols/--from/--to go with a named query; ad-hoc SQL carries its own values")
        sql, parameters = args.sql, ()
    if args.format == "parquet" and args.out is None:
        raise ConfigError("--format parquet writes a file: give --out")
    if args.out is not None and not args.out.parent.is_dir():
        raise ConfigError(f"--out {args.out}: no folder {args.out.parent}")
    result = athena.query(sql, list(parameters))
    if args.format == "parquet":
        write_parquet(result, args.out)
    elif args.format == "jsonl":
        _emit(jsonl_bytes(result), args.out, out)
    else:
        text = csv_text(result) if args.format == "csv" else table_text(result)
        _emit(text.encode(), args.out, out)
    if args.out is not None:
        out.write(f"{len(result.rows)} rows written to {args.out}\n")
    return 0


def _emit(data: bytes, path: Path | None, out: TextIO) -> None:
    if path is None:
        out.write(data.decode())
    else:
        path.write_bytes(data)


def run_query(args: argparse.Namespace, lake: Path) -> int:
    return run(LocalAthena(StackTemplate(), LocalS3(lake / "s3")), args, sys.stdout)
