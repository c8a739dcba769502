"""Glue-style job arguments: `--name value` pairs, as awsglue.utils.getResolvedOptions reads them."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

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


def number_option(options: dict[str, str], name: str, *, minimum: float = 0.0) -> float:
    """A number the job needs: the run's own, else the job's DefaultArguments (Glue merges them)."""
    if name not in options:
        raise ConfigError(f"job argument --{name} is missing (the job's DefaultArguments give it)")
    try:
        value = float(options[name])
    except ValueError:
        raise ConfigError(f"--{name} must be a number, got {options[name]!r}") from None
    if not value >= minimum:  # NaN fails too
        raise ConfigError(f"--{name} must be at least {minimum:g}, got {options[name]!r}")
    return value


def dates_option(options: dict[str, str], name: str) -> tuple[str, ...]:
    """A comma list of dates, as yyyy-MM-dd (the partition values), sorted and without repeats."""
    dates = set()
    for text in (d.strip() for d in options[name].split(",")):
        if not text:
            continue
        try:
            dates.add(date.fromisoformat(text).isoformat())
        except ValueError:
            raise ConfigError(f"--{name}: {text!r} is not a date (yyyy-MM-dd)") from None
    if not dates:
        raise ConfigError(f"--{name} names no date")
    return tuple(sorted(dates))
