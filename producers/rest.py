"""Twelve Data REST: `time_series` with timeouts on every call. (Credits-aware limiting and typed errors
grow here with the producer's gap repair.)"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import requests

from ohlcv_core.envelope import public_params

MAX_BATCH_SYMBOLS = 120
TIMEOUT_S = (5.0, 30.0)  # connect, read


@dataclass(frozen=True)
class RestReply:
    received_at_ms: int
    path: str
    params: dict[str, str]  # as sent, without the API key
    status: int
    headers: dict[str, str]
    body: str


class TwelveDataRest:
    def __init__(self, base_url: str, api_key: str | None, *, session: requests.Session | None = None,
                 timeout_s: tuple[float, float] = TIMEOUT_S, clock: Callable[[], float] = time.time) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._session = session or requests.Session()
        self._timeout = timeout_s
        self._clock = clock

    def time_series(self, symbols: Sequence[str], interval: str = "1min", **params: str) -> RestReply:
        if not 1 <= len(symbols) <= MAX_BATCH_SYMBOLS:
            raise ValueError(f"time_series takes 1 to {MAX_BATCH_SYMBOLS} symbols, got {len(symbols)}")
        query = {"symbol": ",".join(symbols), "interval": interval, **params}
        headers = {"Authorization": f"apikey {self._api_key}"} if self._api_key else {}
        response = self._session.get(f"{self._base_url}/time_series", params=query, headers=headers,
                                     timeout=self._timeout)
        keep = ("api-credits-used", "api-credits-left", "content-type")
        return RestReply(int(self._clock() * 1000), "/time_series", public_params(query), response.status_code,
                         {k: v for k, v in response.headers.items() if k.lower() in keep}, response.text)
