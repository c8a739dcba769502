"""`ohlcv dashboard --stack`'s queries (dashboards/athena_queries.py) through Athena's API over HTTP, the
local stand-in answering (served alone on the local endpoint): an answer is kept for one refresh, so a
refresh of the page costs the queries `ohlcv cost` bills it at however often the page asks; what was
scanned is counted; a refusal is one clear error."""

from __future__ import annotations

import urllib.request
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import boto3
import pytest
from dash import no_update

from benchmarks.sql import FIRST_DAY, lake_locations, publish_curated, write_raw
from dashboards.app import Dashboard, DashboardServer
from dashboards.athena_queries import AthenaQueries
from dashboards.sources import DashboardSources
from lake_sql.athena import LocalAthena
from local_stack.athena_api import TARGET_PREFIX, AthenaApi
from local_stack.firehose.server import FirehoseEndpoint
from local_stack.s3 import LocalS3
from ohlcv_cli.dashboard import StackTarget, start_stack_dashboard
from ohlcv_core.config import DEFAULT_REGION
from ohlcv_core.errors import ConfigError
from stack_tools.cost import MEASURED
from stack_tools.template import StackTemplate

LAST_DAY = "2024-06-05"
COUNT = "SELECT count(*) AS n FROM raw_prices WHERE symbol = ?"


class _Clock:
    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, str, str]]:
    lake = tmp_path_factory.mktemp("lake") / "s3"
    write_raw(lake_locations(lake)["raw_prices"], symbols=2, days=3)
    template = StackTemplate()
    athena = LocalAthena(template, LocalS3(lake))
    publish_curated(athena, lake_locations(lake))
    api = AthenaApi(athena, template.workgroups())
    endpoint = FirehoseEndpoint({}, services={TARGET_PREFIX: api.operations()}).start()
    try:
        yield (boto3.client("athena", endpoint_url=endpoint.url, region_name=DEFAULT_REGION,
                            aws_access_key_id="local", aws_secret_access_key="local"),
               template.workgroups()[0].name, template.tables()[0].database)
    finally:
        endpoint.stop()
        api.close()


def _queries(client: tuple[Any, str, str], clock: _Clock, workgroup: str | None = None) -> AthenaQueries:
    athena, group, database = client
    return AthenaQueries(athena, workgroup or group, database, ttl_s=5.0, poll_s=0.01, clock=clock)


def test_an_answer_is_kept_for_one_refresh_and_what_ran_is_counted(client: tuple[Any, str, str]) -> None:
    clock = _Clock()
    queries = _queries(client, clock)
    first = queries.query(COUNT, ["SYM00"])
    clock.now += 1.0
    assert queries.query(COUNT, ["SYM00"]) == first  # within the refresh: from the cache
    assert (queries.spent.queries, queries.spent.answered_from_cache) == (1, 1)
    assert first.rows[0][0] > 0 and queries.spent.scanned_bytes > 0
    clock.now += 5.0  # the next refresh runs it again; the last refresh's figures are its own
    queries.query(COUNT, ["SYM00"])
    queries.query(COUNT, ["SYM01"])
    assert (queries.spent.queries, queries.spent.last_refresh_queries) == (3, 2)
    assert queries.spent.last_refresh_bytes < queries.spent.scanned_bytes


def test_a_refresh_of_the_page_costs_what_the_estimate_bills_however_often_it_asks(
        client: tuple[Any, str, str]) -> None:
    clock = _Clock()
    clock.now = datetime.fromisoformat(f"{LAST_DAY}T12:00:00+00:00").timestamp()
    queries = _queries(client, clock)
    dashboard = Dashboard(DashboardSources(queries, Path("unused"), clock=clock))
    for tick in range(3):  # the page asks three times within one refresh
        dashboard.candles(tick, None)
        dashboard.pipeline(tick, FIRST_DAY, LAST_DAY)
    assert queries.spent.queries == MEASURED.dashboard_queries
    assert queries.spent.answered_from_cache == 2 * MEASURED.dashboard_queries


def test_a_workgroup_athena_does_not_know_is_one_clear_error(client: tuple[Any, str, str]) -> None:
    with pytest.raises(ConfigError, match=r"^Athena refused StartQueryExecution in workgroup nope: "):
        _queries(client, _Clock(), workgroup="nope").query(COUNT, ["SYM00"])


def test_a_page_over_a_workgroup_athena_refuses_says_so_and_never_fails(client: tuple[Any, str, str]) -> None:
    """Every query refused: the page still loads (its message says why), the URL's callback leaves the
    pickers as they are, and each panel says what was refused."""
    dashboard = Dashboard(DashboardSources(_queries(client, _Clock(), workgroup="nope"), Path("unused")))
    server = DashboardServer(dashboard, port=0).start()
    try:
        with urllib.request.urlopen(server.url, timeout=30) as page:
            assert page.status == 200
    finally:
        server.stop()
    message = next(c for c in dashboard.layout().children if getattr(c, "id", None) == "message")
    assert message.children.startswith("The symbols could not be read: Athena refused StartQueryExecution")
    assert dashboard.from_url("?symbol=GOOG") == (no_update,) * 4
    assert "workgroup nope" in dashboard.charts("GOOG", FIRST_DAY, LAST_DAY)[-1]
    assert "workgroup nope" in dashboard.candles(0, "GOOG")[1]


def test_a_stack_dashboard_over_a_workgroup_athena_refuses_is_one_clear_error_at_start(
        client: tuple[Any, str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    athena, _, database = client
    for name, value in {"AWS_ENDPOINT_URL_ATHENA": athena.meta.endpoint_url, "AWS_ACCESS_KEY_ID": "local",
                        "AWS_SECRET_ACCESS_KEY": "local"}.items():
        monkeypatch.setenv(name, value)
    target = StackTarget.resolve(None, workgroup="nope", database=database)
    with pytest.raises(ConfigError, match=r"^Athena refused StartQueryExecution in workgroup nope: "):
        start_stack_dashboard(target, region=DEFAULT_REGION)
