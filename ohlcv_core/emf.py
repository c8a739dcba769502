"""CloudWatch Embedded Metric Format: one JSON document a line, whose metrics CloudWatch extracts from
the log it lands in (the producer's on ECS, the jobs' and functions' own)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

# The dimension (value "live") of what the hot path's copies did: the record path's figures go without
# it, so that its metrics, alarms and dashboards count each record once.
LIVE_DIMENSION = "path"


def emf_line(namespace: str, timestamp_ms: int, dimensions: Mapping[str, str],
             metrics: Mapping[str, tuple[float, str]]) -> str:
    """Metric name -> (value, unit), under one set of dimensions."""
    document: dict[str, Any] = {
        "_aws": {"Timestamp": timestamp_ms, "CloudWatchMetrics": [{
            "Namespace": namespace, "Dimensions": [list(dimensions)],
            "Metrics": [{"Name": name, "Unit": unit} for name, (_, unit) in metrics.items()]}]},
        **dimensions, **{name: value for name, (value, _) in metrics.items()}}
    return orjson.dumps(document).decode()


def metric_data(line: str) -> tuple[str, list[dict[str, Any]]]:
    """An EMF line as PutMetricData's namespace and MetricData: what CloudWatch would extract from it."""
    document = orjson.loads(line)
    (directive,) = document["_aws"]["CloudWatchMetrics"]
    timestamp_s = document["_aws"]["Timestamp"] / 1000
    data = []
    for dimension_set in directive["Dimensions"]:
        dimensions = [{"Name": name, "Value": str(document[name])} for name in dimension_set]
        for metric in directive["Metrics"]:
            data.append({"MetricName": metric["Name"], "Dimensions": dimensions, "Timestamp": timestamp_s,
                         "Value": float(document[metric["Name"]]), "Unit": metric.get("Unit", "None")})
    return str(directive["Namespace"]), data
