"""The local dashboard (QuickSight's stand-in): a Dash app over DashboardSources drawing the charts of
stack_tools/charts.py. The seed's four charts for a symbol and a range of days, the live 1-minute candles
of a live symbol's newest day refreshed on a timer without reloading the page, the pipeline's figures
and the data quality of the range. Every callback turns a bad input or an empty
lake into a message on the page, never a server error."""

from __future__ import annotations

import logging
import socket
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qs

import plotly.graph_objects as go
from dash import Dash, Input, Output, dcc, html, no_update
from werkzeug.serving import ThreadedWSGIServer, WSGIRequestHandler

from dashboards import figures
from dashboards.athena_queries import AthenaQueries
from dashboards.sources import DashboardSources, Pipeline, Table
from local_stack.bounded import BoundedHandler, BoundedServer, ClientBounds
from ohlcv_core.errors import ConfigError, OhlcvError
from stack_tools.charts import FIRST_SCREEN, FIRST_VIEW_DAYS, QUALITY_DAYS, chart

REFRESH_MS = 5_000
CHARTS = FIRST_SCREEN


def _behind(seconds: float) -> str:
    for unit, size in (("days", 86_400), ("h", 3_600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:,.1f} {unit}"
    return f"{max(seconds, 0):.0f} s"


def _card(label: str, value: str, test_id: str) -> html.Div:
    return html.Div([html.Div(label, className="label"), html.Div(value, className="value", id=test_id)],
                    className="card", style={"display": "inline-block", "padding": "8px 14px", "margin": "4px",
                                             "border": "1px solid #ddd", "borderRadius": "6px", "minWidth": "140px"})


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:,.4g}"
    return f"{value:%Y-%m-%d %H:%M:%S}" if isinstance(value, datetime) else str(value)


def _titled(table: Table, chart_id: str) -> list[Any]:
    return [html.H4(chart(chart_id).title), _table(table, chart_id)]


def _table(table: Table, table_id: str, limit: int = 50) -> html.Table:
    """A plain HTML table (the first `limit` rows): readable on the page and by the browser test."""
    style = {"border": "1px solid #ddd", "padding": "3px 8px", "fontSize": "12px", "textAlign": "left"}
    head = html.Thead(html.Tr([html.Th(c, style=style) for c in table.columns]))
    body = html.Tbody([html.Tr([html.Td(_cell(v), style=style) for v in row]) for row in table.rows[:limit]]
                      or [html.Tr(html.Td("none", colSpan=max(1, len(table.columns)), style=style))])
    return html.Table([head, body], id=table_id, style={"borderCollapse": "collapse", "margin": "4px 0 12px"})


@dataclass
class Dashboard:
    sources: DashboardSources
    refresh_ms: int = REFRESH_MS
    where: str = "the local lake"

    # -- callbacks (plain methods: the tests call them as the page does) -------------------------------
    def charts(self, symbol: str | None, start: str | None, end: str | None) -> tuple[Any, ...]:
        """The four charts of the seed for one symbol and range, and the message above them."""
        if not symbol:
            message = "No symbol yet: the lake holds no daily bars. Run `make demo`, or `ohlcv backfill`."
            return (*(figures.empty(name, "a symbol") for name in CHARTS), message)
        try:
            window = {"symbols": symbol, "start": start or "", "end": end or ""}
            change, daily, monthly, scatter = (self.sources.query(chart(c).query, **window) for c in CHARTS)
        except OhlcvError as exc:
            return (*(figures.empty(name, f"{symbol} (the query was refused)") for name in CHARTS), str(exc))
        message = "" if change.rows else f"No daily bars for {symbol} between {start} and {end}."
        return (figures.daily_change(change, symbol), figures.daily_volume(daily, symbol),
                figures.monthly_volume(monthly, symbol), figures.price_vs_volume(scatter, symbol), message)

    def candles(self, _ticks: int, symbol: str | None) -> tuple[go.Figure, str]:
        """The live candles of the symbol's newest day, from the live view; and the newest minute shown."""
        try:
            symbol, first, last = self.sources.live_view(symbol or None)
            if not symbol:
                return figures.empty(chart("candles").title, "a symbol"), ""
            table = self.sources.query(chart("candles").query, symbols=symbol, start=first, end=last)
        except OhlcvError as exc:
            return figures.empty(chart("candles").title, f"{symbol or 'a symbol'} (the query was refused)"), str(exc)
        newest = max((r[1] for r in table.rows), default=None)
        if newest is None:
            return figures.candles(table, symbol, last), "no minutes yet"
        day = Table(table.columns, [r for r in table.rows if r[1].date() == newest.date()])
        shown = f"newest minute {newest:%H:%M} UTC, {len(day.rows)} minutes"
        return figures.candles(day, symbol, newest.date().isoformat()), shown

    def pipeline(self, _ticks: int, start: str | None, end: str | None) -> list[Any]:
        try:
            figures_now = self.sources.pipeline()
            symbols = self.sources.query("symbols", start=start or "", end=end or "")
            names = ",".join(str(r[0]) for r in symbols.rows)
            fresh = self.sources.query("freshness", symbols=names, start=end or "", end=end or "") if names else None
        except OhlcvError as exc:
            return [html.Div(str(exc), className="error")]
        return self._pipeline_children(figures_now, fresh)

    def _pipeline_children(self, p: Pipeline, fresh: Table | None) -> list[Any]:
        def runs(job_part: str) -> str:
            latest = [r for job, r in p.last_runs.items() if job_part in job]
            if not latest:
                return "none yet"
            run = max(latest, key=lambda r: r.ended_at)
            return f"{run.state} in {run.seconds:.1f} s, {run.ended_at:%H:%M:%S} UTC"

        now = datetime.now(tz=UTC)
        freshness = Table(("symbol", "newest minute (UTC)", "behind now"), [
            (r[0], f"{r[1]:%Y-%m-%d %H:%M}", _behind((now - r[1].replace(tzinfo=UTC)).total_seconds()))
            for r in (fresh.rows if fresh else []) if r[1] is not None])
        refused = Table(("reason", "records"), sorted(p.refused.items(), key=lambda kv: -kv[1]))
        return [
            _card("quotes/s in", f"{p.quotes_per_second:,.1f}" if p.quotes_per_second is not None else "-",
                  "quotes-per-second"),
            _card("messages received", f"{p.messages_received:,}", "messages-received"),
            _card("records delivered", f"{p.records_delivered:,}", "records-delivered"),
            _card("records refused", f"{sum(p.refused.values()):,}", "records-refused"),
            _card("Firehose buffered", f"{p.buffered_bytes:,} B" if p.buffered_bytes is not None
                  else "no stack running here", "buffered-bytes"),
            _card("reconnects", f"{p.reconnects:,}", "reconnects"),
            _card("gaps repaired", f"{p.gaps_repaired:,}", "gaps-repaired"),
            _card("last compaction", runs("compact"), "last-compaction"),
            _card("last quality run", runs("quality"), "last-quality"),
            *self._athena_cards(),
            html.H4("Refused records by reason"), _table(refused, "refused-table"),
            html.H4("Freshness"), _table(freshness, "freshness-table"),
        ]

    def _athena_cards(self) -> list[Any]:
        """What Athena scanned: the last refresh and since the page's server started (AWS bills it)."""
        engine = self.sources.engine
        if not isinstance(engine, AthenaQueries):
            return []
        spent = engine.spent
        return [_card("Athena, last refresh", f"{spent.last_refresh_queries} queries, "
                      f"{spent.last_refresh_bytes / 1e6:,.2f} MB scanned", "athena-refresh"),
                _card("Athena, since start", f"{spent.queries} queries, {spent.scanned_bytes / 1e6:,.2f} MB "
                      f"({spent.answered_from_cache} answered from cache)", "athena-total")]

    def quality(self, symbol: str | None, start: str | None, end: str | None) -> tuple[go.Figure, list[Any]]:
        """Runs made in the last QUALITY_DAYS (runs are dated by when they ran); quarantine of the range."""
        today = self.sources.today()
        ran = {"start": (today - timedelta(days=QUALITY_DAYS)).isoformat(), "end": today.isoformat()}
        try:
            runs = self.sources.query(chart("quality-trend").query, **ran)
            rules = self.sources.query(chart("rules-table").query, **ran)
            quarantined = (self.sources.query(chart("quarantine-table").query, symbols=symbol, start=start or "",
                                              end=end or "")
                           if symbol else Table(("symbol",), []))
        except OhlcvError as exc:
            return figures.empty(chart("quality-trend").title, "quality runs"), [html.Div(str(exc), className="error")]
        latest = runs.records()[-1] if runs.rows else None
        summary = (f"score {latest['score']:.2f}: {latest['passed']} rules passed, {latest['failed']} failed "
                   f"({latest['blocking_failed']} blocking), run {latest['run_id']}" if latest
                   else f"No quality run in the last {QUALITY_DAYS} days: they follow each compaction "
                        "(or run `ohlcv quality`).")
        return figures.quality_trend(runs), [html.Div(summary, id="quality-summary"),
                                             *_titled(rules, "rules-table"), *_titled(quarantined, "quarantine-table")]

    def from_url(self, search: str | None) -> tuple[Any, Any, Any, Any]:
        """A link may name the view: ?symbol=GOOG&from=2012-01-01&to=2012-12-31&live=AAPL (missing ones:
        the defaults)."""
        asked = {k: v[-1] for k, v in parse_qs((search or "").lstrip("?")).items()}
        try:
            known = self.sources.symbols()
            symbol, start, end = self.sources.first_view(known)
            live = asked.get("live") or self.sources.live_view(symbols=known)[0]
        except OhlcvError:  # the charts' callbacks meet it too, and say it on the page
            return no_update, no_update, no_update, no_update
        return asked.get("symbol", symbol), asked.get("from", start), asked.get("to", end), live

    # -- the page ----------------------------------------------------------------------------------------
    def layout(self) -> html.Div:
        """The page as each load builds it, so that a symbol new since the server started is in the pickers.
        A query refused or unanswered (Athena, in a deployed stack) is the page's message, not a server error."""
        problem = ""
        try:
            known = self.sources.symbols()  # asked once a load: the pickers' and both first views'
            opening, start, end = self.sources.first_view(known)
            live = self.sources.live_view(symbols=known)[0]
            options = [{"label": str(r[0]), "value": str(r[0])} for r in known.rows]
        except OhlcvError as exc:
            today = self.sources.today()
            opening, live, options, problem = None, None, [], f"The symbols could not be read: {exc}"
            start, end = (today - timedelta(days=FIRST_VIEW_DAYS - 1)).isoformat(), today.isoformat()
        picker = {"width": "220px", "display": "inline-block"}
        return html.Div([
            dcc.Location(id="url", refresh=False),
            html.H2("OHLCV engine: market data dashboard"),
            html.Div(f"over {self.where}", id="where", style={"color": "#666"}),
            html.Div([
                dcc.Dropdown(id="symbol-picker", options=options, value=opening, clearable=False, style=picker),
                dcc.DatePickerRange(id="day-range", start_date=start, end_date=end, display_format="YYYY-MM-DD",
                                    style={"display": "inline-block", "marginLeft": "12px"}),
            ]),
            html.Div(problem, id="message", style={"color": "#b35806", "margin": "6px 0"}),
            html.Div([dcc.Graph(id=name, style={"width": "50%", "display": "inline-block"})
                      for name in CHARTS]),
            html.H3("Live"),
            html.Div([dcc.Dropdown(id="live-symbol", options=options, value=live, clearable=False, style=picker),
                      html.Span(id="candles-status", style={"marginLeft": "12px"})]),
            dcc.Graph(id="candles"),
            dcc.Interval(id="tick", interval=self.refresh_ms),
            html.H3("Pipeline"), html.Div(id="pipeline"),
            html.H3("Data quality"), dcc.Graph(id="quality-trend"), html.Div(id="quality"),
        ], style={"fontFamily": "sans-serif", "maxWidth": "1400px", "margin": "0 auto"})

    def app(self) -> Dash:
        app = Dash(__name__, title="OHLCV engine", serve_locally=True)
        app.layout = self.layout
        symbol = Input("symbol-picker", "value")
        first, last = Input("day-range", "start_date"), Input("day-range", "end_date")
        app.callback(Output("symbol-picker", "value"), Output("day-range", "start_date"),
                     Output("day-range", "end_date"), Output("live-symbol", "value"),
                     Input("url", "search"))(self.from_url)
        app.callback([Output(name, "figure") for name in CHARTS] + [Output("message", "children")],
                     symbol, first, last)(self.charts)
        app.callback(Output("candles", "figure"), Output("candles-status", "children"),
                     Input("tick", "n_intervals"), Input("live-symbol", "value"))(self.candles)
        app.callback(Output("pipeline", "children"), Input("tick", "n_intervals"), first, last)(self.pipeline)
        app.callback(Output("quality-trend", "figure"), Output("quality", "children"), symbol, first,
                     last)(self.quality)
        return app


class _Server(BoundedServer, ThreadedWSGIServer):
    """werkzeug's threaded server within our bounds: a browser opens a few connections; a client that
    holds many, or trickles a request, is refused or hung up on, and the others are served."""


class _Handler(BoundedHandler, WSGIRequestHandler):
    server: _Server


class DashboardServer:
    """The app on a real HTTP server in a thread of its own: `url` once started, `stop()` ends it."""

    def __init__(self, dashboard: Dashboard, host: str = "127.0.0.1", port: int = 8050,
                 bounds: ClientBounds | None = None) -> None:
        app = dashboard.app().server
        # Bound here, not by werkzeug (which prints and exits when it cannot): one clear error instead.
        listener = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((host, port))
            listener.listen(128)
        except OSError as exc:
            listener.close()
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
        with listener:
            self._server = _Server(host, port, app, _Handler, fd=listener.fileno(), bounds=bounds or ClientBounds())
        logging.getLogger("werkzeug").setLevel(logging.WARNING)  # a line per request is noise on a terminal
        self._thread = threading.Thread(target=self._server.serve_forever, name="dashboard", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self._server.host}:{self._server.port}/"

    def start(self) -> DashboardServer:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._server.close_connections()
        self._thread.join(timeout=10)
