"""`ohlcv dashboard`: the dashboards over a local lake, or over a deployed stack (`--stack`, Athena in its
workgroup and CloudWatch), on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from dashboards.app import Dashboard, DashboardServer
from dashboards.athena_queries import AthenaQueries
from dashboards.cloudwatch_pipeline import CloudWatchPipeline
from dashboards.sources import DashboardSources
from lake_sql.athena import LocalAthena
from local_stack.s3 import LocalS3
from ohlcv_core import config
from ohlcv_core.errors import ConfigError
from stack_tools.template import StackTemplate

# Every call bounded: a dashboard that cannot reach AWS says so on the page within seconds.
CLIENT_CONFIG = Config(connect_timeout=5, read_timeout=20, retries={"total_max_attempts": 3, "mode": "standard"})


def _check_refresh(refresh_s: float) -> None:
    if not 0.5 <= refresh_s <= 3600:
        raise ConfigError(f"--refresh-s {refresh_s}: between 0.5 and 3600 seconds")


@dataclass(frozen=True)
class StackTarget:
    """Where a deployed stack's dashboard reads: its workgroup and database, its metrics' namespace and
    its jobs, named as the template names them for the stack (each may be given instead)."""

    stack: str
    workgroup: str
    database: str
    namespace: str
    jobs: tuple[str, ...]

    @classmethod
    def resolve(cls, stack: str | None, *, workgroup: str | None = None, database: str | None = None,
                namespace: str | None = None) -> StackTarget:
        if not stack and not (workgroup and database):
            raise ConfigError("name the stack (--stack NAME), or its --workgroup and --database")
        template = StackTemplate(stack_name=stack or "ohlcv")
        return cls(stack or "", workgroup or template.workgroups()[0].name,
                   database or template.tables()[0].database,
                   namespace or str(template.parameters["MetricsNamespace"]),
                   tuple(job.name for job in template.glue_jobs()) if stack else ())


def start_stack_dashboard(target: StackTarget, *, region: str | None = None, host: str = "127.0.0.1",
                          port: int = 8050, refresh_s: float = 5.0) -> DashboardServer:
    """The same page over a deployed stack: queries by Athena in its workgroup (answers kept for a
    refresh), the pipeline from CloudWatch and Glue. Endpoints as boto3 finds them (AWS_ENDPOINT_URL_*)."""
    _check_refresh(refresh_s)
    session = boto3.session.Session(region_name=region or os.environ.get(config.ENV_AWS_REGION) or None)
    if session.region_name is None:
        raise ConfigError("no AWS region: give --region or set AWS_REGION")
    clients = {name: session.client(name, config=CLIENT_CONFIG) for name in ("athena", "cloudwatch", "glue")}
    queries = AthenaQueries(clients["athena"], target.workgroup, target.database, ttl_s=refresh_s)
    pipeline = CloudWatchPipeline(clients["cloudwatch"], clients["glue"], target.namespace, target.jobs)
    where = f"stack {target.stack}" if target.stack else f"workgroup {target.workgroup}"
    sources = DashboardSources(queries, pipeline)
    sources.symbols()  # Athena answers in that workgroup, or this is one clear error before anything is served
    dashboard = Dashboard(sources, refresh_ms=int(refresh_s * 1000),
                          where=f"{where}: Athena workgroup {target.workgroup}, database {target.database}")
    return DashboardServer(dashboard, host, port).start()


def start_dashboard(lake: Path, *, host: str = "127.0.0.1", port: int = 8050, refresh_s: float = 5.0,
                    live_status: Callable[[], dict[str, Any]] | None = None) -> DashboardServer:
    _check_refresh(refresh_s)
    if not (lake / "s3").is_dir():
        raise ConfigError(f"no lake at {lake}: run `make demo` (or `ohlcv demo --lake {lake}`) first")
    sources = DashboardSources(LocalAthena(StackTemplate(), LocalS3(lake / "s3")), lake / "cloudwatch",
                               live_status=live_status)
    return DashboardServer(Dashboard(sources, refresh_ms=int(refresh_s * 1000)), host, port).start()


def serve_dashboard(lake: Path | StackTarget, *, host: str, port: int, refresh_s: float,
                    stop: threading.Event | None = None, region: str | None = None) -> int:
    server = (start_stack_dashboard(lake, region=region, host=host, port=port, refresh_s=refresh_s)
              if isinstance(lake, StackTarget) else start_dashboard(lake, host=host, port=port, refresh_s=refresh_s))
    print(f"dashboard: {server.url}  (Ctrl-C stops it)", flush=True)
    stop = stop or threading.Event()
    try:
        # woken twice a second, not parked on the event: a Ctrl-C that another thread took still raises here
        while not stop.wait(0.5):
            pass
    except KeyboardInterrupt:
        print("stopping the dashboard", flush=True)
    finally:
        server.stop()
    return 0
