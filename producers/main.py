"""Container entry point: `python -m producers` (the same code `ohlcv produce` runs)."""

from __future__ import annotations

import argparse
import asyncio
import logging
from typing import TYPE_CHECKING

from ohlcv_core.recording import Recording
from producers.aws import firehose_client
from producers.firehose_sink import FirehoseSink
from producers.progress import Progress
from producers.replay import replay_items, replayable
from producers.service import ProducerStats, run_producer
from producers.settings import ProducerSettings
from producers.twelvedata_ws import stream_frames

if TYPE_CHECKING:
    from mypy_boto3_firehose import FirehoseClient


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


async def produce(settings: ProducerSettings, client: FirehoseClient) -> tuple[ProducerStats, FirehoseSink]:
    sink = FirehoseSink(client, settings.stream_name)
    frames = stream_frames(settings.ws_url, settings.symbols, api_key=settings.api_key,
                           exit_on_close=settings.exit_on_close)
    stats = await run_producer(frames, sink)
    return stats, sink


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ws-url", help="Twelve Data WebSocket URL (env OHLCV_TWELVEDATA_WS_URL)")
    parser.add_argument("--symbols", help="comma list, SYM or SYM:EXCHANGE (env OHLCV_SYMBOLS)")
    parser.add_argument("--stream", help="Firehose delivery stream name (env OHLCV_FIREHOSE_STREAM)")
    parser.add_argument("--firehose-endpoint", help="Firehose endpoint URL, e.g. the local stack's "
                                                    "(env OHLCV_FIREHOSE_ENDPOINT)")
    parser.add_argument("--region", help="AWS region (env AWS_REGION)")
    parser.add_argument("--exit-on-close", action="store_true",
                        help="stop when the server closes the stream normally (a finite replay) "
                             "instead of reconnecting")


def settings_from(args: argparse.Namespace) -> ProducerSettings:
    return ProducerSettings.resolve(
        ws_url=args.ws_url, symbols=tuple(args.symbols.split(",")) if args.symbols else None,
        stream_name=args.stream, firehose_endpoint=args.firehose_endpoint, region=args.region,
        exit_on_close=args.exit_on_close)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="producers", description=__doc__)
    add_arguments(parser)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = settings_from(args)
    stats, sink = asyncio.run(produce(settings, firehose_client(settings.region, settings.firehose_endpoint)))
    logging.getLogger("producers").info("stream ended: %s %s", stats, sink.stats)
    return 0
