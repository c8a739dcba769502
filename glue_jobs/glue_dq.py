"""Glue Data Quality's own judgement of the ruleset, where the job runs on Glue.

On Glue, the quality job hands the ruleset's text and the frame it judges (the curated bars with their
measures, glue_jobs/check_quality.primary_frame) to EvaluateDataQuality, which publishes its results to
Glue Data Quality (the console's history, the ruleset's runs) and to CloudWatch under the job's context.
Its outcome per rule is the run's outcome of record. The job's own evaluator (glue_jobs/evaluate.py)
still finds the failing rows, for the quarantine, and the measured values, for the results table; a rule
the two judge differently is logged with both verdicts and counted (EMF metric EvaluatorDisagreements),
never settled quietly.

Off Glue (the local stack, tests, `ohlcv quality`) `awsgluedq` does not exist: the job's evaluator's
outcomes stand, and the results say so (judged_by = local).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Literal

from pyspark.sql import DataFrame

from glue_jobs.evaluate import Outcome

JudgedBy = Literal["glue", "local"]


@dataclass(frozen=True)
class GlueRuleOutcome:
    """A row of EvaluateDataQuality's results: the rule as Glue prints it, Passed, Failed or Error, and
    why it did not pass."""
    rule: str
    outcome: str
    failure_reason: str | None


GlueEvaluator = Callable[[DataFrame], Sequence[GlueRuleOutcome]]


def glue_evaluator(context: str, ruleset: str) -> GlueEvaluator | None:
    """EvaluateDataQuality of the ruleset's text on a frame, publishing under `context`; None off Glue."""
    # Only Glue's runtime has these modules: imported here, where their absence is the answer.
    try:
        from awsglue.context import GlueContext  # type: ignore[import-not-found]  # noqa: PLC0415
        from awsglue.dynamicframe import DynamicFrame  # type: ignore[import-not-found]  # noqa: PLC0415
        from awsgluedq.transforms import EvaluateDataQuality  # type: ignore[import-not-found]  # noqa: PLC0415
    except ImportError:
        return None

    def evaluate(frame: DataFrame) -> list[GlueRuleOutcome]:
        glue = GlueContext(frame.sparkSession.sparkContext)
        results = EvaluateDataQuality.apply(
            frame=DynamicFrame.fromDF(frame, glue, "primary"), ruleset=ruleset,
            publishing_options={"dataQualityEvaluationContext": context,
                                "enableDataQualityCloudWatchMetrics": True,
                                "enableDataQualityResultsPublishing": True})
        return [GlueRuleOutcome(str(row["Rule"]), str(row["Outcome"]), row["FailureReason"])
                for row in results.toDF().collect()]

    return evaluate


def _normal(rule_text: str) -> str:
    return re.sub(r"\s+", " ", rule_text).strip()


@dataclass(frozen=True)
class Reconciled:
    outcomes: list[Outcome]
    judged_by: JudgedBy
    disagreements: list[str]  # one line per rule the two evaluators judged differently, or Glue did not report


def reconcile(ours: Sequence[Outcome], glue: Sequence[GlueRuleOutcome] | None) -> Reconciled:
    """Glue's outcome per rule where it judged one (matched by the rule's text), ours beside it."""
    if glue is None:
        return Reconciled(list(ours), "local", [])
    by_text = {_normal(g.rule): g for g in glue}
    outcomes, disagreements = [], []
    for local in ours:
        found = by_text.get(_normal(local.rule.text))
        if found is None:
            disagreements.append(f"{local.rule.name}: Glue Data Quality reported no outcome for "
                                 f"{local.rule.text}; the job's evaluator's stands: {local.outcome}")
            outcomes.append(local)
            continue
        verdict: Literal["Passed", "Failed"] = "Passed" if found.outcome == "Passed" else "Failed"
        if verdict == local.outcome:
            outcomes.append(local)
            continue
        why = found.failure_reason or found.outcome
        disagreements.append(f"{local.rule.name}: Glue Data Quality {found.outcome} ({why}), "
                             f"the job's evaluator {local.outcome} ({local.message})")
        outcomes.append(replace(local, outcome=verdict,
                                message=f"Glue Data Quality: {why}; the job's evaluator: {local.message}"))
    return Reconciled(outcomes, "glue", disagreements)
