"""The named analyses in sql/queries/: one Athena query a file, its name and description in the first
comment line (`-- name: what it answers`), its parameters on the second (`-- parameters: a, b`), bound
in that order to the query's `?` placeholders (Athena's execution parameters; the console asks for
them when a saved query has some)."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import sqlglot
from sqlglot import exp

from ohlcv_core.errors import ConfigError

SQL_QUERIES = Path(__file__).resolve().parent.parent / "sql" / "queries"
# Each parameter a query may declare, and what it must look like.
PARAMETERS = {"symbols": "comma-separated symbols, e.g. AAPL,EUR/USD",
              "from": "first day, yyyy-mm-dd", "to": "last day, yyyy-mm-dd"}
_HEADER = re.compile(r"\A-- (?P<name>[a-z0-9_]+): (?P<description>.+?\n(?:-- (?!parameters:).*\n)*)"
                     r"-- parameters: (?P<parameters>[a-z_, ]+)\n")
MAX_DAYS = 3660  # a range longer than ten years is a typo, not a question


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    parameters: tuple[str, ...]
    sql: str
    path: Path

    def bind(self, values: Mapping[str, str]) -> list[str]:
        """The execution parameters in placeholder order, each checked; a bad one is one clear error."""
        missing = [p for p in self.parameters if not values.get(p)]
        if missing:
            hints = "; ".join(PARAMETERS[m] for m in missing)
            raise ConfigError(f"{self.name} needs --{' --'.join(missing)} ({hints})")
        bound = [values[p].strip() for p in self.parameters]
        if "from" in self.parameters and "to" in self.parameters:
            first, last = _day(values["from"], "from"), _day(values["to"], "to")
            if first > last:
                raise ConfigError(f"--from {first} is after --to {last}")
            if (last - first).days > MAX_DAYS:
                raise ConfigError(f"--from {first} --to {last} spans more than {MAX_DAYS} days")
        if "symbols" in self.parameters:
            symbols = [s.strip() for s in values["symbols"].split(",") if s.strip()]
            if not symbols or any(not re.fullmatch(r"[A-Za-z0-9./:_-]{1,32}", s) for s in symbols):
                raise ConfigError(f"--symbols {values['symbols']!r}: give symbols such as AAPL,EUR/USD")
            bound[self.parameters.index("symbols")] = ",".join(symbols)
        return bound


def _day(text: str, flag: str) -> date:
    try:
        return date.fromisoformat(text.strip())
    except ValueError:
        raise ConfigError(f"--{flag} {text!r} is not a day (yyyy-mm-dd)") from None


def read_query(path: Path) -> NamedQuery:
    text = path.read_text(encoding="utf-8")
    header = _HEADER.match(text)
    if header is None or header["name"] != path.stem:
        raise ConfigError(f"{path}: begins '-- {path.stem}: <what it answers>' and, on a later comment line, "
                          "'-- parameters: <names>'")
    parameters = tuple(p.strip() for p in header["parameters"].split(",") if p.strip())
    unknown = [p for p in parameters if p not in PARAMETERS]
    if unknown:
        raise ConfigError(f"{path}: unknown parameters {unknown} (known: {', '.join(PARAMETERS)})")
    description = " ".join(line.removeprefix("--").strip() for line in header["description"].splitlines())
    return NamedQuery(path.stem, description.strip(), parameters, text, path)


def named_queries(folder: Path = SQL_QUERIES) -> dict[str, NamedQuery]:
    return {q.name: q for q in map(read_query, sorted(folder.glob("*.sql")))}


def named_query(name: str, folder: Path = SQL_QUERIES) -> NamedQuery:
    queries = named_queries(folder)
    if name not in queries:
        raise ConfigError(f"no named query {name!r}; there are: {', '.join(queries)}")
    return queries[name]


def tables_read(tree: exp.Expr) -> set[str]:
    """The tables a parsed statement names without a database, its own CTEs aside."""
    return {t.name for t in tree.find_all(exp.Table) if not t.db} - {c.alias for c in tree.find_all(exp.CTE)}


def placeholders(sql: str) -> int:
    """How many `?` the statement binds (outside strings and comments)."""
    return sum(1 for _ in sqlglot.parse_one(sql, read="athena").find_all(exp.Placeholder))

