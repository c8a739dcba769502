"""Producer settings, resolved once: argument > environment variable > default."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

from ohlcv_core import config
from ohlcv_core.errors import ConfigError
from ohlcv_core.limits import FIREHOSE_MAX_RECORD_BYTES

# The producer's defaults, each written once (the command line's help quotes them from here).
DEFAULT_WS_URL = "wss://ws.twelvedata.com/v1/quotes/price"
DEFAULT_REST_URL = "https://api.twelvedata.com"
DEFAULT_SPOOL_MAX_MB = 1024.0
DEFAULT_SHUTDOWN_DEADLINE_S = 20.0
DEFAULT_CREDITS_PER_MINUTE = 8  # Twelve Data's free plan
DEFAULT_REPAIR_EVERY_S = 900.0
# A batch goes when full or this long after its first frame: short, since Firehose buffers anyway.
DEFAULT_LINGER_MS = 20.0
MAX_LINGER_MS = 60_000.0
# Quotes packed per Firehose record, up to this size: Firehose bills records rounded up to 5 KB.
DEFAULT_PACK_KB = 64
MAX_PACK_KB = FIREHOSE_MAX_RECORD_BYTES // 1024


@dataclass(frozen=True)
class ProducerSettings:
    """Every field is resolved by `resolve` (argument > environment variable > default)."""

    ws_url: str
    symbols: tuple[str, ...]
    api_key: str | None
    stream_name: str
    firehose_endpoint: str | None
    region: str
    exit_on_close: bool
    spool_dir: Path | None
    spool_max_bytes: int
    shutdown_deadline_s: float
    health_file: Path | None
    rest_url: str | None  # gap repair; None: no repair
    credits_per_minute: int
    repair_every_s: float
    api_key_secret_id: str | None  # on AWS: Secrets Manager, read at start
    metrics_namespace: str = config.DEFAULT_METRICS_NAMESPACE
    linger_ms: float = DEFAULT_LINGER_MS
    pack_kb: int = DEFAULT_PACK_KB  # 0: one frame per record
    live_stream_name: str | None = None  # the hot path's stream: a copy of each batch of quotes

    def __repr__(self) -> str:  # the API key never reaches a log line
        return (f"ProducerSettings(ws_url={self.ws_url!r}, symbols={self.symbols!r}, api_key=***, "
                f"stream_name={self.stream_name!r}, firehose_endpoint={self.firehose_endpoint!r}, "
                f"region={self.region!r}, exit_on_close={self.exit_on_close}, spool_dir={self.spool_dir})")

    @classmethod
    def resolve(cls, *, ws_url: str | None = None, symbols: tuple[str, ...] | None = None,
                api_key: str | None = None, stream_name: str | None = None, live_stream_name: str | None = None,
                firehose_endpoint: str | None = None, region: str | None = None, exit_on_close: bool = False,
                spool_dir: Path | None = None, spool_max_mb: float | None = None,
                shutdown_deadline_s: float | None = None, health_file: Path | None = None,
                rest_url: str | None = None, no_repair: bool = False, credits_per_minute: int | None = None,
                repair_every_s: float | None = None, api_key_secret_id: str | None = None,
                linger_ms: float | None = None, pack_kb: int | None = None,
                environ: Mapping[str, str] | None = None) -> ProducerSettings:
        env = os.environ if environ is None else environ
        url = config.resolve(ws_url, env, config.ENV_WS_URL, DEFAULT_WS_URL, str)
        if urlsplit(url).scheme not in ("ws", "wss"):
            raise ConfigError(f"{config.ENV_WS_URL} must be a ws:// or wss:// URL, got {url!r}")
        endpoint = config.resolve_optional(firehose_endpoint or None, env, config.ENV_FIREHOSE_ENDPOINT, str)
        if endpoint is not None and urlsplit(endpoint).scheme not in ("http", "https"):
            raise ConfigError(f"{config.ENV_FIREHOSE_ENDPOINT} must be an http(s) URL, got {endpoint!r}")
        return cls(
            ws_url=url,
            symbols=config.symbols_setting(",".join(symbols) if symbols is not None else None, env),
            api_key=config.resolve_optional(api_key or None, env, config.ENV_API_KEY, str),
            stream_name=config.resolve(stream_name, env, config.ENV_FIREHOSE_STREAM, None, str),
            live_stream_name=config.resolve_optional(live_stream_name or None, env, config.ENV_LIVE_STREAM, str),
            firehose_endpoint=endpoint,
            region=config.resolve_region(region, env),
            exit_on_close=exit_on_close,
            spool_dir=config.resolve_optional(spool_dir, env, config.ENV_SPOOL_DIR, Path),
            spool_max_bytes=int(config.resolve_number(spool_max_mb, env, config.ENV_SPOOL_MAX_MB, DEFAULT_SPOOL_MAX_MB,
                                                      minimum=0, inclusive=False) * 1024 * 1024),
            shutdown_deadline_s=config.resolve_number(shutdown_deadline_s, env, config.ENV_SHUTDOWN_DEADLINE_S,
                                                      DEFAULT_SHUTDOWN_DEADLINE_S, minimum=0, inclusive=False),
            health_file=config.resolve_optional(health_file, env, config.ENV_HEALTH_FILE, Path),
            rest_url=None if no_repair else config.resolve(rest_url, env, config.ENV_REST_URL, DEFAULT_REST_URL, str),
            credits_per_minute=int(config.resolve_number(credits_per_minute, env, config.ENV_CREDITS_PER_MINUTE,
                                                         DEFAULT_CREDITS_PER_MINUTE, minimum=1, parse=int)),
            repair_every_s=config.resolve_number(repair_every_s, env, config.ENV_REPAIR_EVERY_S, DEFAULT_REPAIR_EVERY_S,
                                                 minimum=0),
            api_key_secret_id=config.resolve_optional(api_key_secret_id or None, env, config.ENV_API_KEY_SECRET_ID,
                                                      str),
            metrics_namespace=config.resolve(None, env, config.ENV_METRICS_NAMESPACE, config.DEFAULT_METRICS_NAMESPACE,
                                             str),
            linger_ms=config.resolve_number(linger_ms, env, config.ENV_LINGER_MS, DEFAULT_LINGER_MS, minimum=0,
                                            maximum=MAX_LINGER_MS),
            pack_kb=int(config.resolve_number(pack_kb, env, config.ENV_PACK_KB, DEFAULT_PACK_KB, minimum=0,
                                              maximum=MAX_PACK_KB, parse=int)),
        )
