"""The dashboard's charts of a single day or month: a category axis naming it, and a title that says so
(a date axis spreads one bar over ticks at fractions of a second)."""

from __future__ import annotations

from datetime import date

from dashboards import figures
from dashboards.sources import Table


def test_one_day_and_one_month_are_named_not_spread_over_a_date_axis() -> None:
    day = figures.daily_volume(Table(("symbol", "day", "volume"), [("AAPL", date(2023, 8, 24), 9_000)]), "AAPL")
    assert day.layout.xaxis.type == "category"
    assert day.layout.title.text == "AAPL: daily volume (one day: 2023-08-24)"
    month = figures.monthly_volume(Table(("symbol", "month", "total_volume", "days"), [("AAPL", "2023-08", 9, 1)]),
                                   "AAPL")
    assert month.layout.xaxis.type == "category" and month.layout.title.text.endswith("(one month: 2023-08)")


def test_several_days_keep_a_calendar_axis() -> None:
    rows = [("AAPL", date(2023, 8, d), 100.0, 101.0, 1.0) for d in (23, 24)]
    chart = figures.daily_change(Table(("symbol", "day", "open", "close", "change_pct"), rows), "AAPL")
    assert chart.layout.xaxis.type == "date" and chart.layout.xaxis.tickformat == "%Y-%m-%d"
    assert "one day" not in chart.layout.title.text
