"""Transform throughput on a 3 MiB Firehose event of realistic price events, against a pass-through
handler (decode and re-encode only) timed in the same run; peak memory on a 6 MB event. `tiny`: the
same measurements on events of a few KiB, twice (the smoke test inside `make test`).

Realistic: the frames are the bundled demo recording's (equities with day_volume, forex, crypto,
bid/ask), in envelopes as the producer makes them.
"""

from __future__ import annotations

import base64
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import Any

import orjson

from benchmarks.report import Measurement
from firehose_transform.transform import transform_records
from local_stack.feeds import DEMO_FEED
from ohlcv_core.envelope import encode_envelope
from ohlcv_core.errors import RecordRejected
from ohlcv_core.recording import read_recording
from ohlcv_core.twelvedata import PriceEvent, parse_frame
from ohlcv_core.window import TimeWindow

REPLAY_WINDOW = TimeWindow(max_price_age_s=10**10)
ROUNDS = 15


def _valid_price(frame: str) -> bool:
    """The recording's price frames, without the two it carries broken on purpose."""
    try:
        return isinstance(parse_frame(frame), PriceEvent)
    except RecordRejected:
        return False


def firehose_records(target_bytes: int) -> list[dict[str, Any]]:
    frames = [f for f in read_recording(DEMO_FEED).inbound_frames() if _valid_price(f.frame)]
    records: list[dict[str, Any]] = []
    size = 0
    index = 0
    while size < target_bytes:
        frame = frames[index % len(frames)]
        arrival = frame.recv_us // 1000 + 250
        data = base64.b64encode(encode_envelope(frame.frame, frame.recv_us // 1000, "twelvedata.ws")).decode()
        record = {"recordId": f"{index:08d}49546986683135544286507457936321625675700192471156785154",
                  "approximateArrivalTimestamp": arrival, "data": data}
        records.append(record)
        size += len(data) + 150
        index += 1
    return records


def pass_through(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The least a JSON-transforming Lambda does: decode each record (the envelope's header line and the
    frame) and encode it again, newline-terminated."""
    out = []
    for record in records:
        head, _, frame = base64.b64decode(record["data"]).partition(b"\n")
        data = orjson.dumps(orjson.loads(head)) + b"\n" + orjson.dumps(orjson.loads(frame)) + b"\n"
        out.append({"recordId": record["recordId"], "result": "Ok", "data": base64.b64encode(data).decode("ascii")})
    return {"records": out}


def full(records: list[dict[str, Any]]) -> Any:
    return transform_records(records, REPLAY_WINDOW)


def _rates(functions: list[Callable[[list[dict[str, Any]]], Any]], records: list[dict[str, Any]], rounds: int
           ) -> list[tuple[float, float]]:
    """(best, median) records/s per function; rounds interleave the functions so that each sees the
    same machine (another process, a frequency change) as the others."""
    times: list[list[float]] = [[] for _ in functions]
    for _ in range(rounds):
        for index, function in enumerate(functions):
            gc.collect()
            started = time.perf_counter()
            function(records)
            times[index].append(time.perf_counter() - started)
    return [(len(records) / min(t), len(records) / statistics.median(t)) for t in times]


def _peak_mb(function: Callable[[list[dict[str, Any]]], Any], records: list[dict[str, Any]]) -> float:
    gc.collect()
    tracemalloc.start()
    function(records)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return peak / 1024 / 1024


def run(*, tiny: bool = False) -> list[Measurement]:
    event = firehose_records(32 * 1024 if tiny else 3 * 1024 * 1024)
    full(event)  # warm caches (zoneinfo, partition hours) as a warm Lambda would have them
    (base_best, base_median), (full_best, full_median) = _rates([pass_through, full], event, 2 if tiny else ROUNDS)
    big = firehose_records(64 * 1024 if tiny else 6 * 1024 * 1024 - 200 * 1024)
    input_mb = len(orjson.dumps({"records": big})) / 1024 / 1024
    peak = _peak_mb(full, big)
    ratio = full_best / base_best
    return [
        Measurement("transform", f"records/s, {len(event):,}-record event (best)", full_best, "records/s", base_best,
                    "≥ 0.33 of pass-through (aim 0.5)", ratio >= 1 / 3),
        Measurement("transform", "records/s, same event (median)", full_median, "records/s", base_median),
        Measurement("transform", f"peak MiB, {input_mb:.1f} MiB event", peak, "MiB",
                    _peak_mb(pass_through, big)),
    ]
