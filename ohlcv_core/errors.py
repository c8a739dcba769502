"""The one exception hierarchy of the project.

OhlcvError
  +-- ConfigError        a setting is missing or invalid (raised once, at start-up)
  +-- RecordRejected     one input record cannot be accepted; carries a machine-readable reason code
  +-- RecordingError     a recording file is unreadable or malformed
  +-- ContractError      a peer broke an external contract (Firehose, Lambda response, Twelve Data)
  +-- PipelineError      a stage of the local pipeline failed (a job run, a delivery)
"""

from __future__ import annotations

import re
from typing import Literal

# An API key quoted back in a message (a payload snippet, a URL) must not reach a log line.
_SECRET = re.compile(r"(?i)(api[_-]?key|token|x-td-apikey)([\"']?\s*[:=]\s*[\"']?|\s+)([^\s&\"',}]+)")


def redact(text: str) -> str:
    return _SECRET.sub(lambda m: f"{m.group(1)}{m.group(2)}***", text)

ReasonCode = Literal[
    "not_base64",
    "not_utf8",
    "not_json",
    "bad_envelope",
    "unsupported_envelope_version",
    "unknown_event",
    "missing_field",
    "invalid_symbol",
    "invalid_price",
    "invalid_volume",
    "invalid_timestamp",
    "invalid_bar",
    "invalid_interval",
    "timestamp_out_of_window",
    "spans_partitions",
    "record_too_large",
    "response_too_large",
    "internal_error",
]


class OhlcvError(Exception):
    """Base class of every error this project raises on purpose."""


class ConfigError(OhlcvError):
    """A setting is missing or invalid."""


class RecordRejected(OhlcvError):
    """One record cannot be accepted; `code` says why in a form machines can count."""

    def __init__(self, code: ReasonCode, message: str) -> None:
        message = redact(message)
        super().__init__(f"{code}: {message}")
        self.code: ReasonCode = code
        self.message = message


class RecordingError(OhlcvError):
    """A recording file is unreadable or malformed."""


class ContractError(OhlcvError):
    """A peer broke an external contract."""


class PipelineError(OhlcvError):
    """A stage of the local pipeline failed."""
