"""The dashboard's charts from query results, without I/O: each takes a Table and returns a Plotly figure;
an empty table gives a figure that says what is missing and how to get it."""

from __future__ import annotations

from typing import Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

from dashboards.sources import Table
from stack_tools.charts import chart

UP, DOWN, NEUTRAL = "#1a9850", "#d73027", "#4575b4"
NO_DATA = "No data for {what} yet: run `make demo`, or `ohlcv backfill` for history, then refresh."


def _layout(figure: go.Figure, title: str, **axes: Any) -> go.Figure:
    figure.update_layout(title={"text": title, "x": 0.01}, margin={"l": 50, "r": 20, "t": 40, "b": 40},
                         height=320, template="plotly_white", uirevision="keep", **axes)
    return figure


def _dates(figure: go.Figure, title: str, values: list[Any], unit: str, tick: str) -> go.Figure:
    """A chart over days or months: a single one is a category (a date axis would spread one bar over
    fractions of a second) and the title says so; several days get calendar ticks, months stay categories
    (a month's bar is one month, not a span of a date axis)."""
    if len(set(values)) == 1 or unit == "month":
        figure.update_xaxes(type="category")
    if len(set(values)) == 1:
        only = values[0].strftime(tick) if hasattr(values[0], "strftime") else str(values[0])
        return _layout(figure, f"{title} (one {unit}: {only})")
    if unit != "month":
        figure.update_xaxes(type="date", tickformat=tick)
    return _layout(figure, title)


def empty(title: str, what: str) -> go.Figure:
    figure = go.Figure()
    figure.add_annotation(text=NO_DATA.format(what=what), showarrow=False, x=0.5, y=0.5, xref="paper",
                          yref="paper", font={"size": 13})
    figure.update_xaxes(visible=False)
    figure.update_yaxes(visible=False)
    return _layout(figure, title)


def daily_change(table: Table, symbol: str) -> go.Figure:
    title = f"{symbol}: {chart('daily-change').title}"
    rows = table.records()
    if not rows:
        return empty(title, f"{symbol} in this range")
    changes = [r["change_pct"] for r in rows]
    days = [r["day"] for r in rows]
    figure = go.Figure(go.Bar(x=days, y=changes, name="change %",
                              marker_color=[UP if (c or 0) >= 0 else DOWN for c in changes]))
    figure.update_yaxes(title="%")
    return _dates(figure, title, days, "day", "%Y-%m-%d")


def _volume_bars(table: Table, title: str, x: str, y: str, missing: str, *, unit: str, tick: str,
                 text: list[str] | None = None) -> go.Figure:
    rows = table.records()
    if not rows or all(r[y] is None for r in rows):
        return empty(title, missing)
    when = [r[x] for r in rows]
    figure = go.Figure(go.Bar(x=when, y=[r[y] for r in rows], name="volume", marker_color=NEUTRAL, text=text))
    figure.update_yaxes(title="shares")
    return _dates(figure, title, when, unit, tick)


def daily_volume(table: Table, symbol: str) -> go.Figure:
    return _volume_bars(table, f"{symbol}: {chart('daily-volume').title}", "day", "volume",
                        f"{symbol}'s volume in this range (forex publishes none)", unit="day", tick="%Y-%m-%d")


def monthly_volume(table: Table, symbol: str) -> go.Figure:
    return _volume_bars(table, f"{symbol}: {chart('monthly-volume').title}", "month", "total_volume",
                        f"{symbol}'s volume in this range", unit="month", tick="%b %Y",
                        text=[f"{r['days']} days" for r in table.records()])


def price_vs_volume(table: Table, symbol: str) -> go.Figure:
    title = f"{symbol}: {chart('price-volume').title}"
    rows = [r for r in table.records() if r["return_pct"] is not None and r["volume"] is not None]
    if not rows:
        return empty(title, f"{symbol}: two days with volume in this range")
    figure = go.Figure(go.Scatter(x=[r["volume"] for r in rows], y=[r["return_pct"] for r in rows],
                                  mode="markers", text=[r["day"] for r in rows], name="days",
                                  marker={"color": [UP if r["return_pct"] >= 0 else DOWN for r in rows]}))
    return _layout(figure, title, xaxis_title="volume", yaxis_title="return %")


def candles(table: Table, symbol: str, day: str) -> go.Figure:
    title = f"{symbol}: {chart('candles').title}, {day} (UTC)"
    rows = table.records()
    if not rows:
        return empty(title, f"{symbol} on {day}")
    figure = make_subplots(rows=2, cols=1, shared_xaxes=True, row_heights=[0.75, 0.25], vertical_spacing=0.03)
    starts = [r["bar_start"] for r in rows]
    figure.add_trace(go.Candlestick(x=starts, open=[r["open"] for r in rows], high=[r["high"] for r in rows],
                                    low=[r["low"] for r in rows], close=[r["close"] for r in rows], name=symbol,
                                    increasing_line_color=UP, decreasing_line_color=DOWN), row=1, col=1)
    figure.add_trace(go.Bar(x=starts, y=[r["volume"] for r in rows], name="volume", marker_color=NEUTRAL),
                     row=2, col=1)
    figure.update_xaxes(rangeslider_visible=False)
    figure = _layout(figure, title, showlegend=False)
    figure.update_layout(height=460)
    return figure


def quality_trend(table: Table) -> go.Figure:
    title = chart("quality-trend").title
    rows = table.records()
    if not rows:
        return empty(title, "quality runs in this range (they follow each compaction)")
    figure = go.Figure(go.Scatter(x=[r["checked_at"] for r in rows], y=[r["score"] for r in rows],
                                  mode="lines+markers", name="score",
                                  text=[f"{r['passed']}/{r['rules']} rules passed" for r in rows]))
    return _layout(figure, title, yaxis={"range": [0, 1.05], "title": "rules passed"})
