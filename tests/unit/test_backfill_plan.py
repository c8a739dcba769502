"""The backfill's plan: windows, batches, what checkpoints leave out, and the bounds users type."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ohlcv_core.backfill import (
    Call,
    Checkpoint,
    PlanError,
    Span,
    checkpoint_name,
    coverable_until,
    merge,
    parse_symbols_file,
    plan,
    requested_span,
    subtract,
    windows,
)
from producers.backfill import Backfill, BackfillReport


def _d(text: str) -> datetime:
    return datetime.fromisoformat(text)


def test_an_end_date_means_through_that_day_and_daily_spans_are_whole_days() -> None:
    assert requested_span("2024-01-01", "2024-01-31", "1h") == Span(_d("2024-01-01"), _d("2024-02-01"))
    assert requested_span("2024-01-01 09:30", "2024-01-01 16:00:00", "1min") == \
        Span(_d("2024-01-01 09:30"), _d("2024-01-01 16:00:01"))
    assert requested_span("2004-08-19", "2013-03-01", "1day") == Span(_d("2004-08-19"), _d("2013-03-02"))


def test_today_minus_n_counts_utc_days_back_from_the_run_and_the_end_day_is_whole() -> None:
    today = datetime(2026, 12, 7).date()
    assert requested_span("today-5", "today-1", "1min", today) == Span(_d("2026-12-02"), _d("2026-12-07"))
    assert requested_span("today-3", "today", "1day", today) == Span(_d("2026-12-04"), _d("2026-12-08"))
    with pytest.raises(PlanError, match="needs the day the run starts"):
        requested_span("today-5", "today-1", "1min")


@pytest.mark.parametrize(("start", "end", "interval", "message"), [
    ("2024-02-01", "2024-01-01", "1day", "after --end"),
    ("yesterday", "2024-01-01", "1day", "is not a date"),
    ("today+1", "2024-01-01", "1day", "is not a date"),
    ("2024-01-01", "2024-01-02", "3min", "is not one of"),
])
def test_bad_bounds_and_intervals_are_refused_with_a_reason(start: str, end: str, interval: str, message: str) -> None:
    with pytest.raises(PlanError, match=message):
        requested_span(start, end, interval)


def test_windows_hold_at_most_5000_bars_of_a_24_7_instrument() -> None:
    span = Span(_d("2024-01-01"), _d("2024-03-01"))
    cut = windows(span, "1min")
    assert all(w.end - w.start <= timedelta(minutes=5000) for w in cut)
    assert cut[0].start == span.start and cut[-1].end == span.end
    assert all(a.end == b.start for a, b in itertools.pairwise(cut))
    assert len(windows(Span(_d("2004-01-01"), _d("2014-01-01")), "1day")) == 1  # ten years of days: one call


def test_symbols_share_calls_in_batches_no_larger_than_asked() -> None:
    span = requested_span("2024-01-01", "2024-01-10", "1h")
    planned = plan([f"S{i}" for i in range(10)], "1h", span, {}, batch_size=4)
    assert [len(c.symbols) for c in planned.calls] == [4, 4, 2]
    assert planned.credits == 10


def test_a_checkpoint_leaves_out_what_was_loaded_and_a_finished_symbol_plans_nothing() -> None:
    span = requested_span("2024-01-01", "2024-12-31", "1min")
    covered = {"AAPL": [Span(_d("2024-01-01"), _d("2024-06-01"))], "MSFT": [span]}
    planned = plan(["AAPL", "MSFT"], "1min", span, covered)
    assert planned.already_done == ("MSFT",)
    assert all(c.symbols == ("AAPL",) and c.window.start >= _d("2024-06-01") for c in planned.calls)
    assert planned.calls[-1].window.end == span.end


def test_call_parameters_ask_utc_for_intraday_and_exchange_days_for_daily() -> None:
    intraday = Call("1h", ("EUR/USD",), Span(_d("2017-06-05"), _d("2017-06-24")))
    assert intraday.params() == {"start_date": "2017-06-05 00:00:00", "end_date": "2017-06-24 00:00:00",
                                 "order": "asc", "outputsize": "5000", "timezone": "UTC"}
    daily = Call("1day", ("GOOG",), Span(_d("2010-01-01"), _d("2013-01-01")))
    assert daily.params()["start_date"] == "2010-01-01" and "timezone" not in daily.params()
    assert daily.holds("2012-12-31") and not daily.holds("2013-01-01")
    assert intraday.holds("2017-06-23 23:00:00") and not intraday.holds("2017-06-24 00:00:00")


def test_a_bar_still_forming_is_not_counted_done() -> None:
    now = datetime(2026, 1, 5, 15, 30)
    assert coverable_until(now, "1day") == datetime(2026, 1, 4)
    assert coverable_until(now, "1h") == datetime(2026, 1, 5, 14, 30)


def test_checkpoints_round_trip_and_names_survive_pairs_and_venues() -> None:
    checkpoint = Checkpoint("EUR/USD", "1h")
    checkpoint.cover([Span(_d("2017-06-05"), _d("2017-06-10"))], 100, 1)
    checkpoint.cover([Span(_d("2017-06-10"), _d("2017-06-12"))], 40, 2)
    again = Checkpoint.from_json(checkpoint.to_json())
    assert again == checkpoint and again.covered == [Span(_d("2017-06-05"), _d("2017-06-12"))]
    assert checkpoint_name("EUR/USD", "1h") == "1h/EUR_USD.json"
    assert checkpoint_name("RY:TSX", "1day") == "1day/RY@TSX.json"


def test_a_symbols_file_takes_lines_commas_and_comments() -> None:
    assert parse_symbols_file("AAPL\n# tech\nMSFT, GOOG  # more\n\nEUR/USD\n") == ["AAPL", "MSFT", "GOOG", "EUR/USD"]


_days = st.integers(min_value=0, max_value=400)


@given(st.lists(st.tuples(_days, st.integers(min_value=1, max_value=60)), max_size=8), _days,
       st.integers(min_value=1, max_value=200))
def test_subtract_and_merge_partition_the_span(parts: list[tuple[int, int]], first: int, length: int) -> None:
    base = datetime(2020, 1, 1)
    covered = [Span(base + timedelta(days=a), base + timedelta(days=a + n)) for a, n in parts]
    span = Span(base + timedelta(days=first), base + timedelta(days=first + length))
    left = subtract(span, covered)
    # THEN what is left and what is covered together make the span, without overlapping
    pieces = merge([*left, *[Span(max(c.start, span.start), min(c.end, span.end)) for c in covered
                             if c.start < span.end and span.start < c.end]])
    assert pieces == [span]
    for piece in left:
        assert not any(c.start < piece.end and piece.start < c.end for c in covered)


def test_a_value_the_transform_would_reject_is_refused_alone_with_its_reason() -> None:
    call = Call("1day", ("GOOG",), Span(_d("2010-01-01"), _d("2011-01-01")))
    good = {"datetime": "2010-06-01", "open": "1", "high": "2", "low": "0.5", "close": "1.5"}
    answer = {"status": "ok", "meta": {"symbol": "GOOG", "interval": "1day", "exchange_timezone": "America/New_York"},
              "values": [good, "garbage", {"datetime": "2010-06-02", "open": "1"},
                         {"datetime": "2011-06-01", "open": "1"}]}
    report = BackfillReport(plan(["GOOG"], "1day", call.window, {}))
    kept = Backfill._values(call, "GOOG", answer, report, {}, {"symbol": "GOOG", "interval": "1day"})
    # THEN the good bar inside the window goes on; the malformed value and the incomplete bar are refused,
    # each named with the transform's reason; the bar of another window is that window's
    assert kept == [good]
    assert report.refused == {"GOOG": ["value 1 (invalid_bar: bar 1 is not an object)",
                                       "2010-06-02 (missing_field: bar 2 has no 'high')"]}
