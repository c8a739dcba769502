"""The optional QuickSight resources of the stack, drawn from the dashboards' charts (stack_tools/charts.py:
the local page draws the same list) and their queries in sql/queries/. Each dataset's custom SQL is its
query file with the `?` placeholders (Athena's execution parameters) written as QuickSight's dataset
parameters, `<<$name>>`, in the same order, and its tables qualified with the stack's database (custom
SQL has no execution context to name it); its columns and their types are what the query returns,
inferred from the catalog's column types and the views' (a test runs each query and checks the
inference). stack_tools/render.py writes these resources into the template.

The days are QuickSight date-time parameters whose defaults roll with the date a dashboard is opened on
(UTC): the range is the last FIRST_VIEW_DAYS, the live sheet today, the quality runs those of the last
QUALITY_DAYS. Each is written into the SQL as its `yyyy-mm-dd` prefix, the partition value the queries
compare `dt` with, whether QuickSight writes a date-time as a quoted ISO string or as a timestamp
literal. Every dataset is a direct query: each load of a sheet runs its queries in Athena, so the live
sheet is as fresh as `bars_1m_live` when it is opened or a control changes (QuickSight refreshes SPICE
at most every 15 minutes, and has no timed reload of a direct-query sheet)."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import date, timedelta
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from ohlcv_core.catalog import Table
from stack_tools.charts import CHARTS, FIRST_VIEW_DAYS, QUALITY_DAYS, SHEETS, Chart, Window
from stack_tools.queries import NamedQuery, tables_read

# QuickSight's parameters (letters and digits only there) standing for each query parameter, by the days
# the chart reads (stack_tools.charts.Window)
BINDINGS: dict[Window, dict[str, str]] = {
    "range": {"symbols": "symbols", "from": "firstDay", "to": "lastDay"},
    "live": {"symbols": "symbols", "from": "today", "to": "today"},
    "quality": {"from": "qualityFrom", "to": "today"},
}
# Each day parameter's default: this many days before the day the dashboard is opened on
DAYS_BACK = {"firstDay": FIRST_VIEW_DAYS - 1, "lastDay": 0, "today": 0, "qualityFrom": QUALITY_DAYS}
# The datasets' own defaults (what QuickSight's dataset editor previews): the same days back from this one
REFERENCE_DAY = date(2024, 12, 31)
# The symbols' default: the first symbol the producer streams (its exchange, if named, left off), so that
# the live sheet has minutes on the stack's first day
FIRST_STREAMED: dict[str, Any] = {"Fn::Select": [0, {"Fn::Split": [":", {"Fn::Select": [
    0, {"Fn::Split": [",", {"Ref": "ProducerSymbols"}]}]}]}]}
# Athena's types (as sqlglot or GetQueryResults name them, in any case) -> QuickSight's
_TYPES = {"VARCHAR": "STRING", "BIGINT": "INTEGER", "INTEGER": "INTEGER", "DOUBLE": "DECIMAL",
          "DECIMAL": "DECIMAL", "TIMESTAMP": "DATETIME", "DATE": "DATETIME", "BOOLEAN": "BOOLEAN"}

DATABASE = '"${GlueDatabase}"'  # the stack's database, written in by Fn::Sub


def datasets() -> dict[str, Window]:
    """Each query the charts draw, and the days it reads (one dataset each)."""
    return {c.query: c.window for c in CHARTS}


def is_day(parameter: str) -> bool:
    return parameter in DAYS_BACK


def written(parameter: str) -> str:
    """How a QuickSight parameter is written into a dataset's SQL."""
    return f"substr(CAST(<<${parameter}>> AS varchar), 1, 10)" if is_day(parameter) else f"<<${parameter}>>"


def dataset_parameters(query: NamedQuery, window: Window) -> list[str]:
    """The QuickSight parameters a dataset declares: one per name, in order of first use."""
    return list(dict.fromkeys(BINDINGS[window][p] for p in query.parameters))


def dataset_sql(query: NamedQuery, window: Window) -> str:
    """The query's text, each placeholder outside comment lines replaced by its QuickSight parameter, and
    each table it reads (its own CTEs aside) qualified by DATABASE."""
    tree = sqlglot.parse_one(query.sql, read="athena")
    tables = tables_read(tree)
    reads = re.compile(rf"\b(FROM|JOIN)(\s+)({'|'.join(sorted(tables))})\b") if tables else None
    names = iter(query.parameters)
    lines = []
    for line in query.sql.splitlines():
        text = line
        if not line.lstrip().startswith("--"):
            text = re.sub(r"\?", lambda _: written(BINDINGS[window][next(names)]), text)
            text = reads.sub(rf"\1\2{DATABASE}.\3", text) if reads else text
        lines.append(text)
    return "\n".join(lines) + ("\n" if query.sql.endswith("\n") else "")


def input_columns(columns: Sequence[str], types: Sequence[str]) -> list[dict[str, Any]]:
    return [{"Name": name, "Type": _TYPES.get(kind.split("(")[0].upper(), "STRING")}
            for name, kind in zip(columns, types, strict=True)]


def _typed(tree: exp.Expr, schema: dict[str, object]) -> tuple[list[str], list[str]]:
    typed = annotate_types(qualify(tree, schema=schema, dialect="athena"), schema=schema, dialect="athena")
    assert isinstance(typed, exp.Query)  # a named query, a view's body: one SELECT
    selects = typed.selects
    return ([s.alias_or_name for s in selects],
            [s.type.sql("athena").upper() if s.type else "UNKNOWN" for s in selects])


def output_columns(query: NamedQuery, tables: Sequence[Table],
                   views: Mapping[str, str] | None = None) -> list[dict[str, Any]]:
    """The columns the query returns and their QuickSight types, inferred from the tables' column types
    and the views' (each view's own inferred from the tables it reads)."""
    schema: dict[str, object] = {t.name: {c.name: c.type for c in (*t.columns, *t.partition_columns)}
                                 for t in tables}
    for name, text in (views or {}).items():
        create = sqlglot.parse_one(text, read="athena")
        assert isinstance(create, exp.Create)
        columns, types = _typed(create.expression, schema)
        schema[name] = dict(zip(columns, (t.lower() for t in types), strict=True))
    return input_columns(*_typed(sqlglot.parse_one(query.sql, read="athena"), schema))


PRINCIPAL, CONDITION, SOURCE = "QuickSightPrincipalArn", "HasQuickSight", "QuickSightDataSource"
_ACTIONS = {
    "source": ["quicksight:DescribeDataSource", "quicksight:DescribeDataSourcePermissions",
               "quicksight:PassDataSource", "quicksight:UpdateDataSource", "quicksight:DeleteDataSource",
               "quicksight:UpdateDataSourcePermissions"],
    "dataset": ["quicksight:DescribeDataSet", "quicksight:DescribeDataSetPermissions", "quicksight:PassDataSet",
                "quicksight:DescribeIngestion", "quicksight:ListIngestions", "quicksight:UpdateDataSet",
                "quicksight:DeleteDataSet", "quicksight:CreateIngestion", "quicksight:CancelIngestion",
                "quicksight:UpdateDataSetPermissions"],
    "analysis": ["quicksight:RestoreAnalysis", "quicksight:UpdateAnalysisPermissions", "quicksight:DeleteAnalysis",
                 "quicksight:DescribeAnalysisPermissions", "quicksight:QueryAnalysis", "quicksight:DescribeAnalysis",
                 "quicksight:UpdateAnalysis"],
    "dashboard": ["quicksight:DescribeDashboard", "quicksight:ListDashboardVersions",
                  "quicksight:UpdateDashboardPermissions", "quicksight:QueryDashboard", "quicksight:UpdateDashboard",
                  "quicksight:DeleteDashboard", "quicksight:DescribeDashboardPermissions",
                  "quicksight:UpdateDashboardPublishedVersion"],
}


def logical_id(query: str) -> str:
    return "".join(word.capitalize() for word in query.split("_")) + "DataSet"


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def _permissions(kind: str) -> list[dict[str, Any]]:
    return [{"Principal": {"Ref": PRINCIPAL}, "Actions": _ACTIONS[kind]}]


def _id(*words: str) -> str:
    return "-".join(w.replace("_", "-").lower() for w in words)


def static_default(parameter: str) -> Any:
    """A parameter's fixed default: the datasets' (and the stack's symbols for the analysis's too)."""
    if not is_day(parameter):
        return FIRST_STREAMED
    return f"{REFERENCE_DAY - timedelta(days=DAYS_BACK[parameter])}T00:00:00.000Z"


def rolling_default(parameter: str) -> str:
    """A day parameter's default, QuickSight's expression of DAYS_BACK before the day it is opened on."""
    today = "truncDate('DD', now())"
    back = DAYS_BACK[parameter]
    return f"addDateTime(-{back}, 'DD', {today})" if back else today


def _dataset_parameter(query: NamedQuery, parameter: str) -> dict[str, Any]:
    common = {"Id": _id(query.name, parameter), "Name": parameter, "ValueType": "SINGLE_VALUED",
              "DefaultValues": {"StaticValues": [static_default(parameter)]}}
    if is_day(parameter):
        return {"DateTimeDatasetParameter": {**common, "TimeGranularity": "DAY"}}
    return {"StringDatasetParameter": common}


def dataset(query: NamedQuery, window: Window, columns: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"Type": "AWS::QuickSight::DataSet", "Condition": CONDITION, "Properties": {
        "AwsAccountId": {"Ref": "AWS::AccountId"},
        "DataSetId": _sub(f"${{AWS::StackName}}-{_id(query.name)}"),
        "Name": _sub(f"${{AWS::StackName}} {query.name}"),
        "ImportMode": "DIRECT_QUERY",
        "PhysicalTableMap": {"query": {"CustomSql": {
            "DataSourceArn": {"Fn::GetAtt": [SOURCE, "Arn"]}, "Name": query.name,
            "SqlQuery": _sub(dataset_sql(query, window)), "Columns": list(columns)}}},
        "DatasetParameters": [_dataset_parameter(query, p) for p in dataset_parameters(query, window)],
        "Permissions": _permissions("dataset")}}


def _column(data: str, name: str) -> dict[str, str]:
    return {"DataSetIdentifier": data, "ColumnName": name}


def _titled(visual_id: str, title: str) -> dict[str, Any]:
    return {"VisualId": visual_id, "Title": {"Visibility": "VISIBLE", "FormatText": {"PlainText": title}}}


def _category(visual_id: str, data: str, column: str, granularity: str | None = None) -> dict[str, Any]:
    field = {"FieldId": f"{visual_id}-{_id(column)}", "Column": _column(data, column)}
    if granularity:
        return {"DateDimensionField": {**field, "DateGranularity": granularity}}
    return {"CategoricalDimensionField": field}


def _measure(visual_id: str, data: str, column: str, how: str) -> dict[str, Any]:
    return {"NumericalMeasureField": {"FieldId": f"{visual_id}-{_id(column)}", "Column": _column(data, column),
                                      "AggregationFunction": {"SimpleNumericalAggregation": how}}}


def _bars(visual_id: str, title: str, data: str, x: dict[str, Any], y: str) -> dict[str, Any]:
    return {"BarChartVisual": {**_titled(visual_id, title), "ChartConfiguration": {
        "Orientation": "VERTICAL", "FieldWells": {"BarChartAggregatedFieldWells": {
            "Category": [x], "Values": [_measure(visual_id, data, y, "SUM")],
            "Colors": [_category(visual_id, data, "symbol")]}}}}}


def visuals(chart: Chart, columns: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """A chart's visuals. QuickSight draws no candles: the live chart is its high, low, open and close as
    lines, a small multiple per symbol, over its volume as bars."""
    data, vid, title = chart.query, chart.id, chart.title[:1].upper() + chart.title[1:]
    if chart.kind == "scatter":
        (y,) = chart.y
        return [{"ScatterPlotVisual": {**_titled(vid, title), "ChartConfiguration": {"FieldWells": {
            "ScatterPlotUnaggregatedFieldWells": {
                "XAxis": [{"NumericalDimensionField": {"FieldId": f"{vid}-x", "Column": _column(data, chart.x)}}],
                "YAxis": [{"NumericalDimensionField": {"FieldId": f"{vid}-y", "Column": _column(data, y)}}],
                "Category": [_category(vid, data, "symbol")]}}}}}]
    if chart.kind == "bar":
        (y,) = chart.y
        return [_bars(vid, title, data, _category(vid, data, chart.x), y)]
    if chart.kind == "table":
        return [{"TableVisual": {**_titled(vid, title), "ChartConfiguration": {"FieldWells": {
            "TableUnaggregatedFieldWells": {"Values": [
                {"FieldId": f"{vid}-{_id(c['Name'])}", "Column": _column(data, c["Name"])} for c in columns]}}}}}]
    prices = [c for c in chart.y if c != "volume"]
    lines = {"LineChartVisual": {**_titled(vid, title), "ChartConfiguration": {"FieldWells": {
        "LineChartAggregatedFieldWells": {
            "Category": [_category(vid, data, chart.x, "MINUTE" if chart.kind == "candles" else "SECOND")],
            "Values": [_measure(vid, data, c, "MIN" if c == "low" else "MAX") for c in prices],
            **({"SmallMultiples": [_category(vid, data, "symbol")]} if chart.per_symbol else {})}}}}}
    if "volume" not in chart.y:
        return [lines]
    volume_id = f"{vid}-volume"
    return [lines, _bars(volume_id, f"{title}: volume", data, _category(volume_id, data, chart.x, "MINUTE"),
                         "volume")]


def _control(sheet: str, parameter: str) -> dict[str, Any]:
    common = {"ParameterControlId": _id(sheet, parameter, "control"), "Title": parameter,
              "SourceParameterName": parameter}
    return {"DateTimePicker": common} if is_day(parameter) else {"TextField": common}


def _declaration(parameter: str, used: Mapping[str, Sequence[str]]) -> dict[str, Any]:
    """The analysis's parameter, mapped onto each dataset's of its name (`used`: dataset -> parameters)."""
    mapped = [{"DataSetIdentifier": name, "DataSetParameterName": parameter}
              for name, parameters in used.items() if parameter in parameters]
    if is_day(parameter):
        return {"DateTimeParameterDeclaration": {
            "Name": parameter, "TimeGranularity": "DAY",
            "DefaultValues": {"RollingDate": {"Expression": rolling_default(parameter)}},
            "MappedDataSetParameters": mapped}}
    return {"StringParameterDeclaration": {
        "Name": parameter, "ParameterValueType": "SINGLE_VALUED",
        "DefaultValues": {"StaticValues": [static_default(parameter)]}, "MappedDataSetParameters": mapped}}


def definition(queries: Mapping[str, NamedQuery], columns: Mapping[str, Sequence[dict[str, Any]]]) -> dict[str, Any]:
    """The analysis's and the dashboard's one definition: a sheet per stack_tools.charts sheet, each with
    its charts and a control per parameter they read; each parameter mapped onto every dataset's of its
    name."""
    used = {name: dataset_parameters(queries[name], window) for name, window in datasets().items()}
    parameters = list(dict.fromkeys(p for names in used.values() for p in names))
    sheets = []
    for sheet, name in SHEETS.items():
        charts = [c for c in CHARTS if c.sheet == sheet]
        shown = [p for p in parameters if any(p in used[c.query] for c in charts)]
        sheets.append({"SheetId": sheet, "Name": name, "ParameterControls": [_control(sheet, p) for p in shown],
                       "Visuals": [v for c in charts for v in visuals(c, columns[c.query])]})
    return {
        "DataSetIdentifierDeclarations": [{"Identifier": name, "DataSetArn": {"Fn::GetAtt": [logical_id(name),
                                                                                             "Arn"]}}
                                          for name in datasets()],
        "ParameterDeclarations": [_declaration(p, used) for p in parameters],
        "Sheets": sheets,
    }


def resources(queries: Mapping[str, NamedQuery], columns: Mapping[str, Sequence[dict[str, Any]]]) -> dict[str, Any]:
    """Every QuickSight resource of the stack, keyed by logical id, each under the HasQuickSight condition."""
    out: dict[str, Any] = {SOURCE: {"Type": "AWS::QuickSight::DataSource", "Condition": CONDITION, "Properties": {
        "AwsAccountId": {"Ref": "AWS::AccountId"}, "DataSourceId": _sub("${AWS::StackName}-athena"),
        "Name": _sub("${AWS::StackName} Athena"), "Type": "ATHENA",
        "DataSourceParameters": {"AthenaParameters": {"WorkGroup": {"Ref": "AnalyticsWorkGroup"}}},
        "Permissions": _permissions("source")}}}
    out |= {logical_id(name): dataset(queries[name], window, columns[name]) for name, window in datasets().items()}
    shared = definition(queries, columns)
    out["QuickSightAnalysis"] = {"Type": "AWS::QuickSight::Analysis", "Condition": CONDITION, "Properties": {
        "AwsAccountId": {"Ref": "AWS::AccountId"}, "AnalysisId": _sub("${AWS::StackName}-market"),
        "Name": _sub("${AWS::StackName} market data"), "Definition": shared, "Permissions": _permissions("analysis")}}
    out["QuickSightDashboard"] = {"Type": "AWS::QuickSight::Dashboard", "Condition": CONDITION, "Properties": {
        "AwsAccountId": {"Ref": "AWS::AccountId"}, "DashboardId": _sub("${AWS::StackName}-market"),
        "Name": _sub("${AWS::StackName} market data"), "Definition": shared,
        "Permissions": _permissions("dashboard")}}
    return out
