"""REST `time_series` answered from a recording, in Twelve Data's shapes (JSON or CSV; batch symbols)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import orjson

from local_stack.twelvedata.catalog import Catalog
from ohlcv_core.errors import RecordRejected
from ohlcv_core.limits import TWELVEDATA_MAX_BATCH_SYMBOLS
from ohlcv_core.timeseries import format_bar_datetime, parse_bar_datetime, zone_of

MAX_OUTPUTSIZE = 5000
DEFAULT_OUTPUTSIZE = 30
MAX_BATCH_SYMBOLS = TWELVEDATA_MAX_BATCH_SYMBOLS
VALUE_FIELDS = ("open", "high", "low", "close", "volume")
INTERVAL_LENGTH = {"1min": timedelta(minutes=1), "5min": timedelta(minutes=5), "15min": timedelta(minutes=15),
                   "30min": timedelta(minutes=30), "45min": timedelta(minutes=45), "1h": timedelta(hours=1),
                   "2h": timedelta(hours=2), "4h": timedelta(hours=4), "1day": timedelta(days=1)}


def error_body(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "status": "error"}


def _one_series(catalog: Catalog, symbol: str, params: dict[str, str], until: datetime | None) -> dict[str, Any]:
    interval = params.get("interval", "")
    data = catalog.series.get((symbol, interval))
    if data is None:
        return error_body(400, f"**symbol** not found: {symbol}. Please specify it correctly according to "
                               "API Documentation.")
    requested_zone = params.get("timezone", "Exchange")
    zone = zone_of(data.meta.get("exchange_timezone") if requested_zone.lower() == "exchange" else requested_zone)
    try:
        start = parse_bar_datetime(params["start_date"], zone) if params.get("start_date") else None
        end = parse_bar_datetime(params["end_date"], zone) if params.get("end_date") else None
        outputsize = int(params.get("outputsize", DEFAULT_OUTPUTSIZE))
    except (RecordRejected, ValueError) as exc:
        return error_body(400, f"invalid parameters: {exc}")
    if not 1 <= outputsize <= MAX_OUTPUTSIZE:
        return error_body(400, f"**outputsize** must be between 1 and {MAX_OUTPUTSIZE}")
    length = INTERVAL_LENGTH.get(interval, timedelta(0))
    starts: list[datetime] = sorted(t for t in data.bars
                                    if (start is None or t >= start) and (end is None or t <= end)
                                    and (until is None or t + length <= until))
    if not starts:
        return error_body(400, "No data is available on the specified dates. Try setting different start/end dates.")
    chosen = starts[-outputsize:]
    if params.get("order", "desc").lower() != "asc":
        chosen.reverse()
    daily = interval in ("1day", "1week", "1month")
    values = [{"datetime": format_bar_datetime(t, zone, daily=daily),
               **{k: v for k, v in data.bars[t].items() if k != "datetime"}} for t in chosen]
    meta = dict(data.meta)
    if requested_zone.lower() != "exchange":
        meta["exchange_timezone"] = requested_zone
    return {"meta": meta, "values": values, "status": "ok"}


def _csv(response: dict[str, Any]) -> bytes:
    values = response.get("values") or []
    columns = ["datetime", *[f for f in VALUE_FIELDS if values and f in values[0]]]
    lines = [";".join(columns)] + [";".join(str(v.get(c, "")) for c in columns) for v in values]
    return ("\n".join(lines) + "\n").encode()


def answer_time_series(catalog: Catalog, params: dict[str, str], until: datetime | None = None
                       ) -> tuple[int, str, bytes]:
    """(HTTP status, content type, body). Twelve Data answers errors with HTTP 200 and a code in the body
    as often as with the status itself; the stand-in sends the code as the status too, so clients must
    check both. With `until` (a live feed's now), only bars that have ended by then are known."""
    symbols = [s.strip().upper() for s in params.get("symbol", "").split(",") if s.strip()]
    if not symbols or not params.get("interval"):
        body = error_body(400, "**symbol** and **interval** parameters are required.")
        return 400, "application/json", orjson.dumps(body)
    if len(symbols) > MAX_BATCH_SYMBOLS:
        return 400, "application/json", orjson.dumps(error_body(400, "too many symbols in one request"))
    if len(symbols) == 1:
        response = _one_series(catalog, symbols[0], params, until)
        status = int(response.get("code", 200))
        if params.get("format", "JSON").upper() == "CSV" and status == 200:
            return 200, "text/csv", _csv(response)
        return status, "application/json", orjson.dumps(response)
    batch = {symbol: _one_series(catalog, symbol, params, until) for symbol in symbols}
    return 200, "application/json", orjson.dumps(batch)
