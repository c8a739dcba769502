"""REST `time_series`: Twelve Data's string-typed bars in the zone asked for, to checked UTC bars.

Payload contract between the producer and the transform: one envelope carries one symbol's bars of
one UTC hour, in the response's own shape (`{"meta": ..., "values": [...], "status": "ok"}`), with the
request's parameters beside it. `split_time_series` makes such payloads from any response, single or
batch; the transform rejects a payload whose bars span partitions.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import orjson

from ohlcv_core.errors import RecordRejected
from ohlcv_core.twelvedata import canonical_symbol

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"
INTERVALS = frozenset({"1min", "5min", "15min", "30min", "45min", "1h", "2h", "4h", "5h", "8h",
                       "1day", "1week", "1month"})
INSTRUMENT_FIELDS = ("exchange", "mic_code", "currency", "currency_base", "currency_quote", "type")


# An IANA zone name ("America/New_York", "Etc/GMT+5"): checked before the zone database is consulted,
# so that a folder of it ("America"), a path or an overlong name is a bad record, not an OS error.
_ZONE_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_+-]{0,29}(/[A-Za-z0-9_+-]{1,30}){0,2}$")


def zone_of(name: str | None) -> tzinfo:
    """The zone of a `timezone` parameter or `exchange_timezone`; missing (as in forex meta) means UTC."""
    if not name or name.upper() == "UTC":
        return UTC
    if not isinstance(name, str) or not _ZONE_NAME.match(name):
        raise RecordRejected("invalid_timestamp", f"{str(name)[:60]!r} is not a time zone name")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: a folder of the zone database
        raise RecordRejected("invalid_timestamp", f"unknown time zone {name!r}") from None


def _wall_time(text: str) -> datetime | None:
    """The two shapes Twelve Data writes, read without strptime (which costs ten times more): None for
    anything else, which the formats below then judge."""
    if len(text) in (10, 19) and text[4] == "-" and text[7] == "-" and (len(text) == 10 or text[10] == " "):
        try:
            return datetime.fromisoformat(text)
        except ValueError:
            return None
    return None


def parse_bar_datetime(text: str, zone: tzinfo) -> datetime:
    """A bar's `datetime` (its open) in `zone` -> aware UTC datetime. Daily bars are plain dates."""
    wall = _wall_time(text) if isinstance(text, str) else None
    if wall is not None:
        return wall.replace(tzinfo=zone).astimezone(UTC)
    for fmt in (DATETIME_FORMAT, DATE_FORMAT):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=zone).astimezone(UTC)
        except ValueError:
            continue
    raise RecordRejected("invalid_timestamp", f"bar datetime {text[:40]!r} is neither a date nor a date-time")


def format_bar_datetime(moment: datetime, zone: tzinfo, *, daily: bool = False) -> str:
    return moment.astimezone(zone).strftime(DATE_FORMAT if daily else DATETIME_FORMAT)


@dataclass(frozen=True, slots=True)
class Bar:
    symbol: str
    interval: str
    time_zone: str
    bar_datetime: str
    start_ms: int
    open: float
    high: float
    low: float
    close: float
    volume: float | None
    instrument: dict[str, str | None]  # exchange, mic_code, currency, currency_base, currency_quote, type


def _number(values: Mapping[str, Any], name: str, index: int) -> float:
    raw = values.get(name)
    if raw is None:
        raise RecordRejected("missing_field", f"bar {index} has no {name!r}")
    try:
        value = float(raw) if isinstance(raw, str | int | float) and not isinstance(raw, bool) else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise RecordRejected("invalid_price", f"bar {index}: {name} must be a finite positive number, got {raw!r:.40}")
    return value


def _volume(values: Mapping[str, Any], index: int) -> float | None:
    raw = values.get("volume")
    if raw is None or raw == "":
        return None
    try:
        value = float(raw) if isinstance(raw, str | int | float) and not isinstance(raw, bool) else math.nan
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value < 0:
        raise RecordRejected("invalid_volume", f"bar {index}: volume must be finite and >= 0, got {raw!r:.40}")
    return value


def _bar(values: Any, index: int, *, symbol: str, interval: str, zone_name: str, zone: tzinfo,
         instrument: dict[str, str | None]) -> Bar:
    if not isinstance(values, dict):
        raise RecordRejected("invalid_bar", f"bar {index} is not an object")
    text = values.get("datetime")
    if not isinstance(text, str):
        raise RecordRejected("missing_field", f"bar {index} has no 'datetime'")
    start = parse_bar_datetime(text, zone)
    o, h, low, c = (_number(values, k, index) for k in ("open", "high", "low", "close"))
    if h < max(o, c) or low > min(o, c):
        raise RecordRejected("invalid_bar", f"bar {index} ({text}): high {h} and low {low} do not bound "
                                            f"open {o} and close {c}")
    return Bar(symbol, interval, zone_name, text, int(start.timestamp() * 1000), o, h, low, c,
               _volume(values, index), instrument)


def parse_time_series(payload: str | bytes, request: Mapping[str, str]) -> tuple[list[Bar], str | None]:
    """Bars of one response, checked; or ([], reason) for a response that carries none (error, empty)."""
    try:
        body = orjson.loads(payload)
    except orjson.JSONDecodeError as exc:
        raise RecordRejected("not_json", f"time_series payload is not JSON: {exc}") from exc
    if not isinstance(body, dict):
        raise RecordRejected("unknown_event", "time_series payload is not an object")
    if body.get("status") == "error":
        return [], f"rest-error-{body.get('code', 'unknown')}"
    series = _series_of(body, request)  # (checked before the values, as a response's own faults)
    values = body.get("values")
    if values is None:
        return [], "empty-time-series"
    if not isinstance(values, list):
        raise RecordRejected("invalid_bar", "values is not a list")
    bars = [_bar(v, i, **series) for i, v in enumerate(values)]
    return bars, None if bars else "empty-time-series"


def _series_of(body: Mapping[str, Any], request: Mapping[str, str]) -> dict[str, Any]:
    """What every bar of a response shares: its symbol, interval, zone and instrument (checked)."""
    meta_raw = body.get("meta")
    meta: dict[str, Any] = meta_raw if isinstance(meta_raw, dict) else {}
    interval = str(meta.get("interval") or request.get("interval") or "")
    if interval not in INTERVALS:
        raise RecordRejected("invalid_interval", f"interval {interval[:20]!r} is not a Twelve Data interval")
    asked = request.get("timezone", "")
    zone_name = asked if asked and asked.lower() != "exchange" else str(meta.get("exchange_timezone") or "UTC")
    return {"symbol": canonical_symbol(meta.get("symbol") or request.get("symbol")), "interval": interval,
            "zone_name": zone_name, "zone": zone_of(zone_name),
            "instrument": {k: (str(meta[k]).strip() or None) if meta.get(k) is not None else None
                           for k in INSTRUMENT_FIELDS}}


def accepted_values(response: Mapping[str, Any], request: Mapping[str, str]) -> tuple[list[Any], list[str]]:
    """A response's values the transform accepts, each as parse_time_series checks it, and the others
    named with their reason. The transform decides an envelope whole (one bad bar fails its hour), so a
    sender keeps each bad bar out alone and the good bars of its hour in."""
    kept: list[Any] = []
    refused: list[str] = []
    try:
        series = _series_of(response, request)
    except RecordRejected as exc:  # the response's own fault: every bar of it
        return [], [f"all {len(response.get('values') or [])} ({exc})"]
    for index, value in enumerate(response.get("values") or []):
        try:
            _bar(value, index, **series)
        except RecordRejected as exc:
            when = value.get("datetime") if isinstance(value, dict) else None
            refused.append(f"{when if isinstance(when, str) else f'value {index}'} ({exc})")
            continue
        kept.append(value)
    return kept, refused


def next_start_ms(body: str | bytes, outputsize: int) -> int | None:
    """Where to ask again after an answer of UTC bars in ascending order: a symbol that got `outputsize`
    bars may have more after its last, so from the minute after the earliest such last bar; None when
    every symbol got fewer (the window is whole)."""
    parsed = orjson.loads(body)
    single = isinstance(parsed, dict) and ("values" in parsed or "status" in parsed)
    answers = [parsed] if single else list(parsed.values()) if isinstance(parsed, dict) else []
    lasts = [parse_bar_datetime(str(values[-1].get("datetime")), UTC)
             for answer in answers if isinstance(answer, dict)
             and isinstance(values := answer.get("values"), list) and len(values) >= outputsize
             and isinstance(values[-1], dict)]
    return int(min(lasts).timestamp() * 1000) + 60_000 if lasts else None


def _hour_of(start_ms: int) -> int:
    return start_ms // 3_600_000


def split_time_series(body: str, request: Mapping[str, str]) -> list[tuple[str, dict[str, str]]]:
    """Producer side: one (payload, request) per symbol and UTC hour, values kept exactly as received.

    A batch response (keyed by symbol) becomes one request per symbol. Error entries pass through whole
    (the transform counts them); bars that cannot be placed are kept together so the transform fails
    them with a reason instead of them disappearing here.
    """
    return [(payload, symbol_request) for _, payload, symbol_request in hourly_parts(body, request)]


def hourly_parts(body: str, request: Mapping[str, str]) -> list[tuple[int | None, str, dict[str, str]]]:
    """As split_time_series, each part with its UTC hour (hours since the epoch: the raw zone's
    partition), None for a part that is not one hour's bars."""
    parsed = orjson.loads(body)
    single = isinstance(parsed, dict) and ("values" in parsed or "meta" in parsed or "status" in parsed)
    responses = {request.get("symbol", ""): parsed} if single else dict(parsed)
    out: list[tuple[int | None, str, dict[str, str]]] = []
    for symbol, response in responses.items():
        symbol_request = {**request, "symbol": str(symbol)}
        values = response.get("values") if isinstance(response, dict) else None
        if not isinstance(values, list) or not values:
            out.append((None, orjson.dumps(response).decode(), symbol_request))
            continue
        meta_raw = response.get("meta")
        meta: dict[str, Any] = meta_raw if isinstance(meta_raw, dict) else {}
        asked = request.get("timezone", "")
        groups: dict[int | None, list[Any]]
        try:
            zone = zone_of(asked if asked and asked.lower() != "exchange" else meta.get("exchange_timezone"))
            groups = {}
            for value in values:
                start = parse_bar_datetime(str(value.get("datetime")), zone)
                groups.setdefault(_hour_of(int(start.timestamp() * 1000)), []).append(value)
        except (RecordRejected, AttributeError):
            groups = {None: values}
        for hour, group in sorted(groups.items(), key=lambda item: -1 if item[0] is None else item[0]):
            part = {k: v for k, v in response.items() if k != "values"} | {"values": group}
            out.append((hour, orjson.dumps(part).decode(), symbol_request))
    return out
