"""`ohlcv dashboard`: the dashboards over a lake, on 127.0.0.1 until Ctrl-C."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dashboards.app import Dashboard, DashboardServer
from dashboards.sources import DashboardSources
from lake_sql.athena import LocalAthena
from local_stack.s3 import LocalS3
from ohlcv_core.errors import ConfigError
from stack_tools.template import StackTemplate


def start_dashboard(lake: Path, *, host: str = "127.0.0.1", port: int = 8050, refresh_s: float = 5.0,
                    live_status: Callable[[], dict[str, Any]] | None = None) -> DashboardServer:
    if not 0.5 <= refresh_s <= 3600:
        raise ConfigError(f"--refresh-s {refresh_s}: between 0.5 and 3600 seconds")
    if not (lake / "s3").is_dir():
        raise ConfigError(f"no lake at {lake}: run `make demo` (or `ohlcv demo --lake {lake}`) first")
    sources = DashboardSources(LocalAthena(StackTemplate(), LocalS3(lake / "s3")), lake / "cloudwatch",
                               live_status=live_status)
    return DashboardServer(Dashboard(sources, refresh_ms=int(refresh_s * 1000)), host, port).start()


def serve_dashboard(lake: Path, *, host: str, port: int, refresh_s: float,
                    stop: threading.Event | None = None) -> int:
    server = start_dashboard(lake, host=host, port=port, refresh_s=refresh_s)
    print(f"dashboard: {server.url}  (Ctrl-C stops it)", flush=True)
    try:
        (stop or threading.Event()).wait()
    except KeyboardInterrupt:
        print("stopping the dashboard", flush=True)
    finally:
        server.stop()
    return 0
