"""CloudWatch Embedded Metric Format: one JSON document a line, whose metrics CloudWatch extracts from
the log it lands in (the producer's on ECS, the jobs' and functions' own)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson


def emf_line(namespace: str, timestamp_ms: int, dimensions: Mapping[str, str],
             metrics: Mapping[str, tuple[float, str]]) -> str:
    """Metric name -> (value, unit), under one set of dimensions."""
    document: dict[str, Any] = {
        "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [{
            "Namespace": namespace, "Dimensions": [list(dimensions)],
            "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()]}]},
        **dimensions, **{name: value for name, (value, _) in metrics.items()}}
    return orjson.dumps(document).decode()
