"""`ohlcv quality`: the quality job on demand for a date range, on the local lake (the job's own code on
the local Spark, with the template's arguments) or on a deployed stack (a run of its Glue job)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import boto3
from botocore.config import Config

from glue_jobs.check_quality import QualityResult, main, now_option
from glue_jobs.evaluate import load_ruleset
from local_stack.glue import local_arguments
from local_stack.s3 import LocalS3
from ohlcv_core.errors import ConfigError
from stack_tools.template import StackTemplate

QUALITY_JOB = "QualityJob"  # the job's logical id in the template


def job_argv(lake: Path, template: StackTemplate | None = None) -> list[str]:
    """The quality job's arguments as the local Glue gives them (local_stack.glue.local_arguments)."""
    job = (template or StackTemplate()).glue_job(QUALITY_JOB)
    return [part for pair in local_arguments(job, LocalS3(lake / "s3")).items() for part in pair]


def run_local(lake: Path, dates: Sequence[str], spark: Callable[[], Any], *, symbols: Sequence[str] = (),
              now: str | None = None, ruleset: Path | None = None) -> QualityResult:
    if not (lake / "s3").is_dir():
        raise ConfigError(f"{lake} holds no lake (run `ohlcv demo` or `ohlcv local up` first, or give --lake)")
    # what the job would refuse, refused before Spark starts
    now_option({"now": now} if now else {})
    if ruleset:
        load_ruleset(str(ruleset))
    argv = [*job_argv(lake), "--dates", ",".join(dates)]
    if symbols:
        argv += ["--symbols", ",".join(symbols)]
    if now:
        argv += ["--now", now]
    if ruleset:
        argv += ["--ruleset", str(ruleset)]
    return main(argv, spark=spark())


def _cell(value: object) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) or abs(value) < 1e6 else f"{value:.0f}"
    return str(value)


def format_result(result: QualityResult) -> str:
    header = ("rule", "policy", "outcome", "measured", "checked", "failed", "")
    rows = [(str(o["rule"]), f"{o['policy']}{', blocking' if o['blocking'] else ''}", str(o["outcome"]),
             _cell(o["measured"]), _cell(o["rows_checked"]), _cell(o["rows_failed"]), str(o["message"]))
            for o in result.outcomes]
    widths = [max(len(h), *(len(r[i]) for r in rows)) if rows else len(h) for i, h in enumerate(header)]
    lines = ["  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip(),
             "  ".join("-" * w for w in widths[:-1])]
    lines += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    passed = sum(o["outcome"] == "Passed" for o in result.outcomes)
    span = result.dates[0] if len(result.dates) == 1 else f"{result.dates[0]} to {result.dates[-1]}"
    lines += ["", f"run {result.run_id}: {span} ({len(result.dates)} dates), score {result.score:.2f} "
              f"({passed} of {result.rules} rules passed), {result.quarantined} rows quarantined "
              f"({result.withheld} withheld), {result.duration_s} s"]
    if result.blocking_failed:
        lines.append("blocking rules failed: " + ", ".join(result.blocking_failed))
    lines.append("query them: ohlcv query \"SELECT rule, action, symbol, bar_start, reason FROM quality_quarantine "
                 f"WHERE dt BETWEEN '{result.dates[0]}' AND '{result.dates[-1]}'\"")
    return "\n".join(lines)


def start_on_aws(job_name: str, dates: Sequence[str], symbols: Sequence[str], region: str) -> str:
    """A run of a deployed stack's quality job; its id."""
    arguments = {"--dates": ",".join(dates)}
    if symbols:
        arguments["--symbols"] = ",".join(symbols)
    client = boto3.client("glue", region_name=region, config=Config(connect_timeout=10, read_timeout=30))
    run_id: str = client.start_job_run(JobName=job_name, Arguments=arguments)["JobRunId"]
    return run_id
