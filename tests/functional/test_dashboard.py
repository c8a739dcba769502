"""The dashboard's callbacks and HTTP endpoints over a real lake (raw zone written as the transform
writes it, curated tables published by manifest): the numbers each chart shows are the SQL's, and bad
parameters are messages on the page, never a server error."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from benchmarks.sql import FIRST_DAY, lake_locations, publish_curated, write_raw
from dashboards.app import Dashboard, DashboardServer
from dashboards.sources import DashboardSources, QueryEngine
from lake_sql.athena import LocalAthena, QueryResult
from local_stack.s3 import LocalS3
from stack_tools.cost import MEASURED
from stack_tools.template import StackTemplate

LAST_DAY = "2024-06-05"


@pytest.fixture(scope="module")
def sources(tmp_path_factory: pytest.TempPathFactory) -> DashboardSources:
    lake = tmp_path_factory.mktemp("lake")
    write_raw(lake_locations(lake / "s3")["raw_prices"], symbols=2, days=3)
    athena = LocalAthena(StackTemplate(), LocalS3(lake / "s3"))
    publish_curated(athena, lake_locations(lake / "s3"))
    return DashboardSources(athena, lake / "cloudwatch")


def _sql(sources: DashboardSources, name: str, symbol: str = "SYM01") -> list[dict[str, Any]]:
    return sources.query(name, symbols=symbol, start=FIRST_DAY, end=LAST_DAY).records()


def test_each_chart_shows_the_numbers_of_its_query(sources: DashboardSources) -> None:
    change, volume, monthly, scatter, message = Dashboard(sources).charts("SYM01", FIRST_DAY, LAST_DAY)
    assert message == ""
    assert list(change.data[0].y) == [r["change_pct"] for r in _sql(sources, "daily_change")]
    assert list(volume.data[0].y) == [r["volume"] for r in _sql(sources, "daily_volume")]
    assert list(monthly.data[0].y) == [r["total_volume"] for r in _sql(sources, "monthly_volume")]
    expected = [r for r in _sql(sources, "price_vs_volume") if r["return_pct"] is not None]
    assert list(scatter.data[0].y) == [r["return_pct"] for r in expected] and len(expected) == 2


def _noon(day: str) -> Callable[[], float]:
    noon = datetime.fromisoformat(f"{day}T12:00:00+00:00").timestamp()
    return lambda: noon


def _on(sources: DashboardSources, day: str) -> DashboardSources:
    """The same lake, its clock at noon UTC of `day`."""
    return DashboardSources(sources.engine, Path("unused"), clock=_noon(day))


@pytest.mark.parametrize("today", [LAST_DAY, "2024-06-06", "2024-07-01"])
def test_the_candles_open_on_the_newest_days_minutes(sources: DashboardSources, today: str) -> None:
    """Whatever today is (the newest day itself, the day after: before compaction rolls the new day up,
    a month on), the live chart opens on the symbol whose daily bars reach furthest (both do here: the
    first by name) and shows the live view's minutes of its newest day, not of the days before it."""
    figure, status = Dashboard(_on(sources, today)).candles(0, None)
    rows = sources.query("intraday_candles", symbols="SYM00", start=LAST_DAY, end=LAST_DAY).records()
    assert figure.layout.title.text == f"SYM00: live 1-minute candles, {LAST_DAY} (UTC)"
    assert list(figure.data[0].close) == [r["close"] for r in rows] and len(rows) == 390
    assert status == f"newest minute {rows[-1]['bar_start']:%H:%M} UTC, 390 minutes"


def test_a_new_days_minutes_show_before_compaction_rolls_the_day_up(tmp_path: Path) -> None:
    """GIVEN curated bars through LAST_DAY and the next day's minutes in the raw zone only (the streamed
    day before its first compaction), THEN the candles are that new day's, alone."""
    locations = lake_locations(tmp_path / "s3")
    write_raw(locations["raw_prices"], symbols=1, days=3)
    athena = LocalAthena(StackTemplate(), LocalS3(tmp_path / "s3"))
    publish_curated(athena, locations)
    write_raw(locations["raw_prices"], symbols=1, days=4)
    new_day = "2024-06-06"
    figure, status = Dashboard(_on(DashboardSources(athena, tmp_path), new_day)).candles(0, None)
    rows = athena.query(f"SELECT close FROM bars_1m_live WHERE dt = '{new_day}' ORDER BY bar_start").rows
    assert list(figure.data[0].close) == [r[0] for r in rows] and len(rows) == 390
    assert new_day in figure.layout.title.text and status.endswith("390 minutes")


def test_a_link_names_the_view_and_a_reload_lists_symbols_that_arrived_since(tmp_path: Path) -> None:
    locations = lake_locations(tmp_path / "s3")
    athena = LocalAthena(StackTemplate(), LocalS3(tmp_path / "s3"))
    dashboard = Dashboard(_on(DashboardSources(athena, tmp_path), LAST_DAY))

    def pickers() -> list[list[str]]:
        found = [c for c in _descendants(dashboard.layout()) if getattr(c, "id", None) in ("symbol-picker",
                                                                                           "live-symbol")]
        return [[o["value"] for o in c.options] for c in found]

    assert pickers() == [[], []]  # the server started over an empty lake
    write_raw(locations["raw_prices"], symbols=2, days=3)
    publish_curated(athena, locations)
    assert pickers() == [["SYM00", "SYM01"]] * 2  # the next load lists what arrived
    assert dashboard.from_url("?symbol=SYM01&from=2024-06-04&to=2024-06-05&live=SYM01") == (
        "SYM01", "2024-06-04", "2024-06-05", "SYM01")
    assert dashboard.from_url("") == ("SYM00", FIRST_DAY, LAST_DAY, "SYM00")


def _descendants(component: Any) -> list[Any]:
    children = getattr(component, "children", None)
    if not isinstance(children, list | tuple):
        children = [children] if children is not None and not isinstance(children, str) else []
    return [component, *(d for child in children for d in _descendants(child))]


def test_the_candles_follow_the_live_symbol_picked(sources: DashboardSources) -> None:
    figure, _ = Dashboard(_on(sources, LAST_DAY)).candles(3, "SYM01")
    rows = sources.query("intraday_candles", symbols="SYM01", start=LAST_DAY, end=LAST_DAY).records()
    assert list(figure.data[0].close) == [r["close"] for r in rows]
    figure, status = Dashboard(_on(sources, LAST_DAY)).candles(3, "NOPE")
    assert status == "no minutes yet" and not figure.data


class _Counted:
    """The lake's engine, counting the queries asked of it."""

    def __init__(self, engine: QueryEngine) -> None:
        self.engine, self.asked = engine, 0

    def query(self, sql: str, parameters: Sequence[Any] | None = None) -> QueryResult:
        self.asked += 1
        return self.engine.query(sql, parameters)


def test_a_refresh_runs_as_many_queries_as_the_cost_estimate_bills(sources: DashboardSources) -> None:
    """The timer's callbacks (the live candles, the pipeline) are what a page left open runs each
    refresh; `ohlcv cost` bills a refresh at MEASURED.dashboard_queries queries."""
    counted = _Counted(sources.engine)
    dashboard = Dashboard(DashboardSources(counted, Path("unused"), clock=_noon(LAST_DAY)))
    dashboard.candles(1, None)
    dashboard.pipeline(1, FIRST_DAY, LAST_DAY)
    assert counted.asked == MEASURED.dashboard_queries


@pytest.mark.parametrize(("symbol", "start", "end", "message"), [
    ("SYM01", LAST_DAY, FIRST_DAY, "is after"),
    ("SYM01", "1990-01-01", LAST_DAY, "spans more than"),
    ("SYM01", "June", LAST_DAY, "is not a day"),
    ("NOPE", FIRST_DAY, LAST_DAY, "No daily bars for NOPE"),
    (None, FIRST_DAY, LAST_DAY, "No symbol yet"),
])
def test_bad_parameters_are_a_message_and_empty_charts(sources: DashboardSources, symbol: str | None, start: str,
                                                       end: str, message: str) -> None:
    *charts, shown = Dashboard(sources).charts(symbol, start, end)
    assert message in shown
    if "No daily bars" not in shown:
        assert all(not chart.data and chart.layout.annotations for chart in charts)


@pytest.fixture
def server(sources: DashboardSources) -> Iterator[DashboardServer]:
    running = DashboardServer(Dashboard(sources, refresh_ms=1000), port=0).start()
    try:
        yield running
    finally:
        running.stop()


def _update(server: DashboardServer, symbol: str, start: str, end: str) -> dict[str, Any]:
    body = {"output": "..daily-change.figure...daily-volume.figure...monthly-volume.figure...price-volume.figure"
                      "...message.children..",
            "outputs": [{"id": i, "property": "figure"} for i in
                        ("daily-change", "daily-volume", "monthly-volume", "price-volume")]
            + [{"id": "message", "property": "children"}],
            "inputs": [{"id": "symbol-picker", "property": "value", "value": symbol},
                       {"id": "day-range", "property": "start_date", "value": start},
                       {"id": "day-range", "property": "end_date", "value": end}],
            "changedPropIds": ["symbol-picker.value"], "state": []}
    request = urllib.request.Request(server.url + "_dash-update-component", data=json.dumps(body).encode(),
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=30) as answer:
        assert answer.status == 200
        result: dict[str, Any] = json.loads(answer.read())
    return result


def test_the_page_and_its_update_endpoint_answer_over_http(server: DashboardServer) -> None:
    with urllib.request.urlopen(server.url, timeout=30) as page:
        assert page.status == 200 and b"_dash-config" in page.read()
    good = _update(server, "SYM01", FIRST_DAY, LAST_DAY)["response"]
    assert len(good["daily-change"]["figure"]["data"][0]["y"]) == 3 and good["message"]["children"] == ""
    inverted = _update(server, "SYM01", LAST_DAY, FIRST_DAY)["response"]
    assert "is after" in inverted["message"]["children"]
    huge = _update(server, "SYM01", "1900-01-01", LAST_DAY)["response"]
    assert "spans more than" in huge["message"]["children"]


def test_the_page_serves_its_scripts_from_the_installed_packages(server: DashboardServer) -> None:
    with urllib.request.urlopen(server.url, timeout=30) as page:
        html = page.read().decode()
    scripts = [part.split('"')[0] for part in html.split('src="')[1:]]
    assert scripts and all(s.startswith("/") for s in scripts)  # nothing from a CDN: the machine may be offline
    with urllib.request.urlopen(server.url.rstrip("/") + scripts[-1], timeout=30) as script:
        assert script.status == 200


def test_an_empty_lake_says_what_is_missing(tmp_path: Path) -> None:
    empty = DashboardSources(LocalAthena(StackTemplate(), LocalS3(tmp_path / "s3")), tmp_path / "cloudwatch")
    *_, message = Dashboard(empty).charts(None, "2024-01-01", "2024-01-31")
    assert "make demo" in message
    figure, children = Dashboard(empty).quality(None, "2024-01-01", "2024-01-31")
    assert "No quality run" in str(children[0]) and not figure.data


def test_ctrl_c_stops_the_served_dashboard_cleanly(tmp_path: Path) -> None:
    # GIVEN `ohlcv dashboard` serving a lake, in its own process, as a person runs it
    lake = tmp_path / "lake"
    (lake / "s3").mkdir(parents=True)
    # (-X faulthandler: a process that outlives its Ctrl-C is sent SIGABRT, and says where each thread was)
    process = subprocess.Popen([sys.executable, "-X", "faulthandler", "-m", "ohlcv_cli", "dashboard", "--lake",
                                str(lake), "--port", "0"],
                               cwd=Path(__file__).resolve().parents[2], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith("dashboard: http://127.0.0.1:"), line
        url = line.split()[1]
        with urllib.request.urlopen(url, timeout=30) as page:
            assert page.status == 200
        # WHEN it gets Ctrl-C THEN it stops at once, cleanly: exit 0, no traceback
        process.send_signal(signal.SIGINT)
        try:
            out, err = process.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            process.send_signal(signal.SIGABRT)
            raise AssertionError(f"still running 30 s after Ctrl-C:\n{process.communicate(timeout=30)[1]}") from None
    finally:
        process.kill()
    assert process.returncode == 0 and "Traceback" not in err, err
    assert "stopping the dashboard" in out
