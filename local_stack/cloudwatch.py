"""What CloudWatch would make of the local stack's logs (`<lake>/cloudwatch/`): the EMF metric lines the
producer, the transform and the triggers write, the transform's reasons for the records it refused, and
the Glue runs with their states and durations. Only the tail of each file is read (TAIL_BYTES), so a
dashboard refreshing over a long-lived lake reads a bounded amount."""

from __future__ import annotations

import contextlib
import logging
import re
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson

from ohlcv_core.emf import LIVE_DIMENSION
from ohlcv_core.json_logs import JsonLineFormatter

TAIL_BYTES = 4 * 1024 * 1024
_GLUE_END = re.compile(r"^run (?P<id>\S+) (?P<state>[A-Z]+) in (?P<seconds>[\d.]+) s$")  # the stand-in's own line


@dataclass(frozen=True)
class MetricPoint:
    service: str
    name: str
    value: float
    unit: str
    timestamp_ms: int
    dimensions: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class GlueRun:
    job: str
    run_id: str
    state: str
    seconds: float
    ended_at: datetime


def _tail_lines(path: Path, limit: int = TAIL_BYTES) -> list[bytes]:
    with path.open("rb") as handle:
        size = handle.seek(0, 2)
        handle.seek(max(0, size - limit))
        data = handle.read()
    lines = data.split(b"\n")
    return lines[1:] if size > limit else lines  # the first line of a tail may be cut


def _json(line: bytes) -> dict[str, Any] | None:
    if not line.startswith(b"{"):
        return None
    try:
        value = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return value if isinstance(value, dict) else None


@contextlib.contextmanager
def logged_to(path: Path, service: str, loggers: Sequence[logging.Logger]) -> Iterator[None]:
    """While open, what `loggers` log goes to `path` (the unit's log group, locally), as JSON lines under
    `service`, and not to the console."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(JsonLineFormatter(service))
    saved = [(logger.level, logger.propagate) for logger in loggers]
    for logger in loggers:
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
        logger.propagate = False
    try:
        yield
    finally:
        for logger, (level, propagate) in zip(loggers, saved, strict=True):
            logger.removeHandler(handler)
            logger.setLevel(level)
            logger.propagate = propagate
        handler.close()


def _json_lines(lines: list[bytes]) -> list[dict[str, Any]]:
    return [record for line in lines if (record := _json(line)) is not None]


def log_entries(folder: Path, where: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every JSON log line of the stack's units (Lambdas, ECS tasks, Glue runs: each a log file under
    `folder`) whose fields equal `where`'s, oldest first: what a Logs Insights query of the stack's log
    groups, `filter field = "value" and ...`, returns."""
    entries = [record for path in sorted(folder.rglob("*.log")) if path.is_file()
               for record in _json_lines(_tail_lines(path))
               if all(str(record.get(key)) == value for key, value in (where or {}).items())]
    return sorted(entries, key=lambda record: str(record.get("timestamp", "")))


def _function_logs(folder: Path) -> list[Path]:
    return sorted(p for p in folder.glob("*.log") if p.is_file()) if folder.is_dir() else []


def emf_points(record: dict[str, Any]) -> list[MetricPoint]:
    """The metrics one EMF line declares, each with the line's dimension values."""
    meta = record.get("_aws")
    if not isinstance(meta, dict):
        return []
    points = []
    for directive in meta.get("CloudWatchMetrics") or []:
        names = {name for group in directive.get("Dimensions") or [] for name in group}
        dimensions = tuple(sorted((name, str(record.get(name, ""))) for name in names))
        for metric in directive.get("Metrics") or []:
            raw = record.get(metric.get("Name"))
            for value in raw if isinstance(raw, list) else [raw]:
                if isinstance(value, int | float) and not isinstance(value, bool):
                    points.append(MetricPoint(str(record.get("service", "")), str(metric["Name"]), float(value),
                                              str(metric.get("Unit", "None")), int(meta.get("Timestamp", 0)),
                                              dimensions))
    return points


def read_metrics(folder: Path) -> list[MetricPoint]:
    return [point for path in _function_logs(folder) for line in _tail_lines(path)
            if (record := _json(line)) is not None for point in emf_points(record)]


def refusal_reasons(folder: Path) -> Counter[str]:
    """Records the transform refused (failed: kept in the error zone) or dropped, by reason code."""
    reasons: Counter[str] = Counter()
    for path in _function_logs(folder):
        for line in _tail_lines(path):
            record = _json(line)
            if record is None or record.get("message") != "batch transformed" or LIVE_DIMENSION in record:
                continue  # (the hot path's copies were refused in the record path too: counted there)
            for kind in ("failed", "dropped"):
                for reason, count in (record.get(kind) or {}).items():
                    reasons[f"{kind}: {reason}"] += int(count)
    return reasons


def glue_runs(folder: Path) -> list[GlueRun]:
    """Every finished run in the Glue logs (`<folder>/glue/<job>/<run>.log`), oldest first."""
    runs = []
    glue = folder / "glue"
    for path in sorted(glue.glob("*/*.log")) if glue.is_dir() else []:
        for entry in _json_lines(_tail_lines(path)):
            match = _GLUE_END.match(str(entry.get("message", "")))
            if match:
                ended = datetime.strptime(str(entry["timestamp"]), "%Y-%m-%d %H:%M:%S,%f%z").astimezone(UTC)
                runs.append(GlueRun(path.parent.name, match["id"], match["state"], float(match["seconds"]), ended))
    return sorted(runs, key=lambda r: r.ended_at)
