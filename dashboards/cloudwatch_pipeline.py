"""The pipeline panel of a deployed stack (`ohlcv dashboard --stack`): the units' metrics from CloudWatch
(GetMetricData: the figures the local panel reads from the same EMF lines) and the jobs' latest runs
from Glue (GetJobRuns). The record path's figures only: the hot path's carry path=live."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from dashboards.sources import PRODUCER, TRANSFORM, Pipeline
from local_stack.cloudwatch import GlueRun
from ohlcv_core.errors import PipelineError

WINDOW = timedelta(hours=24)  # the totals' span
RATE_WINDOW = timedelta(minutes=5)  # quotes/s over the last minutes
_TOTALS = ((PRODUCER, "MessagesReceived"), (TRANSFORM, "RowsOut"), (PRODUCER, "Reconnects"),
           (PRODUCER, "GapsRepaired"))


class CloudWatchPipeline:
    def __init__(self, cloudwatch: Any, glue: Any, namespace: str, jobs: Sequence[str], *,
                 clock: Callable[[], float] = time.time) -> None:
        self._cloudwatch = cloudwatch
        self._glue = glue
        self._namespace = namespace
        self._jobs = tuple(jobs)
        self._clock = clock

    def _sums(self, metrics: Sequence[tuple[str, str]], since: datetime, until: datetime) -> list[float]:
        period = int((until - since).total_seconds())
        queries = [{"Id": f"m{i}", "ReturnData": True, "MetricStat": {
            "Metric": {"Namespace": self._namespace, "MetricName": name,
                       "Dimensions": [{"Name": "service", "Value": service}]},
            "Period": period, "Stat": "Sum"}} for i, (service, name) in enumerate(metrics)]
        sums = [0.0] * len(queries)
        for start in range(0, len(queries), 500):  # GetMetricData takes 500 queries a call
            token: str | None = None
            while True:
                page = self._cloudwatch.get_metric_data(MetricDataQueries=queries[start:start + 500],
                                                        StartTime=since, EndTime=until,
                                                        **({"NextToken": token} if token else {}))
                for result in page["MetricDataResults"]:
                    sums[int(result["Id"][1:])] += sum(result.get("Values", []))
                token = page.get("NextToken")
                if not token:
                    break
        return sums

    def _refusal_codes(self) -> list[str]:
        names = []
        for page in self._cloudwatch.get_paginator("list_metrics").paginate(
                Namespace=self._namespace, Dimensions=[{"Name": "service", "Value": TRANSFORM}]):
            names += [m["MetricName"] for m in page["Metrics"] if m["MetricName"].startswith("RecordsFailed.")
                      and len(m.get("Dimensions", [])) == 1]
        return sorted(set(names))

    def _latest_run(self, job: str) -> GlueRun | None:
        runs = [r for r in self._glue.get_job_runs(JobName=job, MaxResults=10).get("JobRuns", [])
                if r.get("CompletedOn") is not None]
        if not runs:
            return None
        run = max(runs, key=lambda r: r["CompletedOn"])
        return GlueRun(job, run["Id"], run["JobRunState"], float(run.get("ExecutionTime", 0)),
                       run["CompletedOn"].astimezone(UTC))

    def __call__(self) -> Pipeline:
        until = datetime.fromtimestamp(self._clock(), tz=UTC)
        try:
            codes = self._refusal_codes()
            totals = self._sums([*_TOTALS, *((TRANSFORM, c) for c in codes)], until - WINDOW, until)
            (recent,) = self._sums([_TOTALS[0]], until - RATE_WINDOW, until)
            runs = {job: run for job in self._jobs if (run := self._latest_run(job)) is not None}
        except (ClientError, BotoCoreError) as exc:
            raise PipelineError(f"CloudWatch or Glue did not answer: {exc}") from None
        received, delivered, reconnects, repaired = (int(v) for v in totals[:4])
        refused = {f"failed: {code.removeprefix('RecordsFailed.')}": int(v)
                   for code, v in zip(codes, totals[4:], strict=True) if v}
        return Pipeline(quotes_per_second=recent / RATE_WINDOW.total_seconds(), messages_received=received,
                        records_delivered=delivered, refused=refused, reconnects=reconnects, gaps_repaired=repaired,
                        buffered_bytes=None, last_runs=runs)
