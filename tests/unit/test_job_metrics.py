"""The jobs' figures reach CloudWatch as the dashboard and alarms read them: EMF lines turned into
PutMetricData calls (moto's CloudWatch), in chunks of the API's limit, a refused put logged and counted."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import boto3
import pytest
from botocore.config import Config
from moto import mock_aws

from glue_jobs.compact_bars import JOB, CompactionResult, metric_lines
from glue_jobs.job_metrics import MAX_DATA_PER_CALL, MetricPublisher, publisher_from
from ohlcv_core.emf import emf_line, metric_data

RESULT = CompactionResult(run_id="jr_1", dates=("2024-01-02",), objects_in=3, rows_in=1200, duplicates_removed=7,
                          late_rows=2, rest_bars_in=0, rest_conflicts=0, partitions_published=4, files_collected=0,
                          bars_out={"bars_1m": 390, "bars_5m": 78, "bars_1h": 7, "bars_1d": 1}, duration_s=12.5,
                          bars_withheld=1)


@pytest.fixture
def cloudwatch() -> Any:
    with mock_aws():
        yield boto3.client("cloudwatch", region_name="us-east-1")


def test_an_emf_line_is_the_metric_data_cloudwatch_would_extract() -> None:
    line = emf_line("Space", 1_700_000_000_000, {"Job": "x", "Rule": "r"}, {"A": (2.0, "Count"), "B": (0.5, "None")})
    namespace, data = metric_data(line)
    assert namespace == "Space"
    assert data == [{"MetricName": "A", "Dimensions": [{"Name": "Job", "Value": "x"}, {"Name": "Rule", "Value": "r"}],
                     "Timestamp": 1_700_000_000.0, "Value": 2.0, "Unit": "Count"},
                    {"MetricName": "B", "Dimensions": [{"Name": "Job", "Value": "x"}, {"Name": "Rule", "Value": "r"}],
                     "Timestamp": 1_700_000_000.0, "Value": 0.5, "Unit": "None"}]


def test_a_compaction_runs_figures_are_put_under_its_job(cloudwatch: Any) -> None:
    now_ms = int(datetime.now(UTC).timestamp() * 1000)
    publisher = MetricPublisher(cloudwatch)
    publisher.put(metric_lines(RESULT, now_ms, namespace="Mine"))
    listed = cloudwatch.list_metrics(Namespace="Mine")["Metrics"]
    assert {m["MetricName"] for m in listed} >= {"RawRows", "DuplicatesRemoved", "BarsPublished", "BarsWithheld",
                                                  "RunSeconds"}
    assert all(m["Dimensions"] == [{"Name": "Job", "Value": JOB}] for m in listed)
    stats = cloudwatch.get_metric_statistics(
        Namespace="Mine", MetricName="BarsPublished", Dimensions=[{"Name": "Job", "Value": JOB}],
        StartTime=datetime.fromtimestamp(now_ms / 1000 - 60, tz=UTC),
        EndTime=datetime.fromtimestamp(now_ms / 1000 + 60, tz=UTC), Period=60, Statistics=["Sum"])
    assert [p["Sum"] for p in stats["Datapoints"]] == [476.0]
    assert publisher.failures == 0


def test_many_metrics_go_in_calls_of_at_most_the_limit() -> None:
    class Counting:  # records the sizes of the calls a CloudWatch client receives
        def __init__(self) -> None:
            self.calls: list[int] = []

        def put_metric_data(self, Namespace: str, MetricData: list[dict[str, Any]]) -> None:
            self.calls.append(len(MetricData))

    lines = [emf_line("N", 1, {"Job": "q", "Rule": f"r{i}"}, {"RuleFailed": (0.0, "Count"),
                                                              "RowsFailed": (0.0, "Count")}) for i in range(700)]
    counting = Counting()
    MetricPublisher(counting).put(lines)
    assert counting.calls == [MAX_DATA_PER_CALL, 400]


def test_a_failed_put_is_counted_and_logged_never_raised(caplog: pytest.LogCaptureFixture) -> None:
    # CloudWatch out of reach (nothing listens on the discard port), no retries
    unreachable = boto3.client("cloudwatch", region_name="us-east-1", endpoint_url="http://127.0.0.1:9",
                               aws_access_key_id="x", aws_secret_access_key="x",
                               config=Config(connect_timeout=1, retries={"max_attempts": 1}))
    publisher = MetricPublisher(unreachable)
    publisher.put(metric_lines(RESULT, 1, namespace="Mine"))
    assert publisher.failures == 1 and "metrics not published to Mine: EndpointConnectionError" in caplog.text


def test_only_the_stacks_argument_publishes() -> None:
    assert publisher_from({}, None) is None and publisher_from({"publish_metrics": "false"}, None) is None
    assert isinstance(publisher_from({"publish_metrics": "true"}, object()), MetricPublisher)
