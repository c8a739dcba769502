"""Athena (Trino) SQL run on DuckDB with Athena's answers, or a refusal that names what differs.

sqlglot parses Athena's dialect and writes DuckDB's; on the way the tree is rewritten where the two
engines would answer the same text differently (docs/sql.md, "One dialect"):

- integer division truncates (`divide`), date_diff counts whole units (`date_sub`), date + interval
  stays a date;
- a `timestamp with time zone` is kept as DuckDB's instant (TIMESTAMPTZ) and its zone is followed through
  the query: `AT TIME ZONE`, `with_timezone`, `at_timezone`, `from_unixtime(x, zone)` and `parse_datetime`
  give it; date_trunc, casts, field extraction, formatting and day arithmetic read its wall clock in that
  zone; a zone that cannot be followed (it is a column, or crosses a set operation) is refused where
  Athena's answer would depend on it;
- Joda patterns (format_datetime, parse_datetime) are translated to strftime's, letters with no
  equivalent refused;
- functions DuckDB lacks are expressed in its own (width_bucket, map_agg, sequence of dates, ...), and
  those with no faithful local answer are refused by name.

The session zone is UTC whatever the machine's TZ (`SESSION_SETUP`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import sqlglot
from sqlglot import exp
from sqlglot.errors import OptimizeError, ParseError, SqlglotError
from sqlglot.expressions.datatypes import DType
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify
from sqlglot.optimizer.scope import Scope, traverse_scope

from ohlcv_core.errors import ConfigError

SESSION_SETUP = ("SET TimeZone = 'UTC'", "SET Calendar = 'gregorian'")

Schema = Mapping[str, Mapping[str, Mapping[str, str]]]  # database -> table -> column -> type


class UnsupportedSql(ConfigError):
    """Valid Athena SQL whose Athena answer the local engine cannot give; the message names the piece."""


# Functions Athena has whose local answer would differ, with the reason shown to the user.
REFUSED: dict[str, str] = {
    "typeof": "type names differ between Athena and DuckDB",
    "approx_set": "HyperLogLog sketches do not exist locally",
    "merge": "HyperLogLog sketches do not exist locally",
    "qdigest_agg": "quantile digests do not exist locally",
    "tdigest_agg": "t-digests do not exist locally",
}
_DAY_UNITS = {"DAY", "WEEK", "MONTH", "QUARTER", "YEAR"}
# A run of one Joda letter -> strftime (docs/sql.md lists them); any other run is refused.
_JODA = {"yyyy": "%Y", "yy": "%y", "y": "%Y", "MMMM": "%B", "MMM": "%b", "MM": "%m", "M": "%-m",
         "dd": "%d", "d": "%-d", "HH": "%H", "H": "%-H", "hh": "%I", "h": "%-I", "mm": "%M", "m": "%-M",
         "ss": "%S", "s": "%-S", "SSSSSS": "%f", "SSS": "%g", "a": "%p", "EEEE": "%A", "EEE": "%a",
         "E": "%a", "DDD": "%j", "D": "%-j"}
_JODA_RUN = re.compile(r"'(?:[^']|'')*'|([A-Za-z])\1*|.", re.S)


@dataclass(frozen=True)
class Translation:
    sql: str
    zones: tuple[str | None, ...]  # per output column: the zone of a timestamp with time zone, else None


def joda_to_strftime(pattern: str, function: str) -> str:
    """A Joda-Time pattern as strftime's; a letter with no equivalent is refused by name."""
    out: list[str] = []
    for match in _JODA_RUN.finditer(pattern):
        token = match.group(0)
        if token.startswith("'"):
            out.append("'" if token == "''" else token[1:-1].replace("''", "'").replace("%", "%%"))
        elif token[0].isalpha():
            if token not in _JODA:
                raise UnsupportedSql(f"{function}: the Joda pattern letter(s) {token!r} have no local equivalent "
                                     "(docs/sql.md lists the letters that run locally)")
            out.append(_JODA[token])
        else:
            out.append(token.replace("%", "%%"))
    return "".join(out)


def _fn(name: str, *args: exp.Expr) -> exp.Anonymous:
    return exp.Anonymous(this=name, expressions=list(args))


def _string(text: str) -> exp.Literal:
    return exp.Literal.string(text)


def _zone_of(node: exp.Expr) -> exp.Expr | None:
    zone = node.meta.get("zone") if node.meta else None
    return zone if isinstance(zone, exp.Expr) else None


def _zoned(instant: exp.Expr, zone: exp.Expr) -> exp.Expr:
    instant.meta["zone"] = zone
    return instant


def _wall(node: exp.Expr, zone: exp.Expr) -> exp.Expr:
    """The wall-clock time of an instant in its zone (a TIMESTAMP without zone)."""
    return _fn("timezone", zone.copy(), node.copy())


def _literal_text(node: exp.Expr | None, function: str, what: str) -> str:
    if not isinstance(node, exp.Literal) or not node.is_string:
        raise UnsupportedSql(f"{function}: the {what} must be a string literal to run locally")
    return str(node.this)


# -- one node at a time ---------------------------------------------------------------------------------
_WALL_FIELDS = (exp.Year, exp.Month, exp.Day, exp.Quarter, exp.Hour, exp.Minute, exp.Second, exp.DayOfWeek,
                exp.DayOfWeekIso, exp.DayOfMonth, exp.DayOfYear, exp.WeekOfYear, exp.LastDay)
_KEEPS_ZONE = (exp.Paren, exp.Alias, exp.Max, exp.Min, exp.AnyValue, exp.ArgMax, exp.ArgMin, exp.FirstValue,
               exp.LastValue, exp.Lag, exp.Lead, exp.Window, exp.NthValue)
_INSTANT_SAFE = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between, exp.In, exp.Ordered,
                 exp.Count, exp.Distinct, exp.Group, exp.Is, exp.Not, exp.TimeToUnix, exp.Sub, exp.NullSafeEQ,
                 exp.NullSafeNEQ, exp.Coalesce, exp.If, exp.Case, exp.Tuple)
_COMPARISONS = (exp.EQ, exp.NEQ, exp.GT, exp.GTE, exp.LT, exp.LTE, exp.Between)
# Expressions whose value is one of their branches: zoned if their zoned branches agree on the zone.
_BRANCHES: dict[type[exp.Expr], Callable[[exp.Expr], list[exp.Expr]]] = {
    exp.Coalesce: lambda n: [n.this, *n.expressions],
    exp.If: lambda n: [v for v in (n.args.get("true"), n.args.get("false")) if v is not None],
    exp.Case: lambda n: [*(i.args["true"] for i in n.args.get("ifs") or []),
                         *([n.args["default"]] if n.args.get("default") is not None else [])],
}


class _Rewriter:
    def __init__(self, types_known: bool) -> None:
        self._types_known = types_known

    def node(self, node: exp.Expr) -> exp.Expr:
        if isinstance(node, _COMPARISONS):
            self._no_string_to_temporal(node)
        handler = _HANDLERS.get(type(node))
        new = handler(self, node) if handler else self._function(node)
        if new is node:
            if type(node) in _BRANCHES:
                self._branch_zone(node)
            self._check_zoned_arguments(node)
        return new

    def _is(self, node: exp.Expr, *types: DType) -> bool:
        return self._types_known and node.type is not None and node.type.is_type(*types)

    def _is_double(self, node: exp.Expr) -> bool:
        """A double in Athena's typing: a literal with a point and no exponent is a decimal there."""
        if isinstance(node, exp.Literal) and not node.is_string:
            return "e" in node.name.lower()
        return self._is(node, DType.DOUBLE, DType.FLOAT)

    def _function(self, node: exp.Expr) -> exp.Expr:
        if isinstance(node, exp.Func):
            name = (node.name if isinstance(node, exp.Anonymous) else node.sql_name()).lower()
            if name in REFUSED:
                raise UnsupportedSql(f"{name}: {REFUSED[name]} (docs/sql.md, known differences)")
        if isinstance(node, exp.Anonymous):
            build = _ANONYMOUS.get(node.name.lower())
            if build:
                return build(self, node)
        for kind in _KEEPS_ZONE:
            if isinstance(node, kind):
                zone = _zone_of(node.this) if isinstance(node.this, exp.Expr) else None
                if zone is not None:
                    node.meta["zone"] = zone
        return node

    def _no_string_to_temporal(self, node: exp.Expr) -> None:
        """Athena does not turn a string into a date or timestamp to compare them (DuckDB does): a query
        that would run here and fail there is refused here, with the fix."""
        sides = [node.this, *([node.expression] if node.args.get("expression") is not None else []),
                 *(node.args.get(k) for k in ("low", "high") if node.args.get(k) is not None)]
        temporal = [side for side in sides if self._is(side, DType.DATE, DType.TIMESTAMP, DType.TIMESTAMPTZ)
                    or _zone_of(side) is not None]
        strings = [side for side in sides if isinstance(side, exp.Literal) and side.is_string]
        if temporal and strings:
            kind = "date" if self._is(temporal[0], DType.DATE) else "timestamp"
            raise ConfigError(f"{node.sql('athena')[:60]}: Athena cannot compare a {kind} with a string; "
                              f"write {kind.upper()} '{strings[0].name}'")

    @staticmethod
    def _branch_zone(node: exp.Expr) -> None:
        """CASE, IF, COALESCE of zoned values keep their zone when the branches agree; else refused."""
        branches = [b for b in _BRANCHES[type(node)](node) if not isinstance(b, exp.Null)]
        zones = [_zone_of(b) for b in branches]
        if all(z is None for z in zones):
            return
        if any(z is None for z in zones) or any(z != zones[0] for z in zones):
            raise UnsupportedSql(f"{node.sql('athena')[:60]}: its branches are timestamps of different zones "
                                 "(or some without one); the local engine cannot give Athena's answer")
        node.meta["zone"] = zones[0]

    def _check_zoned_arguments(self, node: exp.Expr) -> None:
        """A zoned value reaching a function that would read it in UTC: refused, not answered wrongly."""
        if isinstance(node, _INSTANT_SAFE + _KEEPS_ZONE) or not isinstance(node, exp.Func | exp.Binary):
            return
        for child in node.iter_expressions():
            if _zone_of(child) is not None and _zone_of(node) is None:
                name = node.sql_name() if isinstance(node, exp.Func) else type(node).__name__
                raise UnsupportedSql(f"{name.lower()} on a timestamp with time zone: the local engine cannot "
                                     "give Athena's answer (docs/sql.md, known differences)")


def _constant(sql: str) -> Callable[[_Rewriter, exp.Expr], exp.Expr]:
    constant = sqlglot.parse_one(sql, read="duckdb")
    return lambda rw, node: constant.copy()


def _div(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    left, right = node.this, node.expression
    if rw._is_double(left) or rw._is_double(right):
        # IEEE: x/0 is +-Infinity or NaN in Athena, where DuckDB raises.
        return exp.paren(exp.Case(ifs=[exp.If(this=exp.EQ(this=right.copy(), expression=exp.Literal.number(0)),
                                              true=_fn("athena_ieee_divide", left.copy(), right.copy()))],
                                  default=exp.Div(this=left.copy(), expression=right.copy())), copy=False)
    return _fn("divide", left, right)


_INTEGERS = (DType.BIGINT, DType.INT, DType.SMALLINT, DType.TINYINT)


def _integer_sum(rw: _Rewriter, node: exp.Expr) -> bool:
    return isinstance(node, exp.Sum) and rw._is(node.this, *_INTEGERS)


def _sum(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    """Athena sums integers as a bigint and fails past its range; DuckDB widens to a 128-bit integer. Cast
    back, so an overflow fails here too (a window's sum is cast around its window, by _window)."""
    if not _integer_sum(rw, node) or isinstance(node.parent, exp.Window):
        return rw._function(node)
    return exp.cast(node.copy(), exp.DataType.build("BIGINT"))


def _window(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    if not _integer_sum(rw, node.this):
        return rw._function(node)
    return exp.cast(node.copy(), exp.DataType.build("BIGINT"))


def _at_time_zone(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    value, zone = node.this, node.args["zone"]
    instant = value if _zone_of(value) is not None else _fn("timezone", _string("UTC"), value)
    return _zoned(instant, zone)


def _with_timezone(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    value, zone = node.expressions
    return _zoned(_fn("timezone", zone.copy(), value), zone)


def _at_timezone(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    value, zone = node.expressions
    if _zone_of(value) is None and not rw._is(value, DType.TIMESTAMPTZ):
        value = _fn("timezone", _string("UTC"), value)
    return _zoned(value.copy(), zone)


def _unix_to_time(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    if node.args.get("hours") is not None or node.args.get("minutes") is not None:
        raise UnsupportedSql("from_unixtime(x, hours, minutes): use from_unixtime(x, zone) locally")
    zone = node.args.get("zone")
    instant = _fn("to_timestamp", node.this)
    if node.args.get("scale") not in (None, exp.UnixToTime.SECONDS):
        return node
    return _zoned(instant, zone.copy() if zone is not None else _string("UTC"))


def _current_timestamp(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    return _zoned(node, _string("UTC"))


def _trunc(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    zone = _zone_of(node.this)
    if zone is None:
        return node
    unit = node.args["unit"]
    unit_text = unit.name if isinstance(unit, exp.Expr) else str(unit)
    truncated = _fn("date_trunc", _string(unit_text.lower()), _wall(node.this, zone))
    return _zoned(_fn("timezone", zone.copy(), truncated), zone)


def _wall_field(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    zone = _zone_of(node.this)
    if zone is not None:
        node.set("this", _wall(node.this, zone))
    return node


def _extract(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    if node.this.name.upper() in ("DOW", "DAY_OF_WEEK"):
        node.set("this", exp.var("ISODOW"))  # Athena's day of week is ISO's: Monday 1 .. Sunday 7
    zone = _zone_of(node.expression)
    if zone is not None:
        unit = node.this.name.upper()
        if unit.startswith("TIMEZONE"):
            raise UnsupportedSql("extract(timezone_…): zone offsets are not available locally")
        node.set("expression", _wall(node.expression, zone))
    return node


def _cast_zoned(value: exp.Expr, to: exp.DataType, zone: exp.Expr) -> exp.Expr:
    wall = _wall(value, zone)
    if to.is_type(DType.DATE):
        return exp.cast(wall, DType.DATE)
    if to.is_type(DType.TIMESTAMP, DType.DATETIME):
        return wall
    if to.is_type(*exp.DataType.TEXT_TYPES):
        return exp.DPipe(this=_fn("strftime", wall, _string("%Y-%m-%d %H:%M:%S.%g ")), expression=zone.copy())
    if to.is_type(DType.TIMESTAMPTZ):
        return _zoned(value.copy(), zone)
    raise UnsupportedSql(f"CAST of a timestamp with time zone AS {to.sql('athena')}: not available locally")


def _cast(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    value, to = node.this, node.args["to"]
    zone = _zone_of(value)
    if zone is not None:
        return _cast_zoned(value, to, zone)
    if to.is_type(*exp.DataType.TEXT_TYPES) and rw._is(value, DType.TIMESTAMP) \
            and not isinstance(value, exp.Cast):
        # Athena's timestamps (Hive's, Parquet's) are timestamp(3): printed with milliseconds.
        return _fn("strftime", value, _string("%Y-%m-%d %H:%M:%S.%g"))
    if to.is_type(DType.TIMESTAMPTZ) and isinstance(value, exp.Literal) and value.is_string:
        return _zoned_literal(node, value.name)
    return node


def _zoned_literal(node: exp.Expr, text: str) -> exp.Expr:
    """TIMESTAMP '2024-03-10 06:30:00 America/New_York': that wall time in that zone."""
    named = re.search(r"\s([A-Za-z_]+(?:/[A-Za-z_+\-0-9]+)*)$", text)
    if named is None:
        return _zoned(node, _string("UTC"))
    zone = named.group(1)
    return _zoned(_fn("timezone", _string(zone), exp.cast(_string(text[: named.start()]), "TIMESTAMP")), _string(zone))


def _unit(node: exp.Expr, default: str = "DAY") -> str:
    unit = node.args.get("unit")
    return unit.name.upper() if isinstance(unit, exp.Expr) else default


def _date_add(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    value = node.this
    unit = _unit(node)
    zone = _zone_of(value)
    interval = exp.Interval(this=exp.cast(node.expression.copy(), "BIGINT"), unit=exp.var(unit))
    if zone is not None:
        if unit in _DAY_UNITS:
            moved = exp.Add(this=_wall(value, zone), expression=interval)
            return _zoned(_fn("timezone", zone.copy(), moved), zone)
        return _zoned(exp.paren(exp.Add(this=value.copy(), expression=interval), copy=False), zone)
    if rw._is(value, DType.DATE):
        if unit not in _DAY_UNITS:
            raise UnsupportedSql(f"date_add('{unit.lower()}', …, date): Athena refuses a time unit on a date")
        return exp.cast(exp.paren(exp.Add(this=value.copy(), expression=interval), copy=False), "DATE")
    return node


def _date_plus_interval(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    value, other = node.this, node.expression
    if isinstance(other, exp.Interval):
        zone = _zone_of(value)
        unit = _unit(other, default="")
        if zone is not None:
            if unit in _DAY_UNITS:
                moved = type(node)(this=_wall(value, zone), expression=other.copy())
                return _zoned(_fn("timezone", zone.copy(), moved), zone)
            return _zoned(exp.paren(node.copy(), copy=False), zone)
        if rw._is(value, DType.DATE) and unit in _DAY_UNITS:
            return exp.cast(exp.paren(node.copy(), copy=False), "DATE")
    return node


def _date_diff(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    """Athena counts whole units elapsed (Joda's between); DuckDB's date_diff counts boundaries crossed,
    its date_sub whole units."""
    unit = _unit(node).lower()
    start, end = node.expression, node.this
    zones = (_zone_of(start), _zone_of(end))
    if unit.upper() in _DAY_UNITS and zones[0] is not None:
        start = _wall(start, zones[0])
        end = _wall(end, zones[1] or zones[0]) if zones[1] is not None else end
    return _fn("date_sub", _string(unit), start, end)


def _time_to_str(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    zone = _zone_of(node.this)
    if zone is not None:
        fmt = node.args.get("format")
        if isinstance(fmt, exp.Literal) and re.search(r"%[zZ]", fmt.name):
            raise UnsupportedSql("date_format: zone patterns are not available locally")
        node.set("this", _wall(node.this, zone))
    return node


def _format_datetime(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    value, pattern = node.expressions
    fmt = joda_to_strftime(_literal_text(pattern, "format_datetime", "pattern"), "format_datetime")
    zone = _zone_of(value)
    return _fn("strftime", _wall(value, zone) if zone is not None else value, _string(fmt))


def _parse_datetime(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    fmt = joda_to_strftime(_literal_text(node.args.get("format"), "parse_datetime", "pattern"), "parse_datetime")
    parsed = _fn("strptime", node.this, _string(fmt))
    return _zoned(_fn("timezone", _string("UTC"), parsed), _string("UTC"))


_CONVERSION = re.compile(r"%(?:%|[-#+ 0,(]*\d*(?:\.\d+)?([a-zA-Z]))")


def _format(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    """Java's Formatter as printf: %s takes any value there, so each argument %s prints is cast to text."""
    pattern = _literal_text(node.this, "format", "format string")
    conversions = [m.group(1) for m in _CONVERSION.finditer(pattern) if m.group(1)]
    if any(c not in "sdfxXoeEgGc" for c in conversions) or len(conversions) != len(node.expressions):
        raise UnsupportedSql(f"format: the conversions of {pattern!r} are not available locally")
    args = [exp.cast(arg, "VARCHAR") if conversion == "s" else arg
            for conversion, arg in zip(conversions, node.expressions, strict=True)]
    return _fn("printf", node.this, *args)


def _approx_quantile(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    return _fn("approx_quantile", node.this, node.args["quantile"])


def _slice(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    """slice(array, start, length): DuckDB's list_slice takes an end index instead of a length."""
    start, length = node.args.get("start"), node.args.get("end")
    if start is None or length is None:
        return node
    end = exp.Sub(this=exp.Add(this=start.copy(), expression=length.copy()), expression=exp.Literal.number(1))
    return _fn("list_slice", node.this, start, end)


def _size(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    value = node.this
    if rw._is(value, DType.MAP) or isinstance(value, exp.Map | exp.VarMap | exp.MapFromEntries):
        return _fn("cardinality", value)
    return node


def _array_distinct(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    """Athena keeps the first occurrence of each element, in order (DuckDB's list_distinct does not)."""
    array = node.this
    keep = exp.Lambda(this=exp.EQ(this=_fn("list_position", array.copy(), exp.to_identifier("_x")),
                                  expression=exp.to_identifier("_i")),
                      expressions=[exp.to_identifier("_x"), exp.to_identifier("_i")])
    return _fn("list_filter", array, keep)


def _sequence(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    start, end = node.args["start"], node.args["end"]
    if rw._is(start, DType.DATE) or rw._is(end, DType.DATE):
        step = node.args.get("step") or exp.Interval(this=_string("1"), unit=exp.var("DAY"))
        series = _fn("generate_series", exp.cast(start, "TIMESTAMP"), exp.cast(end, "TIMESTAMP"), step)
        return exp.cast(series, exp.DataType.build("DATE[]", dialect="duckdb"))
    return node


def _reduce(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    finish = node.args.get("finish")
    if finish is None:
        return node
    node.set("finish", None)
    return _fn("list_extract", _fn("list_transform", exp.Array(expressions=[node.copy()]), finish),
               exp.Literal.number(1))


def _map_agg(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    key, value = node.expressions
    return _fn("map", _fn("list", key), _fn("list", value))


def _width_bucket(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    args = [node.args.get(k) for k in ("this", "min_value", "max_value", "num_buckets")]
    if any(a is None for a in args):
        raise UnsupportedSql("width_bucket(x, bins): the array form is not available locally")
    return _fn("athena_width_bucket", *[a for a in args if a is not None])


def _to_iso8601(rw: _Rewriter, node: exp.Expr) -> exp.Expr:
    (value,) = node.expressions
    zone = _zone_of(value)
    if zone is not None:
        if not (isinstance(zone, exp.Literal) and zone.name == "UTC"):
            raise UnsupportedSql("to_iso8601 of a timestamp with a zone other than UTC: offsets are not "
                                 "available locally")
        return _fn("strftime", _wall(value, zone), _string("%Y-%m-%dT%H:%M:%S.%gZ"))
    if rw._is(value, DType.DATE):
        return _fn("strftime", value, _string("%Y-%m-%d"))
    if rw._is(value, DType.TIMESTAMP):
        return _fn("strftime", value, _string("%Y-%m-%dT%H:%M:%S.%g"))
    raise UnsupportedSql("to_iso8601: its argument's type cannot be told locally")


_HANDLERS: dict[type[exp.Expr], Callable[[_Rewriter, exp.Expr], exp.Expr]] = {
    exp.Div: _div, exp.Sum: _sum, exp.Window: _window, exp.AtTimeZone: _at_time_zone, exp.UnixToTime: _unix_to_time,
    exp.CurrentTimestamp: _current_timestamp, exp.TimestampTrunc: _trunc, exp.DateTrunc: _trunc,
    exp.Extract: _extract, exp.Cast: _cast, exp.TryCast: _cast, exp.DateAdd: _date_add, exp.Add: _date_plus_interval,
    exp.Sub: _date_plus_interval, exp.DateDiff: _date_diff, exp.TimeToStr: _time_to_str,
    exp.ParseDatetime: _parse_datetime, exp.Format: _format, exp.ArrayDistinct: _array_distinct,
    exp.GenerateSeries: _sequence, exp.Reduce: _reduce, exp.WidthBucket: _width_bucket,
    exp.CurrentTimezone: _constant("'UTC'"), exp.ApproxQuantile: _approx_quantile, exp.ArraySlice: _slice,
    exp.ArraySize: _size,
    **{kind: _wall_field for kind in _WALL_FIELDS},
}
_ANONYMOUS: dict[str, Callable[[_Rewriter, exp.Expr], exp.Expr]] = {
    "with_timezone": _with_timezone, "at_timezone": _at_timezone, "format_datetime": _format_datetime,
    "map_agg": _map_agg, "to_iso8601": _to_iso8601,
    "nan": _constant("CAST('NaN' AS DOUBLE)"), "infinity": _constant("CAST('Infinity' AS DOUBLE)"),
    "zip": lambda rw, node: _fn("list_zip", *node.expressions),
    "is_infinite": lambda rw, node: _fn("isinf", *node.expressions),
    "is_finite": lambda rw, node: _fn("isfinite", *node.expressions),
}

# Macros the translated SQL calls (created once per connection, with SESSION_SETUP).
MACROS = (
    "CREATE OR REPLACE MACRO athena_ieee_divide(a, b) AS CASE WHEN a > 0 THEN CAST('Infinity' AS DOUBLE) "
    "WHEN a < 0 THEN CAST('-Infinity' AS DOUBLE) ELSE CAST('NaN' AS DOUBLE) END",
    "CREATE OR REPLACE MACRO athena_width_bucket(x, lo, hi, n) AS CASE WHEN x < lo THEN 0 "
    "WHEN x >= hi THEN n + 1 ELSE CAST(floor((x - lo) / (hi - lo) * n) AS BIGINT) + 1 END",
)


# -- the whole statement ---------------------------------------------------------------------------------
Zones = list[tuple[str, exp.Expr | None]]  # a query block's output columns and their zones, in order
Blocks = dict[int, Zones]  # id of a query block -> its output zones


def _output_zones(expression: exp.Expr, blocks: Blocks) -> Zones:
    if isinstance(expression, exp.SetOperation):
        left, right = _output_zones(expression.left, blocks), _output_zones(expression.right, blocks)
        return [(name, zone if _same(zone, right[i][1] if i < len(right) else None) else exp.null())
                for i, (name, zone) in enumerate(left)]
    if isinstance(expression, exp.Subquery):
        return _output_zones(expression.this, blocks)
    if id(expression) in blocks:
        return blocks[id(expression)]
    if isinstance(expression, exp.Select):
        return [(p.alias_or_name, _crossing(_zone_of(p))) for p in expression.expressions]
    return []


def _same(a: exp.Expr | None, b: exp.Expr | None) -> bool:
    return (a is None and b is None) or (a is not None and b is not None and a == b)


def _crossing(zone: exp.Expr | None) -> exp.Expr | None:
    """Only a literal zone can follow a value out of its query block; another is marked unknown (NULL)."""
    if zone is None or (isinstance(zone, exp.Literal) and zone.is_string):
        return zone
    return exp.null()


def _column_zone(column: exp.Column, scope: Scope, blocks: Blocks) -> exp.Expr | None:
    sources = [scope.sources[column.table]] if column.table in scope.sources else list(scope.sources.values())
    for source in sources:
        if isinstance(source, Scope):
            for name, zone in _output_zones(source.expression, blocks):
                if name == column.name and zone is not None:
                    return zone
    return None


def _rewrite_scope(scope: Scope, rewriter: _Rewriter, blocks: Blocks) -> None:
    for node in reversed(list(scope.walk())):
        if isinstance(node, exp.Column):
            zone = _column_zone(node, scope, blocks)
            if isinstance(zone, exp.Null):
                node.meta["zone_unknown"] = True
            elif zone is not None:
                node.meta["zone"] = zone
            continue
        if any(child.meta.get("zone_unknown") for child in node.iter_expressions() if child.meta) \
                and not isinstance(node, _INSTANT_SAFE + _KEEPS_ZONE):
            raise UnsupportedSql(f"{node.sql('athena')[:60]}: the time zone of its timestamp cannot be followed "
                                 "locally (a zone from a column, or through a set operation)")
        new = rewriter.node(node)
        if new is not node:
            node.replace(new)
    if isinstance(scope.expression, exp.Select):
        blocks[id(scope.expression)] = [(p.alias_or_name, _crossing(_zone_of(p))) for p in scope.expression.expressions]


def _print_unknown_zones(select: exp.Select) -> None:
    """A result column whose zone varies by row is returned as Athena's API prints it: wall time and zone."""
    for projection in select.expressions:
        zone = _zone_of(projection)
        if zone is not None and not (isinstance(zone, exp.Literal) and zone.is_string):
            value = projection.this if isinstance(projection, exp.Alias) else projection
            text = exp.DPipe(this=_fn("strftime", _wall(value, zone), _string("%Y-%m-%d %H:%M:%S.%g ")),
                             expression=zone.copy())
            projection.replace(exp.alias_(text, projection.alias_or_name))


def _name_columns(query: exp.Query) -> None:
    """Result columns named as Athena names them: an expression without an alias is _col<position>."""
    if not isinstance(query, exp.Select):
        return
    for i, projection in enumerate(list(query.expressions)):
        if not isinstance(projection, exp.Alias | exp.Column | exp.Star):
            projection.replace(exp.alias_(projection.copy(), f"_col{i}"))


def _typed(tree: exp.Expr, schema: Schema | None, database: str | None) -> tuple[exp.Expr, bool]:
    try:
        qualified = qualify(tree.copy(), db=database, schema=dict(schema or {}), dialect="athena",
                            validate_qualify_columns=False, quote_identifiers=False, identify=False)
        return annotate_types(qualified, schema=dict(schema or {}), dialect="athena"), True
    except (OptimizeError, SqlglotError, KeyError, ValueError):
        return tree, False


def parse_error(exc: ParseError) -> ConfigError:
    """sqlglot's parse error as one line: what it expected, and where."""
    first = exc.errors[0] if exc.errors else {}
    description = str(first.get("description") or exc).splitlines()[0]
    description = re.sub(r"<Token token_type: TokenType\.(\w+)[^>]*>", lambda m: m.group(1).lower(), description)
    where = f" (line {first['line']}, column {first['col']})" if first.get("line") else ""
    return ConfigError(f"not valid Athena SQL: {description}{where}")


ATHENA_FUNCTIONS = frozenset(
    line.strip() for line in (Path(__file__).with_name("athena_functions.txt")).read_text(encoding="utf-8").splitlines()
    if line.strip() and not line.startswith("#"))
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\s*\(")


def _called(node: exp.Func) -> str | None:
    """The function a node calls, as Athena spells it; None for syntax that is no call (ARRAY[...], CASE)."""
    if isinstance(node, exp.Anonymous):
        return node.name.lower()
    found = _CALL.match(node.sql(dialect="athena"))
    return found.group(1).lower() if found else None


def refuse_outside_athena(tree: exp.Expr, schema: Schema | None, database: str | None) -> None:
    """Only what Athena has runs: its functions (an allow-list, ATHENA_FUNCTIONS) and the catalog's tables
    and views (and the query's own CTEs), by name. DuckDB's table functions, file paths and functions that
    reach outside the lake (read_csv, read_text, glob, getenv, ...) are refused by name before anything runs."""
    for node in tree.find_all(exp.Func):
        if isinstance(node, exp.Table | exp.Unnest):
            continue
        called = _called(node)
        if called is not None and called not in ATHENA_FUNCTIONS:
            raise UnsupportedSql(f"{called}: not an Athena function (the local engine runs only Athena's)")
    ctes = {cte.alias_or_name.lower() for cte in tree.find_all(exp.CTE)}
    known = {(db.lower(), table.lower()) for db, tables in (schema or {}).items() for table in tables}
    created = tree.find(exp.Table) if isinstance(tree, exp.Create) else None  # the view being made
    for table in tree.find_all(exp.Table):
        if table is created:
            continue
        if not isinstance(table.this, exp.Identifier):
            raise UnsupportedSql(f"{table.this.sql(dialect='athena')[:60]}: not a table of the lake (Athena reads "
                                 "its catalog's tables, not table functions or files)")
        name = table.name.lower()
        if schema is None or (not table.db and name in ctes):
            continue
        db = (table.db or database or "").lower()
        # (unqualified, with no database in context: any schema on the search path, as DuckDB's main)
        if not ((db, name) in known if db else any(name == known_name for _, known_name in known)):
            raise UnsupportedSql(f"{table.sql(dialect='athena')[:60]}: no such table or view in the lake's catalog")


def translate(sql: str, schema: Schema | None = None, database: str | None = None) -> Translation:
    """One Athena statement as DuckDB SQL with Athena's semantics; a query's output zones beside it.
    Unqualified tables are the `database`'s, as in Athena's query execution context."""
    try:
        statements = [s for s in sqlglot.parse(sql, read="athena") if s is not None]
    except ParseError as exc:
        raise parse_error(exc) from None
    if len(statements) != 1:
        raise ConfigError("give exactly one SQL statement")
    tree = statements[0]
    refuse_outside_athena(tree, schema, database)
    query = tree.expression if isinstance(tree, exp.Create) else tree
    output: Zones = []
    if isinstance(query, exp.Query):
        _name_columns(query)
        typed, types_known = _typed(query, schema, database)
        if query is tree:
            tree = typed
        else:
            tree.set("expression", typed)
        query = typed
        blocks: Blocks = {}
        for scope in traverse_scope(query):
            _rewrite_scope(scope, _Rewriter(types_known), blocks)
        output = _output_zones(query, blocks)
        if isinstance(query, exp.Select):
            _print_unknown_zones(query)
    duck = tree.sql(dialect="duckdb")
    return Translation(duck, tuple(z.name if isinstance(z, exp.Literal) else None for _, z in output))
