"""Container entry point: `python -m producers` (the same code `ohlcv produce` runs)."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import logging
import os
import signal
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from ohlcv_core import config
from ohlcv_core.errors import OhlcvError, PipelineError
from ohlcv_core.json_logs import log_as_json
from ohlcv_core.recording import Recording
from producers import backfill_main, early_signals
from producers.aws import api_key_or_secret, firehose_client
from producers.backoff import Backoff
from producers.firehose_sink import FirehoseSink
from producers.health import write_health
from producers.hot_path import HotPathCopy
from producers.kept import KeptThrough
from producers.live import LiveStats, live_items
from producers.metrics import ProducerMetrics
from producers.progress import Progress
from producers.replay import replay_items, replayable
from producers.rest import CreditLimiter, TwelveDataRest
from producers.sender import SpoolingSender
from producers.service import ProducerStats, run_producer
from producers.settings import (
    DEFAULT_CREDITS_PER_MINUTE,
    DEFAULT_LINGER_MS,
    DEFAULT_PACK_KB,
    DEFAULT_SHUTDOWN_DEADLINE_S,
    DEFAULT_SPOOL_MAX_MB,
    MAX_LINGER_MS,
    MAX_PACK_KB,
    ProducerSettings,
)
from producers.spool import Spool
from producers.twelvedata_ws import resilient_stream

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient

LOG = logging.getLogger(__name__)
EXIT_NOT_KEPT = 2  # records were accepted and are neither delivered nor spooled: the exit status says so
# Of the shutdown deadline, what reading the frames already on their way may take (the rest is for sending).
DRAIN_SHARE = 0.1


async def replay(recording: Recording, stream_name: str, client: FirehoseClient, *, speed: float = 0.0,
                 start_offset_s: float = 0.0, show_progress: bool = False) -> tuple[ProducerStats, FirehoseSink]:
    """A recording through the same producer path as a live stream."""
    sink = FirehoseSink(client, stream_name)
    progress = Progress(len(replayable(recording, start_offset_s)), force=show_progress) if show_progress else None
    items = replay_items(recording, speed=speed, start_offset_s=start_offset_s,
                         on_progress=progress.update if progress else None)
    try:
        stats = await run_producer(items, sink)
    finally:
        if progress is not None:
            progress.close()
    return stats, sink


def _print_line(line: str) -> None:
    print(line, flush=True)


def exit_unconfirmed(unconfirmed: int) -> None:
    """The process ends now, whatever threads still wait on the network (their calls cannot be interrupted)."""
    LOG.error("shutdown deadline passed with a Firehose call unanswered: %d records were not confirmed "
              "delivered or spooled (at-least-once: some may have arrived)", unconfirmed)
    logging.shutdown()
    os._exit(EXIT_NOT_KEPT)


async def produce(settings: ProducerSettings, client: FirehoseClient, stop: asyncio.Event | None = None,
                  metrics_out: Callable[[str], None] = _print_line,
                  overrun: Callable[[int], None] = exit_unconfirmed) -> tuple[ProducerStats, FirehoseSink]:
    """Stream until the source ends or `stop` is set; with a spool, what Firehose would not take waits
    there (and what a previous run left is sent first)."""
    sink = FirehoseSink(client, settings.stream_name, max_attempts=5, backoff=Backoff(base_s=0.2, cap_s=5.0))
    hot_path = HotPathCopy(client, settings.live_stream_name).start() if settings.live_stream_name else None
    spool = Spool(settings.spool_dir, settings.spool_max_bytes) if settings.spool_dir else None
    kept = KeptThrough(settings.spool_dir) if settings.spool_dir else None
    sender = SpoolingSender(sink, spool)
    await sender.drain(force=True)
    stop = stop or asyncio.Event()
    drain_s = settings.shutdown_deadline_s * DRAIN_SHARE
    stream = resilient_stream(settings.ws_url, settings.symbols, api_key=settings.api_key,
                              exit_on_close=settings.exit_on_close, stop=stop, drain_s=drain_s)
    rest = (TwelveDataRest(settings.rest_url, settings.api_key, limiter=CreditLimiter(settings.credits_per_minute))
            if settings.rest_url else None)
    live_stats = LiveStats()
    items = live_items(stream, settings.symbols, rest=rest, repair_every_s=settings.repair_every_s, stats=live_stats,
                       stopping=stop, repair_from_ms=kept.repair_from_ms() if kept else None)

    async def on_stop() -> None:
        await stop.wait()
        sink.give_up_retrying()  # one attempt per batch from now on: the rest is spooled
        await asyncio.sleep(settings.shutdown_deadline_s * 0.8)
        LOG.error("shutdown is taking long: whatever is left goes straight to the spool")
        sink.stop_trying()
        sender.give_up_keeping()
        await asyncio.sleep(settings.shutdown_deadline_s * 0.2)
        # Still here at the deadline: a call to Firehose that never answers (a network that drops
        # packets) holds a thread no one can interrupt. Leave anyway, saying what is unconfirmed.
        unconfirmed = (stats.records_made - sink.stats.records_sent - sender.stats.records_spooled
                       - sender.stats.records_not_kept)
        overrun(max(unconfirmed, 0))

    stats = ProducerStats()
    metrics = ProducerMetrics(namespace=settings.metrics_namespace)
    report = Reporter(settings, metrics, stats=stats, live=live_stats, sink=sink, sender=sender, out=metrics_out,
                      kept=kept, hot_path=hot_path)
    watcher = asyncio.create_task(on_stop())
    reporter = asyncio.create_task(report.run())
    try:
        await run_producer(items, sender, stop=stop, stats=stats, on_sent=report.sent, drain_s=drain_s + 0.5,
                           linger_s=settings.linger_ms / 1000, pack_bytes=settings.pack_kb * 1024,
                           hot_path=hot_path)
        await sender.drain(force=True)
    finally:
        if hot_path is not None:
            await asyncio.to_thread(hot_path.close)
        watcher.cancel()
        reporter.cancel()
        report.emit()
        if kept is not None and not sender.stats.records_not_kept:
            kept.save()
    LOG.info("producer finished: %s; live %s; sink %s; spool %s (%d batches left, quotes_unreadable=%d)", stats,
             live_stats, sink.stats, sender.stats, sender.backlog, sender.quotes_unreadable)
    if sender.stats.records_not_kept:  # main() exits EXIT_NOT_KEPT on this
        raise PipelineError(f"{sender.stats.quotes_not_kept} quotes ({sender.stats.records_not_kept} records) were "
                            "neither delivered nor spooled before "
                            "the shutdown deadline (see the log)")
    return stats, sink


class Reporter:
    """Every minute the EMF metric lines; every few seconds, while frames flow, the health file."""

    def __init__(self, settings: ProducerSettings, metrics: ProducerMetrics, *, stats: ProducerStats,
                 live: LiveStats, sink: FirehoseSink, sender: SpoolingSender, out: Callable[[str], None],
                 kept: KeptThrough | None = None, hot_path: HotPathCopy | None = None,
                 metrics_every_s: float = 60.0, health_every_s: float = 5.0, idle_s: float = 60.0) -> None:
        self._settings = settings
        self._hot_path = hot_path
        self._metrics = metrics
        self._stats = stats
        self._live = live
        self._sink = sink
        self._sender = sender
        self._out = out
        self._kept = kept
        self._metrics_every_s = metrics_every_s
        self._health_every_s = health_every_s
        self._idle_s = idle_s

    def sent(self, received_ms: list[int]) -> None:
        """A batch is kept (delivered or spooled)."""
        if self._kept is not None:
            self._kept.note(received_ms)
        now_ms = time.time() * 1000
        for received in received_ms:
            self._metrics.latency.add(now_ms - received)

    def emit(self) -> None:
        live, sink, sender = self._live, self._sink.stats, self._sender.stats
        counters = {"MessagesReceived": self._stats.frames_received, "Reconnects": live.reconnects,
                    "GapsDetected": live.gaps_detected, "GapsRepaired": live.gaps_repaired,
                    "RecordsSent": sink.records_sent, "FailedPuts": sink.failed_puts,
                    "ThrottledCalls": sink.throttled_calls, "RecordsSpooled": sender.records_spooled,
                    "BatchesDrained": sender.batches_drained, "OversizeRejected": self._stats.oversize_rejected,
                    "RecordsNotKept": sender.records_not_kept, "QuotesNotKept": sender.quotes_not_kept,
                    "RepairFailures": live.repair_failures,
                    "MinutesUnrepaired": live.minutes_unrepaired,
                    "QuotesUnreadable": self._sender.quotes_unreadable,
                    # every quote received and then lost: too large to send, left at the shutdown deadline,
                    # or spooled on a disk that could not give it back
                    "Dropped": self._stats.oversize_rejected + sender.quotes_not_kept
                    + self._sender.quotes_unreadable}
        if self._hot_path is not None:  # copies only: a drop here loses nothing (the record path has it)
            counters |= {"LiveCopiesSent": self._hot_path.stats.records_sent,
                         "LiveCopiesDropped": self._hot_path.stats.records_dropped}
        gauges = {"QueueDepth": self._stats.queue_depth, "SpoolBatches": self._sender.backlog}
        for line in self._metrics.lines(counters, live.messages_by_symbol, gauges):
            self._out(line)

    def _health(self) -> None:
        if self._settings.health_file is None:
            return
        fresh = time.time() * 1000 - self._live.last_frame_ms < self._idle_s * 1000
        if fresh:
            write_health(self._settings.health_file, {"frames": self._stats.frames_received,
                                                      "spool_batches": self._sender.backlog})

    async def run(self) -> None:
        last_metrics = time.monotonic()
        while True:
            await asyncio.sleep(self._health_every_s)
            self._health()
            if self._kept is not None:
                self._kept.save()
            if time.monotonic() - last_metrics >= self._metrics_every_s:
                last_metrics = time.monotonic()
                self.emit()


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ws-url", help="Twelve Data WebSocket URL (env OHLCV_TWELVEDATA_WS_URL)")
    parser.add_argument("--symbols", help="comma list, SYM or SYM:EXCHANGE (env OHLCV_SYMBOLS)")
    parser.add_argument("--stream", help="Firehose delivery stream name (env OHLCV_FIREHOSE_STREAM)")
    parser.add_argument("--live-stream", help="the hot path's delivery stream, sent a copy of each batch of "
                                              "quotes (env OHLCV_LIVE_STREAM; none by default)")
    parser.add_argument("--firehose-endpoint", help="Firehose endpoint URL, e.g. the local stack's "
                                                    "(env OHLCV_FIREHOSE_ENDPOINT)")
    parser.add_argument("--region", help="AWS region (env AWS_REGION)")
    parser.add_argument("--rest-url", help="REST base URL for gap repair (env OHLCV_TWELVEDATA_REST_URL, "
                                           "default Twelve Data's)")
    parser.add_argument("--no-repair", action="store_true", help="no REST gap repair")
    parser.add_argument("--credits-per-minute", type=int,
                        help=f"REST budget (env OHLCV_REST_CREDITS_PER_MINUTE, default {DEFAULT_CREDITS_PER_MINUTE})")
    parser.add_argument("--api-key-secret-id", help="Secrets Manager secret with the Twelve Data key "
                                                   "(env OHLCV_API_KEY_SECRET_ID; else TWELVEDATA_API_KEY)")
    parser.add_argument("--health-file", type=Path, help="rewritten every few seconds while frames flow "
                                                         "(env OHLCV_HEALTH_FILE); see producers.health")
    parser.add_argument("--spool-dir", type=Path, help="on-disk spool for when Firehose is unavailable "
                                                       "(env OHLCV_SPOOL_DIR); kept across restarts")
    parser.add_argument("--shutdown-deadline", type=float,
                        help=f"seconds a SIGTERM may take (env OHLCV_SHUTDOWN_DEADLINE_S, default "
                             f"{DEFAULT_SHUTDOWN_DEADLINE_S:g})")
    parser.add_argument("--spool-max-mb", type=float,
                        help=f"spool bound (env OHLCV_SPOOL_MAX_MB, default {DEFAULT_SPOOL_MAX_MB:g})")
    parser.add_argument("--linger-ms", type=float,
                        help=f"longest a batch waits for more frames before it is sent (env OHLCV_LINGER_MS, "
                             f"default {DEFAULT_LINGER_MS:g}, at most {MAX_LINGER_MS:g})")
    parser.add_argument("--pack-kb", type=int,
                        help=f"quotes are packed into Firehose records of up to this size; 0: one per record "
                             f"(env OHLCV_PACK_KB, default {DEFAULT_PACK_KB}, at most {MAX_PACK_KB})")
    parser.add_argument("--exit-on-close", action="store_true",
                        help="stop when the server closes the stream normally (a finite replay) "
                             "instead of reconnecting")


def settings_from(args: argparse.Namespace) -> ProducerSettings:
    return ProducerSettings.resolve(
        ws_url=args.ws_url, symbols=config.symbols_setting(args.symbols, os.environ),
        stream_name=args.stream, live_stream_name=args.live_stream, firehose_endpoint=args.firehose_endpoint,
        region=args.region,
        exit_on_close=args.exit_on_close, spool_dir=args.spool_dir, spool_max_mb=args.spool_max_mb,
        rest_url=args.rest_url, no_repair=args.no_repair, credits_per_minute=args.credits_per_minute,
        health_file=args.health_file, api_key_secret_id=args.api_key_secret_id,
        shutdown_deadline_s=args.shutdown_deadline, linger_ms=args.linger_ms, pack_kb=args.pack_kb)


def _with_secret_key(settings: ProducerSettings) -> ProducerSettings:
    return dataclasses.replace(settings, api_key=api_key_or_secret(settings.api_key, settings.api_key_secret_id,
                                                                     settings.region))


async def _run_until_signalled(settings: ProducerSettings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):  # an ECS stop sends SIGTERM, then SIGKILL after a grace period
        loop.add_signal_handler(signum, stop.set)
    held = early_signals.take_over()
    if held is not None:
        LOG.info("%s arrived while the producer was starting: stopping at once", signal.Signals(held).name)
        stop.set()
    await produce(settings, firehose_client(settings.region, settings.firehose_endpoint), stop)


def run(args: argparse.Namespace) -> int:
    """Run the service from parsed arguments (`python -m producers` and `ohlcv produce` alike)."""
    settings = _with_secret_key(settings_from(args))
    asyncio.run(_run_until_signalled(settings))
    return 0


def main(argv: list[str] | None = None) -> int:
    """`python -m producers [options]` streams; `python -m producers backfill [options]` loads history
    (the same image, as a one-off or scheduled task)."""
    argv = sys.argv[1:] if argv is None else argv
    runner: Callable[[argparse.Namespace], int] = run
    if argv[:1] == ["backfill"]:
        parser = argparse.ArgumentParser(prog="producers backfill", description=backfill_main.__doc__)
        backfill_main.add_arguments(parser)
        argv, runner = argv[1:], backfill_main.run
        early_signals.release()  # the backfill keeps checkpoints and no handlers: a signal ends it as before
    else:
        parser = argparse.ArgumentParser(prog="producers", description=__doc__)
        add_arguments(parser)
    args = parser.parse_args(argv)
    log_as_json("backfill" if runner is backfill_main.run else "producer")  # as the Lambdas' lines
    try:
        return runner(args)
    except OhlcvError as exc:  # a setting, a refused key: said plainly, and a non-zero exit for the orchestrator
        LOG.error("%s", exc)
        return 2
