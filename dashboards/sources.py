"""What the dashboard shows, read the way QuickSight reads it on AWS: the named queries of sql/queries/,
run by a query engine (the lake's catalog kept open by LocalAthena, or Athena itself in a deployed
stack's workgroup: dashboards.athena_queries), and the pipeline's figures (from the local CloudWatch
stand-in, local_stack.cloudwatch, plus a stack running in this process's live status; or from
CloudWatch and Glue: dashboards.cloudwatch_pipeline)."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

from lake_sql.athena import QueryResult
from local_stack.cloudwatch import GlueRun, glue_runs, read_metrics, refusal_reasons
from stack_tools.charts import FIRST_VIEW_DAYS
from stack_tools.queries import NamedQuery, named_queries

PRODUCER, TRANSFORM = "producer", "firehose_transform"


@dataclass(frozen=True)
class Table:
    columns: tuple[str, ...]
    rows: list[tuple[Any, ...]]

    def records(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


@dataclass(frozen=True)
class Pipeline:
    quotes_per_second: float | None
    messages_received: int
    records_delivered: int
    refused: dict[str, int]
    reconnects: int
    gaps_repaired: int
    buffered_bytes: int | None  # None: no Firehose runs in this process
    last_runs: dict[str, GlueRun] = field(default_factory=dict)  # job -> its latest run


class QueryEngine(Protocol):
    def query(self, sql: str, parameters: Sequence[Any] | None = None) -> QueryResult: ...


class DashboardSources:
    """`pipeline`: the figures' source, or the local stack's log folder (its CloudWatch stand-in)."""

    def __init__(self, athena: QueryEngine, pipeline: Path | Callable[[], Pipeline], *,
                 live_status: Callable[[], dict[str, Any]] | None = None,
                 clock: Callable[[], float] = time.time) -> None:
        self._athena = athena
        self._pipeline = pipeline if callable(pipeline) else LocalPipeline(pipeline, live_status)
        self._clock = clock
        self._queries: dict[str, NamedQuery] = named_queries()

    @property
    def engine(self) -> QueryEngine:
        return self._athena

    def today(self) -> date:
        return datetime.fromtimestamp(self._clock(), tz=UTC).date()

    def query(self, name: str, *, symbols: str = "", start: str = "", end: str = "") -> Table:
        """A named query with its parameters checked (ConfigError with the reason when one is bad)."""
        query = self._queries[name]
        result = self._athena.query(query.sql, query.bind({"symbols": symbols, "from": start, "to": end}))
        return Table(result.columns, result.rows)

    def symbols(self) -> Table:
        """Every symbol with daily bars, whenever they are (the picker's list): the `symbols` query over all
        days, which the ten-year cap on what a user asks for does not apply to."""
        query = self._queries["symbols"]
        result = self._athena.query(query.sql, ["1970-01-01", self.today().isoformat()])
        return Table(result.columns, result.rows)

    def first_view(self, symbols: Table | None = None) -> tuple[str | None, str, str]:
        """What the page opens on: the symbol with the most days of volume (then of bars; every chart
        has data for it when any symbol's would), and its last FIRST_VIEW_DAYS (ending today when there is
        none). `symbols`: the `symbols()` the caller already has, not asked again."""
        known = (symbols if symbols is not None else self.symbols()).records()
        if not known:
            return None, (self.today() - timedelta(days=FIRST_VIEW_DAYS - 1)).isoformat(), self.today().isoformat()
        best = max(known, key=lambda r: (r["days_with_volume"], r["days"]))  # ties: the first by name
        first, end = date.fromisoformat(str(best["first_day"])), date.fromisoformat(str(best["last_day"]))
        return str(best["symbol"]), max(first, end - timedelta(days=FIRST_VIEW_DAYS - 1)).isoformat(), end.isoformat()

    def live_view(self, symbol: str | None = None, symbols: Table | None = None) -> tuple[str | None, str, str]:
        """What the live chart shows: the symbol (given, else the one whose daily bars reach the newest day:
        the streamed day, which compaction rolls up within minutes; ties go to the first by name) and the
        days to read, from that symbol's newest day of daily bars to today when that is at most a day back
        (a new day's first minutes come before compaction rolls them up), else that day alone. `symbols`: as
        for first_view."""
        known = (symbols if symbols is not None else self.symbols()).records()
        today = self.today()
        if symbol is None:
            if not known:
                return None, today.isoformat(), today.isoformat()
            symbol = str(max(known, key=lambda r: str(r["last_day"]))["symbol"])
        newest = next((date.fromisoformat(str(r["last_day"])) for r in known if r["symbol"] == symbol),
                      today - timedelta(days=1))
        last = today if (today - newest).days <= 1 else newest
        return symbol, newest.isoformat(), last.isoformat()

    def default_range(self) -> tuple[str, str]:
        _, start, end = self.first_view()
        return start, end

    def pipeline(self) -> Pipeline:
        return self._pipeline()


class LocalPipeline:
    """The local stack's figures: its units' EMF lines and Glue logs, and its live status if it runs here."""

    def __init__(self, logs: Path, live_status: Callable[[], dict[str, Any]] | None = None) -> None:
        self._logs = logs
        self._live_status = live_status

    def __call__(self) -> Pipeline:
        points = read_metrics(self._logs)
        producer = [p for p in points if p.service == PRODUCER and not p.dimensions[1:]]

        def total(service: str, name: str) -> int:
            return int(sum(p.value for p in points if p.service == service and p.name == name
                           and dict(p.dimensions).keys() <= {"service"}))  # not by symbol, not the hot path's

        received = [p for p in producer if p.name == "MessagesReceived"]
        rate = None
        if len(received) >= 2:
            span_s = (received[-1].timestamp_ms - received[0].timestamp_ms) / 1000
            rate = sum(p.value for p in received[1:]) / span_s if span_s > 0 else None
        buffered = None
        if self._live_status is not None:
            streams = self._live_status().get("streams") or []
            buffered = int(sum(s.get("buffered_bytes", 0) for s in streams))
        runs: dict[str, GlueRun] = {}
        for run in glue_runs(self._logs):
            runs[run.job] = run
        return Pipeline(quotes_per_second=rate, messages_received=total(PRODUCER, "MessagesReceived"),
                        records_delivered=total(TRANSFORM, "RowsOut"), refused=dict(refusal_reasons(self._logs)),
                        reconnects=total(PRODUCER, "Reconnects"), gaps_repaired=total(PRODUCER, "GapsRepaired"),
                        buffered_bytes=buffered, last_runs=runs)
