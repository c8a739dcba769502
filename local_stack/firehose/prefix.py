"""Evaluation of Firehose S3 prefix expressions (`!{namespace:argument}`)."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from ohlcv_core.errors import ConfigError, ContractError

_EXPRESSION = re.compile(r"!\{([^}:]+)(?::([^}]*))?\}")
_JAVA_TOKENS = {"yyyy": "%Y", "yy": "%y", "MM": "%m", "dd": "%d", "HH": "%H", "mm": "%M", "ss": "%S"}
MAX_PREFIX_CHARS = 512


class MissingPartitionKey(ContractError):
    """The transform did not return a partition key that the prefix needs."""


def java_pattern_to_strftime(pattern: str) -> str:
    """The subset of java.time.format.DateTimeFormatter patterns that make sense in a prefix."""
    out, i = [], 0
    while i < len(pattern):
        char = pattern[i]
        if char == "'":
            end = pattern.find("'", i + 1)
            if end < 0:
                raise ConfigError(f"unterminated quote in timestamp pattern {pattern!r}")
            out.append(pattern[i + 1:end].replace("%", "%%"))
            i = end + 1
        elif char.isalpha():
            j = i
            while j < len(pattern) and pattern[j] == char:
                j += 1
            token = pattern[i:j]
            if token not in _JAVA_TOKENS:
                raise ConfigError(f"timestamp pattern token {token!r} is not supported locally")
            out.append(_JAVA_TOKENS[token])
            i = j
        else:
            out.append("%%" if char == "%" else char)
            i += 1
    return "".join(out)


def missing_partition_keys(prefix: str, partition_keys: Mapping[str, str] | None) -> list[str]:
    """The keys the prefix asks for that the transform did not return."""
    wanted = [m.group(2) or "" for m in _EXPRESSION.finditer(prefix)
              if m.group(1) in ("partitionKeyFromLambda", "partitionKeyFromQuery")]
    return [k for k in wanted if not partition_keys or k not in partition_keys]


def uses_timestamp_or_keys(prefix: str) -> bool:
    return any(m.group(1) in ("timestamp", "partitionKeyFromLambda", "partitionKeyFromQuery")
               for m in _EXPRESSION.finditer(prefix))


def evaluate_prefix(prefix: str, *, arrival_ms: int, partition_keys: Mapping[str, str] | None,
                    random_string: Callable[[], str], error_output_type: str | None = None) -> str:
    moment = datetime.fromtimestamp(arrival_ms / 1000, tz=UTC)

    def replace(match: re.Match[str]) -> str:
        namespace, argument = match.group(1), match.group(2) or ""
        if namespace == "timestamp":
            return moment.strftime(java_pattern_to_strftime(argument))
        if namespace == "firehose" and argument == "random-string":
            return random_string()
        if namespace == "firehose" and argument == "error-output-type":
            if error_output_type is None:
                raise ConfigError("!{firehose:error-output-type} is only allowed in the error prefix")
            return error_output_type
        if namespace in ("partitionKeyFromLambda", "partitionKeyFromQuery"):
            if partition_keys is None or argument not in partition_keys:
                raise MissingPartitionKey(argument)
            return partition_keys[argument]
        raise ConfigError(f"unsupported prefix expression {match.group(0)!r}")

    evaluated = _EXPRESSION.sub(replace, prefix)
    if not uses_timestamp_or_keys(prefix):
        # Firehose appends the UTC arrival hour when the prefix names no time of its own.
        evaluated += moment.strftime("%Y/%m/%d/%H/")
    if len(evaluated) > MAX_PREFIX_CHARS:
        raise ConfigError(f"evaluated prefix is longer than {MAX_PREFIX_CHARS} characters")
    return evaluated
