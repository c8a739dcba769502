"""Twelve Data REST: `time_series` with timeouts on every call, a credits-aware limiter that waits
instead of failing, and the service's errors as typed exceptions (the code may come in the HTTP status
or, with status 200, in the body: both are checked)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import orjson
import requests

from ohlcv_core.envelope import public_params
from ohlcv_core.errors import OhlcvError
from ohlcv_core.limits import TWELVEDATA_MAX_BATCH_SYMBOLS

MAX_BATCH_SYMBOLS = TWELVEDATA_MAX_BATCH_SYMBOLS
TIMEOUT_S = (5.0, 30.0)  # connect, read


NO_DATA = "No data is available"  # Twelve Data's 400 for a window without bars (before a listing, a halt)


class RestError(OhlcvError):
    """Twelve Data answered with an error. Subclasses say which kind."""

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"Twelve Data {code}: {message}")
        self.code = code


class RestAuthError(RestError):
    """401/403: the key is wrong or the plan does not include this."""


class RestRateLimited(RestError):
    """429: out of credits for the current minute."""


class RestRequestError(RestError):
    """400/404/414: the request itself is wrong (symbol, interval, dates, too long)."""


class RestServerError(RestError):
    """5xx: the service failed; worth retrying later."""


@dataclass(frozen=True)
class RestReply:
    received_at_ms: int
    path: str
    params: dict[str, str]  # as sent, without the API key
    status: int
    headers: dict[str, str]
    body: str

    def error(self) -> RestError | None:
        """The service's error, from the HTTP status or the body's code (it sends both ways)."""
        code, message = self.status, ""
        if self.status == 200:
            try:
                body = orjson.loads(self.body)
            except orjson.JSONDecodeError:
                return None
            if not (isinstance(body, dict) and body.get("status") == "error"):
                return None
            code, message = int(body.get("code") or 500), str(body.get("message", ""))
        elif self.status < 400:
            return None
        else:
            try:
                message = str(orjson.loads(self.body).get("message", self.body[:200]))
            except (orjson.JSONDecodeError, AttributeError):
                message = self.body[:200]
        kind = {401: RestAuthError, 403: RestAuthError, 429: RestRateLimited}.get(code)
        if kind is None:
            kind = RestServerError if code >= 500 else RestRequestError
        return kind(code, message)


class CreditLimiter:
    """Per-minute credit budget, kept in step with the service's `api-credits-left` header."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.time,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self.per_minute = per_minute
        self._clock = clock
        self._sleep = sleep
        self._minute = -1
        self._left = per_minute
        self._lock = threading.Lock()
        self.waited_s = 0.0

    def _roll(self) -> None:
        minute = int(self._clock() // 60)
        if minute != self._minute:
            self._minute, self._left = minute, self.per_minute

    def wait_for_next_minute(self) -> None:
        delay = 60 - self._clock() % 60 + 0.05
        self.waited_s += delay
        self._sleep(delay)

    def acquire(self, credits: int) -> None:
        """Block until `credits` can be spent in the current minute, then spend them."""
        if credits > self.per_minute:
            raise ValueError(f"a request of {credits} credits can never fit a budget of {self.per_minute}/min")
        while True:
            with self._lock:
                self._roll()
                if self._left >= credits:
                    self._left -= credits
                    return
            self.wait_for_next_minute()

    def observe(self, headers: dict[str, str]) -> None:
        left = headers.get("api-credits-left")
        if left is not None and left.isdigit():
            with self._lock:
                self._roll()
                self._left = min(self._left, int(left))


class TwelveDataRest:
    def __init__(self, base_url: str, api_key: str | None, *, session: requests.Session | None = None,
                 timeout_s: tuple[float, float] = TIMEOUT_S, limiter: CreditLimiter | None = None,
                 max_rate_limited_retries: int = 3, clock: Callable[[], float] = time.time) -> None:
        self._base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._session = session or requests.Session()
        self._timeout = timeout_s
        self._limiter = limiter
        self._retries = max_rate_limited_retries
        self._clock = clock

    @property
    def symbols_per_request(self) -> int:
        """How many symbols one request may name: the batch limit, and never more credits than a minute has."""
        return min(MAX_BATCH_SYMBOLS, self._limiter.per_minute) if self._limiter else MAX_BATCH_SYMBOLS

    def chunks(self, symbols: Sequence[str]) -> list[tuple[str, ...]]:
        size = self.symbols_per_request
        return [tuple(symbols[start:start + size]) for start in range(0, len(symbols), size)]

    def time_series(self, symbols: Sequence[str], interval: str = "1min", **params: str) -> RestReply:
        """One request, as the service answers it (errors included): what the recorder keeps."""
        if not 1 <= len(symbols) <= MAX_BATCH_SYMBOLS:
            raise ValueError(f"time_series takes 1 to {MAX_BATCH_SYMBOLS} symbols, got {len(symbols)}")
        query = {"symbol": ",".join(symbols), "interval": interval, **params}
        headers = {"Authorization": f"apikey {self._api_key}"} if self._api_key else {}
        if self._limiter is not None:
            self._limiter.acquire(len(symbols))
        response = self._session.get(f"{self._base_url}/time_series", params=query, headers=headers,
                                     timeout=self._timeout)
        keep = ("api-credits-used", "api-credits-left", "content-type")
        reply = RestReply(int(self._clock() * 1000), "/time_series", public_params(query), response.status_code,
                          {k.lower(): v for k, v in response.headers.items() if k.lower() in keep}, response.text)
        if self._limiter is not None:
            self._limiter.observe(reply.headers)
        return reply

    def bars(self, symbols: Sequence[str], interval: str = "1min", **params: str) -> RestReply:
        """The bars, or a typed error; out of credits, it waits for the next minute and asks again."""
        attempt = 0
        while True:
            reply = self.time_series(symbols, interval, **params)
            error = reply.error()
            if error is None:
                return reply
            if not isinstance(error, RestRateLimited) or self._limiter is None or attempt >= self._retries:
                raise error
            attempt += 1
            self._limiter.wait_for_next_minute()
