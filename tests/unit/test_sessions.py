"""Calendars for the quality job: which UTC dates hold session minutes, and which dates read form one run
(glue_jobs/sessions.py, glue_jobs/quality_checks.read_blocks)."""

from __future__ import annotations

from datetime import date

import pytest

from glue_jobs import sessions
from glue_jobs.quality_checks import grid_rows, read_blocks
from ohlcv_core.calendars import ALWAYS, FOREX

FRI, SAT, SUN, MON, TUE, WED = (date(2023, 8, d) for d in (18, 19, 20, 21, 22, 23))


def test_the_utc_dates_with_session_minutes_follow_each_market() -> None:
    assert sessions.minute_days("XNYS", FRI, WED) == {d.isoformat() for d in (FRI, MON, TUE, WED)}
    # in the southern summer Sydney opens at 10:00, 23:00 UTC the evening before: Sunday 2024-01-07 holds
    # minutes of Monday's session, and Wednesday 2024-01-10 of Thursday's
    assert sessions.minute_days("XASX", date(2024, 1, 5), date(2024, 1, 10)) == {
        "2024-01-05", "2024-01-07", "2024-01-08", "2024-01-09", "2024-01-10"}
    assert sessions.minute_days(FOREX, FRI, WED) == {d.isoformat() for d in (FRI, SUN, MON, TUE, WED)}
    assert sessions.minute_days(ALWAYS, FRI, MON) == {d.isoformat() for d in (FRI, SAT, SUN, MON)}
    # a holiday holds none (Thanksgiving), an early close still some (the Friday after)
    assert sessions.minute_days("XNYS", date(2023, 11, 23), date(2023, 11, 24)) == {"2023-11-24"}


@pytest.mark.parametrize(("market", "read", "intraday", "blocks"), [
    ("XNYS", [FRI, SUN, MON], True, [(FRI, MON)]),  # the weekend between holds no session: one run
    ("XNYS", [FRI, MON], True, [(FRI, MON)]),
    ("XNYS", [MON, WED], True, [(MON, MON), (WED, WED)]),  # Tuesday traded and was not read
    (FOREX, [FRI, MON], True, [(FRI, FRI), (MON, MON)]),  # Sunday evening trades forex
    (FOREX, [FRI, MON], False, [(FRI, MON)]),  # ... but is no forex trading day
    (ALWAYS, [FRI, SUN], True, [(FRI, FRI), (SUN, SUN)]),
    ("XNYS", [], True, []),
])
def test_dates_read_form_runs_broken_only_by_unread_trading(market: str, read: list[date], intraday: bool,
                                                           blocks: list[tuple[date, date]]) -> None:
    assert read_blocks(market, read, intraday=intraday) == blocks


def test_the_grid_holds_minutes_only_where_a_market_has_minute_or_hour_bars() -> None:
    read = [MON, TUE, WED]
    everything = grid_rows(["XNYS"], read, read)
    spanned = grid_rows(["XNYS"], read, read, intraday_spans={"XNYS": (TUE, TUE)})
    daily_only = grid_rows(["XNYS"], read, read, intraday_spans={})
    minutes = {kind: [r for r in rows if r[1] == "bars_1m"] for kind, rows in
               (("all", everything), ("tue", spanned), ("none", daily_only))}
    assert len(minutes["all"]) == 3 * 390 and len(minutes["none"]) == 0
    assert [r[2] for r in minutes["tue"]] == [str(m) for m in sessions.session_minutes("XNYS", TUE, TUE)]
    # trading days are gridded whatever the spans
    assert [r for r in daily_only if r[1] == "bars_1d"] == [r for r in everything if r[1] == "bars_1d"]
