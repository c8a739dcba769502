"""The optional QuickSight resources of the stack, derived from sql/queries/: each dashboard dataset's
custom SQL is its query file with the `?` placeholders (Athena's execution parameters) written as
QuickSight's dataset parameters, `<<$name>>`, in the same order, and its tables qualified with the
stack's database (custom SQL has no execution context to name it); its columns and their types are what
the query returns, inferred from the catalog's column types (a test runs each query and checks the
inference). stack_tools/render.py writes these resources into the template."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

import sqlglot
from sqlglot import exp
from sqlglot.optimizer.annotate_types import annotate_types
from sqlglot.optimizer.qualify import qualify

from ohlcv_core.catalog import Table
from stack_tools.queries import NamedQuery, tables_read

# sql/queries/ parameter -> QuickSight's name for it (letters and digits only there)
QS_PARAMETERS = {"symbols": "symbols", "from": "firstDay", "to": "lastDay"}
DEFAULTS = {"symbols": "AAPL", "from": "2024-01-01", "to": "2024-12-31"}
# The seed's four charts, one dataset each
DASHBOARD_QUERIES = ("daily_change", "daily_volume", "monthly_volume", "price_vs_volume")
_TYPES = {"VARCHAR": "STRING", "BIGINT": "INTEGER", "INTEGER": "INTEGER", "DOUBLE": "DECIMAL",
          "DECIMAL": "DECIMAL", "TIMESTAMP": "DATETIME", "DATE": "DATETIME", "BOOLEAN": "BOOLEAN"}


DATABASE = '"${GlueDatabase}"'  # the stack's database, written in by Fn::Sub


def dataset_sql(query: NamedQuery) -> str:
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
            text = re.sub(r"\?", lambda _: f"<<${QS_PARAMETERS[next(names)]}>>", text)
            text = reads.sub(rf"\1\2{DATABASE}.\3", text) if reads else text
        lines.append(text)
    return "\n".join(lines) + ("\n" if query.sql.endswith("\n") else "")


def input_columns(columns: Sequence[str], types: Sequence[str]) -> list[dict[str, Any]]:
    return [{"Name": name, "Type": _TYPES.get(kind.split("(")[0], "STRING")}
            for name, kind in zip(columns, types, strict=True)]


def output_columns(query: NamedQuery, tables: Sequence[Table]) -> list[dict[str, Any]]:
    """The columns the query returns and their QuickSight types, inferred from the tables' column types."""
    schema: dict[str, object] = {t.name: {c.name: c.type for c in (*t.columns, *t.partition_columns)}
                                 for t in tables}
    tree = qualify(sqlglot.parse_one(query.sql, read="athena"), schema=schema, dialect="athena")
    typed = annotate_types(tree, schema=schema, dialect="athena")
    assert isinstance(typed, exp.Query)  # a named query is one SELECT
    selects = typed.selects
    types = [s.type.sql("athena").upper() if s.type else "UNKNOWN" for s in selects]
    return input_columns([s.alias_or_name for s in selects], types)


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
# visual id -> (dataset, title, category or x column, value or y column)
VISUALS = {
    "daily-change": ("daily_change", "Daily price change (%)", "day", "change_pct"),
    "daily-volume": ("daily_volume", "Daily volume", "day", "volume"),
    "monthly-volume": ("monthly_volume", "Monthly volume", "month", "total_volume"),
    "price-volume": ("price_vs_volume", "Daily return (%) vs volume", "volume", "return_pct"),
}


def logical_id(query: str) -> str:
    return "".join(word.capitalize() for word in query.split("_")) + "DataSet"


def _sub(text: str) -> dict[str, str]:
    return {"Fn::Sub": text}


def _permissions(kind: str) -> list[dict[str, Any]]:
    return [{"Principal": {"Ref": PRINCIPAL}, "Actions": _ACTIONS[kind]}]


def dataset(query: NamedQuery, columns: Sequence[dict[str, Any]]) -> dict[str, Any]:
    return {"Type": "AWS::QuickSight::DataSet", "Condition": CONDITION, "Properties": {
        "AwsAccountId": {"Ref": "AWS::AccountId"},
        "DataSetId": _sub(f"${{AWS::StackName}}-{query.name.replace('_', '-')}"),
        "Name": _sub(f"${{AWS::StackName}} {query.name}"),
        "ImportMode": "DIRECT_QUERY",
        "PhysicalTableMap": {"query": {"CustomSql": {
            "DataSourceArn": {"Fn::GetAtt": [SOURCE, "Arn"]}, "Name": query.name,
            "SqlQuery": _sub(dataset_sql(query)), "Columns": list(columns)}}},
        "DatasetParameters": [{"StringDatasetParameter": {
            "Id": f"{query.name.replace('_', '-')}-{QS_PARAMETERS[p].lower()}", "Name": QS_PARAMETERS[p],
            "ValueType": "SINGLE_VALUED", "DefaultValues": {"StaticValues": [DEFAULTS[p]]}}}
            for p in query.parameters],
        "Permissions": _permissions("dataset")}}


def _column(data: str, name: str) -> dict[str, str]:
    return {"DataSetIdentifier": data, "ColumnName": name}


def _visual(visual_id: str) -> dict[str, Any]:
    data, title, x, y = VISUALS[visual_id]
    titled = {"VisualId": visual_id, "Title": {"Visibility": "VISIBLE", "FormatText": {"PlainText": title}}}
    symbol = {"CategoricalDimensionField": {"FieldId": f"{visual_id}-symbol", "Column": _column(data, "symbol")}}
    if visual_id == "price-volume":
        return {"ScatterPlotVisual": {**titled, "ChartConfiguration": {"FieldWells": {
            "ScatterPlotUnaggregatedFieldWells": {
                "XAxis": [{"NumericalDimensionField": {"FieldId": f"{visual_id}-x", "Column": _column(data, x)}}],
                "YAxis": [{"NumericalDimensionField": {"FieldId": f"{visual_id}-y", "Column": _column(data, y)}}],
                "Category": [symbol]}}}}}
    return {"BarChartVisual": {**titled, "ChartConfiguration": {"Orientation": "VERTICAL", "FieldWells": {
        "BarChartAggregatedFieldWells": {
            "Category": [{"CategoricalDimensionField": {"FieldId": f"{visual_id}-x", "Column": _column(data, x)}}],
            "Values": [{"NumericalMeasureField": {"FieldId": f"{visual_id}-y", "Column": _column(data, y),
                                                  "AggregationFunction": {"SimpleNumericalAggregation": "SUM"}}}],
            "Colors": [symbol]}}}}}


def definition(queries: Sequence[NamedQuery]) -> dict[str, Any]:
    """The analysis's and the dashboard's one definition: a sheet with the four charts and a control per
    parameter, each parameter mapped onto every dataset's parameter of the same name."""
    return {
        "DataSetIdentifierDeclarations": [{"Identifier": q.name, "DataSetArn": {"Fn::GetAtt": [logical_id(q.name),
                                                                                              "Arn"]}}
                                          for q in queries],
        "ParameterDeclarations": [{"StringParameterDeclaration": {
            "Name": QS_PARAMETERS[p], "ParameterValueType": "SINGLE_VALUED",
            "DefaultValues": {"StaticValues": [DEFAULTS[p]]},
            "MappedDataSetParameters": [{"DataSetIdentifier": q.name, "DataSetParameterName": QS_PARAMETERS[p]}
                                        for q in queries if p in q.parameters]}} for p in QS_PARAMETERS],
        "Sheets": [{"SheetId": "market", "Name": "Market data",
                    "ParameterControls": [{"TextField": {"ParameterControlId": f"{QS_PARAMETERS[p].lower()}-control",
                                                         "Title": QS_PARAMETERS[p],
                                                         "SourceParameterName": QS_PARAMETERS[p]}}
                                          for p in QS_PARAMETERS],
                    "Visuals": [_visual(v) for v in VISUALS]}],
    }


def resources(queries: Sequence[NamedQuery], columns: dict[str, list[dict[str, Any]]]) -> dict[str, Any]:
    """Every QuickSight resource of the stack, keyed by logical id, each under the HasQuickSight condition."""
    out: dict[str, Any] = {SOURCE: {"Type": "AWS::QuickSight::DataSource", "Condition": CONDITION, "Properties": {
        "AwsAccountId": {"Ref": "AWS::AccountId"}, "DataSourceId": _sub("${AWS::StackName}-athena"),
        "Name": _sub("${AWS::StackName} Athena"), "Type": "ATHENA",
        "DataSourceParameters": {"AthenaParameters": {"WorkGroup": {"Ref": "AnalyticsWorkGroup"}}},
        "Permissions": _permissions("source")}}}
    out |= {logical_id(q.name): dataset(q, columns[q.name]) for q in queries}
    shared = definition(queries)
    out["QuickSightAnalysis"] = {"Type": "AWS::QuickSight::Analysis", "Condition": CONDITION, "Properties": {
        "AwsAccountId": {"Ref": "AWS::AccountId"}, "AnalysisId": _sub("${AWS::StackName}-market"),
        "Name": _sub("${AWS::StackName} market data"), "Definition": shared, "Permissions": _permissions("analysis")}}
    out["QuickSightDashboard"] = {"Type": "AWS::QuickSight::Dashboard", "Condition": CONDITION, "Properties": {
        "AwsAccountId": {"Ref": "AWS::AccountId"}, "DashboardId": _sub("${AWS::StackName}-market"),
        "Name": _sub("${AWS::StackName} market data"), "Definition": shared,
        "Permissions": _permissions("dashboard")}}
    return out
