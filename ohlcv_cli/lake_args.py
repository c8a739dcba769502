"""The arguments of the commands about the lake, `ohlcv demo`, `ohlcv query` and `ohlcv dashboard` (apart
from their modules, so that building the parser imports no engine)."""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from pathlib import Path
from typing import Any

from ohlcv_core.errors import ConfigError

MAX_DAYS = 3660  # a quality run names its dates in one argument: ten years of them fit


def add_query_parser(sub: Any) -> argparse.ArgumentParser:
    query: argparse.ArgumentParser = sub.add_parser(
        "query", help="run Athena SQL or a named query of sql/queries/ on the local lake",
        description="Run a named query (ohlcv query daily_change --symbols AAPL --from 2024-01-02 --to 2024-01-31) "
                    "or ad-hoc Athena SQL, with Athena's semantics, on the lake.")
    query.add_argument("sql", nargs="?", help="a named query of sql/queries/ or a SQL statement")
    query.add_argument("--list", action="store_true", help="list the named queries and their parameters")
    query.add_argument("--symbols", "--symbol", dest="symbols", help="comma-separated symbols (named queries)")
    query.add_argument("--from", dest="start", help="first day, yyyy-mm-dd (named queries)")
    query.add_argument("--to", dest="end", help="last day, yyyy-mm-dd (named queries)")
    query.add_argument("--format", choices=("table", "csv", "jsonl", "parquet"), default="table")
    query.add_argument("--out", type=Path, help="write here instead of standard output (required for parquet)")
    query.add_argument("--lake", type=Path, help="lake folder (env OHLCV_LAKE_DIR, default ./lake)")
    return query


def add_dashboard_parser(sub: Any) -> argparse.ArgumentParser:
    board: argparse.ArgumentParser = sub.add_parser(
        "dashboard", help="serve the dashboards over the local lake, or a deployed stack (Ctrl-C stops it)")
    board.add_argument("--lake", type=Path, help="lake folder (env OHLCV_LAKE_DIR, default ./lake)")
    board.add_argument("--host", default="127.0.0.1", help="address to listen on (default: this machine only)")
    board.add_argument("--port", type=int, default=8050)
    board.add_argument("--refresh-s", dest="refresh_s", type=float, default=5.0,
                       help="how often the live parts of the page refresh")
    board.add_argument("--stack", help="serve a deployed stack's dashboard instead: its queries run by Athena in "
                                       "the stack's workgroup, its pipeline from CloudWatch")
    board.add_argument("--workgroup", help="the Athena workgroup (default: the stack's)")
    board.add_argument("--database", help="the Glue database (default: the stack's)")
    board.add_argument("--metrics-namespace", help="the stack's MetricsNamespace (default: the template's)")
    board.add_argument("--region", help="the stack's region (env AWS_REGION)")
    return board


def add_demo_parser(sub: Any) -> argparse.ArgumentParser:
    demo: argparse.ArgumentParser = sub.add_parser("demo", help="run the whole pipeline locally on a recording")
    demo.add_argument("--recording", type=Path, help="recording file (default: the bundled demo feed)")
    demo.add_argument("--lake", type=Path, help="lake folder (env OHLCV_LAKE_DIR, default ./lake); cleared first")
    demo.add_argument("--speed", type=float, default=0.0, help="replay speed factor; 0 = as fast as possible")
    demo.add_argument("--no-serve", action="store_true", help="print the report and exit (default: then serve the "
                                                              "dashboards until Ctrl-C)")
    demo.add_argument("--no-history", action="store_true", help="skip the daily history the demo loads for the charts")
    demo.add_argument("--port", type=int, default=8050, help="the dashboards' port on 127.0.0.1")
    demo.add_argument("--via", choices=["websocket", "file"], default="websocket",
                      help="stream from the Twelve Data stand-in (default) or replay the file into the producer")
    return demo


def date_range(first: str, last: str, limit: int = MAX_DAYS) -> list[str]:
    """The dates from `first` to `last`, both included, at most `limit` of them."""
    try:
        start, end = date.fromisoformat(first), date.fromisoformat(last)
    except ValueError as exc:
        raise ConfigError(f"--from and --to are dates (yyyy-MM-dd): {exc}") from None
    if end < start:
        raise ConfigError(f"--to {last} is before --from {first}")
    if (end - start).days >= limit:
        raise ConfigError(f"{(end - start).days + 1} days is more than one run takes ({limit}); split the range")
    return [(start + timedelta(days=k)).isoformat() for k in range((end - start).days + 1)]
