"""The optional QuickSight resources: off unless a principal is given; a dataset per query the dashboards'
charts draw (stack_tools/charts.py), its SQL the query's file (its `?` written as QuickSight's
`<<$parameter>>`), answering as the named query does over a real lake whichever way QuickSight writes a
day in, with the columns the query returns (inferred by the render, checked here against the engine);
the analysis and the dashboard share one definition, a sheet per sheet of the charts, each visual on
columns its dataset has, and every resource is a valid request of QuickSight's API (botocore's model)."""

from __future__ import annotations

import re
from datetime import date, timedelta
from typing import Any

import botocore.session
import pytest
from botocore.validate import validate_parameters

from benchmarks.sql import FIRST_DAY, lake_locations, publish_curated, write_raw
from lake_sql.athena import LocalAthena
from local_stack.athena_api import athena_type
from local_stack.s3 import LocalS3
from ohlcv_core.catalog import TABLES
from stack_tools import quicksight as qs
from stack_tools.charts import CHARTS, SHEETS, Window
from stack_tools.queries import named_query
from stack_tools.render import Sources
from stack_tools.template import StackTemplate

LAST_DAY = "2024-06-05"
DATASETS = {name: (named_query(name), window) for name, window in qs.datasets().items()}
VIEWS = {name: text for name, (_, text) in Sources().views().items()}
# What a user picks on the sheets: SYM00 over the lake's three days, quality runs of the last month
PICKED = {"symbols": "SYM00", "firstDay": FIRST_DAY, "lastDay": LAST_DAY, "today": LAST_DAY,
          "qualityFrom": "2024-05-06"}
PRINCIPAL = "arn:aws:quicksight:us-east-1:123456789012:user/default/analyst"


@pytest.fixture(scope="module")
def athena(tmp_path_factory: pytest.TempPathFactory) -> LocalAthena:
    lake = tmp_path_factory.mktemp("lake") / "s3"
    write_raw(lake_locations(lake)["raw_prices"], symbols=2, days=3)
    engine = LocalAthena(StackTemplate(), LocalS3(lake))
    publish_curated(engine, lake_locations(lake))
    return engine


def _bound(query_parameters: tuple[str, ...], window: Window) -> dict[str, str]:
    """The named query's values for what is picked on the sheets."""
    return {p: PICKED[qs.BINDINGS[window][p]] for p in query_parameters}


def test_each_datasets_columns_are_what_its_query_returns(athena: LocalAthena) -> None:
    """The render infers the columns from the catalog's types and the views'; the engine, its types named
    as the Athena stand-in names them, is the judge."""
    for name, (query, window) in DATASETS.items():
        result = athena.query(query.sql, query.bind(_bound(query.parameters, window)))
        athena_types = [athena_type(t) for t in result.types]  # as Athena's GetQueryResults would name them
        assert qs.output_columns(query, TABLES, VIEWS) == qs.input_columns(result.columns, athena_types), name
    body = StackTemplate().body
    deployed = {lid: r for lid, r in body["Resources"].items() if r["Type"].startswith("AWS::QuickSight::")}
    assert {r["Condition"] for r in deployed.values()} == {qs.CONDITION}
    assert body["Parameters"][qs.PRINCIPAL]["Default"] == ""  # off unless a principal is given


def _sql(resources: dict[str, Any], name: str) -> str:
    table = resources[qs.logical_id(name)]["Properties"]["PhysicalTableMap"]["query"]
    return str(table["CustomSql"]["SqlQuery"]["Fn::Sub"])


@pytest.mark.parametrize("day_as", ["'{day}T00:00:00.000Z'", "TIMESTAMP '{day} 00:00:00'"])
def test_each_dataset_answers_as_its_named_query(athena: LocalAthena, day_as: str) -> None:
    """With the stack's database and the picked values written in as QuickSight writes them (a day as an
    ISO string or as a timestamp literal), each dataset's rows are its named query's."""
    resources = StackTemplate().body["Resources"]
    answered = 0
    for name, (query, window) in DATASETS.items():
        sql = _sql(resources, name)
        unqualified = sql.replace(f"{qs.DATABASE}.", "")
        assert re.sub(r"substr\(CAST\(<<\$\w+>> AS varchar\), 1, 10\)|<<\$\w+>>", "?",
                      unqualified) == query.path.read_text(encoding="utf-8")
        literal = sql.replace(qs.DATABASE, f'"{athena.database}"')
        for parameter in qs.dataset_parameters(query, window):
            value = day_as.format(day=PICKED[parameter]) if qs.is_day(parameter) else f"'{PICKED[parameter]}'"
            literal = literal.replace(f"<<${parameter}>>", value)
        expected = athena.query(query.sql, query.bind(_bound(query.parameters, window)))
        assert athena.query(literal).rows == expected.rows, name
        answered += bool(expected.rows)
    assert answered >= 5  # the market and live datasets have rows here; the quality ones need a quality run


def test_the_days_default_to_the_same_days_back_as_the_local_page() -> None:
    """The analysis's days roll with the day it is opened on; the datasets' fixed defaults are the same
    days back from REFERENCE_DAY; the symbols default to the first the producer streams."""
    template = StackTemplate(parameters={qs.PRINCIPAL: PRINCIPAL, "ProducerSymbols": "MSFT:NASDAQ,AAPL"})
    resources = template.body["Resources"]
    declared = {next(iter(d.values()))["Name"]: next(iter(d.values()))
                for d in resources["QuickSightAnalysis"]["Properties"]["Definition"]["ParameterDeclarations"]}
    assert set(declared) == {"symbols", "firstDay", "lastDay", "today", "qualityFrom"}
    assert template.resolve(declared["symbols"]["DefaultValues"]["StaticValues"]) == ["MSFT"]
    for name, back in (("firstDay", 89), ("lastDay", 0), ("today", 0), ("qualityFrom", 30)):
        expression = declared[name]["DefaultValues"]["RollingDate"]["Expression"]
        assert expression == (f"addDateTime(-{back}, 'DD', truncDate('DD', now()))" if back
                              else "truncDate('DD', now())")
    for name in DATASETS:
        for parameter in resources[qs.logical_id(name)]["Properties"]["DatasetParameters"]:
            kind, spec = next(iter(parameter.items()))
            default = template.resolve(spec["DefaultValues"]["StaticValues"][0])
            if kind == "DateTimeDatasetParameter":
                back = (qs.REFERENCE_DAY - date.fromisoformat(default[:10])).days
                assert declared[spec["Name"]]["DefaultValues"]["RollingDate"]["Expression"] == qs.rolling_default(
                    spec["Name"]) and back == qs.DAYS_BACK[spec["Name"]]
            else:
                assert default == "MSFT"
    assert qs.REFERENCE_DAY - timedelta(days=qs.DAYS_BACK["firstDay"]) == date(2024, 10, 3)


def _fields(node: Any) -> list[dict[str, str]]:
    """Every column a visual names."""
    if isinstance(node, dict):
        found = [node] if node.keys() == {"DataSetIdentifier", "ColumnName"} else []
        return found + [f for value in node.values() for f in _fields(value)]
    if isinstance(node, list):
        return [f for value in node for f in _fields(value)]
    return []


def _pairs(node: Any) -> list[tuple[str, Any]]:
    """Every (key, value) of a nested definition."""
    if isinstance(node, dict):
        return [(k, v) for k, v in node.items()] + [p for v in node.values() for p in _pairs(v)]
    if isinstance(node, list):
        return [p for v in node for p in _pairs(v)]
    return []


def test_the_dashboard_draws_the_local_pages_charts_on_their_datasets_columns() -> None:
    resources = StackTemplate().body["Resources"]
    analysis = resources["QuickSightAnalysis"]["Properties"]["Definition"]
    dashboard = resources["QuickSightDashboard"]["Properties"]["Definition"]
    assert analysis == dashboard
    assert [s["SheetId"] for s in dashboard["Sheets"]] == list(SHEETS)
    shown = {s["SheetId"]: [next(iter(v.values()))["VisualId"] for v in s["Visuals"]] for s in dashboard["Sheets"]}
    for chart in CHARTS:
        assert chart.id in shown[chart.sheet]
    assert "candles-volume" in shown["live"]  # QuickSight draws no candles: prices as lines over volume bars
    declared = {d["Identifier"] for d in dashboard["DataSetIdentifierDeclarations"]}
    assert declared == set(DATASETS)
    columns = {name: {c["Name"] for c in resources[qs.logical_id(name)]["Properties"]["PhysicalTableMap"]["query"]
                      ["CustomSql"]["Columns"]} for name in DATASETS}
    for sheet in dashboard["Sheets"]:
        for field in _fields(sheet["Visuals"]):
            assert field["ColumnName"] in columns[field["DataSetIdentifier"]], field
    # every id is the definition's own: visuals, their fields and the controls, across the sheets
    ids = [value for key, value in _pairs(dashboard["Sheets"]) if key in ("VisualId", "FieldId", "ParameterControlId")]
    assert len(ids) == len(set(ids)) > 3 * len(CHARTS)
    # each parameter in a dataset's SQL is declared by it, and the analysis maps each onto every such one
    mapped: dict[str, set[str]] = {}
    for parameter in dashboard["ParameterDeclarations"]:
        spec = next(iter(parameter.values()))
        mapped[spec["Name"]] = {m["DataSetIdentifier"] for m in spec["MappedDataSetParameters"]}
    for name in DATASETS:
        properties = resources[qs.logical_id(name)]["Properties"]
        used = set(re.findall(r"<<\$(\w+)>>", _sql(resources, name)))
        assert {next(iter(p.values()))["Name"] for p in properties["DatasetParameters"]} == used
        assert {p for p, datasets in mapped.items() if name in datasets} == used, name


def test_every_resource_is_a_valid_request_of_quicksights_api() -> None:
    """CloudFormation's QuickSight properties are the API's requests (less the resource id's path): each,
    resolved for a stack with a principal, validates against botocore's model of QuickSight."""
    template = StackTemplate(parameters={qs.PRINCIPAL: PRINCIPAL})
    model = botocore.session.get_session().get_service_model("quicksight")
    operations = {"AWS::QuickSight::DataSource": "CreateDataSource", "AWS::QuickSight::DataSet": "CreateDataSet",
                  "AWS::QuickSight::Analysis": "CreateAnalysis", "AWS::QuickSight::Dashboard": "CreateDashboard"}
    checked = []
    for logical_id, kind in ((lid, r["Type"]) for lid, r in template.body["Resources"].items()):
        if kind in operations:
            shape = model.operation_model(operations[kind]).input_shape
            assert shape is not None
            validate_parameters(template.cfn.properties(logical_id), shape)
            checked.append(kind)
    assert checked.count("AWS::QuickSight::DataSet") == len(DATASETS) and len(checked) == len(DATASETS) + 3
