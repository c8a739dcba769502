"""`ohlcv demo`: the whole pipeline on a bundled recording, on this machine, with no AWS account.

stand-in (WebSocket replay) -> producer -> local Firehose (transform Lambda) -> raw zone
-> Object Created events -> compaction job (local Spark) -> curated bars -> local Athena summary
-> compaction's Succeeded event -> quality job (local Spark) -> quality results and quarantine.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

from local_stack.cloudwatch import logged_to
from local_stack.firehose.delivery import StreamStats
from local_stack.glue import JobRun
from local_stack.rejects import Rejected, rejected_records
from local_stack.stack import AT_ONCE, LocalStack, prepare_lake
from local_stack.twelvedata.history import published_history, read_series
from local_stack.twelvedata.server import TwelveDataStandIn, running_in_thread
from ohlcv_core.backfill import requested_span
from ohlcv_core.config import DEFAULT_REGION
from ohlcv_core.errors import PipelineError
from ohlcv_core.recording import Recording, read_recording
from producers.aws import firehose_client
from producers.backfill import Backfill, BackfillReport
from producers.checkpoints import FileCheckpoints
from producers.firehose_sink import FirehoseSink
from producers.main import produce, replay
from producers.rest import TwelveDataRest
from producers.service import ProducerStats
from producers.settings import ProducerSettings

LOG = logging.getLogger(__name__)
# A recording is old by the time it is replayed: deploy the local stack as a replay stack would be,
# with the transform's age window for streamed prices opened up (a template parameter), larger
# compaction batches for the history it loads (a partition an object: fewer runs), and the runs'
# cadence off, so what was replayed is compacted at once.
REPLAY_PARAMETERS = {"MaxPriceAgeSeconds": "3153600000", "CompactionBatchSize": "1000", **AT_ONCE}
# The units the demo reports on, by their logical ids in the template.
# Daily history the demo loads beside the recording (when backtesting.py's published bars are installed, as
# `make` installs them), so the daily and monthly charts have months to show.
HISTORY = ("GOOG", "1day", "2012-01-01", "2012-12-31")
COMPACTION_JOB = "CompactionJob"
QUALITY_JOB = "QualityJob"


@dataclass(frozen=True)
class Zones:
    raw: Path
    errors: Path
    curated: Path
    logs: Path


def _static_folder(prefix: str) -> str:
    """The folder part of a prefix before its first expression: `raw/kind=!{...}/` -> `raw/`."""
    head = prefix.split("!{", 1)[0]
    return head[: head.rfind("/") + 1]


def zones_of(stack: LocalStack) -> Zones:
    """Where the demo's data lands: the delivery stream's raw and error prefixes, the compaction job's
    curated location, the functions' logs."""
    destination = stack.stream_settings.destination
    bucket = stack.s3.bucket_path(destination.bucket)
    curated = stack.template.glue_job(COMPACTION_JOB).default_arguments["--curated_location"]
    return Zones(raw=bucket / _static_folder(destination.prefix),
                 errors=bucket / _static_folder(destination.error_prefix),
                 curated=stack.s3.path_of(curated), logs=stack.lake / "cloudwatch")


def job_runs(stack: LocalStack, job: str) -> list[JobRun]:
    """The runs of one of the template's Glue jobs, by its logical id."""
    name = stack.template.glue_job(job).name
    return [run for run in stack.glue.runs if run.job_name == name]


def _last_run(stack: LocalStack, job: str, what: str) -> JobRun | None:
    runs = job_runs(stack, job)
    failed = [r for r in runs if r.state != "SUCCEEDED"]
    if failed:
        raise PipelineError(f"{what} did not complete: {failed[-1].error_message}")
    return runs[-1] if runs else None


@dataclass
class SymbolSummary:
    symbol: str
    bars: int
    first_bar: Any
    last_bar: Any
    last_close: float | None
    volume: int | None
    rejected: int = 0


@dataclass
class DemoResult:
    zones: Zones
    frames_received: int
    envelopes_sent: int  # one per frame
    records_sent: int  # Firehose records: a pack of quotes is one
    run: JobRun | None
    symbols: list[SymbolSummary]
    rejected: list[Rejected] = field(default_factory=list)
    firehose: StreamStats = field(default_factory=StreamStats)
    rest_bars: dict[str, int] = field(default_factory=dict)  # published 1-minute bars loaded, by symbol
    rest_records: int = 0  # the records they were sent in
    quality_run: JobRun | None = None
    quality_failures: list[tuple[str, int]] = field(default_factory=list)  # (rule, rows) from quality_results
    history_bars: dict[str, int] = field(default_factory=dict)  # daily history loaded (HISTORY), by symbol
    history_skipped: str = ""  # why history was asked for and not loaded


def _rest_minutes(stand_in: TwelveDataStandIn, stack: LocalStack, symbols: tuple[str, ...]) -> BackfillReport | None:
    """The published 1-minute bars of the recording's span, as a backfill loads them (the stand-in answers
    from the REST responses the recording carries): they replace the tick bars, as Twelve Data's own.
    A symbol the recording has no REST bars for loads none."""
    first_us, frames = stand_in.catalog.first_us, stand_in.catalog.frames
    if first_us is None or not frames:
        return None
    start = datetime.fromtimestamp(first_us / 1e6, tz=UTC)
    end = datetime.fromtimestamp((first_us + frames[-1].offset_us) / 1e6, tz=UTC)
    backfill = Backfill(TwelveDataRest(stand_in.rest_url, None),
                        FirehoseSink(firehose_client(DEFAULT_REGION, stack.firehose.url), stack.stream_settings.name),
                        FileCheckpoints(stack.lake / "backfill-checkpoints"))
    span = requested_span(start.strftime("%Y-%m-%d %H:%M:00"), end.strftime("%Y-%m-%d %H:%M:00"), "1min")
    return backfill.run(backfill.plan(symbols, "1min", span))


def _daily_history(stand_in: TwelveDataStandIn, stack: LocalStack) -> BackfillReport:
    """HISTORY through the backfill path: the stand-in's REST answers from the published bars."""
    symbol, interval, first, last = HISTORY
    backfill = Backfill(TwelveDataRest(stand_in.rest_url, None),
                        FirehoseSink(firehose_client(DEFAULT_REGION, stack.firehose.url), stack.stream_settings.name),
                        FileCheckpoints(stack.lake / "backfill-checkpoints"))
    return backfill.run(backfill.plan((symbol,), interval, requested_span(first, last, interval)))


def _history_skipped(asked: bool, via: str, loaded: bool) -> str:
    if not asked or loaded:
        return ""
    if via != "websocket":
        return "daily history is loaded through the stand-in's REST, which --via file does not start"
    return ("daily history not loaded: backtesting.py's published bars are not installed "
            "(pip install --no-deps -r tools/test-data-requirements.txt, as make does)")


def _history_series() -> list[Any]:
    return [read_series(f) for f in published_history()
            if (f.meta["symbol"], f.meta["interval"]) == HISTORY[:2]]


Loaded = tuple[ProducerStats, FirehoseSink, BackfillReport | None, BackfillReport | None]


def _via_websocket(recording: Recording, stack: LocalStack, speed: float, history: bool) -> Loaded:
    series = _history_series() if history else []
    with running_in_thread(TwelveDataStandIn(recording, speed=speed, history=series)) as stand_in:
        settings = ProducerSettings.resolve(
            ws_url=stand_in.ws_url, symbols=recording.header.symbols, api_key=None,
            stream_name=stack.stream_settings.name, firehose_endpoint=stack.firehose.url, region=DEFAULT_REGION,
            exit_on_close=True, rest_url=stand_in.rest_url, environ={},
            live_stream_name=live.name if (live := stack.live_stream_settings) else None)
        # the producer's log and EMF lines, as CloudWatch would keep them
        metrics_log = zones_of(stack).logs / "producer.log"
        with logged_to(metrics_log, "producer", [logging.getLogger("producers")]), \
                metrics_log.open("a", encoding="utf-8") as log:
            stats, sink = asyncio.run(produce(settings, firehose_client(settings.region, settings.firehose_endpoint),
                                              metrics_out=lambda line: print(line, file=log, flush=True)))
        minutes = _rest_minutes(stand_in, stack, recording.header.symbols)
        return stats, sink, minutes, _daily_history(stand_in, stack) if series else None


def _via_file(recording: Recording, stack: LocalStack, speed: float, history: bool) -> Loaded:
    """The recording's REST responses are replayed with its frames (no stand-in: no history)."""
    client = firehose_client(DEFAULT_REGION, stack.firehose.url)
    stats, sink = asyncio.run(replay(recording, stack.stream_settings.name, client, speed=speed))
    return stats, sink, None, None


def run_demo(recording_path: Path, lake: Path, *, spark: Callable[[], Any], speed: float = 0.0,
             fresh: bool = True, via: Literal["websocket", "file"] = "websocket",
             checks_quality: bool = True, history: bool = False) -> DemoResult:
    """`via="websocket"`: the stand-in serves the recording and the producer streams it, as from Twelve
    Data; `via="file"`: the recording is replayed straight into the producer (`ohlcv replay`), REST
    responses included, every connection of it as it was recorded. `checks_quality=False` deploys the
    stack with QualityAfterCompaction off; `history=True` also loads HISTORY through the backfill path."""
    recording = read_recording(recording_path)
    parameters = {**REPLAY_PARAMETERS, "QualityAfterCompaction": str(checks_quality).lower()}
    stack = LocalStack(prepare_lake(lake, fresh=fresh), spark, parameters=parameters).start()
    try:
        stats, sink, rest, daily = (_via_websocket if via == "websocket" else _via_file)(recording, stack, speed,
                                                                                        history)
        stack.close_intake()
        stack.settle()  # every buffer delivered, every Object Created event compacted
    finally:
        stack.stop()
    run = _last_run(stack, COMPACTION_JOB, "compaction")
    quality_run = _last_run(stack, QUALITY_JOB, "the quality check")
    zones = zones_of(stack)
    rejected = list(rejected_records(zones.errors, zones.logs))
    by_symbol = Counter(r.symbol for r in rejected)
    rows = stack.athena.query(
        "SELECT symbol, bars, first_bar, last_bar, last_close, volume FROM symbol_summary ORDER BY symbol").rows
    summaries = [SymbolSummary(symbol=symbol, bars=bars, first_bar=first, last_bar=last, last_close=close,
                               volume=volume, rejected=by_symbol.get(symbol, 0))
                 for symbol, bars, first, last, close, volume in rows]
    failures = [] if quality_run is None else [tuple(row) for row in stack.athena.query(
        f"SELECT rule, rows_failed FROM quality_results WHERE run_id = '{quality_run.id}' AND outcome = 'Failed' "
        "ORDER BY rule").rows]
    return DemoResult(
        zones=zones, frames_received=stats.frames_received, envelopes_sent=stats.envelopes_queued,
        records_sent=sink.stats.records_sent, run=run,
        symbols=summaries, rejected=rejected,
        firehose=stack.streams[stack.stream_settings.name].stats,
        rest_bars=rest.bars_by_symbol if rest else {}, rest_records=rest.records if rest else 0,
        quality_run=quality_run, quality_failures=failures, history_bars=daily.bars_by_symbol if daily else {},
        history_skipped=_history_skipped(history, via, daily is not None))


def _fmt(value: Any) -> str:
    if isinstance(value, float) and value.is_integer() and abs(value) >= 1000:
        return str(int(value))
    return "-" if value is None else str(value)


def format_report(result: DemoResult) -> str:
    header = f"{'symbol':<9} {'bars':>5}  {'first bar (UTC)':<19}  {'last bar (UTC)':<19}  {'last close':>11}  " \
             f"{'volume':>9}  {'rejected':>8}"
    lines = [header, "-" * len(header)]
    for s in result.symbols:
        lines.append(f"{s.symbol:<9} {s.bars:>5}  {_fmt(s.first_bar):<19}  {_fmt(s.last_bar):<19}  "
                     f"{_fmt(s.last_close):>11}  {_fmt(s.volume):>9}  {s.rejected:>8}")
    fh = result.firehose
    lines += [
        "",
        f"frames received {result.frames_received}, in {result.records_sent} records; Firehose: "
        f"{fh.delivered} delivered, {fh.dropped} dropped (heartbeats, status), {fh.failed} failed, "
        f"{fh.objects} objects, {fh.invocations} transform invocations",
    ]
    if result.rest_bars:
        lines.append("published 1-minute bars loaded (they replace tick bars): "
                     + ", ".join(f"{symbol} {count}" for symbol, count in sorted(result.rest_bars.items())))
    if result.history_skipped:
        lines.append(result.history_skipped)
    if result.history_bars:
        lines.append(f"daily history loaded through the backfill path ({HISTORY[2]} to {HISTORY[3]}): "
                     + ", ".join(f"{symbol} {count} days" for symbol, count in sorted(result.history_bars.items())))
    if result.run is not None:
        r = result.run.result
        lines.append(f"compaction run {result.run.id}: {result.run.state} in {result.run.execution_time_s} s; "
                     f"{r.rows_in} rows in, {r.duplicates_removed} duplicates removed, {r.rest_bars_in} REST bars; "
                     + ", ".join(f"{n} {t.removeprefix('bars_')}" for t, n in r.bars_out.items()) + " bars out")
    if result.quality_run is not None:
        q = result.quality_run.result
        lines.append(f"quality run {result.quality_run.id}: {result.quality_run.state} in "
                     f"{result.quality_run.execution_time_s} s; score {q.score:.2f}, "
                     f"{q.rules - len(q.failed)} of {q.rules} rules passed, {q.quarantined} rows quarantined")
        lines += [f"  failed: {rule} ({rows} rows)" for rule, rows in result.quality_failures]
    if result.rejected:
        lines.append(f"\nrejected records ({len(result.rejected)}), kept under the error prefix:")
        for rej in result.rejected:
            why = f"{rej.reason_code}: {rej.reason}" if rej.reason_code else rej.error_code
            lines.append(f"  {rej.symbol or '(no symbol)'}: {why}\n    in {rej.object_path}")
    z = result.zones
    lines += ["", f"raw zone:     {z.raw}", f"error zone:   {z.errors}", f"curated zone: {z.curated}",
              f"logs:         {z.logs}",
              'query it:     ohlcv query "SELECT * FROM bars_1m WHERE symbol = \'AAPL\' ORDER BY bar_start"',
              'quality:      ohlcv query "SELECT rule, outcome, measured FROM quality_results ORDER BY run_id, rule"']
    return "\n".join(lines)
