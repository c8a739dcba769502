"""Our evaluator of a DQDL ruleset (ohlcv_core.dqdl) on a Spark DataFrame: what Glue Data Quality's
EvaluateDataQuality does with the same file on AWS, for the rule types of the subset.

A row-level rule (IsComplete, IsUnique, IsPrimaryKey, ColumnValues, DataFreshness, and CustomSql of the
form `select ... from primary where <condition>`) judges every row its `where` clause admits: it passes
when every such row passes, or, `with threshold`, when the share that passes meets the threshold; its
measured value is that share. Null never passes a comparison, as on Glue. An aggregate rule (RowCount,
CustomSql with a condition) compares one number with its condition.

The frame is read once: every rule's counts are observed on the way to the rows that failed.
"""

from __future__ import annotations

import functools
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Literal

import sqlglot
from pyspark.sql import Column, DataFrame, Observation, SparkSession, Window
from pyspark.sql import functions as F
from sqlglot import exp
from sqlglot.errors import ParseError

from ohlcv_core.dqdl import Condition, Rule, Ruleset, parse_ruleset
from ohlcv_core.errors import ConfigError

PRIMARY = "primary"  # the name CustomSql statements give the dataset, as on Glue
UNIQUENESS = ("IsUnique", "IsPrimaryKey")


def packaged_ruleset() -> str:
    """The ruleset shipped beside the jobs (in their zip on Glue)."""
    return resources.files("glue_jobs").joinpath("ruleset.dqdl").read_text(encoding="utf-8")


def ruleset_text(location: str | None = None) -> str:
    """The packaged ruleset's text, or a file's (a job's --ruleset)."""
    if not location:
        return packaged_ruleset()
    try:
        return Path(location).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"--ruleset {location}: {exc.strerror or exc}") from None


def load_ruleset(location: str | None = None) -> Ruleset:
    """The packaged ruleset, or the one in a file (a job's --ruleset), parsed."""
    return parse_ruleset(ruleset_text(location))


def withhold_rules(ruleset: Ruleset) -> list[Rule]:
    """The rules whose failures are kept out of the curated tables. Each judges a bar alone (a
    uniqueness rule could only withhold every copy, so it flags)."""
    rules = [r for r in ruleset.rules if r.policy == "withhold"]
    for rule in rules:
        if not rule.row_level or rule.rule_type in UNIQUENESS:
            raise ConfigError(f"line {rule.line}: rule {rule.name} withholds, but a {rule.rule_type} rule does not "
                              "judge a bar alone: give it the flag policy")
    return rules


def first_failed(rules: Sequence[Rule], now_s: float) -> Column:
    """The name of the first rule a row fails, or null: what compaction withholds a bar for."""
    check_supported(Ruleset(tuple(rules), {}))
    failed = [F.when(_admits(rule) & ~_passes(rule, index, now_s), F.lit(rule.name))
              for index, rule in enumerate(rules)]
    return F.coalesce(*failed, F.lit(None).cast("string")) if failed else F.lit(None).cast("string")


@dataclass(frozen=True)
class Outcome:
    rule: Rule
    outcome: Literal["Passed", "Failed"]
    measured: float | None  # the share of rows that passed (row-level), else the number compared
    rows_checked: int
    rows_failed: int
    message: str


@dataclass(frozen=True)
class Evaluation:
    outcomes: list[Outcome]
    failures: DataFrame  # the frame's failing rows, one per rule failed: its columns, `rule`

    @property
    def score(self) -> float:
        return sum(o.outcome == "Passed" for o in self.outcomes) / len(self.outcomes) if self.outcomes else 1.0


def _literal(value: float | str) -> str:
    if isinstance(value, str):
        return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"
    return repr(float(value))


def condition_sql(condition: Condition, subject: str) -> str:
    """A Spark SQL predicate: `subject` meets the condition."""
    values = [_literal(v) for v in condition.values]
    op = condition.operator
    if op in ("between", "not between"):
        inside = f"({subject} > {values[0]} AND {subject} < {values[1]})"
        return inside if op == "between" else f"NOT {inside}"
    if op in ("in", "not in"):
        return f"({subject} {op.upper()} ({', '.join(values)}))"
    if op in ("matches", "not matches"):
        found = f"({subject} RLIKE {_literal('^(?:' + str(condition.values[0]) + ')$')})"
        return found if op == "matches" else f"NOT {found}"
    return f"({subject} {'<>' if op == '!=' else op} {values[0]})"


def _quoted(column: str) -> str:
    return "`" + column.replace("`", "``") + "`"


def custom_sql_condition(rule: Rule) -> str:
    """The row condition of a row-level CustomSql rule: `select <columns> from primary where <condition>`
    keeps the rows that pass."""
    statement = rule.parameters[0]
    try:
        tree = sqlglot.parse_one(statement, read="spark")
    except ParseError as exc:
        raise ConfigError(f"line {rule.line}: rule {rule.name}: not valid Spark SQL: {exc}") from None
    source = tree.args.get("from") or tree.args.get("from_")  # (sqlglot renamed the key)
    if (not isinstance(tree, exp.Select) or source is None or not isinstance(source.this, exp.Table)
            or source.this.name.lower() != PRIMARY or tree.args.get("joins") or tree.args.get("group")
            or tree.args.get("where") is None):
        raise ConfigError(f"line {rule.line}: rule {rule.name}: a CustomSql rule without a condition must read "
                          "'select <columns> from primary where <condition>' (the rows that pass)")
    return str(tree.args["where"].this.sql(dialect="spark"))


def check_supported(ruleset: Ruleset) -> None:
    """Refuse, before any data is read, a rule this evaluator would not judge as Glue does."""
    for rule in ruleset.rules:
        if rule.rule_type == "CustomSql":
            if rule.where is not None:
                raise ConfigError(f"line {rule.line}: rule {rule.name}: CustomSql takes no where clause "
                                  "(put the condition in its statement)")
            if rule.condition is None:
                custom_sql_condition(rule)


def unique_column(index: int) -> str:
    """The column counting the rows that share a uniqueness rule's key (the rule's index in the ruleset)."""
    return f"_unique{index}"


def passes_sql(rule: Rule, index: int, now_s: float) -> str:
    """Whether a row passes a row-level rule, as a Spark SQL predicate (null counts as not passing).
    Uniqueness rules read unique_column(index)."""
    kind, params = rule.rule_type, rule.parameters
    if kind == "IsComplete":
        return f"{_quoted(params[0])} IS NOT NULL"
    if kind in UNIQUENESS:
        keys = [f"{_quoted(c)} IS NOT NULL" for c in params] if kind == "IsPrimaryKey" else []
        return " AND ".join([f"{unique_column(index)} = 1", *keys])
    if kind == "ColumnValues":
        assert rule.condition is not None
        return condition_sql(rule.condition, _quoted(params[0]))
    if kind == "DataFreshness":
        assert rule.condition is not None
        return condition_sql(rule.condition, f"({now_s!r} - unix_seconds({_quoted(params[0])}))")
    return custom_sql_condition(rule)


def admits_sql(rule: Rule) -> str:
    """The rows a rule judges, as a Spark SQL predicate (its where clause)."""
    return rule.where or "true"


def _passes(rule: Rule, index: int, now_s: float) -> Column:
    return F.coalesce(F.expr(passes_sql(rule, index, now_s)), F.lit(False))


def _admits(rule: Rule) -> Column:
    return F.coalesce(F.expr(admits_sql(rule)), F.lit(False))


def evaluate(spark: SparkSession, frame: DataFrame, ruleset: Ruleset, *, now_s: float,
             keep: Sequence[str] | None = None) -> Evaluation:
    """Every rule of the ruleset on `frame`; `keep` names the columns a failing row keeps (all by default)."""
    check_supported(ruleset)
    rules = list(ruleset.rules)
    # one select for every rule's columns: each withColumn would analyse the whole plan again
    uniques = [F.count(F.when(_admits(rule), F.lit(1))).over(Window.partitionBy(*[F.col(c) for c in rule.parameters]))
               .alias(unique_column(index)) for index, rule in enumerate(rules) if rule.rule_type in UNIQUENESS]
    checked = frame.select("*", *uniques) if uniques else frame
    columns: list[Column] = []
    flags: list[tuple[int, Column, Column]] = []
    for index, rule in enumerate(rules):
        if rule.row_level:
            columns += [_admits(rule).alias(f"_w{index}"), _passes(rule, index, now_s).alias(f"_p{index}")]
            flags.append((index, F.col(f"_w{index}"), F.col(f"_p{index}")))
        elif rule.rule_type == "RowCount":
            columns.append(_admits(rule).alias(f"_w{index}"))
    checked = checked.select("*", *columns)
    # One pass over the frame: the rules' counts are observed on the way to the failing rows (a cache
    # of the whole frame and a second scan cost as much again).
    aggregates = _count_columns(rules)
    observation = Observation(f"rule_counts_{uuid.uuid4().hex}")
    observed = checked.observe(observation, *aggregates) if aggregates else checked
    failed = [F.when(admitted & ~passed, F.lit(rules[index].name)) for index, admitted, passed in flags]
    kept = list(keep) if keep is not None else list(frame.columns)
    if failed:
        failures = observed.where(functools.reduce(lambda a, b: a | b, [f.isNotNull() for f in failed])).select(
            *kept, F.explode(F.filter(F.array(*failed), lambda x: x.isNotNull())).alias("rule"))
    else:
        failures = observed.where(F.lit(False)).select(*kept, F.lit(None).cast("string").alias("rule"))
    failures = failures.localCheckpoint(eager=True)
    counted = observation.get if aggregates else {}
    counts = {index: (int(counted[f"n{index}"]), int(counted[f"p{index}"]))
              for index in range(len(rules)) if f"n{index}" in counted}
    frame.createOrReplaceTempView(PRIMARY)
    outcomes = [_outcome(spark, rule, counts.get(index)) for index, rule in enumerate(rules)]
    return Evaluation(outcomes, failures)


def _count_columns(rules: list[Rule]) -> list[Column]:
    """(rows checked, rows passed) of every row-level rule, and rows counted by RowCount."""
    aggregates = []
    for index, rule in enumerate(rules):
        if rule.row_level:
            aggregates += [F.count_if(F.col(f"_w{index}")).alias(f"n{index}"),
                           F.count_if(F.col(f"_w{index}") & F.col(f"_p{index}")).alias(f"p{index}")]
        elif rule.rule_type == "RowCount":
            aggregates += [F.count_if(F.col(f"_w{index}")).alias(f"n{index}"),
                           F.count_if(F.lit(False)).alias(f"p{index}")]
    return aggregates


def _outcome(spark: SparkSession, rule: Rule, counts: tuple[int, int] | None) -> Outcome:
    if rule.rule_type == "CustomSql" and rule.condition is not None:
        rows = spark.sql(rule.parameters[0]).collect()
        if len(rows) != 1 or len(rows[0]) != 1 or not isinstance(rows[0][0], int | float | None):
            raise ConfigError(f"line {rule.line}: rule {rule.name}: a CustomSql statement with a condition must "
                              "return one number")
        value = None if rows[0][0] is None else float(rows[0][0])
        passed = rule.condition.holds(value)
        return Outcome(rule, "Passed" if passed else "Failed", value, 0, 0,
                       f"value {value if value is not None else 'null'} {'meets' if passed else 'does not meet'} "
                       f"{rule.condition.describe()}")
    assert counts is not None
    checked, passing = counts
    if rule.rule_type == "RowCount":
        assert rule.condition is not None
        passed = rule.condition.holds(float(checked))
        return Outcome(rule, "Passed" if passed else "Failed", float(checked), checked, 0,
                       f"{checked} rows, {'meets' if passed else 'does not meet'} {rule.condition.describe()}")
    failed = checked - passing
    if checked == 0:
        return Outcome(rule, "Passed", None, 0, 0, "no rows to check")
    share = passing / checked
    passed = rule.threshold.holds(share) if rule.threshold else failed == 0
    wanted = f"threshold {rule.threshold.describe()}" if rule.threshold else "every row"
    return Outcome(rule, "Passed" if passed else "Failed", share, checked, failed,
                   f"{failed} of {checked} rows failed ({wanted})")
