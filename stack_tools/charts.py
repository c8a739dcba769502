"""The dashboards' charts, written once: the named query each draws (sql/queries/), its title, the columns
on its axes, the days it reads and where it sits. The local page (dashboards.app and dashboards.figures)
and QuickSight's analysis in the stack (stack_tools.quicksight) are both drawn from this list, so the two
show the same charts of the same queries."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

# The first view's days (the picked symbol's last ones) and the quality runs shown (made in the last days)
FIRST_VIEW_DAYS = 90
QUALITY_DAYS = 30

# Which days a chart reads: the picked range; the live day (today, or the newest day with bars); the
# quality runs made in the last QUALITY_DAYS (runs are dated by when they ran).
Window = Literal["range", "live", "quality"]
Kind = Literal["bar", "scatter", "candles", "line", "table"]
Sheet = Literal["market", "live", "quality"]
SHEETS: dict[Sheet, str] = {"market": "Market data", "live": "Live", "quality": "Data quality"}


@dataclass(frozen=True)
class Chart:
    id: str  # the page's element id and QuickSight's visual id
    query: str  # the named query it draws
    title: str  # the local page writes the symbol before it
    kind: Kind
    window: Window
    sheet: Sheet
    x: str = ""
    y: tuple[str, ...] = ()

    @property
    def per_symbol(self) -> bool:
        return self.window != "quality"


CHARTS: tuple[Chart, ...] = (
    Chart("daily-change", "daily_change", "daily price change (close vs open, %)", "bar", "range", "market",
          "day", ("change_pct",)),
    Chart("daily-volume", "daily_volume", "daily volume", "bar", "range", "market", "day", ("volume",)),
    Chart("monthly-volume", "monthly_volume", "monthly volume", "bar", "range", "market", "month",
          ("total_volume",)),
    Chart("price-volume", "price_vs_volume", "daily return vs volume", "scatter", "range", "market", "volume",
          ("return_pct",)),
    Chart("candles", "intraday_candles", "live 1-minute candles", "candles", "live", "live", "bar_start",
          ("open", "high", "low", "close", "volume")),
    Chart("quality-trend", "quality_runs", "Quality score by run", "line", "quality", "quality", "checked_at",
          ("score",)),
    Chart("rules-table", "quality_rules", "Rules of the latest run", "table", "quality", "quality"),
    Chart("quarantine-table", "quarantined_rows", "Quarantined bars", "table", "range", "quality"),
)
BY_ID = {chart.id: chart for chart in CHARTS}
FIRST_SCREEN = tuple(chart.id for chart in CHARTS if chart.sheet == "market")


def chart(chart_id: str) -> Chart:
    return BY_ID[chart_id]
