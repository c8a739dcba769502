"""The dashboard over 30 days x 20 symbols of 1-minute bars (the lake benchmarks/sql.py builds): time to
first chart in a real browser (Chromium driven by Playwright: from navigation until the four charts hold
data), and the p95 of a chart refresh (the charts callback over HTTP for another symbol: four named
queries, four figures, JSON). The baseline is the same four queries run straight on the catalog, so the
ratio is what the page adds to the SQL."""

from __future__ import annotations

import json
import shutil
import statistics
import tempfile
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import sync_playwright

from benchmarks.report import Measurement
from benchmarks.sql import lake_locations, publish_curated, write_raw
from dashboards.app import CHARTS, Dashboard, DashboardServer
from dashboards.sources import DashboardSources
from lake_sql.athena import LocalAthena
from local_stack.s3 import LocalS3
from stack_tools.template import StackTemplate

ROUNDS = 20
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
QUERIES = ("daily_change", "daily_volume", "monthly_volume", "price_vs_volume")


def _p95(samples: list[float]) -> float:
    return max(samples) if len(samples) < 20 else statistics.quantiles(samples, n=20)[-1]


def _refresh(url: str, symbol: str, start: str, end: str) -> None:
    body = {"output": ".." + "...".join([*(f"{name}.figure" for name in CHARTS), "message.children"]) + "..",
            "outputs": [{"id": name, "property": "figure"} for name in CHARTS]
            + [{"id": "message", "property": "children"}],
            "inputs": [{"id": "symbol-picker", "property": "value", "value": symbol},
                       {"id": "day-range", "property": "start_date", "value": start},
                       {"id": "day-range", "property": "end_date", "value": end}],
            "changedPropIds": ["symbol-picker.value"], "state": []}
    request = urllib.request.Request(url + "_dash-update-component", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=60) as answer:
        answer.read()


def _first_chart_s(url: str) -> float:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=[
            "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        page = browser.new_page()
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_function(
            "(ids) => ids.every(id => { const g = document.querySelector(`#${id} .js-plotly-plot`);"
            " return g && g.data && g.data.length > 0; })", arg=list(CHARTS), timeout=120_000)
        seconds = time.perf_counter() - started
        browser.close()
    return seconds


def run(*, tiny: bool = False) -> list[Measurement]:
    symbols, days = (2, 2) if tiny else (20, 30)
    rounds = 2 if tiny else ROUNDS
    work = Path(tempfile.mkdtemp(prefix="ohlcv-bench-dashboard-"))
    try:
        write_raw(lake_locations(work / "s3")["raw_prices"], symbols=symbols, days=days)
        athena = LocalAthena(StackTemplate(), LocalS3(work / "s3"))
        publish_curated(athena, lake_locations(work / "s3"))
        sources = DashboardSources(athena, work / "cloudwatch")
        start, end = sources.default_range()
        names = [f"SYM{s:02d}" for s in range(symbols)]
        server = DashboardServer(Dashboard(sources), port=0).start()
        try:
            first_s = _first_chart_s(f"{server.url}?symbol=SYM00&from={start}&to={end}")
            refresh, direct = [], []
            for i in range(rounds):
                symbol = names[i % len(names)]
                began = time.perf_counter()
                _refresh(server.url, symbol, start, end)
                refresh.append(time.perf_counter() - began)
                began = time.perf_counter()
                for name in QUERIES:
                    sources.query(name, symbols=symbol, start=start, end=end)
                direct.append(time.perf_counter() - began)
        finally:
            server.stop()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    refresh_ms, direct_ms = _p95(refresh) * 1000, _p95(direct) * 1000
    return [
        Measurement("dashboard", f"first chart s, {days} days x {symbols} symbols (Chromium)", first_s, "s"),
        Measurement("dashboard", "chart refresh p95 ms (4 charts; baseline: their 4 queries)", refresh_ms, "ms",
                    direct_ms),
    ]
