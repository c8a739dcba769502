"""When markets are open: exchanges' sessions from the maintained `exchange_calendars` library (holidays,
early closes, one-off closures), the forex week (Sunday 17:00 to Friday 17:00, New York time), and
around the clock for crypto (ohlcv_core.calendars.market_of says which a symbol follows).

Grids come back as epoch milliseconds (minutes, hours) or yyyy-MM-dd (trading days), for the quality
job's completeness and freshness checks. Only the quality job imports this module (the library brings
pandas).
"""

from __future__ import annotations

import functools
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import exchange_calendars  # type: ignore[import-untyped]  # (it ships no type information)

from ohlcv_core.calendars import ALWAYS, FOREX
from ohlcv_core.errors import ConfigError

MINUTE_MS, HOUR_MS, DAY_MS = 60_000, 3_600_000, 86_400_000
NEW_YORK = ZoneInfo("America/New_York")
# exchange_calendars builds a calendar for a span: one this wide serves every range a run checks
_PAD = timedelta(days=10)


@functools.cache
def _exchange(code: str, first: date, last: date) -> Any:
    try:
        return exchange_calendars.get_calendar(code, start=first - _PAD, end=last + _PAD)
    except exchange_calendars.errors.InvalidCalendarName:
        raise ConfigError(f"exchange_calendars has no calendar {code!r}") from None


def _ms(index: Any) -> list[int]:
    return [int(v) // 1_000_000 for v in index.asi8]


def _forex_open(instant_ms: int) -> bool:
    """Whether the forex week is open at an instant: Sunday 17:00 to Friday 17:00 in New York."""
    local = datetime.fromtimestamp(instant_ms / 1000, tz=UTC).astimezone(NEW_YORK)
    weekday, after_five = local.weekday(), local.hour >= 17
    return (weekday == 6 and after_five) or weekday in (0, 1, 2, 3) or (weekday == 4 and not after_five)


def _utc_range_ms(first: date, last: date) -> tuple[int, int]:
    start = datetime(first.year, first.month, first.day, tzinfo=UTC)
    return int(start.timestamp() * 1000), int(start.timestamp() * 1000) + ((last - first).days + 1) * DAY_MS


def session_minutes(market: str, first: date, last: date) -> list[int]:
    """Every minute (its start) the market is open within the UTC dates first..last."""
    start_ms, end_ms = _utc_range_ms(first, last)
    if market == ALWAYS:
        return list(range(start_ms, end_ms, MINUTE_MS))
    if market == FOREX:
        return [m for m in range(start_ms, end_ms, MINUTE_MS) if _forex_open(m)]
    calendar = _exchange(market, first, last)
    start = datetime.fromtimestamp(start_ms / 1000, tz=UTC)
    end = datetime.fromtimestamp((end_ms - MINUTE_MS) / 1000, tz=UTC)
    bounds = (max(start, calendar.first_minute.to_pydatetime()), min(end, calendar.last_minute.to_pydatetime()))
    return _ms(calendar.minutes_in_range(*bounds)) if bounds[0] <= bounds[1] else []


def session_hours(market: str, first: date, last: date) -> list[int] | None:
    """Every hour the market is open in, for markets whose hourly bars start on the hour (forex, 24/7);
    None for an exchange (Twelve Data aligns its hourly bars to the session's open)."""
    if market not in (ALWAYS, FOREX):
        return None
    start_ms, end_ms = _utc_range_ms(first, last)
    return [h for h in range(start_ms, end_ms, HOUR_MS) if market == ALWAYS or _forex_open(h)]


def trading_days(market: str, first: date, last: date) -> list[str]:
    """The market's trading days within first..last: an exchange's sessions, the forex week's weekdays,
    every day around the clock."""
    days = [first + timedelta(days=k) for k in range((last - first).days + 1)]
    if market == ALWAYS:
        return [d.isoformat() for d in days]
    if market == FOREX:
        return [d.isoformat() for d in days if d.weekday() < 5]
    calendar = _exchange(market, first, last)
    return [s.date().isoformat() for s in calendar.sessions_in_range(first, last)]


def minute_days(market: str, first: date, last: date) -> set[str]:
    """The UTC dates within first..last that hold session minutes (a session may reach into the UTC date
    before or after its own: Sydney's opens on the UTC evening before)."""
    days = [first + timedelta(days=k) for k in range((last - first).days + 1)]
    if market == ALWAYS:
        return {d.isoformat() for d in days}
    if market == FOREX:  # Sunday's evening to Friday's afternoon in New York: every UTC date but Saturday
        return {d.isoformat() for d in days if d.weekday() != 5}
    calendar = _exchange(market, first, last)
    found: set[str] = set()
    for opened, closed in zip(calendar.opens.loc[str(first - _PAD):str(last + _PAD)],
                              calendar.closes.loc[str(first - _PAD):str(last + _PAD)], strict=True):
        day = opened.date()
        while day <= closed.date():
            if first <= day <= last:
                found.add(day.isoformat())
            day += timedelta(days=1)
    return found


def open_at(market: str, instant_ms: int) -> bool:
    """Whether the market is open at an instant."""
    if market == ALWAYS:
        return True
    if market == FOREX:
        return _forex_open(instant_ms)
    day = datetime.fromtimestamp(instant_ms / 1000, tz=UTC).date()
    calendar = _exchange(market, day, day)
    minute = datetime.fromtimestamp(instant_ms // MINUTE_MS * 60, tz=UTC)
    return bool(calendar.is_trading_minute(minute))
