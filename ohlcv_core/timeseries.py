"""REST `time_series` bars: parsing Twelve Data's string-typed values and exchange-zone datetimes."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ohlcv_core.errors import RecordRejected

DATETIME_FORMAT = "%Y-%m-%d %H:%M:%S"
DATE_FORMAT = "%Y-%m-%d"


def zone_of(name: str | None) -> tzinfo:
    """The zone of a `timezone` parameter or `exchange_timezone`; missing (as in forex meta) means UTC."""
    if not name or name.upper() == "UTC":
        return UTC
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise RecordRejected("invalid_timestamp", f"unknown time zone {name!r}") from exc


def parse_bar_datetime(text: str, zone: tzinfo) -> datetime:
    """A bar's `datetime` (its open) in `zone` -> aware UTC datetime. Daily bars are plain dates."""
    for fmt in (DATETIME_FORMAT, DATE_FORMAT):
        try:
            return datetime.strptime(text, fmt).replace(tzinfo=zone).astimezone(UTC)
        except ValueError:
            continue
    raise RecordRejected("invalid_timestamp", f"bar datetime {text[:40]!r} is neither a date nor a date-time")


def format_bar_datetime(moment: datetime, zone: tzinfo, *, daily: bool = False) -> str:
    return moment.astimezone(zone).strftime(DATE_FORMAT if daily else DATETIME_FORMAT)


@dataclass(frozen=True, slots=True)
class RestBar:
    start: datetime  # UTC
    values: dict[str, str]  # as sent: strings
