"""REST `time_series` answered from a recording, in Twelve Data's shapes (JSON or CSV; batch symbols)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, tzinfo
from typing import Any

import orjson

from local_stack.twelvedata.catalog import Catalog
from ohlcv_core.backfill import INTERVAL_STEP
from ohlcv_core.errors import RecordRejected
from ohlcv_core.limits import TWELVEDATA_MAX_BATCH_SYMBOLS, TWELVEDATA_MAX_OUTPUTSIZE
from ohlcv_core.timeseries import format_bar_datetime, parse_bar_datetime, zone_of

MAX_OUTPUTSIZE = TWELVEDATA_MAX_OUTPUTSIZE
DEFAULT_OUTPUTSIZE = 30
MAX_BATCH_SYMBOLS = TWELVEDATA_MAX_BATCH_SYMBOLS
VALUE_FIELDS = ("open", "high", "low", "close", "volume")


@dataclass(frozen=True)
class Access:
    """What the key's plan may ask for: Twelve Data answers 403 for an interval or a symbol outside it."""

    intervals: frozenset[str] | None = None  # None: every interval
    denied_symbols: frozenset[str] = frozenset()


def error_body(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "status": "error"}


def _selection(params: dict[str, str], zone: tzinfo) -> tuple[datetime | None, datetime | None, int] | dict[str, Any]:
    """(start, end, outputsize) from the parameters, or the error to answer."""
    try:
        start = parse_bar_datetime(params["start_date"], zone) if params.get("start_date") else None
        end = parse_bar_datetime(params["end_date"], zone) if params.get("end_date") else None
        # without dates the default is 30 bars; with them, as many as the maximum
        default = MAX_OUTPUTSIZE if start or end else DEFAULT_OUTPUTSIZE
        outputsize = int(params.get("outputsize", default))
    except (RecordRejected, ValueError) as exc:
        return error_body(400, f"invalid parameters: {exc}")
    if not 1 <= outputsize <= MAX_OUTPUTSIZE:
        return error_body(400, f"**outputsize** must be between 1 and {MAX_OUTPUTSIZE}")
    if start is not None and end is not None and start > end:
        return error_body(400, "**start_date** must be earlier than **end_date**")
    return start, end, outputsize


def _one_series(catalog: Catalog, symbol: str, params: dict[str, str], until: datetime | None,
                access: Access) -> dict[str, Any]:
    interval = params.get("interval", "")
    if symbol in access.denied_symbols:
        return error_body(403, f"**symbol** {symbol} is not available with your plan. Consider upgrading at "
                               "https://twelvedata.com/pricing")
    data = catalog.series.get((symbol, interval))
    if data is None:
        return error_body(400, f"**symbol** not found: {symbol}. Please specify it correctly according to "
                               "API Documentation.")
    requested_zone = params.get("timezone", "Exchange")
    zone = zone_of(data.meta.get("exchange_timezone") if requested_zone.lower() == "exchange" else requested_zone)
    selection = _selection(params, zone)
    if isinstance(selection, dict):
        return selection
    start, end, outputsize = selection
    length = INTERVAL_STEP[interval]
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


def _refused(symbols: list[str], interval: str, access: Access) -> dict[str, Any] | None:
    """The error for the whole request, if it has one."""
    if len(symbols) > MAX_BATCH_SYMBOLS:
        return error_body(400, "too many symbols in one request")
    if interval not in INTERVAL_STEP:
        return error_body(400, f"**interval** {interval} is not supported: use one of {', '.join(INTERVAL_STEP)}")
    if access.intervals is not None and interval not in access.intervals:
        return error_body(403, f"**interval** {interval} is not available with your plan. Consider upgrading at "
                               "https://twelvedata.com/pricing")
    return None


def answer_time_series(catalog: Catalog, params: dict[str, str], until: datetime | None = None,
                       access: Access | None = None) -> tuple[int, str, bytes]:
    """(HTTP status, content type, body). Twelve Data answers errors with HTTP 200 and a code in the body
    as often as with the status itself; the stand-in sends the code as the status too, so clients must
    check both. With `until` (a live feed's now), only bars that have ended by then are known."""
    symbols = [s.strip().upper() for s in params.get("symbol", "").split(",") if s.strip()]
    if not symbols or not params.get("interval"):
        body = error_body(400, "**symbol** and **interval** parameters are required.")
        return 400, "application/json", orjson.dumps(body)
    access = access or Access()
    refused = _refused(symbols, params["interval"], access)
    if refused is not None:
        return int(refused["code"]), "application/json", orjson.dumps(refused)
    if len(symbols) == 1:
        response = _one_series(catalog, symbols[0], params, until, access)
        status = int(response.get("code", 200))
        if params.get("format", "JSON").upper() == "CSV" and status == 200:
            return 200, "text/csv", _csv(response)
        return status, "application/json", orjson.dumps(response)
    batch = {symbol: _one_series(catalog, symbol, params, until, access) for symbol in symbols}
    return 200, "application/json", orjson.dumps(batch)
