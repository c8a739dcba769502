"""`ohlcv backfill` and `python -m producers backfill` (the producer's image, as a one-off or scheduled task).

Exit status: 0 when every symbol is loaded (or was already), 1 when some failed (listed; the others are
loaded), 2 for a usage or setting error (one line).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TextIO

import boto3

from ohlcv_core import config
from ohlcv_core.backfill import BACKFILL_INTERVALS, PlanError, Span, parse_symbols_file, requested_span
from ohlcv_core.errors import ConfigError
from ohlcv_core.limits import TWELVEDATA_MAX_OUTPUTSIZE
from producers.aws import api_key_or_secret, firehose_client
from producers.backfill import Backfill, BackfillReport, PartitionPacer, report_metrics
from producers.backoff import Backoff
from producers.checkpoints import CheckpointStore, FileCheckpoints, S3Checkpoints, split_s3_url
from producers.firehose_sink import FirehoseSink
from producers.rest import CreditLimiter, TwelveDataRest
from producers.settings import DEFAULT_CREDITS_PER_MINUTE, DEFAULT_REST_URL

DEFAULT_CHECKPOINTS = "backfill-checkpoints"
# Firehose keeps at most 500 partitions' buffers open; the live producer needs a few of them.
DEFAULT_MAX_PARTITIONS = 400
DEFAULT_BUFFER_INTERVAL_S = 60.0  # the stack's delivery stream buffers this long (cloudformation/template.yaml)
EXIT_SOME_FAILED = 1


@dataclass(frozen=True)
class BackfillSettings:
    symbols: tuple[str, ...]
    interval: str
    span: Span
    rest_url: str
    api_key: str | None
    api_key_secret_id: str | None
    stream_name: str
    firehose_endpoint: str | None
    region: str
    credits_per_minute: int  # 0: no budget (a plan with more credits than calls)
    checkpoints: str
    max_partitions: int
    buffer_interval_s: float
    metrics_namespace: str | None = None  # set (the stack's, on ECS): the run's outcome goes out as EMF

    def __repr__(self) -> str:  # the API key never reaches a log line
        return (f"BackfillSettings(symbols={self.symbols!r}, interval={self.interval!r}, span={self.span!r}, "
                f"stream_name={self.stream_name!r}, checkpoints={self.checkpoints!r}, api_key=***)")

    @classmethod
    def from_args(cls, args: argparse.Namespace, environ: Mapping[str, str],
                  today: date | None = None) -> BackfillSettings:
        """`today` (default: the UTC date now) anchors `today-N` bounds."""
        if args.symbols_file is not None:
            symbols = tuple(parse_symbols_file(args.symbols_file.read_text(encoding="utf-8")))
            if not symbols:
                raise ConfigError(f"{args.symbols_file} lists no symbols")
            symbols = config.symbols_setting(",".join(symbols), {})
        else:
            symbols = config.symbols_setting(args.symbols, environ)
        try:
            span = requested_span(args.start, args.end, args.interval, today or datetime.now(UTC).date())
        except PlanError as exc:
            raise ConfigError(str(exc)) from None
        if not 1 <= args.bars_per_call <= TWELVEDATA_MAX_OUTPUTSIZE:
            raise ConfigError(f"--bars-per-call must be 1 to {TWELVEDATA_MAX_OUTPUTSIZE}, got {args.bars_per_call}")
        max_partitions = int(args.max_partitions)
        if max_partitions < 0:
            raise ConfigError(f"--max-partitions must be 0 (no pacing) or more, got {max_partitions}")
        if args.buffer_interval is not None and not 0 <= args.buffer_interval <= 900:
            raise ConfigError(f"--buffer-interval must be 0 to 900 s (Firehose's range), got {args.buffer_interval}")
        return cls(
            symbols=symbols, interval=args.interval, span=span,
            rest_url=config.resolve(args.rest_url, environ, config.ENV_REST_URL, DEFAULT_REST_URL, str),
            api_key=config.resolve_optional(None, environ, config.ENV_API_KEY, str),
            api_key_secret_id=config.resolve_optional(args.api_key_secret_id, environ,
                                                      config.ENV_API_KEY_SECRET_ID, str),
            # a dry run sends nothing: it needs no stream
            stream_name=config.resolve(args.stream, environ, config.ENV_FIREHOSE_STREAM, "" if args.dry_run else None,
                                       str),
            firehose_endpoint=config.resolve_optional(args.firehose_endpoint, environ, config.ENV_FIREHOSE_ENDPOINT,
                                                      str),
            region=config.resolve_region(args.region, environ),
            credits_per_minute=int(config.resolve_number(args.credits_per_minute, environ,
                                                         config.ENV_CREDITS_PER_MINUTE, DEFAULT_CREDITS_PER_MINUTE,
                                                         minimum=0, parse=int)),
            checkpoints=config.resolve(args.checkpoints, environ, config.ENV_BACKFILL_CHECKPOINTS,
                                       DEFAULT_CHECKPOINTS, str),
            max_partitions=max_partitions,
            buffer_interval_s=DEFAULT_BUFFER_INTERVAL_S if args.buffer_interval is None else args.buffer_interval,
            metrics_namespace=config.resolve_optional(None, environ, config.ENV_METRICS_NAMESPACE, str))


def add_arguments(parser: argparse.ArgumentParser) -> None:
    which = parser.add_mutually_exclusive_group()
    which.add_argument("--symbols", help="comma list (env OHLCV_SYMBOLS)")
    which.add_argument("--symbols-file", type=Path, help="one symbol a line (# comments)")
    parser.add_argument("--interval", required=True, choices=BACKFILL_INTERVALS)
    parser.add_argument("--start", required=True, help="first day (YYYY-MM-DD), instant (YYYY-MM-DD HH:MM:SS), or "
                                                       "today-N (N UTC days before the run's, for a schedule)")
    parser.add_argument("--end", required=True, help="last day or instant, included; UTC for intraday "
                                                     "intervals, the exchange's days for 1day and longer")
    parser.add_argument("--dry-run", action="store_true", help="print the plan and its credits, fetch nothing")
    parser.add_argument("--force", action="store_true", help="fetch again what the checkpoints say is loaded")
    parser.add_argument("--quiet", action="store_true", help="no plan, no progress: failures and the summary only")
    parser.add_argument("--checkpoints", help="folder, or s3://bucket/prefix/ (env OHLCV_BACKFILL_CHECKPOINTS, "
                                              f"default ./{DEFAULT_CHECKPOINTS})")
    parser.add_argument("--credits-per-minute", type=int,
                        help=f"REST budget, 0 for none (env OHLCV_REST_CREDITS_PER_MINUTE, default "
                             f"{DEFAULT_CREDITS_PER_MINUTE})")
    parser.add_argument("--rest-url", help="REST base URL (env OHLCV_TWELVEDATA_REST_URL, default Twelve Data's)")
    parser.add_argument("--api-key-secret-id", help="Secrets Manager secret with the key (else TWELVEDATA_API_KEY)")
    parser.add_argument("--stream", help="Firehose delivery stream (env OHLCV_FIREHOSE_STREAM)")
    parser.add_argument("--firehose-endpoint", help="Firehose endpoint URL (env OHLCV_FIREHOSE_ENDPOINT)")
    parser.add_argument("--region", help="AWS region (env AWS_REGION)")
    parser.add_argument("--bars-per-call", type=int, default=TWELVEDATA_MAX_OUTPUTSIZE,
                        help=f"window length in bars, 1 to {TWELVEDATA_MAX_OUTPUTSIZE} (smaller: more calls, less "
                             "to fetch again after a failure)")
    parser.add_argument("--max-partitions", type=int, default=DEFAULT_MAX_PARTITIONS,
                        help="new raw-zone partitions per buffer interval, 0 for no pacing "
                             f"(Firehose's limit is 500; default {DEFAULT_MAX_PARTITIONS})")
    parser.add_argument("--buffer-interval", type=float,
                        help=f"the delivery stream's buffer interval, s (default {DEFAULT_BUFFER_INTERVAL_S:g})")


def checkpoint_store(location: str, region: str) -> CheckpointStore:
    if location.startswith("s3://"):
        bucket, prefix = split_s3_url(location)
        return S3Checkpoints(boto3.session.Session().client("s3", region_name=region), bucket, prefix)
    return FileCheckpoints(Path(location))


class ProgressLine:
    """Bars loaded, credits used and time left, rewritten in place on a terminal."""

    def __init__(self, total_calls: int, credits_per_minute: int, stream: TextIO = sys.stderr,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._total = max(total_calls, 1)
        self._per_minute = credits_per_minute
        self._stream = stream
        self._clock = clock
        self._started = clock()

    def __call__(self, report: BackfillReport, calls_left: int) -> None:
        done = self._total - calls_left
        if calls_left and self._per_minute:
            left_s = report.plan.credits * (calls_left / self._total) / self._per_minute * 60
        else:
            left_s = (self._clock() - self._started) / max(done, 1) * calls_left
        share = done / self._total
        self._stream.write(f"\r{report.plan.interval} {share:4.0%} [{'#' * int(share * 24):<24}] {report.bars:,} bars, "
                           f"{report.credits} credits, {left_s / 60:.1f} min left ")
        self._stream.flush()
        if not calls_left:
            self._stream.write("\n")


def run(args: argparse.Namespace, environ: Mapping[str, str] | None = None, out: TextIO = sys.stdout) -> int:
    env = os.environ if environ is None else environ
    settings = BackfillSettings.from_args(args, env)
    checkpoints = checkpoint_store(settings.checkpoints, settings.region)
    limiter = CreditLimiter(settings.credits_per_minute) if settings.credits_per_minute else None
    api_key = api_key_or_secret(settings.api_key, settings.api_key_secret_id, settings.region)
    rest = TwelveDataRest(settings.rest_url, api_key, limiter=limiter, max_rate_limited_retries=10)
    sink = FirehoseSink(firehose_client(settings.region, settings.firehose_endpoint), settings.stream_name,
                        backoff=Backoff(base_s=0.2, cap_s=10.0))
    pacer = PartitionPacer(settings.max_partitions, settings.buffer_interval_s) if settings.max_partitions else None
    backfill = Backfill(rest, sink, checkpoints, pacer=pacer)
    planned = backfill.plan(settings.symbols, settings.interval, settings.span, force=args.force,
                            bars_per_call=args.bars_per_call)
    if not args.quiet or args.dry_run:
        print("\n".join(planned.describe(settings.credits_per_minute or None)), file=out, flush=True)
    if args.dry_run:
        return 0
    show = not args.quiet and sys.stderr.isatty()
    report = backfill.run(planned, ProgressLine(len(planned.calls), settings.credits_per_minute) if show else None)
    print("\n".join(report.lines()), file=out if not report.failed else sys.stderr, flush=True)
    if settings.metrics_namespace:  # deployed: the task's log becomes metrics
        print(report_metrics(report, settings.metrics_namespace, int(time.time() * 1000)), file=out, flush=True)
    return EXIT_SOME_FAILED if report.failed else 0
