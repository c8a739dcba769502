"""The jobs' figures as CloudWatch metrics. Their EMF lines go to the run's log, where the local stack's
CloudWatch reader (and a person) finds them; on Glue they are also put with PutMetricData, because Glue
prefixes its log lines and CloudWatch extracts metrics only from lines that are EMF documents whole."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

import boto3

from ohlcv_core import config
from ohlcv_core.emf import metric_data

LOG = logging.getLogger(__name__)
MAX_DATA_PER_CALL = 1000  # PutMetricData's limit


class MetricPublisher:
    """Puts EMF lines' metrics with a CloudWatch client. A refused put is logged and counted: the run's
    data is published by then, and its figures stay in its log."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.failures = 0

    def put(self, lines: Sequence[str]) -> None:
        by_namespace: dict[str, list[dict[str, Any]]] = {}
        for line in lines:
            namespace, data = metric_data(line)
            by_namespace.setdefault(namespace, []).extend(data)
        for namespace, data in by_namespace.items():
            for start in range(0, len(data), MAX_DATA_PER_CALL):
                try:
                    self._client.put_metric_data(Namespace=namespace, MetricData=data[start:start + MAX_DATA_PER_CALL])
                except Exception as exc:  # noqa: BLE001 - any refusal is counted and logged, never fatal
                    self.failures += 1
                    LOG.error("metrics not published to %s: %s: %s", namespace, type(exc).__name__, exc)


def publisher_from(options: dict[str, str], client: Any | None) -> MetricPublisher | None:
    """`--publish_metrics true` (the stack's DefaultArguments) publishes, with the client given or Glue's own."""
    if options.get("publish_metrics", "false") != "true":
        return None
    return MetricPublisher(client if client is not None else boto3.client("cloudwatch"))


def namespace_from(options: dict[str, str]) -> str:
    """`--metrics_namespace` (the stack's MetricsNamespace), else the project's default."""
    return options.get("metrics_namespace") or config.DEFAULT_METRICS_NAMESPACE


def emit(lines: Sequence[str], log: Callable[[str], None], publisher: MetricPublisher | None) -> None:
    """A run's EMF lines to its log, and to CloudWatch when a publisher is given."""
    for line in lines:
        log(line)
    if publisher is not None:
        publisher.put(lines)
