"""The Twelve Data API key from AWS Secrets Manager (on AWS; locally it comes from an environment variable)."""

from __future__ import annotations

from typing import Any

import orjson

from ohlcv_core.errors import ConfigError

KEY_FIELDS = ("apikey", "api_key", "TWELVEDATA_API_KEY")


def api_key_from_secret(client: Any, secret_id: str) -> str:
    """The secret's string: the key itself, or a JSON object holding it under one of KEY_FIELDS."""
    try:
        secret = client.get_secret_value(SecretId=secret_id)["SecretString"]
    except Exception as exc:
        raise ConfigError(f"cannot read the API key secret {secret_id}: {type(exc).__name__}") from exc
    try:
        value = orjson.loads(secret)
    except orjson.JSONDecodeError:
        value = secret
    if isinstance(value, dict):
        value = next((value[k] for k in KEY_FIELDS if isinstance(value.get(k), str)), None)
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"secret {secret_id} holds no API key (a string, or JSON with one of {KEY_FIELDS})")
    return value.strip()
