"""The dashboards in a real browser (Playwright driving Debian's Chromium, headless) over a lake the demo
filled: the recording through the local stack, and a year of GOOG's published daily bars through the
backfill path. Every chart has data, its numbers are its query's, and a minute that Firehose delivers
while the page is open appears on the live candles without a reload. Its screenshots go to a temporary
folder; `make screenshots` (`--refresh-screenshots`) writes them to docs/assets/dashboards/ instead."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import orjson
import pytest
from moto.server import ThreadedMotoServer
from playwright.sync_api import Page, sync_playwright

from feeds import DEMO_FEED
from local_stack.stack import LocalStack, prepare_lake
from ohlcv_cli.dashboard import StackTarget, start_dashboard, start_stack_dashboard
from ohlcv_cli.demo import REPLAY_PARAMETERS, DemoResult, run_demo
from ohlcv_core.config import DEFAULT_REGION
from ohlcv_core.envelope import encode_envelope
from producers.aws import firehose_client
from producers.firehose_sink import FirehoseSink
from stack_tools.queries import named_query
from stack_tools.template import LOCAL_STACK_NAME

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
DOCS_SHOTS = Path(__file__).resolve().parents[2] / "docs" / "assets" / "dashboards"
FLAGS = ["--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--disable-quic"]
DAY = "2023-08-24"


@pytest.fixture(scope="module")
def demo(spark: Any, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoResult]:
    lake = tmp_path_factory.mktemp("lake")
    return lake, run_demo(DEMO_FEED, lake, spark=lambda: spark, speed=0, history=True)


@pytest.fixture(scope="module")
def shots(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Where the screenshots go: the docs' folder only when asked to refresh it."""
    if request.config.getoption("--refresh-screenshots"):
        return DOCS_SHOTS
    return tmp_path_factory.mktemp("screenshots")


@pytest.fixture(scope="module")
def page() -> Iterator[Page]:
    assert Path(CHROMIUM).exists(), "the browser test needs Debian's Chromium: `make test` installs it"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        context = browser.new_context(viewport={"width": 1440, "height": 1000})
        yield context.new_page()
        browser.close()


def _trace(page: Page, graph: str, field: str, index: int = 0) -> list[Any]:
    values: list[Any] = page.evaluate(
        "([graph, field, index]) => { const g = document.querySelector(`#${graph} .js-plotly-plot`);"
        " return g && g.data && g.data[index] ? Array.from(g.data[index][field] || []) : []; }",
        [graph, field, index])
    return values


def _wait_for_data(page: Page, graph: str, timeout_ms: int = 60_000) -> None:
    page.wait_for_function(
        "(graph) => { const g = document.querySelector(`#${graph} .js-plotly-plot`);"
        " return g && g.data && g.data.length > 0 && (g.data[0].y || g.data[0].close || []).length > 0; }",
        arg=graph, timeout=timeout_ms)


def _minute(symbol: str, ts: int, price: float, day_volume: int) -> bytes:
    frame = {"event": "price", "symbol": symbol, "timestamp": ts, "price": price, "day_volume": day_volume,
             "exchange": "NASDAQ", "type": "Common Stock", "currency": "USD"}
    return encode_envelope(orjson.dumps(frame).decode(), ts * 1000 + 120, "twelvedata.ws")


def test_every_chart_shows_its_querys_numbers_and_the_candles_go_live(
        spark: Any, demo: tuple[Path, DemoResult], page: Page, shots: Path) -> None:
    lake, result = demo
    assert result.history_bars == {"GOOG": 250}
    stack = LocalStack(prepare_lake(lake, fresh=False), lambda: spark,
                       parameters={**REPLAY_PARAMETERS, "QualityAfterCompaction": "false"}).start()
    server = start_dashboard(lake, refresh_s=1.0, live_status=stack.firehose.status)
    try:
        # GIVEN the page as it opens (AAPL has one recorded day, GOOG a year of daily bars): it opens on
        # the symbol and range every chart of the first screen has data for
        page.goto(server.url)
        for graph in ("daily-change", "daily-volume", "monthly-volume", "price-volume"):
            _wait_for_data(page, graph)
        assert page.locator("button#symbol-picker").inner_text().strip() == "GOOG"
        assert len(_trace(page, "monthly-volume", "x")) == 3  # its last 90 days
        assert "No data" not in page.locator("#daily-change").inner_text()
        # AND the live candles open on the symbol whose bars reach the newest day: AAPL's recorded one
        _wait_for_data(page, "candles")
        assert page.locator("button#live-symbol").inner_text().strip() == "AAPL"
        assert f"AAPL: live 1-minute candles, {DAY}" in page.locator("#candles").inner_text()
        page.wait_for_selector("#quality-summary")
        shots.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(shots / "daily.png"), full_page=False)
        # WHEN a year of GOOG's daily bars is asked for: the four charts, each with its query's numbers
        page.goto(f"{server.url}?symbol=GOOG&from=2012-01-01&to=2012-12-31")
        for graph in ("daily-change", "daily-volume", "monthly-volume", "price-volume"):
            _wait_for_data(page, graph)
        athena = stack.athena
        window = ["GOOG", "2012-01-01", "2012-12-31"]

        def rows(name: str) -> list[tuple[Any, ...]]:
            query = named_query(name)
            return athena.query(query.sql, query.bind(dict(zip(("symbols", "from", "to"), window, strict=True)))).rows

        assert _trace(page, "daily-change", "y") == pytest.approx([r[4] for r in rows("daily_change")])
        assert _trace(page, "daily-volume", "y") == [r[2] for r in rows("daily_volume")]
        assert _trace(page, "monthly-volume", "y") == [r[3] for r in rows("monthly_volume")]
        assert len(_trace(page, "monthly-volume", "x")) == 12
        assert len(_trace(page, "price-volume", "y")) == 249  # every day but the first has a return
        # WHEN AAPL's recorded day is shown, THEN its candles are the live view's minutes
        page.goto(f"{server.url}?symbol=AAPL&from={DAY}&to={DAY}")
        _wait_for_data(page, "candles")
        # its one day of daily bars: a category axis that names the day, not ticks at fractions of a second
        assert f"(one day: {DAY})" in page.locator("#daily-volume").inner_text()
        before = _trace(page, "candles", "x")
        assert len(before) == len(athena.query(
            f"SELECT * FROM bars_1m_live WHERE symbol = 'AAPL' AND dt = '{DAY}'").rows)
        # WHEN Firehose delivers a new minute while the page is open
        ((last, volume, close),) = athena.query(
            "SELECT to_unixtime(max(bar_start)), max(day_volume), max_by(price, event_time_ms) FROM raw_prices "
            f"CROSS JOIN (SELECT max(bar_start) AS bar_start FROM bars_1m_live WHERE symbol = 'AAPL' AND dt = '{DAY}') "
            f"WHERE symbol = 'AAPL' AND dt = '{DAY}'").rows
        new_minute = int(last) + 60
        sink = FirehoseSink(firehose_client(DEFAULT_REGION, stack.firehose.url), stack.stream_settings.name)
        sink.send([_minute("AAPL", new_minute + s, close + s / 1000, volume + s * 100) for s in (5, 25, 45)])
        stack.firehose.drain()
        # THEN it appears on the candles without a reload
        page.wait_for_function(
            "(n) => { const g = document.querySelector('#candles .js-plotly-plot');"
            " return g && g.data && g.data[0] && g.data[0].x.length > n; }", arg=len(before), timeout=30_000)
        assert len(_trace(page, "candles", "x")) == len(before) + 1
        page.locator("#candles").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "live.png"), full_page=False)
        page.locator("#pipeline").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "pipeline-and-quality.png"), full_page=False)
        assert page.locator("#records-delivered").inner_text() != "0"
    finally:
        server.stop()
        stack.stop()


def test_a_deployed_stacks_dashboard_runs_its_queries_by_athena_and_reads_cloudwatch(
        spark: Any, demo: tuple[Path, DemoResult], page: Page, shots: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """`ohlcv dashboard --stack`: the same page through Athena's API (the stand-in answering with the local
    engine) in the stack's workgroup, and CloudWatch's and Glue's (moto's server): the code path AWS runs."""
    lake, _ = demo
    stack = LocalStack(prepare_lake(lake, fresh=False), lambda: spark,
                       parameters={**REPLAY_PARAMETERS, "QualityAfterCompaction": "false"}).start()
    aws = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    aws.start()
    host, port = aws.get_host_and_port()
    for name, value in {"AWS_ENDPOINT_URL_ATHENA": stack.firehose.url,
                        "AWS_ENDPOINT_URL_CLOUDWATCH": f"http://{host}:{port}",
                        "AWS_ENDPOINT_URL_GLUE": f"http://{host}:{port}", "AWS_ACCESS_KEY_ID": "local",
                        "AWS_SECRET_ACCESS_KEY": "local", "AWS_REGION": DEFAULT_REGION}.items():
        monkeypatch.setenv(name, value)
    target = StackTarget.resolve(LOCAL_STACK_NAME)
    cloudwatch = boto3.client("cloudwatch", region_name=DEFAULT_REGION)
    cloudwatch.put_metric_data(Namespace=target.namespace, MetricData=[
        {"MetricName": "MessagesReceived", "Dimensions": [{"Name": "service", "Value": "producer"}], "Value": 1234},
        {"MetricName": "RowsOut", "Dimensions": [{"Name": "service", "Value": "firehose_transform"}], "Value": 1200},
        {"MetricName": "RowsOut", "Dimensions": [{"Name": "service", "Value": "firehose_transform"},
                                                 {"Name": "path", "Value": "live"}], "Value": 999}])
    glue = boto3.client("glue", region_name=DEFAULT_REGION)
    for job in target.jobs:
        glue.create_job(Name=job, Role="arn:aws:iam::000000000000:role/glue",
                        Command={"Name": "glueetl", "ScriptLocation": "s3://artifacts/glue_jobs/job.py"})
    server = start_stack_dashboard(target, refresh_s=1.0)
    try:
        page.goto(f"{server.url}?symbol=GOOG&from=2012-01-01&to=2012-12-31")
        for graph in ("daily-change", "daily-volume", "monthly-volume", "price-volume"):
            _wait_for_data(page, graph)
        window = {"symbols": "GOOG", "from": "2012-01-01", "to": "2012-12-31"}

        def rows(name: str) -> list[tuple[Any, ...]]:
            query = named_query(name)
            return stack.athena.query(query.sql, query.bind(window)).rows

        # THEN every chart shows its query's numbers, as Athena's API returned them
        assert _trace(page, "daily-change", "y") == pytest.approx([r[4] for r in rows("daily_change")])
        assert _trace(page, "daily-volume", "y") == [r[2] for r in rows("daily_volume")]
        assert _trace(page, "monthly-volume", "y") == [r[3] for r in rows("monthly_volume")]
        assert len(_trace(page, "price-volume", "y")) == 249
        assert "workgroup ohlcv-local-analytics" in page.locator("#where").inner_text()
        # the pipeline from CloudWatch, the record path's figures only
        page.wait_for_function("() => (document.querySelector('#messages-received') || {}).innerText === '1,234'",
                               timeout=30_000)
        assert page.locator("#records-delivered").inner_text() == "1,200"
        # AND the page says what Athena scanned
        page.wait_for_function("() => /[1-9]\\d* queries/.test((document.querySelector('#athena-total') || "
                               "{}).innerText || '')", timeout=30_000)
        scanned = page.locator("#athena-total").inner_text()
        assert " MB" in scanned and "0.00 MB" not in scanned
        # AND the live candles of AAPL's recorded day are the live view's minutes
        page.goto(f"{server.url}?symbol=AAPL&from={DAY}&to={DAY}")
        _wait_for_data(page, "candles")
        assert len(_trace(page, "candles", "x")) == len(stack.athena.query(
            f"SELECT * FROM bars_1m_live WHERE symbol = 'AAPL' AND dt = '{DAY}'").rows)
        page.locator("#pipeline").scroll_into_view_if_needed()
        page.screenshot(path=str(shots / "stack-pipeline.png"), full_page=False)
    finally:
        server.stop()
        aws.stop()
        stack.stop()
