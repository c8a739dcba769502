"""The chaos suite's reconciliation and schedule: pure, so every verdict is tested on small evidence."""

from __future__ import annotations

from collections import Counter

import orjson

from chaos.plan import FAULT_KINDS, plan
from chaos.reconcile import (
    LOST_AT_DROP,
    LOST_AT_KILL,
    LOST_AT_STOP,
    UNEXPLAINED,
    Connection,
    CuratedBar,
    Evidence,
    RawPrice,
    SentFrame,
    reconcile,
    sort_error_prefix,
)
from ohlcv_core.keys import price_idempotency_key
from ohlcv_core.twelvedata import PriceEvent, parse_frame

MINUTE = 1_796_223_000  # a minute start


def _frame(second: int, price: float) -> str:
    return orjson.dumps({"event": "price", "symbol": "AAPL", "exchange": "NASDAQ", "timestamp": MINUTE + second,
                         "price": price}).decode()


def _key(text: str) -> str:
    event = parse_frame(text)
    assert isinstance(event, PriceEvent)
    return price_idempotency_key(event.identity())


def _raw(text: str) -> RawPrice:
    event = parse_frame(text)
    assert isinstance(event, PriceEvent)
    return RawPrice(_key(text), "AAPL", event.timestamp_s * 1000)


PUBLISHED = {"AAPL": {MINUTE: {"open": 10.0, "high": 12.0, "low": 9.0, "close": 11.0, "volume": None, "ticks": 4}}}
FRAMES = [_frame(1, 10.0), _frame(2, 12.0), _frame(3, 9.0), _frame(4, 11.0)]
PLANTED = '{"event":"price","symbol":"AAPL","timestamp":17962'  # torn


def _evidence(*, raw: list[RawPrice], bars: list[CuratedBar], connections: list[Connection] | None = None,
              kills: list[float] | None = None, failed: set[str] | None = None,
              rejected: dict[str, str] | None = None) -> Evidence:
    return Evidence(sent=[SentFrame(1, t) for t in [*FRAMES, PLANTED]],
                    connections=connections or [Connection(1, 0, 100, "client")],
                    kills_s=kills or [], stops_s=[], started_s=0.0, raw=raw, failed_keys=failed or set(),
                    rejected={PLANTED: "not_json"} if rejected is None else rejected, bars=bars,
                    published=PUBLISHED, planted=((PLANTED, "not_json"),), minutes={"AAPL": (MINUTE, MINUTE)})


def _bar(tick_count: int, source: str = "ticks", high: float = 12.0) -> CuratedBar:
    return CuratedBar("AAPL", MINUTE, 10.0, high, 9.0, 11.0, None, tick_count, source)


def test_a_clean_run_passes() -> None:
    result = reconcile(_evidence(raw=[_raw(t) for t in FRAMES], bars=[_bar(4)]))
    assert (result.events_sent, result.in_raw, result.ok) == (4, 4, True)


def test_copies_in_the_raw_zone_are_counted_but_pass_when_the_bar_counts_each_event_once() -> None:
    result = reconcile(_evidence(raw=[_raw(t) for t in FRAMES + FRAMES[:2]], bars=[_bar(4)]))
    assert (result.raw_copies, result.curated_duplicates, result.ok) == (2, 0, True)


def test_a_bar_that_counts_an_event_twice_fails() -> None:
    result = reconcile(_evidence(raw=[_raw(t) for t in FRAMES], bars=[_bar(5)]))
    assert (result.curated_duplicates, result.ok) == (1, False)


def test_an_event_missing_without_a_cause_fails_as_unexplained() -> None:
    result = reconcile(_evidence(raw=[_raw(t) for t in FRAMES[1:]], bars=[_bar(3)]))
    assert (result.lost[UNEXPLAINED], result.ok) == (1, False)


def test_losses_on_a_dropped_or_killed_connection_are_named_by_their_stop_and_pass_when_repaired() -> None:
    # GIVEN a minute that lost its first event, and whose bar is REST's (the repair)
    dropped = reconcile(_evidence(raw=[_raw(t) for t in FRAMES[1:]], bars=[_bar(3, "rest")],
                                  connections=[Connection(1, 0, 100, "dropped")]))
    killed = reconcile(_evidence(raw=[_raw(t) for t in FRAMES[1:]], bars=[_bar(3, "rest")], kills=[50.0]))
    # THEN each loss is named by the stop that lost it, with the minutes it was of
    assert (dropped.lost[LOST_AT_DROP], dropped.ok) == (1, True)
    assert (killed.lost[LOST_AT_KILL], killed.ok) == (1, True)
    assert {label: (loss.events, loss.minutes) for label, loss in dropped.losses.items()} == {
        "network drop at 100.0 s (connection #1)": (1, {("AAPL", MINUTE)})}
    assert list(killed.losses) == ["SIGKILL at 50.0 s (connection #1)"]


def test_a_minute_that_lost_events_and_kept_its_tick_bar_fails() -> None:
    # GIVEN a SIGKILL that lost the minute's first event, and no repair: the bar is the ticks' three
    result = reconcile(_evidence(raw=[_raw(t) for t in FRAMES[1:]], bars=[_bar(3)], kills=[50.0]))
    # THEN the minute is named as unrepaired, and the run fails
    assert (result.unrepaired, result.ok) == ([("AAPL", MINUTE)], False)


def test_a_loss_while_the_producer_stopped_gracefully_fails() -> None:
    evidence = _evidence(raw=[_raw(t) for t in FRAMES[1:]], bars=[_bar(3)])
    evidence.stops_s = [50.0]
    result = reconcile(evidence)
    assert (result.lost[LOST_AT_STOP], result.ok) == (1, False)
    assert list(result.losses) == ["SIGTERM at 50.0 s (connection #1)"]


def test_an_event_under_the_error_prefix_is_accounted_for() -> None:
    result = reconcile(_evidence(raw=[_raw(t) for t in FRAMES[1:]], bars=[_bar(3)], failed={_key(FRAMES[0])}))
    assert (result.in_error_prefix, result.ok) == (1, True)


def test_a_missing_minute_a_wrong_rest_bar_and_a_missing_planted_rejection_each_fail() -> None:
    raw = [_raw(t) for t in FRAMES]
    assert reconcile(_evidence(raw=raw, bars=[])).minutes_without_bar == [("AAPL", MINUTE)]
    assert reconcile(_evidence(raw=raw, bars=[_bar(4, "rest", high=13.0)])).wrong_bars
    assert reconcile(_evidence(raw=raw, bars=[_bar(4)], rejected={})).planted_missing
    assert reconcile(_evidence(raw=raw, bars=[_bar(4)], rejected={PLANTED: "invalid_price"})).planted_missing


def test_a_tick_bar_with_every_tick_must_be_the_published_bar() -> None:
    assert not reconcile(_evidence(raw=[_raw(t) for t in FRAMES], bars=[_bar(4, high=12.5)])).ok


def test_the_schedule_is_seeded_and_holds_every_fault_each_round() -> None:
    assert plan(3, rounds=2) == plan(3, rounds=2)
    assert plan(3) != plan(4)
    assert Counter(step.kind for step in plan(3, rounds=2)) == Counter({kind: 2 for kind in FAULT_KINDS})


def test_every_quote_of_a_pack_the_transform_failed_is_kept_in_the_error_prefix_not_lost() -> None:
    # GIVEN a pack of three quotes the transform failed with an error (its payloads one a line, as
    # local_stack.rejects gives them), and a malformed frame it rejected with a reason
    kept, rejected = sort_error_prefix([("\n".join(FRAMES[:3]), None), ("{torn", "not_json")])
    # THEN each quote of the pack is under the error prefix, none blamed on a stop; the frame has its reason
    assert kept == {_raw(text).key for text in FRAMES[:3]} and rejected == {"{torn": "not_json"}
    result = reconcile(_evidence(raw=[_raw(FRAMES[3])], bars=[_bar(1)], failed=kept))
    assert result.in_error_prefix == 3 and not result.lost
