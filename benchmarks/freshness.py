"""End-to-end freshness through the local stack, at a realistic rate.

A producer (the real one: envelopes, packs, linger, PutRecordBatch) sends quotes of 200 symbols at 2,000
a second, each stamped with its receive time, for `SECONDS`, into the local stack built from the template
(the transform, the delivery stream's two buffers, the compaction trigger, the compaction job on Spark).
Then nothing is forced: the stack runs as it would until every quote has been delivered.

- **Receive to live**: when the first object holding a quote is written, by the hot path (the stack's
  LivePath stream, zero buffering, under live/) or by the record path (the raw zone), the live view
  (`bars_1m_live`) returns it to the next query, which reads both as they are then. Target: p95 at most
  5 s. The live view's own query time is reported too.
- **Receive to raw zone**: the record path alone (what the live view offers without the hot path),
  beside the delivery stream's buffer interval, the wait it is configured to allow (target: p95 at most
  1 s above it).
- **Receive to curated**: when the first compaction run that started after the quote's object was
  delivered has published: the trigger's batching window plus the job.

`tiny`: 200 quotes/s for 3 s, then the stack is settled (buffers forced out); figures not comparable.
"""

from __future__ import annotations

import asyncio
import random
import shutil
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any
from urllib.parse import unquote_plus

import orjson

from benchmarks.report import Measurement
from glue_jobs.session import local_session
from local_stack.stack import AT_ONCE, LocalStack, prepare_lake
from ohlcv_core.config import DEFAULT_REGION
from ohlcv_core.keys import LIVE_PREFIX, RAW_PREFIX
from producers.aws import firehose_client
from producers.firehose_sink import FirehoseSink
from producers.hot_path import HotPathCopy
from producers.service import run_producer
from producers.twelvedata_ws import ReceivedFrame

SECONDS = 75.0
RATE = 2000
SYMBOLS = 200
POLL_S = 0.2  # how often the stack's event machinery turns, as `ohlcv local up` turns it
COMPACTION_JOB = "CompactionJob"  # its logical id in the template
LIVE_TARGET_S = 5.0  # receive -> visible in bars_1m_live, p95, with the hot path


async def quotes(rate: float, seconds: float, rng: random.Random) -> AsyncIterator[ReceivedFrame]:
    """Price frames of SYMBOLS symbols at `rate` a second, stamped with their time as they come out."""
    prices = [100.0 + s for s in range(SYMBOLS)]
    volumes = [1_000_000] * SYMBOLS
    started = time.monotonic()
    sent = 0
    while (elapsed := time.monotonic() - started) < seconds:
        due = int(elapsed * rate)
        for _ in range(due - sent):
            s = rng.randrange(SYMBOLS)
            prices[s] = round(prices[s] * (1 + rng.gauss(0, 0.0002)), 4)
            volumes[s] += rng.randint(1, 500)
            now = time.time()
            frame = orjson.dumps({"event": "price", "symbol": f"S{s:03d}", "exchange": "NASDAQ",
                                  "mic_code": "XNGS", "timestamp": int(now), "price": prices[s],
                                  "day_volume": volumes[s]}).decode()
            yield ReceivedFrame(int(now * 1000), frame)
        sent = due
        await asyncio.sleep(0.005)


def _percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))] if ordered else 0.0


Written = list[tuple[float, Path]]  # (when, object)


def _delivered(stack: LocalStack) -> Callable[[], tuple[Written, Written]]:
    """Records when each raw-zone and hot-path object is written; returns a reader of both so far."""
    seen: dict[str, Written] = {RAW_PREFIX: [], LIVE_PREFIX: []}
    lock = threading.Lock()

    def on_created(event: dict[str, Any]) -> None:  # S3's Object Created
        key = unquote_plus(event["detail"]["object"]["key"])  # S3 events URL-encode keys
        for prefix, objects in seen.items():
            if key.startswith(prefix):
                with lock:
                    objects.append((time.time(), stack.s3.bucket_path(event["detail"]["bucket"]["name"]) / key))

    stack.s3.subscribe(on_created)

    def read() -> tuple[Written, Written]:
        with lock:
            return list(seen[RAW_PREFIX]), list(seen[LIVE_PREFIX])
    return read


def run(*, tiny: bool = False, spark: Any = None) -> list[Measurement]:
    rate, seconds = (200, 3.0) if tiny else (RATE, SECONDS)
    session = spark or local_session("ohlcv-bench", shuffle_partitions=4)
    work = Path(tempfile.mkdtemp(prefix="ohlcv-freshness-"))
    # The template's defaults, as deployed, but for the runs' cadence (AT_ONCE): what is measured is the
    # pipeline's own latency; a deployed stack adds up to CompactionIntervalSeconds to receive -> curated.
    # The quality job is not what is measured.
    stack = LocalStack(prepare_lake(work / "lake", fresh=True), lambda: session,
                       parameters={"QualityAfterCompaction": "false", "LivePath": "true", **AT_ONCE}).start()
    stop = threading.Event()

    def turn() -> None:
        while not stop.wait(POLL_S):
            stack.poll()

    turner = threading.Thread(target=turn, daemon=True)
    try:
        objects = _delivered(stack)
        turner.start()
        settings, live_settings = stack.stream_settings, stack.live_stream_settings
        interval_s = settings.destination.buffer_interval_s
        client = firehose_client(DEFAULT_REGION, stack.firehose.url)
        assert live_settings is not None, "LivePath=true deploys the hot path"
        hot_path = HotPathCopy(client, live_settings.name).start()
        sink = FirehoseSink(client, settings.name)
        sent = asyncio.run(run_producer(quotes(rate, seconds, random.Random(3)), sink,
                                        hot_path=hot_path)).envelopes_queued
        hot_path.close()
        if tiny:
            stop.set()
            turner.join()
            stack.close_intake()
            stack.settle()
        else:  # as deployed: the buffers deliver on their own, then the trigger's window ends and the job runs
            deadline = time.monotonic() + 3 * interval_s + 600
            while _rows(objects()[0]) < sent and time.monotonic() < deadline:
                time.sleep(0.5)
            last_written = max(written for written, _ in objects()[0])
            while not any(started >= last_written for started, _ in _compactions(stack)) \
                    and time.monotonic() < deadline:
                time.sleep(0.5)
        started = time.perf_counter()
        stack.athena.query("SELECT count(*) FROM bars_1m_live")
        live_query_s = time.perf_counter() - started
        runs = _compactions(stack)
    finally:
        stop.set()
        stack.stop()
    raw_objects, live_objects = objects()
    raw_quotes = _read(raw_objects)
    raw, curated = _latencies(raw_quotes, runs)
    live = _first_seen(raw_quotes + _read(live_objects))
    dropped = hot_path.stats.records_dropped
    shutil.rmtree(work, ignore_errors=True)
    p50, p95 = _percentile(raw, 0.5) / 1000, _percentile(raw, 0.95) / 1000
    live_p95 = _percentile(live, 0.95) / 1000
    return [
        Measurement("freshness", "receive→live p50 s, with the hot path", _percentile(live, 0.5) / 1000, "s"),
        Measurement("freshness", f"receive→live p95 s, with the hot path ({len(live):,} quotes, "
                    f"{dropped:,} copies dropped)", live_p95, "s", None, f"≤ {LIVE_TARGET_S:g} s",
                    None if tiny else live_p95 <= LIVE_TARGET_S),
        Measurement("freshness", "receive→raw zone p50 s (baseline: buffer interval)", p50, "s", interval_s),
        Measurement("freshness", f"receive→raw zone p95 s ({len(raw):,} quotes)", p95, "s", interval_s,
                    f"≤ interval + 1 s ({interval_s + 1} s)", None if tiny else p95 <= interval_s + 1),
        Measurement("freshness", "live view query over the run's raw zone", live_query_s, "s"),
        Measurement("freshness", "receive→curated p50 s", _percentile(curated, 0.5) / 1000, "s"),
        Measurement("freshness", f"receive→curated p95 s ({len(curated):,} quotes)", _percentile(curated, 0.95) / 1000,
                    "s"),
    ]


def _compactions(stack: LocalStack) -> list[tuple[float, float]]:
    """(started, completed) of the compaction runs that succeeded so far."""
    name = stack.template.glue_job(COMPACTION_JOB).name
    return [(r.started_on, r.completed_on) for r in list(stack.glue.runs)
            if r.job_name == name and r.state == "SUCCEEDED" and r.completed_on is not None]


def _rows(objects: Written) -> int:
    return sum(path.read_bytes().count(b"\n") for _, path in objects if path.exists())


Delivered = list[tuple[float, list[tuple[str, int]]]]  # (when written, (key, received ms) of each quote in it)


def _read(objects: Written) -> Delivered:
    """Each object's quotes, read once."""
    delivered: Delivered = []
    for written, path in objects:
        records = [orjson.loads(line) for line in path.read_bytes().splitlines()]
        delivered.append((written, [(r["idempotency_key"], r["received_at_ms"]) for r in records]))
    return delivered


def _first_seen(objects: Delivered) -> list[float]:
    """receive→first object holding it, in ms, one per quote (its idempotency key), whichever path."""
    first: dict[str, float] = {}
    for written, quotes in objects:
        for key, received in quotes:
            latency = written * 1000 - received
            first[key] = min(first.get(key, latency), latency)
    return list(first.values())


def _latencies(objects: Delivered, runs: list[tuple[float, float]]) -> tuple[list[float], list[float]]:
    """(receive→raw zone, receive→curated) in ms, one per quote; a quote is curated by the first run that
    started after its object was written."""
    raw: list[float] = []
    curated: list[float] = []
    for written, quotes in objects:
        raw += [written * 1000 - received for _, received in quotes]
        published = [completed for started, completed in runs if started >= written]
        if published:
            curated += [min(published) * 1000 - received for _, received in quotes]
    return raw, curated

