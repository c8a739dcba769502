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

