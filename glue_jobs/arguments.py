"""Glue-style job arguments: `--name value` pairs, as awsglue.utils.getResolvedOptions reads them."""

from __future__ import annotations

from collections.abc import Sequence

from ohlcv_core.errors import ConfigError


def resolve_options(argv: Sequence[str], required: Sequence[str]) -> dict[str, str]:
    """Pick `--name value` pairs out of argv (Glue adds many of its own; those are ignored unless named)."""
    found: dict[str, str] = {}
    items = list(argv)
    for index, item in enumerate(items):
        if item.startswith("--") and index + 1 < len(items):
            found[item[2:]] = items[index + 1]
    missing = [name for name in required if name not in found]
    if missing:
        raise ConfigError(f"job arguments missing: {', '.join('--' + m for m in missing)}")
    return found
