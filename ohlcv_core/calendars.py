"""Which time zone a symbol's trading day is counted in (for daily bars).

Venues with a trading day: their zone, looked up (case-insensitively) by the venue a bar keeps, Twelve
Data's exchange name (MICs are keys too, for feeds that name venues by MIC). Instruments that trade
around the clock (forex, crypto) and unknown venues: the UTC day.
"""

from __future__ import annotations

from collections.abc import Mapping

VENUE_TIME_ZONES: Mapping[str, str] = {
    # United States
    "XNAS": "America/New_York", "XNGS": "America/New_York", "XNCM": "America/New_York",
    "XNMS": "America/New_York", "XNYS": "America/New_York", "ARCX": "America/New_York",
    "BATS": "America/New_York", "XASE": "America/New_York", "NASDAQ": "America/New_York",
    "NYSE": "America/New_York", "NYSE ARCA": "America/New_York", "AMEX": "America/New_York",
    "CBOE": "America/New_York", "OTC": "America/New_York",
    # elsewhere
    "XTSE": "America/Toronto", "TSX": "America/Toronto", "XLON": "Europe/London", "LSE": "Europe/London",
    "XETR": "Europe/Berlin", "XETRA": "Europe/Berlin", "XPAR": "Europe/Paris", "EURONEXT": "Europe/Paris",
    "XAMS": "Europe/Amsterdam", "XSWX": "Europe/Zurich", "SIX": "Europe/Zurich", "XTKS": "Asia/Tokyo",
    "JPX": "Asia/Tokyo", "XHKG": "Asia/Hong_Kong", "HKEX": "Asia/Hong_Kong", "XASX": "Australia/Sydney",
    "ASX": "Australia/Sydney", "XBOM": "Asia/Kolkata", "XNSE": "Asia/Kolkata", "NSE": "Asia/Kolkata",
    "BSE": "Asia/Kolkata",
}



# Which clock a symbol's sessions follow, for the completeness and freshness rules: an exchange's calendar
# (exchange_calendars' code or alias), the forex week, or around the clock. Twelve Data names no exchange
# for a streamed currency pair and "Forex" / "Physical Currency" for its REST bars; a pair with another
# venue named is a crypto pair (its venue trades around the clock).
FOREX = "forex"
ALWAYS = "24/7"
VENUE_CALENDARS: Mapping[str, str] = {
    "XNAS": "XNYS", "XNGS": "XNYS", "XNCM": "XNYS", "XNMS": "XNYS", "XNYS": "XNYS", "ARCX": "XNYS",
    "BATS": "XNYS", "XASE": "XNYS", "NASDAQ": "XNYS", "NYSE": "XNYS", "NYSE ARCA": "XNYS", "AMEX": "XNYS",
    "CBOE": "XNYS", "XTSE": "XTSE", "TSX": "XTSE", "XLON": "XLON", "LSE": "XLON", "XETR": "XETR",
    "XETRA": "XETR", "XPAR": "XPAR", "EURONEXT": "XPAR", "XAMS": "XAMS", "XSWX": "XSWX", "SIX": "XSWX",
    "XTKS": "XTKS", "JPX": "XTKS", "XHKG": "XHKG", "HKEX": "XHKG", "XASX": "XASX", "ASX": "XASX",
    "XBOM": "XBOM", "BSE": "XBOM", "XNSE": "XBOM", "NSE": "XBOM",
}
FOREX_VENUES = frozenset({"FOREX", "PHYSICAL CURRENCY"})


def market_of(symbol: str, exchange: str | None) -> str | None:
    """The calendar a symbol trades by, or None when that is not known (no completeness check then)."""
    venue = (exchange or "").strip().upper()
    if venue in VENUE_CALENDARS:
        return VENUE_CALENDARS[venue]
    if "/" in symbol:
        return FOREX if not venue or venue in FOREX_VENUES else ALWAYS
    return None
