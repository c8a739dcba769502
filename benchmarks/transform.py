"""Transform throughput on a 3 MiB Firehose event of realistic price events, against a pass-through
handler (decode and re-encode only) timed in the same run; peak memory on a 6 MB event. `tiny`: the
same measurements on events of a few KiB, twice (the smoke test inside `make test`).

Realistic: the frames are the bundled demo recording's (equities with day_volume, forex, crypto,
bid/ask), in records as the producer makes them: packs of one hour's quotes (the default), and one
quote per record (`--pack-kb 0`, and every record before packing). Rates are in quotes/s.
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
from feeds import DEMO_FEED
from firehose_transform.transform import transform_records
from ohlcv_core.envelope import decode_envelopes
from ohlcv_core.errors import RecordRejected
from ohlcv_core.recording import read_recording
from ohlcv_core.twelvedata import PriceEvent, parse_frame
from ohlcv_core.window import TimeWindow
from producers.batching import Packer
from producers.service import envelopes_of
from producers.settings import DEFAULT_PACK_KB
from producers.twelvedata_ws import ReceivedFrame

REPLAY_WINDOW = TimeWindow(max_price_age_s=10**10)
ROUNDS = 15


def _valid_price(frame: str) -> bool:
    """The recording's price frames, without the two it carries broken on purpose."""
    try:
        return isinstance(parse_frame(frame), PriceEvent)
    except RecordRejected:
        return False


def firehose_records(target_bytes: int, pack_bytes: int = 0) -> list[dict[str, Any]]:
    frames = [f for f in read_recording(DEMO_FEED).inbound_frames() if _valid_price(f.frame)]
    packer = Packer(pack_bytes) if pack_bytes else None
    records: list[dict[str, Any]] = []
    size = 0
    index = 0

    def add(data: bytes, arrival: int) -> None:
        nonlocal size
        encoded = base64.b64encode(data).decode()
        records.append({"recordId": f"{len(records):08d}49546986683135544286507457936321625675700192471156785154",
                        "approximateArrivalTimestamp": arrival, "data": encoded})
        size += len(encoded) + 150

    while size < target_bytes:
        frame = frames[index % len(frames)]
        index += 1
        arrival = frame.recv_us // 1000 + 250
        received = ReceivedFrame(frame.recv_us // 1000, frame.frame)
        for envelope, hour, _ in envelopes_of(received, "twelvedata.ws", pack=packer is not None):
            if packer is None:
                add(envelope, arrival)
            elif (ready := packer.add(envelope, hour, arrival)) is not None:
                add(ready[0], max(ready[1]))
    for data, arrivals in packer.take() if packer is not None else []:
        add(data, max(arrivals))
    return records


def quotes_in(records: list[dict[str, Any]]) -> int:
    return sum(len(decode_envelopes(base64.b64decode(r["data"]))) for r in records)


def pass_through(records: list[dict[str, Any]]) -> dict[str, Any]:
    """The least a JSON-transforming Lambda does: decode each record, and each envelope in it (the
    header line and the frame), and encode them again, newline-terminated."""
    out = []
    for record in records:
        data = base64.b64decode(record["data"])
        lines = []
        start = 0
        while start < len(data):
            newline = data.index(b"\n", start)
            head = orjson.loads(data[start:newline])
            end = newline + 1 + head.get("size", len(data))
            lines += [orjson.dumps(head), orjson.dumps(orjson.loads(data[newline + 1:end]))]
            start = end
        out.append({"recordId": record["recordId"], "result": "Ok",
                    "data": base64.b64encode(b"\n".join(lines) + b"\n").decode("ascii")})
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


def _compare(event: list[dict[str, Any]], rounds: int) -> tuple[float, float, float, float]:
    """(full best, pass-through best, full median, pass-through median) in quotes/s."""
    full(event)  # warm caches (zoneinfo, partition hours) as a warm Lambda would have them
    quotes = quotes_in(event)
    (base_best, base_median), (full_best, full_median) = _rates([pass_through, full], event, rounds)
    per_quote = quotes / len(event)
    return full_best * per_quote, base_best * per_quote, full_median * per_quote, base_median * per_quote


def run(*, tiny: bool = False) -> list[Measurement]:
    size = 32 * 1024 if tiny else 3 * 1024 * 1024
    rounds = 2 if tiny else ROUNDS
    packed = firehose_records(size, DEFAULT_PACK_KB * 1024)
    full_best, base_best, full_median, base_median = _compare(packed, rounds)
    one_best, one_base, _, _ = _compare(firehose_records(size), rounds)
    big = firehose_records(64 * 1024 if tiny else 6 * 1024 * 1024 - 200 * 1024, DEFAULT_PACK_KB * 1024)
    input_mb = len(orjson.dumps({"records": big})) / 1024 / 1024
    peak = _peak_mb(full, big)
    ratio = full_best / base_best
    return [
        Measurement("transform", f"quotes/s, {len(packed):,} packs, 3 MiB (best)", full_best, "quotes/s", base_best,
                    "≥ 0.5 of pass-through", ratio >= 0.5),
        Measurement("transform", "quotes/s, same event (median)", full_median, "quotes/s", base_median),
        Measurement("transform", "quotes/s, one quote per record (best)", one_best, "quotes/s", one_base),
        Measurement("transform", f"peak MiB, {input_mb:.1f} MiB event of packs", peak, "MiB",
                    _peak_mb(pass_through, big)),
    ]
