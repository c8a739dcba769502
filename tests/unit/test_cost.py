"""`ohlcv cost`: the bill by component from the template's parameters, the measured sizes and the dated
prices; the README's cost section is its output."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from stack_tools.cost import MEASURED, Prices, estimate, readme_section, report
from stack_tools.template import StackTemplate

ROOT = Path(__file__).resolve().parents[2]


def _total(parameters: dict[str, str], rate: float | None = None) -> float:
    lines, _, _ = estimate(StackTemplate(parameters=parameters), rate)
    return sum(line.usd for line in lines)


def _line(parameters: dict[str, str], component: str, rate: float | None = None) -> float:
    lines, _, _ = estimate(StackTemplate(parameters=parameters), rate)
    (usd,) = [line.usd for line in lines if line.component == component]
    return usd


def test_the_default_stack_with_its_producer_costs_at_most_40_dollars_a_month() -> None:
    assert _total({"ProducerDesiredCount": "1"}) <= 40.0


def test_the_readme_cost_section_is_the_commands_output() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    start = readme.index("<!-- ohlcv cost: begin -->") + len("<!-- ohlcv cost: begin -->")
    end = readme.index("<!-- ohlcv cost: end -->")
    assert readme[start:end].strip() == readme_section().strip()


def test_each_component_follows_the_parameter_that_drives_it() -> None:
    base = {"ProducerDesiredCount": "1"}
    assert _line({**base, "CompactionIntervalSeconds": "300"}, "Glue") > 3 * _line(base, "Glue")
    assert _line({**base, "GlueExecutionClass": "STANDARD"}, "Glue") > _line(base, "Glue")
    assert _line({**base, "QualityAfterCompaction": "false"}, "Glue") < _line(base, "Glue")
    assert _line({"ProducerDesiredCount": "0"}, "Fargate (producer)") == 0
    assert _line({**base, "ProducerCpu": "512", "ProducerMemory": "1024"}, "Fargate (producer)") == \
        2 * _line(base, "Fargate (producer)")
    assert _line({**base, "RawRetentionDays": "800"}, "S3") > _line(base, "S3")
    assert _line(base, "Firehose ingestion", 2000) > 20 * _line(base, "Firehose ingestion")
    assert _total(base, 0) < _total(base)  # nothing streaming: the fixed costs alone


def test_a_feed_that_packs_is_billed_by_the_record_not_the_quote() -> None:
    # 2,000 quotes/s with the producer's 20 ms linger: 40 quotes (9.9 KB) a record, billed 10 KB
    lines, _, _ = estimate(StackTemplate(), 2000)
    (firehose,) = [line for line in lines if line.component == "Firehose ingestion"]
    assert "of 40 quote(s), billed 10 KB" in firehose.how


def test_the_report_names_its_prices_date_and_every_component() -> None:
    printed = "\n".join(report(StackTemplate(parameters={"ProducerDesiredCount": "1"})))
    prices = Prices.load()
    assert f"prices of {prices['as_of']}" in printed
    for component in ("Firehose ingestion", "Firehose dynamic partitioning", "Lambda", "Glue", "S3", "SQS",
                      "Fargate (producer)", "Public IPv4 (producer)", "CloudWatch alarms", "CloudWatch dashboard",
                      "Secrets Manager", "Athena, a dashboard refresh"):
        assert re.search(rf"^  {re.escape(component)} +\$", printed, re.M), component


def test_the_hot_path_is_billed_when_on_and_its_bill_shown_when_off() -> None:
    base = {"ProducerDesiredCount": "1"}
    lines, apart, _ = estimate(StackTemplate(parameters=base))
    (offered,) = [line for line in apart if line.component == "Hot path, with LivePath=true"]
    on = {**base, "LivePath": "true"}
    assert _line(on, "Hot path (LivePath=true)") == offered.usd > 5.0
    assert _total(on) == sum(line.usd for line in lines) + offered.usd
    # at most an object a second whatever the rate: 2,000 quotes/s costs more to ingest, not more objects
    assert "2,628,000 objects" in offered.how
    _, busy, _ = estimate(StackTemplate(parameters=on), 2000)
    assert "600 hot-path objects read" in busy[0].how  # the live view's 10 minutes of a refresh
    quicksight = {line.component: line for line in estimate(StackTemplate(parameters={
        **on, "QuickSightPrincipalArn": "arn:aws:quicksight:us-east-1:123456789012:user/default/a"}), 2000)[1]}
    assert "1,200 hot-path objects read" in quicksight["QuickSight, sheets opened"].how  # its 2 live visuals


def test_quicksight_is_billed_apart_by_its_author_and_a_query_per_visual_on_or_off() -> None:
    """Opening the sheets runs a direct query per visual of the dashboard's definition: the bill follows
    the definition; without a principal the same lines say what one would add."""
    off = {line.component: line for line in estimate(StackTemplate())[1]}
    principal = {"QuickSightPrincipalArn": "arn:aws:quicksight:us-east-1:123456789012:user/default/analyst"}
    template = StackTemplate(parameters=principal)
    on = {line.component: line for line in estimate(template)[1]}
    (dashboard,) = [r for _, r in template.cfn.of_type("AWS::QuickSight::Dashboard")]
    visuals = sum(len(sheet["Visuals"]) for sheet in dashboard["Properties"]["Definition"]["Sheets"])
    assert on["QuickSight, sheets opened"].how.startswith(f"{visuals} queries, 10 MB each")
    assert on["QuickSight, sheets opened"].usd == pytest.approx(  # the hot path is off: queries alone
        visuals / MEASURED.dashboard_queries * on["Athena, a dashboard refresh"].usd)
    assert on["QuickSight author"].usd == off["QuickSight author"].usd > 0
    assert off["QuickSight, sheets opened"].usd == on["QuickSight, sheets opened"].usd
    assert all(off[name].how.startswith("with QuickSightPrincipalArn: ") and not on[name].how.startswith("with")
               for name in ("QuickSight author", "QuickSight, sheets opened"))
