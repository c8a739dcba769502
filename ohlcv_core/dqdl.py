"""A reader of Glue Data Quality's rule language (DQDL), for the subset of it the quality job uses.

The grammar is AWS's (github.com/awslabs/dqdl): `Metadata = {...}`, then `Rules = [ rule, ... ]`, where a
rule is `<RuleType> <"parameter">* <condition>? where "<sql>"? (with threshold <condition>)?` and `#`
starts a comment. The subset: the rule types in RULE_TYPES; number, string and duration conditions; a
`where` clause; `with threshold`. Anything else (composite rules, DataSources, variables, Analyzers, a
rule type outside the subset) is refused with its line, so a ruleset that passes here means the same on
Glue as in the local evaluator.

Our own metadata rides in comments, which Glue skips: the line `# rule <name> [<policy>, blocking]:
<what it checks>` right above a rule names it (metrics and quarantined rows carry the name), says
whether rows it fails are withheld from the curated tables or only flagged, and whether a failure makes
the run fail (`ohlcv quality` exits non-zero).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Literal

from ohlcv_core.errors import ConfigError

Policy = Literal["withhold", "flag"]
Operator = Literal["=", "!=", ">", ">=", "<", "<=", "between", "not between", "in", "not in", "matches",
                   "not matches"]
# The rule types the local evaluator runs, and how many quoted parameters each takes (None: one or more)
RULE_TYPES: dict[str, int | None] = {
    "IsComplete": 1, "IsUnique": None, "IsPrimaryKey": None, "ColumnValues": 1, "RowCount": 0,
    "CustomSql": 1, "DataFreshness": 1,
}
NEEDS_CONDITION = frozenset({"ColumnValues", "RowCount", "DataFreshness"})
NO_CONDITION = frozenset({"IsComplete", "IsUnique", "IsPrimaryKey"})
DURATION_UNITS = {"minutes": 60, "hours": 3600, "days": 86_400}
_ANNOTATION = re.compile(r"^#\s*rule\s+([a-z][a-z0-9_]*)\s*\[\s*(withhold|flag)\s*(,\s*blocking\s*)?\]\s*:\s*(.+)$")


@dataclass(frozen=True)
class Condition:
    operator: Operator
    values: tuple[float | str, ...]
    unit: str | None = None  # a duration's (minutes, hours, days): the values are then seconds

    def holds(self, value: float | str | None) -> bool:
        """Whether a measured value meets the condition (None never does, as on Glue)."""
        if value is None:
            return False
        op, values = self.operator, self.values
        if op in ("matches", "not matches"):
            found = re.fullmatch(str(values[0]), str(value)) is not None
            return found if op == "matches" else not found
        if op in ("in", "not in"):
            inside = value in values
            return inside if op == "in" else not inside
        if isinstance(value, str) != isinstance(values[0], str):
            return False
        if op in ("between", "not between"):
            low, high = values
            inside = low < value < high  # type: ignore[operator]  # DQDL's between excludes its bounds
            return inside if op == "between" else not inside
        target = values[0]
        return {"=": value == target, "!=": value != target, ">": value > target,  # type: ignore[operator]
                ">=": value >= target, "<": value < target, "<=": value <= target}[op]  # type: ignore[operator]

    def describe(self) -> str:
        shown = [f"{v:g}" if isinstance(v, float) else f'"{v}"' for v in self.values]
        if self.unit:
            shown = [f"{float(v) / DURATION_UNITS[self.unit]:g} {self.unit}" for v in self.values]
        if self.operator in ("between", "not between"):
            return f"{self.operator} {shown[0]} and {shown[1]}"
        if self.operator in ("in", "not in"):
            return f"{self.operator} [{', '.join(shown)}]"
        return f"{self.operator} {shown[0]}"


@dataclass(frozen=True)
class Rule:
    name: str
    policy: Policy
    blocking: bool
    description: str
    rule_type: str
    parameters: tuple[str, ...]
    condition: Condition | None
    where: str | None
    threshold: Condition | None
    line: int
    text: str  # the rule as written (Glue names a rule's outcome by it)

    @property
    def row_level(self) -> bool:
        """Whether the rule judges each row (so a failing row can be quarantined), not the dataset."""
        if self.rule_type == "CustomSql":
            return self.condition is None
        return self.rule_type != "RowCount"


@dataclass(frozen=True)
class Ruleset:
    rules: tuple[Rule, ...]
    metadata: dict[str, str]

    def rule(self, name: str) -> Rule:
        for rule in self.rules:
            if rule.name == name:
                return rule
        raise ConfigError(f"the ruleset has no rule named {name!r}")


# -- tokens ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Token:
    kind: Literal["string", "number", "word", "op", "comment", "end"]
    text: str
    line: int
    start: int
    value: str | float = ""


_TOKEN = re.compile(r"""
    (?P<space>[ \t\r\n]+)
  | (?P<comment>\#[^\n]*)
  | (?P<string>"(?:\\["\\]|[^"\\])*")
  | (?P<number>-?\d+(?:\.\d+)?(?![A-Za-z_]))
  | (?P<word>now\(\)|[A-Za-z0-9_.]+)
  | (?P<op>>=|<=|!=|[=<>\[\](){},:!+\-])
""", re.VERBOSE)


def _tokens(text: str) -> Iterator[_Token]:
    position, line = 0, 1
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ConfigError(f"line {line}: unexpected character {text[position]!r}")
        kind, chunk = match.lastgroup, match.group()
        if kind != "space":
            value: str | float = chunk
            if kind == "string":
                value = re.sub(r'\\(["\\])', r"\1", chunk[1:-1])
            elif kind == "number":
                value = float(chunk)
            yield _Token(kind, chunk, line, position, value)  # type: ignore[arg-type]
        line += chunk.count("\n")
        position = match.end()
    yield _Token("end", "", line, position)


class _Reader:
    def __init__(self, text: str) -> None:
        self.text = text
        self.comments: dict[int, str] = {}
        self.tokens: list[_Token] = []
        for token in _tokens(text):
            if token.kind == "comment":
                self.comments[token.line] = token.text
            else:
                self.tokens.append(token)
        self.index = 0

    @property
    def peek(self) -> _Token:
        return self.tokens[self.index]

    def take(self) -> _Token:
        token = self.tokens[self.index]
        self.index += 1
        return token

    def fail(self, message: str, token: _Token | None = None) -> ConfigError:
        token = token or self.peek
        shown = "the end of the ruleset" if token.kind == "end" else repr(token.text)
        return ConfigError(f"line {token.line}: {message} (at {shown})")

    def expect(self, text: str) -> _Token:
        if self.peek.text != text:
            raise self.fail(f"expected {text!r}")
        return self.take()


# -- the document ----------------------------------------------------------------------------------------
def parse_ruleset(text: str) -> Ruleset:
    reader = _Reader(text)
    metadata: dict[str, str] = {}
    while reader.peek.text != "Rules":
        word = reader.peek
        if word.text == "Metadata":
            reader.take()
            reader.expect("=")
            metadata = _dictionary(reader)
        elif word.text in ("DataSources", "Sources", "Analyzers"):
            raise reader.fail(f"the {word.text} section is outside the subset the local evaluator runs")
        elif word.kind == "word" and reader.tokens[reader.index + 1].text == "=":
            raise reader.fail("variables are outside the subset the local evaluator runs")
        else:
            raise reader.fail("expected 'Rules = ['")
    reader.take()
    reader.expect("=")
    reader.expect("[")
    rules: list[Rule] = []
    while reader.peek.text != "]":
        rules.append(_rule(reader))
        if reader.peek.text == ",":
            reader.take()
            if reader.peek.text == "]":
                raise reader.fail("a comma must be followed by a rule")
        elif reader.peek.text != "]":
            raise reader.fail("expected ',' or ']' after a rule")
    reader.take()
    if reader.peek.kind != "end":
        raise reader.fail("nothing may follow the Rules list")
    seen: set[str] = set()
    for rule in rules:
        if rule.name in seen:
            raise ConfigError(f"line {rule.line}: rule name {rule.name!r} is used twice")
        seen.add(rule.name)
    return Ruleset(tuple(rules), metadata)


def _dictionary(reader: _Reader) -> dict[str, str]:
    reader.expect("{")
    found: dict[str, str] = {}
    while True:
        key = reader.take()
        if key.kind != "string":
            raise reader.fail("a Metadata key is a quoted string", key)
        reader.expect(":")
        value = reader.take()
        if value.kind != "string":
            raise reader.fail("a Metadata value is a quoted string", value)
        found[str(key.value)] = str(value.value)
        if reader.peek.text == "}":
            reader.take()
            return found
        reader.expect(",")


def _annotation(reader: _Reader, line: int) -> tuple[str, Policy, bool, str]:
    comment = reader.comments.get(line - 1)
    match = _ANNOTATION.match(comment.strip()) if comment else None
    if match is None:
        raise ConfigError(f"line {line}: a rule needs the line '# rule <name> [withhold|flag(, blocking)]: "
                          "<what it checks>' right above it")
    name, policy, blocking, description = match.groups()
    return name, policy, bool(blocking), description.strip()  # type: ignore[return-value]


def _rule(reader: _Reader) -> Rule:
    first = reader.peek
    if first.text == "(":
        raise reader.fail("composite rules (and, or) are outside the subset the local evaluator runs")
    if first.kind != "word":
        raise reader.fail("expected a rule type")
    rule_type = reader.take().text
    if rule_type not in RULE_TYPES:
        raise reader.fail(f"rule type {rule_type} is outside the subset the local evaluator runs "
                          f"({', '.join(sorted(RULE_TYPES))})", first)
    name, policy, blocking, description = _annotation(reader, first.line)
    parameters: list[str] = []
    while reader.peek.kind == "string":
        parameters.append(str(reader.take().value))
    wanted = RULE_TYPES[rule_type]
    if (wanted is None and not parameters) or (wanted is not None and len(parameters) != wanted):
        raise reader.fail(f"{rule_type} takes {'one or more' if wanted is None else wanted} quoted "
                          f"parameter(s), got {len(parameters)}")
    condition = _condition(reader, durations=rule_type == "DataFreshness")
    if condition is None and rule_type in NEEDS_CONDITION:
        raise ConfigError(f"line {first.line}: {rule_type} needs a condition (such as > 0)")
    if condition is not None and rule_type in NO_CONDITION:
        raise ConfigError(f"line {first.line}: {rule_type} takes no condition")
    where = None
    if reader.peek.text == "where":
        reader.take()
        clause = reader.take()
        if clause.kind != "string" or not str(clause.value).strip():
            raise reader.fail("where takes a quoted SQL condition", clause)
        where = str(clause.value)
    threshold = None
    if reader.peek.text == "with":
        reader.take()
        if reader.peek.text != "threshold":
            raise reader.fail("only 'with threshold' is in the subset the local evaluator runs")
        reader.take()
        threshold = _condition(reader, durations=False)
        if threshold is None or any(isinstance(v, str) for v in threshold.values):
            raise reader.fail("with threshold takes a number condition")
    last = reader.tokens[reader.index - 1]
    text = reader.text[first.start:last.start + len(last.text)]
    return Rule(name, policy, blocking, description, rule_type, tuple(parameters), condition, where, threshold,
                first.line, text)


def _number(reader: _Reader) -> float:
    token = reader.take()
    if token.kind != "number":
        raise reader.fail("expected a number", token)
    return float(token.value)


def _duration(reader: _Reader) -> tuple[float, str]:
    amount = _number(reader)
    unit = reader.take()
    if unit.text not in DURATION_UNITS:
        raise reader.fail(f"a duration's unit is one of {', '.join(DURATION_UNITS)}", unit)
    return amount * DURATION_UNITS[unit.text], unit.text


def _value(reader: _Reader, durations: bool) -> tuple[float | str, str | None]:
    if reader.peek.kind == "string":
        return str(reader.take().value), None
    if durations:
        return _duration(reader)
    return _number(reader), None


def _condition(reader: _Reader, *, durations: bool) -> Condition | None:
    token = reader.peek
    negated = False
    if token.text in ("not", "!"):
        reader.take()
        negated = True
        token = reader.peek
    if token.text == "between":
        reader.take()
        low, unit = _value(reader, durations)
        reader.expect("and")
        high, _ = _value(reader, durations)
        return Condition("not between" if negated else "between", (low, high), unit)
    if token.text == "in":
        reader.take()
        reader.expect("[")
        values = [_value(reader, durations)]
        while reader.peek.text == ",":
            reader.take()
            values.append(_value(reader, durations))
        reader.expect("]")
        return Condition("not in" if negated else "in", tuple(v for v, _ in values), values[0][1])
    if token.text == "matches":
        reader.take()
        pattern = reader.take()
        if pattern.kind != "string":
            raise reader.fail("matches takes a quoted regular expression", pattern)
        try:
            re.compile(str(pattern.value))
        except re.error as exc:
            raise reader.fail(f"not a regular expression: {exc}", pattern) from None
        return Condition("not matches" if negated else "matches", (str(pattern.value),))
    if token.text in ("=", ">", ">=", "<", "<=", "!="):
        if negated and token.text != "=":
            raise reader.fail("only =, between, in and matches can be negated")
        reader.take()
        operator = "!=" if negated and token.text == "=" else token.text
        value, unit = _value(reader, durations)
        return Condition(operator, (value,), unit)  # type: ignore[arg-type]
    if negated:
        raise reader.fail("expected a condition after the negation")
    return None
