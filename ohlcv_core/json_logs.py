"""Log lines as JSON, with the keys the Lambdas' Powertools Logger writes (level, location, message,
timestamp, service, then the record's extras; exception and exception_name for a traceback), so one Logs
Insights query (`filter service = "producer" and level = "WARNING"`) spans the producer, the backfill, the
Lambdas and the Glue jobs. The units outside Lambda format with this rather than ship Powertools.
"""

from __future__ import annotations

import logging
import sys
import time
from typing import IO, Any

import orjson

# What every LogRecord carries: whatever else a record holds came from `extra=` and is written as a key.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime"}


class JsonLineFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "level": record.levelname, "location": f"{record.funcName}:{record.lineno}",
            "message": record.getMessage(),
            "timestamp": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(record.created))
            + f",{int(record.msecs):03d}+0000",
            "service": self.service,
        }
        line.update({key: value for key, value in vars(record).items() if key not in _STANDARD})
        if record.exc_info and record.exc_info[0] is not None:
            line["exception"] = self.formatException(record.exc_info)
            line["exception_name"] = record.exc_info[0].__name__
        return orjson.dumps(line, default=str).decode()


def log_as_json(service: str, level: int = logging.INFO, stream: IO[str] | None = None) -> None:
    """The process's log lines (the root logger's) as JSON on `stream` (standard error by default)."""
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.setFormatter(JsonLineFormatter(service))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
