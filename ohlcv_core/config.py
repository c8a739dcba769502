"""Every environment variable the project reads, in one place, and the one way settings are resolved.

Resolution order: explicit argument > environment variable > default. Nothing reads the
environment at import time; callers pass `environ` so tests can drive it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import TypeVar

from ohlcv_core.errors import ConfigError
from ohlcv_core.twelvedata import SYMBOL_RE

T = TypeVar("T")
_VENUE = re.compile(r"^[A-Za-z0-9._-]{1,32}$")
_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d{1,2}$")

# Contract values every layer shares, written once.
DEFAULT_REGION = "us-east-1"
DEFAULT_METRICS_NAMESPACE = "OhlcvEngine"

ENV_LAKE_DIR = "OHLCV_LAKE_DIR"
ENV_RECORDING = "OHLCV_RECORDING"
ENV_WS_URL = "OHLCV_TWELVEDATA_WS_URL"
ENV_SYMBOLS = "OHLCV_SYMBOLS"
ENV_API_KEY = "TWELVEDATA_API_KEY"
ENV_FIREHOSE_ENDPOINT = "OHLCV_FIREHOSE_ENDPOINT"
ENV_FIREHOSE_STREAM = "OHLCV_FIREHOSE_STREAM"
ENV_LIVE_STREAM = "OHLCV_LIVE_STREAM"  # the hot path's delivery stream (LivePath); empty: none
ENV_AWS_REGION = "AWS_REGION"
ENV_MAX_FUTURE_S = "OHLCV_MAX_FUTURE_S"
ENV_MAX_PRICE_AGE_S = "OHLCV_MAX_PRICE_AGE_S"
ENV_MAX_BAR_AGE_S = "OHLCV_MAX_BAR_AGE_S"
ENV_REST_URL = "OHLCV_TWELVEDATA_REST_URL"
ENV_API_KEY_SECRET_ID = "OHLCV_API_KEY_SECRET_ID"
ENV_CREDITS_PER_MINUTE = "OHLCV_REST_CREDITS_PER_MINUTE"
ENV_REPAIR_EVERY_S = "OHLCV_REPAIR_EVERY_S"
ENV_SPOOL_DIR = "OHLCV_SPOOL_DIR"
ENV_SPOOL_MAX_MB = "OHLCV_SPOOL_MAX_MB"
ENV_SHUTDOWN_DEADLINE_S = "OHLCV_SHUTDOWN_DEADLINE_S"
ENV_HEALTH_FILE = "OHLCV_HEALTH_FILE"
ENV_LINGER_MS = "OHLCV_LINGER_MS"
ENV_PACK_KB = "OHLCV_PACK_KB"
ENV_TRIGGER_JOB = "OHLCV_TRIGGER_JOB"
ENV_AFTER_JOB = "OHLCV_AFTER_JOB"
ENV_RAW_BUCKET = "OHLCV_RAW_BUCKET"
ENV_TRIGGER_QUEUE_URL = "OHLCV_TRIGGER_QUEUE_URL"
ENV_RUN_INTERVAL_S = "OHLCV_RUN_INTERVAL_S"
ENV_BACKFILL_CHECKPOINTS = "OHLCV_BACKFILL_CHECKPOINTS"
# The Lambdas' Powertools reads this name; the producer reads the same one, so the stack sets one value.
ENV_METRICS_NAMESPACE = "POWERTOOLS_METRICS_NAMESPACE"

ALL_VARIABLES: tuple[str, ...] = (
    ENV_LAKE_DIR, ENV_RECORDING, ENV_WS_URL, ENV_SYMBOLS, ENV_API_KEY,
    ENV_FIREHOSE_ENDPOINT, ENV_FIREHOSE_STREAM, ENV_LIVE_STREAM, ENV_AWS_REGION,
    ENV_MAX_FUTURE_S, ENV_MAX_PRICE_AGE_S, ENV_MAX_BAR_AGE_S, ENV_TRIGGER_JOB, ENV_AFTER_JOB, ENV_RAW_BUCKET,
    ENV_TRIGGER_QUEUE_URL, ENV_RUN_INTERVAL_S,
    ENV_SPOOL_DIR, ENV_SPOOL_MAX_MB, ENV_SHUTDOWN_DEADLINE_S, ENV_HEALTH_FILE, ENV_LINGER_MS, ENV_PACK_KB, ENV_REST_URL,
    ENV_CREDITS_PER_MINUTE, ENV_REPAIR_EVERY_S, ENV_API_KEY_SECRET_ID, ENV_BACKFILL_CHECKPOINTS,
    ENV_METRICS_NAMESPACE,
)


def resolve(argument: T | None, environ: Mapping[str, str], name: str, default: T | None,
            parse: Callable[[str], T]) -> T:
    """Return the argument if given, else the parsed environment variable, else the default."""
    if argument is not None:
        return argument
    raw = environ.get(name)
    if raw is not None and raw != "":
        try:
            return parse(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{name}={raw!r} is invalid: {exc}") from exc
    if default is None:
        raise ConfigError(f"{name} is required (pass it as an argument or set the environment variable)")
    return default


def resolve_optional(argument: T | None, environ: Mapping[str, str], name: str, parse: Callable[[str], T]) -> T | None:
    """As `resolve`, for a setting that may be absent: the argument, else the parsed variable, else None."""
    if argument is not None:
        return argument
    raw = environ.get(name)
    if raw is None or raw == "":
        return None
    try:
        return parse(raw)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"{name}={raw!r} is invalid: {exc}") from exc


def parse_symbols(raw: str) -> tuple[str, ...]:
    """A comma list of `SYM` or `SYM:EXCHANGE`, each a Twelve Data symbol; an empty item is an error."""
    items = [s.strip() for s in raw.split(",")]
    if not any(items):
        raise ValueError("no symbols in the list")
    for item in items:
        symbol, _, venue = item.partition(":")
        if not SYMBOL_RE.match(symbol.upper()) or (":" in item and not _VENUE.match(venue)):
            raise ValueError(f"{item[:40]!r} is not a symbol (SYM or SYM:EXCHANGE)")
    return tuple(items)


def symbols_setting(argument: str | None, environ: Mapping[str, str]) -> tuple[str, ...]:
    """The symbols to stream, from `--symbols` or OHLCV_SYMBOLS, checked whichever gave them."""
    raw = resolve(argument, environ, ENV_SYMBOLS, None, str)
    try:
        return parse_symbols(raw)
    except ValueError as exc:
        raise ConfigError(f"{ENV_SYMBOLS} (--symbols) is invalid: {exc}") from None


def resolve_number(argument: float | None, environ: Mapping[str, str], name: str, default: float, *,
                   minimum: float, inclusive: bool = True, maximum: float = math.inf,
                   parse: Callable[[str], float] = float) -> float:
    """As `resolve`, for a number within its range: NaN, infinities and values outside [minimum,
    maximum] are refused, whether the argument or the variable gave them."""
    value = resolve(argument, environ, name, default, parse)
    if not (math.isfinite(value) and (value >= minimum if inclusive else value > minimum) and value <= maximum):
        bound = f"at least {minimum:g}" if inclusive else f"above {minimum:g}"
        if math.isfinite(maximum):
            bound += f" and at most {maximum:g}"
        raise ConfigError(f"{name} must be a finite number {bound}, got {value!r}")
    return value


def resolve_region(argument: str | None, environ: Mapping[str, str]) -> str:
    value = resolve(argument, environ, ENV_AWS_REGION, DEFAULT_REGION, str)
    if not _REGION.match(value):
        raise ConfigError(f"{ENV_AWS_REGION}={value!r} is not an AWS region (like {DEFAULT_REGION})")
    return value
