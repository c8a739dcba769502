"""Backfill throughput: ten years of daily bars for 50 symbols, from the stand-in's REST into a local
Firehose endpoint served by another process, at unlimited credits.

The history is GOOG's published daily bars (backtesting.py's data) under 50 names, each scaled by its
own factor, so every answer is a real series' shape. Measured: bars per second through the backfill
(plan, one batched call, the split into one envelope per symbol and hour, PutRecordBatch, the
checkpoints), against a baseline measured in the same run: the same envelopes, pre-built, sent with
bare PutRecordBatch calls of 500. `tiny`: three symbols, one year (the smoke test inside `make test`).
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING

from benchmarks.report import Measurement
from local_stack.firehose.standalone import STREAM, firehose_process
from local_stack.twelvedata.catalog import SeriesData
from local_stack.twelvedata.history import published_history, read_series
from local_stack.twelvedata.server import TwelveDataStandIn, running_in_thread
from ohlcv_core.backfill import requested_span
from ohlcv_core.config import DEFAULT_REGION
from ohlcv_core.errors import ConfigError, PipelineError
from ohlcv_core.recording import Header, Recording
from producers.aws import firehose_client
from producers.backfill import Backfill
from producers.checkpoints import FileCheckpoints
from producers.firehose_sink import FirehoseSink
from producers.rest import TwelveDataRest

if TYPE_CHECKING:
    from mypy_boto3_firehose.type_defs import RecordTypeDef

SYMBOLS = 50


def _series(symbols: int) -> list[SeriesData]:
    goog = next((read_series(f) for f in published_history() if f.meta["symbol"] == "GOOG"), None)
    if goog is None:
        raise ConfigError("the backfill benchmark needs backtesting.py's data (tools/test-data-requirements.txt)")
    out = []
    for number in range(symbols):
        factor = 1 + number / 100
        bars = {start: {k: (f"{float(v) * factor:.5f}" if k in ("open", "high", "low", "close") else v)
                        for k, v in values.items()} for start, values in goog.bars.items()}
        out.append(SeriesData({**goog.meta, "symbol": f"S{number:02d}"}, bars))
    return out


class _Capture(FirehoseSink):
    """The backfill's sink, keeping what it sends: the baseline resends exactly those records."""

    def __init__(self, endpoint: str) -> None:
        super().__init__(firehose_client(DEFAULT_REGION, endpoint), STREAM)
        self.records: list[bytes] = []

    def send(self, records: list[bytes]) -> None:
        super().send(records)
        self.records += records


def run(*, tiny: bool = False) -> list[Measurement]:
    series = _series(3 if tiny else SYMBOLS)
    start, end = ("2012-03-01", "2013-03-01") if tiny else ("2003-03-01", "2013-03-01")
    stand_in = TwelveDataStandIn(Recording(Header(("S00",)), ()), speed=0, history=series)
    with tempfile.TemporaryDirectory(prefix="ohlcv-bench-") as folder, firehose_process(Path(folder)) as endpoint, \
            running_in_thread(stand_in):
        sink = _Capture(endpoint)
        backfill = Backfill(TwelveDataRest(stand_in.rest_url, None), sink, FileCheckpoints(Path(folder, "checkpoints")))
        planned = backfill.plan([s.meta["symbol"] for s in series], "1day", requested_span(start, end, "1day"))
        started = time.perf_counter()
        report = backfill.run(planned)
        elapsed = time.perf_counter() - started
        if report.failed:
            raise PipelineError(f"the benchmark's backfill failed: {report.failed}")
        client = firehose_client(DEFAULT_REGION, endpoint)
        baseline_started = time.perf_counter()
        for first in range(0, len(sink.records), 500):
            batch: list[RecordTypeDef] = [{"Data": r} for r in sink.records[first:first + 500]]
            client.put_record_batch(DeliveryStreamName=STREAM, Records=batch)
        baseline = len(sink.records) / (time.perf_counter() - baseline_started)
    years = 1 if tiny else 10
    return [
        Measurement("backfill", f"bars/s, {years}y daily x {len(series)} ({report.bars:,})", report.bars / elapsed,
                    "bars/s", baseline),
        Measurement("backfill", "calls (credits)", float(report.calls), "calls"),
        Measurement("backfill", "records per bar", report.records / max(report.bars, 1), ""),
    ]
