"""Athena's query API, answered by the local engine (lake_sql.athena): StartQueryExecution,
GetQueryExecution, GetQueryResults and StopQueryExecution, as the dashboard (and any client) calls them
on AWS. As Athena does it: a query runs asynchronously (QUEUED, RUNNING, then SUCCEEDED, FAILED or
CANCELLED), in the workgroups the template declares only, at most `concurrency` at once; its
ExecutionParameters are SQL literals put in for its `?`s; a workgroup's BytesScannedCutoffPerQuery fails
a query that scanned more; results come as text, a header row first, in pages of at most 1,000 rows;
an execution is kept for `keep` executions, then forgotten (Athena keeps 45 days)."""

from __future__ import annotations

import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import sqlglot
from sqlglot import TokenType, exp
from sqlglot.errors import ParseError, TokenError

from lake_sql.athena import LocalAthena, QueryResult, athena_text
from local_stack.api import ApiError, Operations
from ohlcv_core.errors import OhlcvError
from stack_tools.template import WorkGroupSettings

TARGET_PREFIX = "AmazonAthena."
MAX_RESULTS = 1000
_TYPES = {"VARCHAR": "varchar", "BIGINT": "bigint", "INTEGER": "integer", "DOUBLE": "double", "BOOLEAN": "boolean",
          "DATE": "date", "TIMESTAMP": "timestamp", "TIMESTAMP WITH TIME ZONE": "timestamp with time zone",
          "FLOAT": "real", "SMALLINT": "smallint", "TINYINT": "tinyint",
          # the engine's count_if and sum of integers, which are Athena's bigint
          "HUGEINT": "bigint"}


def athena_type(duck_type: str) -> str:
    """The type GetQueryResults' ColumnInfo names for a column the engine typed so."""
    return _TYPES.get(duck_type.upper(), "decimal" if duck_type.upper().startswith("DECIMAL") else "varchar")


def with_parameters(sql: str, literals: Sequence[str]) -> str:
    """The statement with each `?` replaced by its ExecutionParameter, a SQL literal ('AAPL', 42), as
    Athena puts them in; a count that differs, or a value that is not a literal, is refused as Athena does."""
    dialect = sqlglot.Dialect.get_or_raise("trino")
    try:
        holes = [t for t in dialect.tokenize(sql) if t.token_type == TokenType.PLACEHOLDER]
        values = [sqlglot.parse_one(text, read="trino") for text in literals]
    except (ParseError, TokenError) as exc:
        raise ApiError("InvalidRequestException", f"cannot parse the statement or a parameter: {exc}") from exc
    if len(holes) != len(values):
        raise ApiError("InvalidRequestException",
                       f"the statement has {len(holes)} parameters and {len(values)} ExecutionParameters were given")
    for value in values:
        if not isinstance(value, exp.Literal | exp.Null | exp.Boolean):
            raise ApiError("InvalidRequestException", f"an ExecutionParameter must be a literal: {value.sql()}")
    out, at = [], 0
    for hole, text in zip(holes, literals, strict=True):
        out += [sql[at:hole.start], text]
        at = hole.end + 1
    return "".join([*out, sql[at:]])


@dataclass
class Execution:
    id: str
    sql: str
    workgroup: str
    database: str | None
    submitted_ms: int
    state: str = "QUEUED"
    reason: str = ""
    completed_ms: int | None = None
    scanned_bytes: int = 0
    result: QueryResult | None = None


class AthenaApi:
    def __init__(self, athena: LocalAthena, workgroups: Sequence[WorkGroupSettings], *, concurrency: int = 2,
                 keep: int = 1000, clock: Callable[[], float] = time.time) -> None:
        self._athena = athena
        self._workgroups = {w.name: w for w in workgroups}
        self._pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="athena")
        self._executions: OrderedDict[str, Execution] = OrderedDict()
        self._keep = keep
        self._clock = clock
        self._lock = threading.Lock()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)

    def _now_ms(self) -> int:
        return int(self._clock() * 1000)

    def _execution(self, body: dict[str, Any]) -> Execution:
        with self._lock:
            execution = self._executions.get(str(body.get("QueryExecutionId")))
        if execution is None:
            raise ApiError("InvalidRequestException", f"QueryExecution {body.get('QueryExecutionId')} was not found")
        return execution

    def start_query_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        name = str(body.get("WorkGroup") or "primary")
        workgroup = self._workgroups.get(name)
        if workgroup is None:
            raise ApiError("InvalidRequestException", f"WorkGroup {name} is not found")
        literals = body.get("ExecutionParameters") or []
        sql = with_parameters(str(body.get("QueryString", "")), [str(v) for v in literals]) if literals \
            else str(body.get("QueryString", ""))
        database = (body.get("QueryExecutionContext") or {}).get("Database")
        if database not in (None, self._athena.database):
            raise ApiError("InvalidRequestException", f"Database {database} does not exist in the catalog")
        execution = Execution(str(uuid.uuid4()), sql, name, database, self._now_ms())
        with self._lock:
            self._executions[execution.id] = execution
            while len(self._executions) > self._keep:
                self._executions.popitem(last=False)
        self._pool.submit(self._run, execution, workgroup)
        return {"QueryExecutionId": execution.id}

    def _run(self, execution: Execution, workgroup: WorkGroupSettings) -> None:
        if execution.state != "QUEUED":  # stopped before it started
            return
        execution.state = "RUNNING"
        try:
            result, scanned = self._athena.query_scanned(execution.sql)
            reason = ""
        except OhlcvError as exc:  # what Athena would refuse: a syntax, semantic or access error
            result, scanned, reason = None, 0, str(exc)
        cutoff = workgroup.bytes_scanned_cutoff
        if not reason and cutoff is not None and scanned > cutoff:
            reason = (f"Query exhausted resources: it scanned {scanned} bytes, over the workgroup's limit of "
                      f"{cutoff} (BytesScannedCutoffPerQuery)")
        if execution.state != "RUNNING":  # stopped while it ran: it stays CANCELLED
            return
        execution.scanned_bytes = scanned
        execution.state, execution.reason = ("FAILED", reason) if reason else ("SUCCEEDED", "")
        execution.result = None if reason else result
        execution.completed_ms = self._now_ms()

    def get_query_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        e = self._execution(body)
        status: dict[str, Any] = {"State": e.state, "SubmissionDateTime": e.submitted_ms / 1000}
        if e.reason:
            status["StateChangeReason"] = e.reason
        if e.completed_ms is not None:
            status["CompletionDateTime"] = e.completed_ms / 1000
        output = self._workgroups[e.workgroup].output_location
        return {"QueryExecution": {
            "QueryExecutionId": e.id, "Query": e.sql, "StatementType": "DML", "WorkGroup": e.workgroup,
            "QueryExecutionContext": {"Database": e.database} if e.database else {},
            "ResultConfiguration": {"OutputLocation": f"{output}{e.id}.csv"} if output else {},
            "Status": status,
            "Statistics": {"DataScannedInBytes": e.scanned_bytes,
                           "TotalExecutionTimeInMillis": (e.completed_ms or self._now_ms()) - e.submitted_ms}}}

    def get_query_results(self, body: dict[str, Any]) -> dict[str, Any]:
        e = self._execution(body)
        if e.state != "SUCCEEDED" or e.result is None:
            raise ApiError("InvalidRequestException", f"Query has not yet finished. Current state: {e.state}")
        size = int(body.get("MaxResults") or MAX_RESULTS)
        if not 1 <= size <= MAX_RESULTS:
            raise ApiError("InvalidRequestException", f"MaxResults must be 1-{MAX_RESULTS}")
        header = [tuple(e.result.columns)]
        rows: list[tuple[Any, ...]] = header + list(e.result.rows)
        start = int(body.get("NextToken") or 0)
        page = rows[start:start + size]
        answer: dict[str, Any] = {
            "UpdateCount": 0,
            "ResultSet": {
                "Rows": [{"Data": [{} if (text := athena_text(v)) is None else {"VarCharValue": text} for v in row]}
                         for row in page],
                "ResultSetMetadata": {"ColumnInfo": [
                    {"CatalogName": "hive", "SchemaName": "", "TableName": "", "Name": c, "Label": c,
                     "Type": athena_type(t), "Precision": 0, "Scale": 0, "Nullable": "UNKNOWN", "CaseSensitive": False}
                    for c, t in zip(e.result.columns, e.result.types or ("VARCHAR",) * len(e.result.columns),
                                    strict=True)]}}}
        if start + size < len(rows):
            answer["NextToken"] = str(start + size)
        return answer

    def stop_query_execution(self, body: dict[str, Any]) -> dict[str, Any]:
        e = self._execution(body)
        if e.state in ("QUEUED", "RUNNING"):
            e.state, e.reason, e.completed_ms = "CANCELLED", "Query was cancelled by the user", self._now_ms()
        return {}

    def operations(self) -> Operations:
        return {"StartQueryExecution": self.start_query_execution, "GetQueryExecution": self.get_query_execution,
                "GetQueryResults": self.get_query_results, "StopQueryExecution": self.stop_query_execution}
