"""Every environment variable the project reads, in one place, and the one way settings are resolved.

Resolution order: explicit argument > environment variable > default. Nothing reads the
environment at import time; callers pass `environ` so tests can drive it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import TypeVar

from ohlcv_core.errors import ConfigError

T = TypeVar("T")

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
ENV_COMPACTION_JOB = "OHLCV_COMPACTION_JOB"
ENV_RAW_BUCKET = "OHLCV_RAW_BUCKET"

ALL_VARIABLES: tuple[str, ...] = (
    ENV_LAKE_DIR, ENV_RECORDING, ENV_WS_URL, ENV_SYMBOLS, ENV_API_KEY,
    ENV_FIREHOSE_ENDPOINT, ENV_FIREHOSE_STREAM, ENV_AWS_REGION,
    ENV_MAX_FUTURE_S, ENV_MAX_PRICE_AGE_S, ENV_MAX_BAR_AGE_S, ENV_COMPACTION_JOB, ENV_RAW_BUCKET,
    ENV_SPOOL_DIR, ENV_SPOOL_MAX_MB, ENV_SHUTDOWN_DEADLINE_S, ENV_HEALTH_FILE, ENV_REST_URL,
    ENV_CREDITS_PER_MINUTE, ENV_REPAIR_EVERY_S, ENV_API_KEY_SECRET_ID,
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
    symbols = tuple(s.strip() for s in raw.split(",") if s.strip())
    if not symbols:
        raise ValueError("no symbols in the list")
    return symbols
