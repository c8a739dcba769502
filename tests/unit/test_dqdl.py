"""The DQDL reader: the packaged ruleset, the subset's syntax, and the line of everything it refuses."""

from __future__ import annotations

from pathlib import Path

import pytest

from ohlcv_core.dqdl import Condition, Rule, parse_ruleset
from ohlcv_core.errors import ConfigError

RULESET = Path(__file__).resolve().parents[2] / "glue_jobs" / "ruleset.dqdl"


def _one(rule: str, annotation: str = "# rule r [flag]: what it checks") -> Rule:
    (parsed,) = parse_ruleset(f"Rules = [\n  {annotation}\n  {rule}\n]").rules
    return parsed


def test_the_packaged_ruleset_parses_and_names_every_rule() -> None:
    ruleset = parse_ruleset(RULESET.read_text(encoding="utf-8"))
    assert ruleset.metadata == {"Version": "1.0"}
    names = [r.name for r in ruleset.rules]
    assert len(names) == len(set(names)) == 18
    assert {r.rule_type for r in ruleset.rules} == {"RowCount", "IsPrimaryKey", "IsComplete", "CustomSql",
                                                  "ColumnValues", "DataFreshness"}
    withheld = {r.name for r in ruleset.rules if r.policy == "withhold"}
    assert withheld == {"complete_bars", "high_bounds_bar", "low_bounds_bar", "positive_prices", "volume_not_negative"}
    spikes = ruleset.rule("no_spikes")
    assert (spikes.rule_type, spikes.parameters, spikes.condition, spikes.where) == (
        "ColumnValues", ("ret_z",), Condition("<=", (15.0,)), "ret_z is not null")
    assert spikes.text == 'ColumnValues "ret_z" <= 15 where "ret_z is not null"'


@pytest.mark.parametrize(("text", "expected"), [(text, tuple(rest)) for text, *rest in [
    ('IsComplete "close"', "IsComplete", ("close",), None, None, None),
    ('IsPrimaryKey "a" "b"', "IsPrimaryKey", ("a", "b"), None, None, None),
    ('ColumnValues "x" between 1 and 2.5', "ColumnValues", ("x",), Condition("between", (1.0, 2.5)), None, None),
    ('ColumnValues "x" not between -1 and 1', "ColumnValues", ("x",), Condition("not between", (-1.0, 1.0)),
     None, None),
    ('ColumnValues "s" in ["a", "b"]', "ColumnValues", ("s",), Condition("in", ("a", "b")), None, None),
    ('ColumnValues "s" not in [1, 2]', "ColumnValues", ("s",), Condition("not in", (1.0, 2.0)), None, None),
    ('ColumnValues "s" matches "[A-Z]+"', "ColumnValues", ("s",), Condition("matches", ("[A-Z]+",)), None, None),
    ('ColumnValues "x" != 3', "ColumnValues", ("x",), Condition("!=", (3.0,)), None, None),
    ('ColumnValues "x" ! = 3', "ColumnValues", ("x",), Condition("!=", (3.0,)), None, None),
    ('ColumnValues "x" > 0 where "y = \\"q\\"" with threshold >= 0.9', "ColumnValues", ("x",),
     Condition(">", (0.0,)), 'y = "q"', Condition(">=", (0.9,))),
    ('RowCount between 10 and 20', "RowCount", (), Condition("between", (10.0, 20.0)), None, None),
    ('DataFreshness "t" <= 5 minutes', "DataFreshness", ("t",), Condition("<=", (300.0,), "minutes"), None, None),
    ('DataFreshness "t" between 1 hours and 2 days', "DataFreshness", ("t",),
     Condition("between", (3600.0, 172800.0), "hours"), None, None),
    ('CustomSql "select count(*) from primary" > 0', "CustomSql", ("select count(*) from primary",),
     Condition(">", (0.0,)), None, None),
]])
def test_each_rule_form_of_the_subset(text: str, expected: tuple[object, ...]) -> None:
    # expected: rule type, parameters, condition, where, threshold
    rule = _one(text)
    assert (rule.rule_type, rule.parameters, rule.condition, rule.where, rule.threshold) == expected
    assert rule.text == text


@pytest.mark.parametrize(("condition", "value", "holds"), [
    (Condition(">", (0.0,)), 0.0, False), (Condition(">=", (0.0,)), 0.0, True), (Condition("<", (1.0,)), 0.5, True),
    (Condition("=", (2.0,)), 2.0, True), (Condition("!=", (2.0,)), 2.0, False),
    (Condition("between", (1.0, 2.0)), 1.0, False), (Condition("between", (1.0, 2.0)), 1.5, True),
    (Condition("not between", (1.0, 2.0)), 1.0, True), (Condition("in", ("a", "b")), "b", True),
    (Condition("not in", ("a",)), "a", False), (Condition("matches", ("A.C",)), "ABC", True),
    (Condition("matches", ("A.C",)), "ABCD", False), (Condition(">", (0.0,)), None, False),
    (Condition(">", (0.0,)), "1", False),
])
def test_a_condition_judges_a_value_as_glue_does(condition: Condition, value: float | str | None,
                                                 holds: bool) -> None:
    assert condition.holds(value) is holds


@pytest.mark.parametrize(("text", "message"), [
    ('Rules = [\n  IsComplete "a"\n]', r"line 2: a rule needs the line '# rule <name>"),
    ('Rules = [\n  # rule a [flag]: x\n  Completeness "a" > 0.9\n]', r"line 3: rule type Completeness is outside"),
    ('Rules = [\n  # rule a [flag]: x\n  (IsComplete "a") and (IsComplete "b")\n]',
     r"line 3: composite rules \(and, or\) are outside"),
    ('DataSources = { "Primary": "x" }\nRules = []', r"line 1: the DataSources section is outside"),
    ('x = "a"\nRules = []', r"line 1: variables are outside"),
    ('Rules = [\n  # rule a [flag]: x\n  IsComplete "a",\n]', r"line 4: a comma must be followed by a rule"),
    ('Rules = [\n  # rule a [flag]: x\n  ColumnValues "a"\n]', r"line 3: ColumnValues needs a condition"),
    ('Rules = [\n  # rule a [flag]: x\n  IsComplete "a" > 1\n]', r"line 3: IsComplete takes no condition"),
    ('Rules = [\n  # rule a [flag]: x\n  DataFreshness "t" <= 5 weeks\n]', r"line 3: a duration's unit"),
    ('Rules = [\n  # rule a [flag]: x\n  ColumnValues "a" > 1 with labels = "x"\n]',
     r"line 3: only 'with threshold'"),
    ('Rules = [\n  # rule a [flag]: x\n  ColumnValues "a" matches "(" \n]', r"line 3: not a regular expression"),
    ('Rules = [\n  # rule a [flag]: x\n  ColumnValues "a > 1\n]', r"line 3: unexpected character"),
    ('Rules = [\n  # rule a [flag]: x\n  RowCount > 0,\n  # rule a [flag]: y\n  RowCount > 1\n]',
     r"line 5: rule name 'a' is used twice"),
    ('Rules = [\n  # rule a [drop]: x\n  RowCount > 0\n]', r"line 3: a rule needs the line"),
    ('Rules = [\n  # rule a [flag]: x\n  RowCount > 0\n] extra', r"line 4: nothing may follow"),
    ('Rules = [\n  # rule a [flag]: x\n  ColumnValues "a" ! > 1\n]', r"line 3: only =, between, in and matches"),
    ("", r"line 1: expected 'Rules = \['"),
])
def test_a_malformed_ruleset_fails_with_its_line(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_ruleset(text)
