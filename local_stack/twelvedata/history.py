"""Long REST history for the stand-in, from data files: CSV bars beside a JSON `meta`, as Twelve Data's.

A data file is `<name>.csv` (a header naming datetime, open, high, low, close and, optionally, volume;
backtesting.py's `,Open,High,Low,Close,Volume` layout reads as is) with `<name>.meta.json` beside it: the
`meta` object Twelve Data returns for the series (symbol, interval, exchange_timezone, exchange, ...).
Values are served as Twelve Data writes them: strings, prices with five decimals, no volume for forex.

`published_history()` finds real published history that an installable package carries:
backtesting.py's test data (https://github.com/kernc/backtesting.py, backtesting/test/): NASDAQ:GOOG
daily bars 2004-08-19..2013-03-01, EUR/USD hourly bars 2017-04-19..2018-02-07 and BTC/USD monthly bars
2012..2024. The package is found, not imported (importing it needs pandas and bokeh).
"""

from __future__ import annotations

import csv
import importlib.util
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from local_stack.twelvedata.catalog import SeriesData
from ohlcv_core.errors import RecordingError, RecordRejected
from ohlcv_core.timeseries import parse_bar_datetime, zone_of

PRICE_FIELDS = ("open", "high", "low", "close")
NO_VOLUME_TYPES = frozenset({"Physical Currency"})  # Twelve Data sends forex bars without volume

PUBLISHED: Mapping[str, dict[str, Any]] = {
    "GOOG.csv": {"symbol": "GOOG", "interval": "1day", "currency": "USD", "exchange_timezone": "America/New_York",
                 "exchange": "NASDAQ", "mic_code": "XNGS", "type": "Common Stock"},
    "EURUSD.csv": {"symbol": "EUR/USD", "interval": "1h", "currency_base": "Euro", "currency_quote": "US Dollar",
                   "exchange_timezone": "UTC", "exchange": "Forex", "mic_code": "", "type": "Physical Currency"},
    "BTCUSD.csv": {"symbol": "BTC/USD", "interval": "1month", "currency_base": "Bitcoin",
                   "currency_quote": "US Dollar", "exchange_timezone": "UTC", "exchange": "Coinbase Pro",
                   "mic_code": "", "type": "Digital Currency"},
}


@dataclass(frozen=True)
class HistoryFile:
    path: Path
    meta: dict[str, Any]


def _price(text: str) -> str:
    return f"{float(text):.5f}"


def _volume(text: str) -> str:
    value = float(text)
    return str(int(value)) if value == int(value) else f"{value:.8f}".rstrip("0")


def read_series(source: HistoryFile) -> SeriesData:
    """The file's bars keyed by their UTC open, valued as Twelve Data would send them."""
    meta = dict(source.meta)
    if not meta.get("symbol") or not meta.get("interval"):
        raise RecordingError(f"{source.path}: its meta needs a symbol and an interval")
    zone = zone_of(meta.get("exchange_timezone"))
    keep_volume = meta.get("type") not in NO_VOLUME_TYPES
    series = SeriesData(meta=meta)
    text = source.path.read_text(encoding="utf-8")
    reader = csv.reader(io.StringIO(text))
    header = [name.strip().lower() or "datetime" for name in next(reader, [])]
    missing = {"datetime", *PRICE_FIELDS} - set(header)
    if missing:
        raise RecordingError(f"{source.path}: no column for {', '.join(sorted(missing))}")
    for number, row in enumerate(reader, start=2):
        if not row:
            continue
        cells = dict(zip(header, row, strict=False))
        try:
            values = {"datetime": cells["datetime"].strip(), **{k: _price(cells[k]) for k in PRICE_FIELDS}}
            if keep_volume and cells.get("volume", "").strip():
                values["volume"] = _volume(cells["volume"])
            series.bars[parse_bar_datetime(values["datetime"], zone)] = values
        except (ValueError, RecordRejected) as exc:
            raise RecordingError(f"{source.path} line {number}: {exc}") from None
    return series


def history_file(csv_path: Path) -> HistoryFile:
    """A data file and its `.meta.json` sidecar."""
    meta_path = csv_path.with_suffix(".meta.json")
    try:
        meta = orjson.loads(meta_path.read_bytes())
    except FileNotFoundError:
        raise RecordingError(f"{csv_path}: no {meta_path.name} beside it (the series' meta)") from None
    except orjson.JSONDecodeError as exc:
        raise RecordingError(f"{meta_path}: not JSON: {exc}") from None
    return HistoryFile(csv_path, meta)


def published_history() -> Iterator[HistoryFile]:
    """backtesting.py's published bars, when the package is installed (a test dependency)."""
    spec = importlib.util.find_spec("backtesting")
    if spec is None or not spec.submodule_search_locations:
        return
    folder = Path(next(iter(spec.submodule_search_locations))) / "test"
    for name, meta in PUBLISHED.items():
        if (folder / name).is_file():
            yield HistoryFile(folder / name, dict(meta))
