"""The raw days the compaction benchmark compacts: price events of NASDAQ symbols in the raw zone's layout,
each day from its seeds, so that a day's bars are known before any engine runs (benchmarks/golden.py)."""

from __future__ import annotations

import random
import time
from pathlib import Path

import orjson

from ohlcv_core.envelope import encode_envelope
from ohlcv_core.normalize import Accepted, normalize
from ohlcv_core.window import TimeWindow

DAY0 = 1692835200  # 2023-08-24 00:00 UTC
TRADING_HOURS = range(13, 21)
# (symbols, seconds between one symbol's quotes) over TRADING_HOURS: 720,000 and 5,760,000 events. The
# quiet day's symbols quote as often as the demo recording's (about every 2 s), the busy day's twice as often.
QUIET, BUSY = (50, 2), (200, 1)
WIDE = TimeWindow(max_future_s=10**10, max_price_age_s=10**10)
# The days benchmarks/golden.json holds the bars of: (symbols, seconds between quotes, hours), each seeded.
DAYS = {"quiet": (*QUIET, TRADING_HOURS), "busy": (*BUSY, TRADING_HOURS),
        "tiny-quiet": (2, 60, range(13, 14)), "tiny-busy": (4, 30, range(13, 14))}
QUIET_SEED = 7


def write_hour(raw: Path, symbols: int, every_s: int, hour: int) -> int:
    """One hour of day 0, seeded by the hour: the busy day's unit of work in a worker process."""
    return write_day(raw, 0, symbols=symbols, every_s=every_s, rng=random.Random(1000 + hour),
                     hours=range(hour, hour + 1))


def write_named_day(name: str, raw: Path) -> int:
    """One of DAYS into `raw`: a quiet day from one seed, a busy one an hour a seed (as `run` writes them)."""
    symbols, every_s, hours = DAYS[name]
    if "busy" in name:
        return sum(write_hour(raw, symbols, every_s, hour) for hour in hours)
    return write_day(raw, 0, symbols=symbols, every_s=every_s, rng=random.Random(QUIET_SEED), hours=hours)


def write_day(raw: Path, day: int, *, symbols: int, every_s: int, rng: random.Random,
              hours: range = range(24), objects_per_hour: int = 4) -> int:
    """A day of price events in the raw zone's layout: a few objects an hour, as the stack's Firehose
    (64 MiB or 60 s buffers per partition) writes them, every symbol in each."""
    rows = 0
    for hour in hours:
        start = DAY0 + day * 86_400 + hour * 3600
        folder = raw / f"dt={time.strftime('%Y-%m-%d', time.gmtime(start))}" / f"hour={hour:02d}"
        folder.mkdir(parents=True, exist_ok=True)
        objects: list[list[bytes]] = [[] for _ in range(objects_per_hour)]
        for s in range(symbols):
            volume, price = 1_000_000 + hour * 50_000, 100.0 + s
            for second in range(0, 3600, every_s):
                price = round(price * (1 + rng.gauss(0, 0.0005)), 4)
                volume += rng.randint(1, 500)
                frame = orjson.dumps({"event": "price", "symbol": f"S{s:03d}", "exchange": "NASDAQ",
                                      "mic_code": "XNGS", "timestamp": start + second, "price": price,
                                      "day_volume": volume}).decode()
                outcome = normalize(encode_envelope(frame, (start + second) * 1000 + 120, "twelvedata.ws"),
                                    (start + second) * 1000 + 400, WIDE)
                assert isinstance(outcome, Accepted)
                objects[second * objects_per_hour // 3600].append(outcome.to_json_lines())
                rows += 1
        for index, lines in enumerate(objects):
            (folder / f"part-{index}.json").write_bytes(b"".join(lines))
    return rows


def date_of(day: int) -> str:
    return time.strftime("%Y-%m-%d", time.gmtime(DAY0 + day * 86_400))
