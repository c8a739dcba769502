"""The dashboard's queries run by Athena, in a deployed stack's workgroup (`ohlcv dashboard --stack`):
StartQueryExecution with the statement and its parameters, GetQueryExecution until it ends (bounded
wait), GetQueryResults page by page, each value typed back from the column's Athena type. The same calls
reach AWS or the local stand-in (local_stack.athena_api): only the endpoint differs.

A refresh of the page asks the same statements several times (each chart's callback); an answer is kept
for `ttl_s` (the refresh interval), so that a refresh costs a bounded number of Athena queries whatever
the page asks. What the queries scanned is counted: the page shows it."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from lake_sql.athena import QueryResult
from ohlcv_core.errors import ConfigError, PipelineError

_PARSE: dict[str, Callable[[str], Any]] = {
    "varchar": str, "char": str, "bigint": int, "integer": int, "smallint": int, "tinyint": int,
    "double": float, "real": float, "decimal": float, "boolean": lambda v: v == "true",
    "date": date.fromisoformat, "timestamp": datetime.fromisoformat,
}


def literal(value: str) -> str:
    """A named query's parameter as Athena's ExecutionParameters take it: a SQL string literal."""
    return "'" + value.replace("'", "''") + "'"


def typed(text: str | None, athena_type: str) -> Any:
    if text is None:
        return None
    return _PARSE.get(athena_type.split("(", maxsplit=1)[0].lower(), str)(text)


@dataclass
class Spent:
    queries: int = 0  # run by Athena
    answered_from_cache: int = 0
    scanned_bytes: int = 0
    last_refresh_bytes: int = 0  # of the queries run within the last ttl_s
    last_refresh_queries: int = 0


class AthenaQueries:
    def __init__(self, client: Any, workgroup: str, database: str, *, ttl_s: float = 5.0,
                 timeout_s: float = 60.0, poll_s: float = 0.2, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._client = client
        self.workgroup = workgroup
        self.database = database
        self._ttl_s = ttl_s
        self._timeout_s = timeout_s
        self._poll_s = poll_s
        self._clock = clock
        self._sleep = sleep
        self._cache: dict[tuple[str, tuple[str, ...]], tuple[float, QueryResult]] = {}
        self._runs: list[tuple[float, int]] = []  # (when, bytes) of the queries of the last ttl_s
        self._lock = threading.Lock()
        self.spent = Spent()

    def query(self, sql: str, parameters: Sequence[Any] | None = None) -> QueryResult:
        key = (sql, tuple(str(p) for p in parameters or ()))
        now = self._clock()
        with self._lock:
            cached = self._cache.get(key)
            if cached is not None and now - cached[0] < self._ttl_s:
                self.spent.answered_from_cache += 1
                return cached[1]
        result, scanned = self._run(sql, key[1])
        with self._lock:
            self._cache = {k: v for k, v in self._cache.items() if now - v[0] < self._ttl_s}
            self._cache[key] = (now, result)
            self._runs = [(t, b) for t, b in self._runs if now - t < self._ttl_s] + [(now, scanned)]
            self.spent.queries += 1
            self.spent.scanned_bytes += scanned
            self.spent.last_refresh_bytes = sum(b for _, b in self._runs)
            self.spent.last_refresh_queries = len(self._runs)
        return result

    def _call(self, operation: str, **kwargs: Any) -> Any:
        try:
            return getattr(self._client, operation)(**kwargs)
        except ClientError as exc:
            error = exc.response.get("Error", {})
            action = "".join(word.capitalize() for word in operation.split("_"))  # the API's name for it
            raise ConfigError(f"Athena refused {action} in workgroup {self.workgroup}: "
                              f"{error.get('Code', '')}: {error.get('Message', exc)}") from None
        except BotoCoreError as exc:
            raise PipelineError(f"Athena did not answer {operation}: {exc}") from None

    def _run(self, sql: str, parameters: tuple[str, ...]) -> tuple[QueryResult, int]:
        started = self._call("start_query_execution", QueryString=sql, WorkGroup=self.workgroup,
                             QueryExecutionContext={"Database": self.database},
                             **({"ExecutionParameters": [literal(p) for p in parameters]} if parameters else {}))
        execution_id = started["QueryExecutionId"]
        deadline = self._clock() + self._timeout_s
        while True:
            execution = self._call("get_query_execution", QueryExecutionId=execution_id)["QueryExecution"]
            state = execution["Status"]["State"]
            if state in ("SUCCEEDED", "FAILED", "CANCELLED"):
                break
            if self._clock() > deadline:
                self._call("stop_query_execution", QueryExecutionId=execution_id)
                raise PipelineError(f"Athena query {execution_id} still {state} after {self._timeout_s:.0f} s: "
                                    "stopped")
            self._sleep(self._poll_s)
        scanned = int(execution.get("Statistics", {}).get("DataScannedInBytes", 0))
        if state != "SUCCEEDED":
            raise ConfigError(f"Athena query {state.lower()}: {execution['Status'].get('StateChangeReason', '')}")
        return self._results(execution_id), scanned

    def _results(self, execution_id: str) -> QueryResult:
        rows: list[tuple[Any, ...]] = []
        columns: tuple[str, ...] = ()
        types: tuple[str, ...] = ()
        token: str | None = None
        first = True
        while True:
            page = self._call("get_query_results", QueryExecutionId=execution_id, MaxResults=1000,
                              **({"NextToken": token} if token else {}))
            result_set = page["ResultSet"]
            if first:
                info = result_set["ResultSetMetadata"]["ColumnInfo"]
                columns, types = tuple(c["Name"] for c in info), tuple(c["Type"] for c in info)
            data = result_set.get("Rows", [])[1:] if first else result_set.get("Rows", [])  # a header row first
            rows += [tuple(typed(cell.get("VarCharValue"), kind) for cell, kind in zip(r["Data"], types, strict=True))
                     for r in data]
            first = False
            token = page.get("NextToken")
            if not token:
                return QueryResult(columns, rows, types)
