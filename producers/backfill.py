"""Backfill: Twelve Data `time_series` history into the lake, through the same path as live data.

Each planned call (`ohlcv_core.backfill`) is one REST request, paid for with the credit limiter (which
waits for the next minute rather than be refused, and believes the service's `api-credits-left`). Its
bars become the same envelopes the live producer sends for REST bars (one per symbol and UTC hour),
delivered to Firehose; only once Firehose has them all does each symbol's checkpoint cover the window.
A backfill killed at any point fetches again at most the window it was in; bars sent twice collapse on
their idempotency keys.

Firehose delivers at most 500 partitions at once per stream (dynamic partitioning; records past that
go to the error prefix), and old daily bars each fall in a partition of their own: the sender opens at
most `max_partitions` new ones per buffer interval, waiting for the buffers to flush before more.

A symbol fails on its own (unknown, outside the plan, no data in the whole range, a server that keeps
failing): it is reported with the service's message, nothing of it is written, the others go on. A key
the service refuses (401) ends the run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import requests

from ohlcv_core.backfill import Call, Checkpoint, Plan, Span, coverable_until, is_daily, plan
from ohlcv_core.emf import emf_line
from ohlcv_core.envelope import Source, encode_envelope
from ohlcv_core.limits import TWELVEDATA_MAX_OUTPUTSIZE
from ohlcv_core.timeseries import accepted_values, hourly_parts
from producers.backoff import Backoff
from producers.batching import BatchBuilder
from producers.checkpoints import CheckpointStore
from producers.firehose_sink import FirehoseSink
from producers.rest import NO_DATA, RestAuthError, RestError, RestReply, RestRequestError, TwelveDataRest

LOG = logging.getLogger(__name__)
SHOWN_REFUSALS = 3  # refused bars the summary names by symbol (every one is in the log)
SOURCE: Source = "twelvedata.rest.time_series"


class PartitionPacer:
    """At most `max_partitions` partitions opened per `period_s` (a buffer interval): Firehose's active
    partitions are the ones with a buffer open, and a buffer closes at the latest when its interval ends."""

    def __init__(self, max_partitions: int, period_s: float, *, clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.max_partitions = max_partitions
        self.period_s = period_s
        self._clock = clock
        self._sleep = sleep
        self._opened: set[int] = set()
        self._period_start = clock()
        self.waited_s = 0.0

    def admit(self, partition: int | None, before_waiting: Callable[[], None]) -> None:
        """Open `partition`, first waiting for the period to end when it is full: `before_waiting` sends what
        the caller holds, so that the buffers to flush are the ones it opened."""
        if self.max_partitions <= 0 or partition is None or partition in self._opened:
            return
        if self._clock() - self._period_start >= self.period_s:
            self._opened.clear()
            self._period_start = self._clock()
        if len(self._opened) >= self.max_partitions:
            before_waiting()
            wait = self.period_s - (self._clock() - self._period_start)
            if wait > 0:
                self.waited_s += wait
                self._sleep(wait)
            self._opened.clear()
            self._period_start = self._clock()
        self._opened.add(partition)


@dataclass
class BackfillReport:
    plan: Plan
    calls: int = 0
    credits: int = 0
    bars: int = 0
    records: int = 0
    windows_empty: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    bars_by_symbol: dict[str, int] = field(default_factory=dict)
    refused: dict[str, list[str]] = field(default_factory=dict)  # symbol -> bars the transform would reject
    closed: dict[str, str] = field(default_factory=dict)  # symbol -> why its empty span is no failure

    def lines(self) -> list[str]:
        loaded = [s for s in self.plan.symbols if s not in self.failed]
        out = [f"backfill {self.plan.interval}: {self.bars:,} bars of {len(loaded)} symbol(s) in {self.records:,} "
               f"records, {self.calls} call(s), {self.credits} credit(s)"]
        out += [f"  failed {symbol}: {reason}" for symbol, reason in sorted(self.failed.items())]
        out += [f"  nothing to load for {symbol}: {reason}" for symbol, reason in sorted(self.closed.items())]
        for symbol, bars in sorted(self.refused.items()):
            more = f"; {len(bars) - SHOWN_REFUSALS} more in the log" if len(bars) > SHOWN_REFUSALS else ""
            out.append(f"  refused {len(bars)} bar(s) of {symbol}, the others loaded: "
                       f"{'; '.join(bars[:SHOWN_REFUSALS])}{more}")
        return out


def report_metrics(report: BackfillReport, namespace: str, timestamp_ms: int) -> str:
    """The run's outcome as one EMF line (service: backfill), for the stack's alarm on failed symbols."""
    return emf_line(namespace, timestamp_ms, {"service": "backfill"}, {
        "SymbolsFailed": (float(len(report.failed)), "Count"), "BarsLoaded": (float(report.bars), "Count"),
        "BarsRefused": (float(sum(len(bars) for bars in report.refused.values())), "Count"),
        "Calls": (float(report.calls), "Count")})


Progress = Callable[[BackfillReport, int], None]  # the report so far, calls left


class Backfill:
    def __init__(self, rest: TwelveDataRest, sink: FirehoseSink, checkpoints: CheckpointStore, *,
                 pacer: PartitionPacer | None = None, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep, server_retries: int = 4) -> None:
        self._rest = rest
        self._sink = sink
        self._checkpoints = checkpoints
        self._pacer = pacer
        self._clock = clock
        self._sleep = sleep
        self._server_retries = server_retries
        # each symbol's checkpoint, read once: this run is its only writer
        self._known: dict[tuple[str, str], Checkpoint] = {}

    def _checkpoint_of(self, symbol: str, interval: str) -> Checkpoint:
        key = (symbol, interval)
        if key not in self._known:
            self._known[key] = self._checkpoints.load(symbol, interval) or Checkpoint(symbol, interval)
        return self._known[key]

    def plan(self, symbols: Sequence[str], interval: str, span: Span, *, force: bool = False,
             bars_per_call: int = TWELVEDATA_MAX_OUTPUTSIZE) -> Plan:
        covered = {} if force else {symbol: self._checkpoint_of(symbol, interval).covered for symbol in symbols}
        return plan(symbols, interval, span, covered, batch_size=self._rest.symbols_per_request,
                    bars_per_call=bars_per_call)

    def run(self, planned: Plan, on_progress: Progress | None = None) -> BackfillReport:
        report = BackfillReport(planned)
        # windows that came back empty wait here until their symbol has bars somewhere: a symbol with none
        # in the whole range is a failure to report again next time, not a range to skip
        empty: dict[str, list[Span]] = {}
        for done, call in enumerate(planned.calls):
            symbols = tuple(s for s in call.symbols if s not in report.failed)
            if symbols:
                self._one_call(Call(call.interval, symbols, call.window), report, empty)
            if on_progress is not None:
                on_progress(report, len(planned.calls) - done - 1)
        for symbol in planned.symbols:
            if symbol in report.failed or symbol in planned.already_done:
                continue
            checkpoint = self._checkpoint_of(symbol, planned.interval)
            if not report.bars_by_symbol.get(symbol) and not self._loaded_within(checkpoint, planned.span):
                start, end = planned.span.to_list(is_daily(planned.interval))
                if not self._loaded_before(checkpoint, planned.span):  # before its listing, or a wrong range
                    report.failed[symbol] = f"no {planned.interval} bars between {start} and {end} (excluded)"
                    continue
                # it has history before: the market had no session (a weekend, a holiday), or the symbol no
                # longer trades; either way nothing is missing, and a top-up over it ends well
                report.closed[symbol] = f"no {planned.interval} bars between {start} and {end}: no session"
            if empty.get(symbol):
                self._cover(checkpoint, empty.pop(symbol), 0)
        return report

    @staticmethod
    def _loaded_before(checkpoint: Checkpoint, span: Span) -> bool:
        return checkpoint.bars > 0 and any(done.start < span.start for done in checkpoint.covered)

    @staticmethod
    def _loaded_within(checkpoint: Checkpoint, span: Span) -> bool:
        """Whether an earlier run loaded part of the span (a resumed run may find only empty windows left)."""
        return checkpoint.bars > 0 and any(done.start < span.end and span.start < done.end
                                           for done in checkpoint.covered)

    def _cover(self, checkpoint: Checkpoint, spans: list[Span], bars: int) -> None:
        """Record spans as loaded, up to what has ended (a bar still forming is fetched again next time)."""
        now_ms = int(self._clock() * 1000)
        cap = coverable_until(datetime.fromtimestamp(now_ms / 1000, tz=UTC), checkpoint.interval)
        checkpoint.cover([Span(s.start, min(s.end, cap)) for s in spans if s.start < cap], bars, now_ms)
        self._checkpoints.save(checkpoint)

    def _fetch(self, call: Call) -> RestReply | RestError:
        backoff = Backoff(base_s=1.0, cap_s=30.0)
        for attempt in range(self._server_retries + 1):
            try:
                return self._rest.bars(call.symbols, call.interval, **call.params())
            except RestAuthError as exc:
                if exc.code == 401:
                    raise  # the key: nothing will work
                return exc
            except RestRequestError as exc:
                return exc
            except (RestError, requests.RequestException) as exc:
                if attempt == self._server_retries:
                    return RestError(getattr(exc, "code", 0), f"gave up after {attempt + 1} attempts: {exc}")
                LOG.warning("time_series %s %s failed (%s); retrying", ",".join(call.symbols), call.interval, exc)
                self._sleep(backoff.next_delay())
        raise AssertionError("unreachable")  # pragma: no cover - the loop returns

    def _one_call(self, call: Call, report: BackfillReport, empty: dict[str, list[Span]]) -> None:
        outcome = self._fetch(call)
        if isinstance(outcome, RestError):
            if len(call.symbols) == 1 and NO_DATA in str(outcome):
                report.calls += 1
                report.credits += call.credits
                report.windows_empty += 1
                empty.setdefault(call.symbols[0], []).append(call.window)
                return
            for symbol in call.symbols:
                report.failed[symbol] = str(outcome)
            return
        report.calls += 1
        report.credits += call.credits
        body = orjson.loads(outcome.body)
        answers: dict[str, Any] = {call.symbols[0]: body} if len(call.symbols) == 1 else body
        parts: list[tuple[int | None, bytes]] = []
        bars: dict[str, int] = {}
        for symbol in call.symbols:
            request = {**outcome.params, "symbol": symbol}
            values = self._values(call, symbol, answers.get(symbol), report, empty, request)
            if not values:
                continue
            bars[symbol] = len(values)
            kept = {**answers[symbol], "values": values}
            for hour, payload, part_request in hourly_parts(orjson.dumps({symbol: kept}).decode(), request):
                parts.append((hour, encode_envelope(payload, outcome.received_at_ms, SOURCE, part_request)))
        self._deliver(parts)
        report.records += len(parts)
        self._checkpoint(call, bars, report, empty)

    @staticmethod
    def _values(call: Call, symbol: str, answer: object, report: BackfillReport,  # noqa: PLR0917 - one call's parts
                empty: dict[str, list[Span]], request: dict[str, str]) -> list[Any]:
        """One symbol's bars inside the call's window that the transform accepts (the others refused alone,
        with their reason), its failure reported, or its empty window noted."""
        if not isinstance(answer, dict):
            report.failed[symbol] = "no answer for it in the batch"
            return []
        if answer.get("status") == "error":
            message = str(answer.get("message", ""))
            if NO_DATA in message:
                report.windows_empty += 1
                empty.setdefault(symbol, []).append(call.window)
            else:
                report.failed[symbol] = f"Twelve Data {answer.get('code')}: {message}"
            return []
        inside = [v for v in answer.get("values") or []  # outside the window: a neighbouring call's
                  if not isinstance(v, dict) or call.holds(str(v.get("datetime")))]
        values, refused = accepted_values({**answer, "values": inside}, request)
        for bar in refused:  # kept out alone: its hour's good bars load, the window counts as loaded
            LOG.warning("refused a %s bar of %s: %s", call.interval, symbol, bar)
        if refused:
            report.refused.setdefault(symbol, []).extend(refused)
        return values

    def _checkpoint(self, call: Call, bars: dict[str, int], report: BackfillReport,
                    empty: dict[str, list[Span]]) -> None:
        """Delivered: each symbol with bars covers the window, and the empty ones it had before."""
        for symbol, count in bars.items():
            report.bars += count
            report.bars_by_symbol[symbol] = report.bars_by_symbol.get(symbol, 0) + count
            self._cover(self._checkpoint_of(symbol, call.interval), [*empty.pop(symbol, []), call.window], count)

    def _deliver(self, parts: list[tuple[int | None, bytes]]) -> None:
        """Every record to Firehose, partition by partition (the pacer's unit), or PipelineError."""
        builder = BatchBuilder()
        for hour, record in sorted(parts, key=lambda part: -1 if part[0] is None else part[0]):
            if self._pacer is not None:
                self._pacer.admit(hour, lambda: self._send(builder.take()))
            closed = builder.add(record)
            if closed:
                self._send(closed)
        self._send(builder.take())

    def _send(self, records: list[bytes]) -> None:
        if records:
            self._sink.send(records)

