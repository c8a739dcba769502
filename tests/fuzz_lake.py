"""Generated raw zones for fuzzing the Glue jobs: seeded, so a failing seed is a reproducible case.

Each case is a few instruments of unusual shape (no exchange, an unknown or oddly written one, a symbol
with dots, slashes or letters beyond ASCII, REST meta in zones with odd offsets or none), on dates that
are hard for calendars (a DST switch, a leap day, a year's end, a weekend), with series that are hard
for arithmetic (a single tick or bar, prices from 1e-8 to 1e11, volumes of zero, a day volume that
resets, counts near 2**53, bars of every interval the transform accepts). Every record goes through the
transform's own `normalize`, as Firehose would send it; what it accepts is filed as Firehose files it.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson

from ohlcv_core.calendars import market_of
from ohlcv_core.envelope import encode_envelope
from ohlcv_core.errors import RecordRejected
from ohlcv_core.normalize import Accepted, normalize
from ohlcv_core.timeseries import zone_of

SYMBOLS = ("ACME", "BRK.B", "XAU/USD", "ÄKTIE", "X", "EUR/USD", "AAPL", "A-VERY.LONG_SYMBOL-NAME", "BTC/USD",
           "SPX", "7203")
EXCHANGES = (None, "", "NASDAQ", "NYSE", "Forex", "Coinbase Pro", "XETR", "Mars Exchange", "nasdaq", "Börse Stuttgart")
ZONES = (None, "UTC", "America/New_York", "Asia/Kolkata", "Pacific/Chatham", "America/St_Johns",
         "Australia/Lord_Howe", "Etc/GMT+12", "Asia/Kathmandu", "Europe/Berlin")
DAYS = (date(2023, 3, 12), date(2023, 11, 5), date(2024, 2, 29), date(2023, 12, 31), date(2023, 8, 26),
        date(2023, 8, 24), date(2024, 3, 31))
SCALES = (1e-8, 1e-3, 1.0, 178.2, 26431.5, 1e6, 1e11)
VOLUMES = ("none", "normal", "zero", "resets", "huge")
SHAPES = ("single_tick", "ticks", "rest_minutes", "single_rest_minute", "daily", "other_intervals", "mixed")
INTERVAL_SECONDS = {"5min": 300, "15min": 900, "30min": 1800, "45min": 2700, "1h": 3600, "2h": 7200, "4h": 14_400,
                    "5h": 18_000, "8h": 28_800}


@dataclass(frozen=True)
class Profile:
    symbol: str
    exchange: str | None
    zone: str | None
    scale: float
    volume: str
    shape: str


@dataclass
class FuzzCase:
    seed: int
    dates: list[str]  # the dates a run is asked for: one of them has no data at all
    profiles: list[Profile]
    accepted: list[Accepted] = field(default_factory=list)
    rejected: dict[str, int] = field(default_factory=dict)  # reason code -> records the transform refused

    def price_minutes(self) -> set[tuple[str, int]]:
        """(symbol, minute start in ms) of every accepted price event of the run's dates."""
        return {(r["symbol"], r["event_time_ms"] // 60_000 * 60_000) for a in self.accepted for r in a.records
                if a.partition["kind"] == "price" and a.partition["dt"] in self.dates}

    def rest_bars(self, interval: str) -> set[tuple[str, int]]:
        """(symbol, start in ms) of every accepted REST bar of `interval` on the run's dates (a daily bar's
        date is its trading day, as sent)."""
        found = set()
        for accepted in self.accepted:
            for record in accepted.records:
                bar: dict[str, Any] = dict(record)
                if accepted.partition["kind"] != "bar" or bar["interval"] != interval:
                    continue
                day = str(bar["bar_datetime"])[:10] if interval == "1day" else accepted.partition["dt"]
                if day in self.dates:
                    found.add((str(bar["symbol"]), int(bar["event_time_ms"])))
        return found


def _price(rng: random.Random, scale: float) -> float:
    return max(scale * (1 + rng.gauss(0, 0.01)), scale / 2)


def _ticks(rng: random.Random, p: Profile, day: date, count: int) -> Iterator[dict[str, Any]]:
    start = int(datetime(day.year, day.month, day.day, tzinfo=UTC).timestamp())
    # near both ends of the UTC day, and anywhere between
    edges = (0, 1, 59, 60, 86_340, 86_399)
    seconds = sorted({rng.choice(edges) if rng.random() < 0.3 else rng.randrange(86_400) for _ in range(count)})
    volume = {"normal": 1_000_000, "zero": 0, "resets": 5_000_000, "huge": 2**53 - 10_000}.get(p.volume)
    for n, second in enumerate(seconds):
        frame: dict[str, Any] = {"event": "price", "symbol": p.symbol, "timestamp": start + second,
                                 "price": _price(rng, p.scale)}
        if p.exchange is not None:
            frame["exchange"] = p.exchange
        if volume is not None:
            if p.volume == "resets" and n == len(seconds) // 2:
                volume = 10  # the venue's day counter started again mid-series
            elif p.volume not in ("zero",):
                volume += rng.randint(0, 5000)
            frame["day_volume"] = volume
        yield frame


def _rest_body(rng: random.Random, p: Profile, interval: str, starts: list[datetime]) -> bytes:
    zone = zone_of(p.zone)
    daily = interval in ("1day", "1week", "1month")
    meta: dict[str, Any] = {"symbol": p.symbol, "interval": interval, "type": "Common Stock"}
    if p.zone is not None:
        meta["exchange_timezone"] = p.zone
    if p.exchange is not None:
        meta["exchange"] = p.exchange
    values = []
    for start in sorted(starts, reverse=True):
        o, c = _price(rng, p.scale), _price(rng, p.scale)
        h, low = max(o, c) * (1 + rng.random() / 100), min(o, c) * (1 - rng.random() / 100)
        local = start.astimezone(zone)
        value: dict[str, Any] = {"datetime": local.strftime("%Y-%m-%d" if daily else "%Y-%m-%d %H:%M:%S"),
                                 "open": repr(o), "high": repr(h), "low": repr(low), "close": repr(c)}
        if p.volume != "none":
            value["volume"] = {"zero": "0", "huge": str(2**53 - 1)}.get(p.volume, str(rng.randint(1, 10**7)))
        values.append(value)
    return orjson.dumps({"meta": meta, "values": values, "status": "ok"})


def _rest(rng: random.Random, p: Profile, day: date, shape: str,
          streamed: list[datetime]) -> Iterator[tuple[str, bytes, datetime]]:
    """(interval, body, the latest bar's start): one response per UTC hour, as the producer sends them. A
    mixed instrument's REST minutes are some of the minutes it streamed ticks in, and one it did not."""
    zone = zone_of(p.zone)
    midnight = datetime(day.year, day.month, day.day, tzinfo=zone)
    if shape == "mixed":
        quiet = datetime(day.year, day.month, day.day, 12, 30, tzinfo=UTC)
        starts = sorted({*rng.sample(streamed, max(1, len(streamed) // 2)), quiet} - ({quiet} & set(streamed)))
        for hour in sorted({s.replace(minute=0) for s in starts}):
            of_hour = [s for s in starts if s.replace(minute=0) == hour]
            yield "1min", _rest_body(rng, p, "1min", of_hour), of_hour[-1]
    elif shape in ("rest_minutes", "single_rest_minute"):
        hour = datetime(day.year, day.month, day.day, rng.choice((0, 13, 23)), tzinfo=UTC)
        count = 1 if shape == "single_rest_minute" else rng.randint(2, 12)
        starts = [hour + timedelta(minutes=m) for m in sorted(rng.sample(range(60), count))]
        yield "1min", _rest_body(rng, p, "1min", starts), starts[-1]
    if shape in ("daily", "mixed"):
        for back in range(rng.randint(1, 3)):
            start = (midnight - timedelta(days=back)).astimezone(UTC)
            yield "1day", _rest_body(rng, p, "1day", [start]), start
    if shape == "other_intervals":
        for interval in rng.sample(sorted(INTERVAL_SECONDS), 3):
            start = datetime(day.year, day.month, day.day, 12, tzinfo=UTC)
            yield interval, _rest_body(rng, p, interval, [start]), start
        for interval in ("1week", "1month"):
            yield interval, _rest_body(rng, p, interval, [midnight.astimezone(UTC)]), midnight.astimezone(UTC)


def _unique(rng: random.Random, choices: tuple[Any, ...], used: set[Any]) -> Any:
    left = [c for c in choices if c not in used]
    chosen = rng.choice(left)
    used.add(chosen)
    return chosen


def fuzz_case(seed: int, instruments: int = len(SHAPES)) -> FuzzCase:
    """A case: every instrument's records through the transform (what it refuses is counted, not kept)."""
    rng = random.Random(seed)
    day = rng.choice(DAYS)
    # the two days after have no data (the daily bars go back from the day): empty days among the dates
    dates = [(day + timedelta(days=d)).isoformat() for d in (0, 1, 2)]
    used: set[str] = set()
    # Even seeds: only instruments whose market no calendar knows (no known venue, no '/'), so that a job
    # meets a run with no market at all
    unknown = seed % 2 == 0
    symbols = tuple(s for s in SYMBOLS if "/" not in s) if unknown else SYMBOLS
    exchanges = tuple(e for e in EXCHANGES if market_of("X", e) is None) if unknown else EXCHANGES
    profiles = [Profile(_unique(rng, symbols, used), rng.choice(exchanges), rng.choice(ZONES), rng.choice(SCALES),
                        rng.choice(VOLUMES), shape)
                for shape in [*SHAPES[:instruments], *rng.choices(SHAPES, k=max(0, instruments - len(SHAPES)))]]
    case = FuzzCase(seed, dates, profiles)
    for p in profiles:
        streamed = []
        if p.shape in ("single_tick", "ticks", "mixed"):
            for frame in _ticks(rng, p, day, 1 if p.shape == "single_tick" else rng.randint(2, 40)):
                received = frame["timestamp"] * 1000 + 80
                _decide(case, encode_envelope(orjson.dumps(frame), received, "twelvedata.ws"), received + 400)
                streamed.append(datetime.fromtimestamp(frame["timestamp"] // 60 * 60, tz=UTC))
        for interval, body, last in _rest(rng, p, day, p.shape, sorted(set(streamed))):
            received = int(last.timestamp() * 1000) + 86_400_000 * 40  # asked for long after (a backfill)
            request = {"symbol": p.symbol, "interval": interval}
            _decide(case, encode_envelope(body, received, "twelvedata.rest.time_series", request), received + 400)
    return case


def _decide(case: FuzzCase, record: bytes, arrival_ms: int) -> None:
    try:
        outcome = normalize(record, arrival_ms)
    except RecordRejected as rejected:
        case.rejected[rejected.code] = case.rejected.get(rejected.code, 0) + 1
        return
    if isinstance(outcome, Accepted):
        case.accepted.append(outcome)


def write_raw(case: FuzzCase, raw: Path) -> None:
    """The accepted records filed as Firehose's dynamic partitioning files them: raw/kind=/dt=/hour=/."""
    for n, accepted in enumerate(case.accepted):
        keys = accepted.partition
        folder = raw / f"kind={keys['kind']}" / f"dt={keys['dt']}" / f"hour={keys['hour']}"
        folder.mkdir(parents=True, exist_ok=True)
        (folder / f"fuzz-{case.seed}-{n:05d}").write_bytes(accepted.to_json_lines())
