"""Producer throughput and latency, into a local Firehose endpoint served by another process.

Throughput: the bundled recording replayed as fast as possible (repeated to ~100k quotes) through the
producer path (envelopes, bounded queue, packs of one UTC hour's quotes, batches, PutRecordBatch),
against a baseline measured in the same run: the same records, pre-built, sent with bare PutRecordBatch
calls (the ceiling of the sink path on this machine). The path without packing (one quote per record,
as before it existed) is measured too, against its own bare loop. Latency: receive-to-put p50/p99 at a
realistic 2,000 quotes/s with the default linger. Memory: the peak resident growth during the run.
`tiny`: the recording once, a few hundred quotes for latency (the smoke test inside `make test`).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import math
import os
import tempfile
import threading
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.report import Measurement
from feeds import DEMO_FEED
from local_stack.firehose.standalone import STREAM, firehose_process
from ohlcv_core.config import DEFAULT_REGION
from ohlcv_core.recording import Recording, read_recording
from producers.aws import firehose_client
from producers.batching import BatchBuilder, Packer
from producers.firehose_sink import FirehoseSink
from producers.metrics import LatencySample
from producers.replay import Replayed, replay_items
from producers.service import envelopes_of, run_producer
from producers.settings import DEFAULT_LINGER_MS, DEFAULT_PACK_KB
from producers.twelvedata_ws import ReceivedFrame

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient

REPEAT = 35
ROUNDS = 3

def repeated(recording: Recording, times: int) -> Recording:
    frames = [e for e in recording.inbound_frames() if '"event":"price"' in e.frame]
    span = frames[-1].recv_us - frames[0].recv_us + 1_000_000
    entries = tuple(dataclasses.replace(f, recv_us=f.recv_us + i * span) for i in range(times) for f in frames)
    return Recording(recording.header, entries)


async def _stamped_on_arrival(items: AsyncIterator[Replayed]) -> AsyncIterator[Replayed]:
    """As a live source stamps frames: the receive time is when the frame comes out of the source."""
    async for item in items:
        now_ms = int(time.time() * 1000)
        yield (item._replace(received_at_ms=now_ms) if isinstance(item, ReceivedFrame)
               else dataclasses.replace(item, received_at_ms=now_ms))


async def _produce(recording: Recording, client: FirehoseClient, speed: float, latency: LatencySample | None,
                   pack_bytes: int = DEFAULT_PACK_KB * 1024) -> int:
    """The producer's path from `recording` into the stream. The client is made beforehand, as the bare
    loop's is: a producer makes one at start-up (botocore loads its service model, ~50 ms) and then runs
    for hours, so the throughput measured is the running producer's."""
    sink = FirehoseSink(client, STREAM)

    def sent(received_ms: list[int]) -> None:
        if latency is not None:
            now_ms = time.time() * 1000
            for received in received_ms:
                latency.add(now_ms - received)

    items = replay_items(recording, speed=speed)
    stats = await run_producer(_stamped_on_arrival(items) if latency is not None else items, sink, on_sent=sent,
                               pack_bytes=pack_bytes)
    return stats.envelopes_queued


def records_of(recording: Recording, pack_bytes: int) -> list[bytes]:
    """The Firehose records the producer makes of a recording (linger aside): packs of one hour's quotes,
    the other frames alone."""
    packer = Packer(pack_bytes) if pack_bytes else None
    records: list[bytes] = []
    for entry in recording.inbound_frames():
        frame = ReceivedFrame(entry.recv_us // 1000, entry.frame)
        for envelope, hour, _ in envelopes_of(frame, "twelvedata.ws", pack=packer is not None):
            if packer is None:
                records.append(envelope)
            elif (ready := packer.add(envelope, hour, 0)) is not None:
                records.append(ready[0])
    return records + [packed for packed, _ in packer.take()] if packer is not None else records


def _bare_loop(client: FirehoseClient, records: list[bytes]) -> float:
    """Seconds for bare PutRecordBatch calls of the records, in batches as large as the API allows."""
    builder = BatchBuilder()
    started = time.perf_counter()
    for batch in [*(closed for r in records if (closed := builder.add(r))), builder.take()]:
        if batch:
            client.put_record_batch(DeliveryStreamName=STREAM, Records=[{"Data": r} for r in batch])
    return time.perf_counter() - started


def _resident_bytes() -> int:
    with open("/proc/self/statm", encoding="ascii") as statm:
        return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


@contextlib.contextmanager
def peak_resident_growth() -> Iterator[list[int]]:
    """Samples this process's resident memory every 10 ms; yields a list that holds the peak growth
    (bytes above the start) once the block ends."""
    start, peak, done = _resident_bytes(), [0], threading.Event()

    def sample() -> None:
        while not done.wait(0.01):
            peak[0] = max(peak[0], _resident_bytes() - start)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        yield peak
    finally:
        done.set()
        sampler.join()
        peak[0] = max(peak[0], _resident_bytes() - start)


def _throughput(recording: Recording, endpoint: str, pack_bytes: int, rounds: int) -> tuple[float, float, float, int]:
    """(quotes/s, bare-loop quotes/s, CPU s per quote, peak resident growth) for one way of making
    records: the best of `rounds`, the producer and its baseline taking turns (this machine is shared)."""
    quotes = sum(1 for _ in recording.inbound_frames())
    records = records_of(recording, pack_bytes)
    client = firehose_client(DEFAULT_REGION, endpoint)
    best_wall, best_cpu, best_bare, peak_growth = math.inf, math.inf, math.inf, 0
    for _ in range(rounds):
        best_bare = min(best_bare, _bare_loop(client, records))
        with peak_resident_growth() as peak:
            cpu, wall = time.process_time(), time.perf_counter()
            sent = asyncio.run(_produce(recording, client, 0, None, pack_bytes))
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        best_wall, best_cpu, peak_growth = min(best_wall, wall), min(best_cpu, cpu), max(peak_growth, peak[0])
    assert sent == quotes, f"{sent} of {quotes} quotes queued"
    return quotes / best_wall, quotes / best_bare, best_cpu / quotes, peak_growth


def run(*, tiny: bool = False) -> list[Measurement]:
    recording = repeated(read_recording(DEMO_FEED), 1 if tiny else REPEAT)
    quotes = len(recording.entries)
    with tempfile.TemporaryDirectory(prefix="ohlcv-bench-") as folder, firehose_process(Path(folder)) as endpoint:
        rounds = 1 if tiny else ROUNDS
        rate, baseline, cpu_per_quote, peak = _throughput(recording, endpoint, DEFAULT_PACK_KB * 1024, rounds)
        single_rate, single_baseline, single_cpu, _ = _throughput(recording, endpoint, 0, rounds)
        latency = LatencySample()
        realistic = repeated(read_recording(DEMO_FEED), 1 if tiny else 4)
        speed = 2000 / (len(realistic.entries) / ((realistic.entries[-1].recv_us - realistic.entries[0].recv_us) / 1e6))
        sample = Recording(realistic.header, realistic.entries[:300 if tiny else 10_000])
        asyncio.run(_produce(sample, firehose_client(DEFAULT_REGION, endpoint), speed, latency))
    p99 = latency.percentile(0.99) or 0.0
    return [
        # (the bare PutRecordBatch loop does only botocore's part of the work: its ratio is shown, not judged)
        Measurement("producer", f"quotes/s, recording -> Firehose ({quotes:,})", rate, "quotes/s", baseline,
                    "≥ 100,000 quotes/s", rate >= 100_000),
        Measurement("producer", "quotes/s, one quote per record", single_rate, "quotes/s", single_baseline),
        Measurement("producer", "CPU ms per 1,000 quotes", cpu_per_quote * 1e6, "ms", single_cpu * 1e6,
                    "≤ 10 ms", cpu_per_quote * 1e6 <= 10),
        Measurement("producer", "peak MiB resident growth, flat out", peak / 1024 / 1024, "MiB"),
        Measurement("producer", "receive-to-put p50 ms at 2,000/s", latency.percentile(0.5) or 0.0, "ms"),
        Measurement("producer", f"receive-to-put p99 ms at 2,000/s ({DEFAULT_LINGER_MS:g} ms linger)", p99, "ms",
                    target="≤ 50 ms", meets_target=p99 <= 50),
        Measurement("producer", "cores on this machine", float(os.cpu_count() or 0), ""),
    ]
