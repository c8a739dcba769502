"""Glue Data Quality's outcomes against the job's own evaluator's (glue_jobs/glue_dq.py)."""

from __future__ import annotations

from glue_jobs.evaluate import Outcome, load_ruleset
from glue_jobs.glue_dq import GlueRuleOutcome, glue_evaluator, reconcile

RULESET = load_ruleset()


def _ours(name: str, outcome: str = "Passed") -> Outcome:
    rule = RULESET.rule(name)
    failed = 0 if outcome == "Passed" else 3
    return Outcome(rule, "Passed" if outcome == "Passed" else "Failed", 1.0 - failed / 100, 100, failed,
                   f"{failed} of 100 rows failed (every row)")


def test_off_glue_there_is_no_glue_evaluator_and_the_job_s_outcomes_stand() -> None:
    assert glue_evaluator("quality", "Rules = [ RowCount > 0 ]") is None
    ours = [_ours("positive_prices"), _ours("no_spikes", "Failed")]
    reconciled = reconcile(ours, None)
    assert (reconciled.outcomes, reconciled.judged_by, reconciled.disagreements) == (ours, "local", [])


def test_glue_s_outcome_is_matched_by_the_rule_s_text_whatever_its_spacing() -> None:
    # GIVEN Glue printing a rule with its own spacing, and agreeing
    spike = RULESET.rule("no_spikes")
    glue = [GlueRuleOutcome("  " + spike.text.replace(" ", "   ") + "\n", "Failed", "Value: 23.8 does not meet the "
                            "constraint requirement!")]
    reconciled = reconcile([_ours("no_spikes", "Failed")], glue)
    # THEN the outcome is Glue's (the same), with nothing to report
    assert reconciled.judged_by == "glue" and reconciled.disagreements == []
    assert reconciled.outcomes[0].outcome == "Failed"


def test_where_the_two_disagree_glue_s_verdict_stands_and_both_are_said() -> None:
    ours = [_ours("positive_prices"), _ours("minutes_complete", "Failed"), _ours("no_repeated_bars")]
    glue = [GlueRuleOutcome(RULESET.rule("positive_prices").text, "Error", "Column low is not numeric"),
            GlueRuleOutcome(RULESET.rule("minutes_complete").text, "Passed", None)]
    reconciled = reconcile(ours, glue)
    assert [o.outcome for o in reconciled.outcomes] == ["Failed", "Passed", "Passed"]
    assert reconciled.outcomes[0].message == ("Glue Data Quality: Column low is not numeric; the job's evaluator: "
                                              "0 of 100 rows failed (every row)")
    # the job's measured values and row counts are kept: they are what the quarantine holds
    assert reconciled.outcomes[1].rows_failed == 3
    assert reconciled.disagreements == [
        "positive_prices: Glue Data Quality Error (Column low is not numeric), the job's evaluator Passed "
        "(0 of 100 rows failed (every row))",
        "minutes_complete: Glue Data Quality Passed (Passed), the job's evaluator Failed "
        "(3 of 100 rows failed (every row))",
        "no_repeated_bars: Glue Data Quality reported no outcome for "
        f"{RULESET.rule('no_repeated_bars').text}; the job's evaluator's stands: Passed",
    ]
