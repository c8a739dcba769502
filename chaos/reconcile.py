"""The reconciliation: every price event the stand-in sent, followed to the curated tables.

Pure: it reads what the run gathered (the frames sent, on which connection, how each connection ended,
the raw zone's rows, the error prefix, the curated 1-minute bars) and says, for each event, where it
went; for each minute of each symbol, whether its bar is there once, right, and counts each event once.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from ohlcv_core.errors import RecordRejected
from ohlcv_core.keys import price_idempotency_key
from ohlcv_core.twelvedata import PriceEvent, parse_frame

# Why an event that was sent is not in the raw zone, when the run knows why (anything else is "unexplained").
LOST_AT_DROP = "in flight when the network dropped (its minute is repaired from REST)"
LOST_AT_KILL = "in the producer's memory or in flight at SIGKILL (its minute is repaired from REST)"
# A stopping producer reads up to the reply to its reset: the design says nothing is lost there.
LOST_AT_STOP = "in flight while the producer stopped on SIGTERM (the design says none)"
UNEXPLAINED = "unexplained"
# The losses the design claims to absorb: each must be zero.
MUST_BE_ZERO = (LOST_AT_STOP, UNEXPLAINED)


@dataclass(frozen=True)
class SentFrame:
    connection: int
    text: str


@dataclass(frozen=True)
class Connection:
    number: int
    opened_s: float
    closed_s: float | None
    ended_by: str


@dataclass(frozen=True)
class RawPrice:
    key: str
    symbol: str
    event_time_ms: int


@dataclass(frozen=True)
class CuratedBar:
    symbol: str
    minute_s: int
    open: float
    high: float
    low: float
    close: float
    volume: float | None
    tick_count: int
    source: str


@dataclass
class Evidence:
    sent: list[SentFrame]
    connections: list[Connection]
    kills_s: list[float]      # when the producer was SIGKILLed
    stops_s: list[float]      # when it was told to stop (SIGTERM)
    started_s: float          # when the run began (the wall clock of all the times above)
    raw: list[RawPrice]
    failed_keys: set[str]     # price events under the error prefix (the transform failed them)
    rejected: dict[str, str]  # the payloads the transform rejected -> the reason code it gave
    bars: list[CuratedBar]
    published: dict[str, dict[int, dict[str, Any]]]  # the feed's own 1-minute bars, symbol -> minute -> bar
    planted: tuple[tuple[str, str], ...]  # malformed frames planted in the feed, and the reason each must get
    minutes: dict[str, tuple[int, int]]  # symbol -> first and last minute the feed covered


@dataclass
class Loss:
    """What one stop (a network drop, a SIGKILL, a SIGTERM) lost: the events, and the minutes they were of."""

    cause: str
    at_s: float  # seconds into the run
    events: int = 0
    minutes: set[tuple[str, int]] = field(default_factory=set)  # (symbol, minute start)
    not_from_rest: set[tuple[str, int]] = field(default_factory=set)  # of those, the minutes whose bar is not REST's


@dataclass
class Reconciliation:
    events_sent: int = 0
    frames_sent: int = 0
    in_raw: int = 0
    in_error_prefix: int = 0
    losses: dict[str, Loss] = field(default_factory=dict)  # by the stop that lost them ("SIGKILL at 138.6 s")
    raw_copies: int = 0  # rows beyond the first of an event in the raw zone (at-least-once; compaction collapses)
    curated_duplicates: int = 0  # events counted more than once in a bar
    curated_missing: int = 0  # events in the raw zone no bar counts
    minutes_without_bar: list[tuple[str, int]] = field(default_factory=list)
    bars_twice: list[tuple[str, int]] = field(default_factory=list)
    wrong_bars: list[str] = field(default_factory=list)
    rest_bars: int = 0
    tick_bars: int = 0
    planted_missing: list[str] = field(default_factory=list)
    rejected: Counter[str] = field(default_factory=Counter)
    examples: dict[str, str] = field(default_factory=dict)

    @property
    def lost(self) -> Counter[str]:
        """Events lost, by cause (the sum of the stops' losses of each)."""
        by_cause: Counter[str] = Counter()
        for loss in self.losses.values():
            by_cause[loss.cause] += loss.events
        return by_cause

    @property
    def unabsorbed(self) -> int:
        return sum(self.lost[cause] for cause in MUST_BE_ZERO)

    @property
    def unrepaired(self) -> list[tuple[str, int]]:
        """Minutes that lost events whose curated bar is not REST's: a bar short of those events."""
        return sorted(minute for loss in self.losses.values() for minute in loss.not_from_rest)

    @property
    def ok(self) -> bool:
        return not (self.unabsorbed or self.curated_duplicates or self.curated_missing or self.minutes_without_bar
                    or self.bars_twice or self.wrong_bars or self.planted_missing or self.unrepaired)


def price_event(text: str) -> PriceEvent | None:
    """The frame as a valid price event (None for anything else)."""
    try:
        frame = parse_frame(text)
    except RecordRejected:
        return None
    return frame if isinstance(frame, PriceEvent) else None


def price_key(text: str) -> str | None:
    """The idempotency key of a frame that is a valid price event (None for anything else)."""
    event = price_event(text)
    return price_idempotency_key(event.identity()) if event is not None else None


def sort_error_prefix(records: Iterable[tuple[str, str | None]]) -> tuple[set[str], dict[str, str]]:
    """The error prefix's records, each as (its payloads, one a line: a pack holds several; the transform's
    reason code, None when it failed with an error rather than a verdict): the keys of every price event
    kept there (a record is kept whole, each of its quotes with it), and the reason given for each
    rejected payload."""
    kept: set[str] = set()
    rejected: dict[str, str] = {}
    for payload, reason in records:
        if reason:
            rejected.setdefault(payload, reason)
        kept.update(key for line in payload.splitlines() if (key := price_key(line)) is not None)
    return kept, rejected


def _stop(connection: Connection | None, evidence: Evidence) -> tuple[str, str, float]:
    """Why an event sent on `connection` and not in the raw zone was lost: the cause, the stop that lost
    it, and when (seconds into the run; infinite when no stop explains it)."""
    if connection is None:
        return UNEXPLAINED, "on no connection the stand-in logged", float("inf")
    closed = connection.closed_s if connection.closed_s is not None else float("inf")
    on = f"(connection #{connection.number})"
    if connection.ended_by == "dropped":
        at_s = closed - evidence.started_s
        return LOST_AT_DROP, f"network drop at {at_s:.1f} s {on}", at_s
    for kind, cause, times in (("SIGKILL", LOST_AT_KILL, evidence.kills_s),
                               ("SIGTERM", LOST_AT_STOP, evidence.stops_s)):
        at = next((t for t in times if connection.opened_s <= t <= closed), None)
        if at is not None:
            at_s = at - evidence.started_s
            return cause, f"{kind} at {at_s:.1f} s {on}", at_s
    return UNEXPLAINED, f"no stop: connection #{connection.number}, ended by {connection.ended_by}", float("inf")


def _same(bar: CuratedBar, published: dict[str, Any], *, volume: bool) -> bool:
    prices = all(abs(getattr(bar, k) - published[k]) <= 1e-9 * max(1.0, abs(published[k]))
                 for k in ("open", "high", "low", "close"))
    if not volume or published["volume"] is None:
        return prices
    return prices and bar.volume is not None and abs(bar.volume - published["volume"]) < 0.5


def reconcile(evidence: Evidence) -> Reconciliation:
    result = Reconciliation(rejected=Counter(evidence.rejected.values()))
    connections = {c.number: c for c in evidence.connections}
    raw_keys = Counter(r.key for r in evidence.raw)
    result.raw_copies = sum(n - 1 for n in raw_keys.values())
    sent_keys: dict[str, tuple[int, PriceEvent]] = {}  # key -> the connection it was first sent on, the event
    result.frames_sent = len(evidence.sent)
    for frame in evidence.sent:
        event = price_event(frame.text)
        if event is not None:
            sent_keys.setdefault(price_idempotency_key(event.identity()), (frame.connection, event))
    result.events_sent = len(sent_keys)
    for key, (connection, event) in sent_keys.items():
        if key in raw_keys:
            result.in_raw += 1
        elif key in evidence.failed_keys:
            result.in_error_prefix += 1
        else:
            second = event.timestamp_s
            _lose(result, _stop(connections.get(connection), evidence), key, (event.symbol, second - second % 60))
    bars = _check_bars(evidence, result)
    for loss in result.losses.values():
        loss.not_from_rest = {minute for minute in loss.minutes
                              if minute not in bars or bars[minute].source != "rest"}
    _check_planted(evidence, result, connections)
    return result


def _lose(result: Reconciliation, stop: tuple[str, str, float], key: str, minute: tuple[str, int]) -> None:
    cause, label, at_s = stop
    result.examples.setdefault(cause, key)
    loss = result.losses.setdefault(label, Loss(cause, at_s))
    loss.events += 1
    loss.minutes.add(minute)


def _check_planted(evidence: Evidence, result: Reconciliation, connections: dict[int, Connection]) -> None:
    """A planted frame that was sent is under the error prefix with its reason, or its loss is named."""
    sent_on: dict[str, int] = {}
    for frame in evidence.sent:
        sent_on.setdefault(frame.text, frame.connection)
    for text, reason in evidence.planted:
        if text not in sent_on:
            continue  # never sent (no client was connected when it went by)
        given = evidence.rejected.get(text)
        if given == reason:
            continue
        if given is not None:
            result.planted_missing.append(f"{text[:60]}: rejected as {given}, not {reason}")
            continue
        cause, label, at_s = _stop(connections.get(sent_on[text]), evidence)
        if cause in MUST_BE_ZERO:
            result.planted_missing.append(f"{text[:60]}: not under the error prefix")
        else:
            result.losses.setdefault(label, Loss(cause, at_s)).events += 1


def _check_bars(evidence: Evidence, result: Reconciliation) -> dict[tuple[str, int], CuratedBar]:
    """Each minute's bar checked; the bars by (symbol, minute)."""
    raw_by_minute: dict[tuple[str, int], set[str]] = defaultdict(set)
    for row in evidence.raw:
        second = row.event_time_ms // 1000
        raw_by_minute[(row.symbol, second - second % 60)].add(row.key)
    bars: dict[tuple[str, int], CuratedBar] = {}
    for bar in evidence.bars:
        where = (bar.symbol, bar.minute_s)
        if where in bars:
            result.bars_twice.append(where)
        bars[where] = bar
        events = len(raw_by_minute.get(where, ()))
        result.curated_duplicates += max(0, bar.tick_count - events)
        result.curated_missing += max(0, events - bar.tick_count)
        published = evidence.published.get(bar.symbol, {}).get(bar.minute_s)
        if bar.source == "rest":
            result.rest_bars += 1
            if published is None or not _same(bar, published, volume=True):
                result.wrong_bars.append(f"REST bar {bar} is not the published {published}")
        else:
            result.tick_bars += 1
            # a minute whose every tick arrived must make the published bar (its volume needs the minute
            # before's last tick as well, so prices only)
            if published is not None and events == published["ticks"] and not _same(bar, published, volume=False):
                result.wrong_bars.append(f"tick bar {bar} is not the published {published}")
    for symbol, (first, last) in evidence.minutes.items():
        for minute in range(first, last + 60, 60):
            if (symbol, minute) not in bars:
                result.minutes_without_bar.append((symbol, minute))
    return bars
