"""Producer throughput and latency, into a local Firehose endpoint served by another process.

Throughput: the bundled recording replayed as fast as possible (repeated to ~100k quotes) through the
producer path (envelopes, bounded queue, batches, PutRecordBatch), against a baseline measured in the
same run: the same envelopes, pre-built, sent with bare PutRecordBatch calls of 500 (the ceiling of the
sink path on this machine). Latency: receive-to-put p50/p99 at a realistic 2,000 quotes/s.
`tiny`: the recording once, a few hundred quotes for latency (the smoke test inside `make test`).
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.report import Measurement
from local_stack.feeds import DEMO_FEED
from local_stack.firehose.standalone import STREAM, firehose_process
from ohlcv_core.config import DEFAULT_REGION
from ohlcv_core.envelope import encode_envelope
from ohlcv_core.recording import Recording, read_recording
from producers.aws import firehose_client
from producers.firehose_sink import FirehoseSink
from producers.metrics import LatencySample
from producers.replay import Replayed, replay_items
from producers.service import run_producer

if TYPE_CHECKING:
    from mypy_boto3_firehose.type_defs import RecordTypeDef

REPEAT = 35

def repeated(recording: Recording, times: int) -> Recording:
    frames = [e for e in recording.inbound_frames() if '"event":"price"' in e.frame]
    span = frames[-1].recv_us - frames[0].recv_us + 1_000_000
    entries = tuple(dataclasses.replace(f, recv_us=f.recv_us + i * span) for i in range(times) for f in frames)
    return Recording(recording.header, entries)


async def _stamped_on_arrival(items: AsyncIterator[Replayed]) -> AsyncIterator[Replayed]:
    """As a live source stamps frames: the receive time is when the frame comes out of the source."""
    async for item in items:
        yield dataclasses.replace(item, received_at_ms=int(time.time() * 1000))


async def _produce(recording: Recording, endpoint: str, speed: float, latency: LatencySample | None) -> int:
    sink = FirehoseSink(firehose_client(DEFAULT_REGION, endpoint), STREAM)

    def sent(received_ms: list[int]) -> None:
        if latency is not None:
            now_ms = time.time() * 1000
            for received in received_ms:
                latency.add(now_ms - received)

    items = replay_items(recording, speed=speed)
    stats = await run_producer(_stamped_on_arrival(items) if latency is not None else items, sink, on_sent=sent)
    return stats.records_queued


def run(*, tiny: bool = False) -> list[Measurement]:
    recording = repeated(read_recording(DEMO_FEED), 1 if tiny else REPEAT)
    quotes = len(recording.entries)
    envelopes = [encode_envelope(e.frame, e.recv_us // 1000, "twelvedata.ws") for e in recording.inbound_frames()]
    with tempfile.TemporaryDirectory(prefix="ohlcv-bench-") as folder, firehose_process(Path(folder)) as endpoint:
        client = firehose_client(DEFAULT_REGION, endpoint)
        started = time.perf_counter()
        for start in range(0, len(envelopes), 500):
            records: list[RecordTypeDef] = [{"Data": e} for e in envelopes[start:start + 500]]
            client.put_record_batch(DeliveryStreamName=STREAM, Records=records)
        baseline = len(envelopes) / (time.perf_counter() - started)

        cpu, wall = time.process_time(), time.perf_counter()
        sent = asyncio.run(_produce(recording, endpoint, 0, None))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        rate = sent / wall

        latency = LatencySample()
        realistic = repeated(read_recording(DEMO_FEED), 1 if tiny else 4)
        speed = 2000 / (len(realistic.entries) / ((realistic.entries[-1].recv_us - realistic.entries[0].recv_us) / 1e6))
        sample = Recording(realistic.header, realistic.entries[:300 if tiny else 10_000])
        asyncio.run(_produce(sample, endpoint, speed, latency))
    return [
        Measurement("producer", f"quotes/s, recording -> Firehose ({quotes:,})", rate, "quotes/s", baseline,
                    "≥ 50,000 quotes/s", rate >= 50_000),
        Measurement("producer", "CPU ms per 1,000 quotes", cpu / sent * 1000 * 1000, "ms"),
        Measurement("producer", "receive-to-put p50 ms at 2,000/s", latency.percentile(0.5) or 0.0, "ms"),
        Measurement("producer", "receive-to-put p99 ms at 2,000/s", latency.percentile(0.99) or 0.0, "ms"),
        Measurement("producer", "cores on this machine", float(os.cpu_count() or 0), ""),
    ]
