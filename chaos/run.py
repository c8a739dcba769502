"""One chaos run: the live feed through the whole local pipeline while the seeded faults happen, then
the evidence gathered and reconciled."""

from __future__ import annotations

import collections
import logging
import random
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import orjson

from chaos.feed import CHAOS_INSTRUMENTS, Feed, live_feed
from chaos.harness import (
    ProducerProcess,
    ProducerRun,
    StackService,
    producer_env,
    set_writable,
    small_disk,
    spool_disk_bytes,
    spooled_batches,
    wait_for,
)
from chaos.plan import FaultKind, Step, plan
from chaos.reconcile import (
    Connection,
    CuratedBar,
    Evidence,
    RawPrice,
    Reconciliation,
    SentFrame,
    reconcile,
    sort_error_prefix,
)
from glue_jobs import check_quality
from local_stack.firehose.server import FirehoseFaults
from local_stack.glue import GlueFaults, script_module
from local_stack.net import free_port
from local_stack.rejects import rejected_records
from local_stack.stack import AT_ONCE, LocalFaults, LocalStack
from local_stack.twelvedata.catalog import ReplayFrame
from local_stack.twelvedata.server import TwelveDataStandIn, running_in_thread
from ohlcv_cli.demo import zones_of

LOG = logging.getLogger(__name__)
# Control frames a hostile or broken server sends: each must be an event to the producer, never a crash.
HOSTILE_CONTROL_FRAMES = (
    '{"event":"subscribe-status","fails":5}',
    '{"event":"subscribe-status","status":"ok","success":"AAPL","fails":[{"symbol":null}]}',
    '{"status":"error","code":"x","message":7}',
    '{"event":"heartbeat","status":null}',
    '{"event":"unheard-of"}',
    "[1,2,3]",
    "\x00 not json",
)


@dataclass(frozen=True)
class ChaosSettings:
    seed: int = 7
    seconds: int = 150            # of live feed (rounded up to end on a minute)
    per_second: float = 5.0       # ticks a second, per symbol
    rounds: int = 1               # each fault this many times
    pause_s: tuple[float, float] = (3.0, 8.0)
    repair_every_s: float = 15.0
    shutdown_deadline_s: float = 8.0
    spool_usable_kib: int = 16    # of the spool's disk, above the free space it keeps
    throttle_rate: float = 0.05
    partial_failure_rate: float = 0.05
    lambda_error_rate: float = 0.34
    quality_after_compaction: bool = True  # the stack's QualityAfterCompaction (its runs share the Glue worker)


@dataclass
class Injected:
    kind: str
    at_s: float        # seconds into the run
    detail: str


@dataclass
class ChaosReport:
    settings: ChaosSettings
    injected: list[Injected]
    not_reached: list[FaultKind]
    producer_runs: list[ProducerRun]
    spool_on_tmpfs: bool
    stack_counts: dict[str, int]
    reconciliation: Reconciliation
    seconds: float
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        stops_in_time = all(r.stop_seconds is None or r.stop_seconds <= self.settings.shutdown_deadline_s + 2
                            for r in self.producer_runs)
        clean_exits = all(r.exit_code == 0 for r in self.producer_runs if r.ended_by == "SIGTERM")
        # a quality run must judge whatever compaction accepted (a feed without exchanges included)
        quality_ran = not self.stack_counts.get("quality runs failed", 0)
        return self.reconciliation.ok and stops_in_time and clean_exits and quality_ran and not self.not_reached


class _Run:
    def __init__(self, settings: ChaosSettings, workdir: Path, spark: Any) -> None:
        self.settings = settings
        self.workdir = workdir
        self.spark = spark
        self.rng = random.Random(settings.seed)
        self.started = time.time()
        self.injected: list[Injected] = []
        self.sent: list[SentFrame] = []
        self.kills_s: list[float] = []
        self.stops_s: list[float] = []
        self._sent_lock = threading.Lock()
        self.stand_in: TwelveDataStandIn | None = None
        self.service: StackService | None = None
        self.producer: ProducerProcess | None = None
        self.spool: Path = workdir / "spool"
        self.spool_on_tmpfs = False
        self.notes: list[str] = []  # faults this machine cannot inject, and why

    def note(self, kind: str, detail: str, *, began: float | None = None) -> None:
        """`began`: when a fault that lasts (a restart) started, by the wall clock; else now."""
        at = time.time() if began is None else began
        self.injected.append(Injected(kind, round(at - self.started, 1), detail))
        LOG.info("chaos: %s: %s", kind, detail)

    def on_sent(self, connection: int, frame: ReplayFrame) -> None:
        with self._sent_lock:
            self.sent.append(SentFrame(connection, frame.text))

    def faults(self) -> LocalFaults:
        s = self.settings
        return LocalFaults(firehose=FirehoseFaults(throttle_rate=s.throttle_rate,
                                                   partial_failure_rate=s.partial_failure_rate, seed=s.seed),
                           lambda_error_rate=s.lambda_error_rate, glue=GlueFaults())


def _feed(settings: ChaosSettings, now: float) -> Feed:
    """Event times end on a minute, so the last bar is complete (and REST can answer it) when the feed
    ends: they lag the wall clock by under a minute, well inside the transform's window."""
    end = int(now + settings.seconds) // 60 * 60
    return live_feed(end - settings.seconds, settings.seconds, per_second=settings.per_second, seed=settings.seed,
                     instruments=CHAOS_INSTRUMENTS)


def run_chaos(settings: ChaosSettings, workdir: Path, spark: Any) -> ChaosReport:
    run = _Run(settings, workdir, spark)
    feed = _feed(settings, run.started)
    lake, spool = workdir / "lake", run.spool
    (workdir / "logs").mkdir(parents=True, exist_ok=True)
    service = StackService(lake, lambda: spark, free_port(), run.faults,
                           parameters={"QualityAfterCompaction": str(settings.quality_after_compaction).lower(),
                                       **AT_ONCE})
    stand_in = TwelveDataStandIn(feed.recording, speed=1.0, live=True, close_at_end=False, on_sent=run.on_sent,
                                 rest_up_to_now=True)
    with small_disk(spool, spool_disk_bytes(settings.spool_usable_kib * 1024)) as mounted, \
            running_in_thread(stand_in):
        on_tmpfs = run.spool_on_tmpfs = mounted.returncode == 0
        stack = service.start()
        producer = ProducerProcess(
            ["--ws-url", stand_in.ws_url, "--rest-url", stand_in.rest_url,
             "--symbols", ",".join(feed.recording.header.symbols), "--stream", stack.stream_settings.name,
             "--firehose-endpoint", stack.firehose.url, "--spool-dir", str(spool),
             "--shutdown-deadline", str(settings.shutdown_deadline_s), "--credits-per-minute", "60"]
            + ([] if on_tmpfs else ["--spool-max-mb", str(settings.spool_usable_kib / 1024)]),
            producer_env(settings.repair_every_s), workdir / "logs")
        producer.start()
        try:
            feed_end = time.time() + settings.seconds + 2  # the live timeline starts as the producer subscribes
            run.stand_in, run.service, run.producer = stand_in, service, producer
            steps = plan(settings.seed, rounds=settings.rounds, pause_s=settings.pause_s)
            not_reached = _inject(run, steps, feed_end)
            # the last minute's bar from REST: the schedule's repair after the feed's end
            time.sleep(max(0.0, feed_end + settings.repair_every_s + 8 - time.time()))
            wait_for(lambda: spooled_batches(spool) == 0, 60)
            run.stops_s.append(time.time())
            producer.terminate(settings.shutdown_deadline_s)
        finally:
            if producer.alive():  # the run failed on the way: leave no producer behind
                producer.kill()
        stack = service.stop()
    evidence = _evidence(run, feed, stand_in, stack)
    return ChaosReport(settings, run.injected, not_reached, producer.runs, on_tmpfs, _counts(service.stacks),
                       reconcile(evidence), round(time.time() - run.started, 1), run.notes)


def _inject(run: _Run, steps: list[Step], feed_end: float) -> list[FaultKind]:
    """The steps in order; one that cannot act yet (no raw object to announce again) goes to the back."""
    waiting = collections.deque(steps)
    while waiting:
        step = waiting.popleft()
        time.sleep(step.pause_s)
        if time.time() > feed_end - 5:
            return [step.kind, *(s.kind for s in waiting)]
        if not _apply(run, step):
            waiting.append(step)
    return []


def _apply(run: _Run, step: Step) -> bool:
    """Inject one fault; False if it cannot act yet."""
    stand_in, service, producer = run.stand_in, run.service, run.producer
    assert stand_in is not None and service is not None and producer is not None
    stack = service.current
    assert stack is not None
    if step.kind == "ws_drop":
        run.note(step.kind, f"{stand_in.act(stand_in.drop_all())} connection(s) aborted without a close frame")
    elif step.kind == "ws_stall":
        stand_in.act(stand_in.stall(step.seconds))
        run.note(step.kind, f"server silent for {step.seconds} s, socket open")
    elif step.kind == "control_frames":
        sent = sum(stand_in.act(stand_in.inject(text)) for text in HOSTILE_CONTROL_FRAMES)
        run.note(step.kind, f"{sent} malformed control frames sent")
    elif step.kind == "rest_429":
        stand_in.faults.rest_429_burst += 4
        run.note(step.kind, "the next 4 REST calls answered 429")
    elif step.kind == "producer_sigterm":
        run.stops_s.append(time.time())
        ended = producer.terminate(run.settings.shutdown_deadline_s)
        run.note(step.kind, f"exit {ended.exit_code} after {ended.stop_seconds:.1f} s; restarted after "
                            f"{step.seconds} s")
        time.sleep(step.seconds)
        producer.start()
    elif step.kind == "producer_sigkill":
        run.kills_s.append(time.time())
        producer.kill()
        run.note(step.kind, f"killed; restarted after {step.seconds} s")
        time.sleep(step.seconds)
        producer.start()
    elif step.kind == "stack_restart":
        began, wall = time.monotonic(), time.time()
        service.restart()
        run.note(step.kind, f"local up stopped (intake closed, buffers delivered) and started again in "
                            f"{time.monotonic() - began:.1f} s", began=wall)
    elif step.kind == "s3_events_again":
        announced = _announce_again(stack, run.rng)
        if not announced:
            return False
        run.note(step.kind, f"Object Created announced again for {announced} raw objects (oldest first)")
    elif step.kind == "spool_read_only":
        _spool_read_only(run, stack, step.seconds)
    elif step.kind == "compaction_crash":
        stack.glue.faults.crash_runs += 1
        run.note(step.kind, f"the next compaction run crashes at '{stack.glue.faults.crash_at}'")
    return True


def _spool_read_only(run: _Run, stack: LocalStack, seconds: float) -> None:
    """The spool's disk read-only, and while it is, a Firehose outage of `seconds`: the batches that
    cannot be delivered cannot be spooled either."""
    why = set_writable(run.spool, False, on_tmpfs=run.spool_on_tmpfs)
    if why is not None:
        run.notes.append(f"spool_read_only not injected: {why}")
        run.note("spool_read_only", f"not possible here: {why}")
        return
    began = time.time()
    try:
        time.sleep(1.0)
        stack.firehose.api.close_intake(why="an injected Firehose outage")
        time.sleep(seconds)
        stack.firehose.api.open_intake()
        time.sleep(1.0)
    finally:
        still = set_writable(run.spool, True, on_tmpfs=run.spool_on_tmpfs)
    run.note("spool_read_only", f"spool read-only for {time.time() - began:.1f} s, Firehose refusing every put "
                                f"for {seconds} s of it" + (f"; NOT writable again: {still}" if still else ""),
             began=began)


def _announce_again(stack: LocalStack, rng: random.Random) -> int:
    bucket = stack.stream_settings.destination.bucket
    root = stack.s3.bucket_path(bucket)
    objects = sorted((p for p in zones_of(stack).raw.rglob("*") if p.is_file()), key=lambda p: p.stat().st_mtime)
    chosen = objects[:2] + rng.sample(objects[2:], min(3, len(objects[2:])))
    for path in chosen:
        stack.s3.announce_again(bucket, path.relative_to(root).as_posix())
    return len(chosen)


def _counts(stacks: list[LocalStack]) -> dict[str, int]:
    counts: Counter[str] = Counter()
    for stack in stacks:
        api = stack.firehose.api
        counts["firehose throttled calls"] += api.throttled
        counts["firehose failed records"] += api.failed_puts
        counts["puts refused (intake closed)"] += api.refused_closed
        counts["transform invocations"] += sum(s.stats.invocations for s in stack.streams.values())
        counts["transform invocations failed"] += sum(s.stats.failed_invocations for s in stack.streams.values())
        counts["records failed by the transform's errors"] += sum(
            n for s in stack.streams.values() for code, n in s.stats.error_codes.items()
            if code in ("Lambda.FunctionError", "Lambda.InvalidResponse"))
        quality = {name for name, job in stack.glue.jobs.items()
                   if script_module(job.script_location) == check_quality.__name__}
        for job, runs in (("compaction", [r for r in stack.glue.runs if r.job_name not in quality]),
                          ("quality", [r for r in stack.glue.runs if r.job_name in quality])):
            counts[f"{job} runs"] += len(runs)
            counts[f"{job} runs failed"] += sum(r.state == "FAILED" for r in runs)
        counts["compaction crashes injected"] += stack.glue.faults.crashed
    return dict(counts)


def _evidence(run: _Run, feed: Feed, stand_in: TwelveDataStandIn, stack: LocalStack) -> Evidence:
    zones = zones_of(stack)
    raw = [RawPrice(row["idempotency_key"], row["symbol"], row["event_time_ms"])
           for path in sorted((zones.raw / "kind=price").rglob("*")) if path.is_file()
           for row in map(orjson.loads, path.read_bytes().splitlines())]
    failed, rejected = sort_error_prefix((record.payload, record.reason_code)
                                         for record in rejected_records(zones.errors, zones.logs))
    rows = stack.athena.query("SELECT symbol, bar_start, open, high, low, close, volume, tick_count, source "
                              "FROM bars_1m").rows
    bars = [CuratedBar(symbol, int(start.timestamp()), o, h, low, c, v, n, source)
            for symbol, start, o, h, low, c, v, n, source in rows]
    minutes = {symbol: (min(bars), max(bars)) for symbol, bars in feed.published.items()}
    connections = [Connection(c.number, c.opened_s, c.closed_s, c.ended_by) for c in stand_in.stats.connection_log]
    return Evidence(sent=run.sent, connections=connections, kills_s=run.kills_s, stops_s=run.stops_s,
                    started_s=run.started, raw=raw,
                    failed_keys=failed, rejected=rejected, bars=bars, published=feed.published, planted=feed.planted,
                    minutes=minutes)
