"""The optional QuickSight resources: off unless a principal is given; the datasets' SQL is the files of
sql/queries/ (their `?` written as QuickSight's `<<$parameter>>`), with the columns those queries return
(inferred by the render, checked here against the engine);
the analysis and the dashboard share one definition with the seed's four charts."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from lake_sql.athena import LocalAthena
from local_stack.s3 import LocalS3
from ohlcv_core.catalog import TABLES
from stack_tools import quicksight as qs
from stack_tools.queries import named_query
from stack_tools.template import StackTemplate

QUERIES = [named_query(name) for name in qs.DASHBOARD_QUERIES]


@pytest.fixture(scope="module")
def athena(tmp_path_factory: pytest.TempPathFactory) -> LocalAthena:
    return LocalAthena(StackTemplate(), LocalS3(tmp_path_factory.mktemp("lake")))


def _columns(athena: LocalAthena) -> dict[str, list[dict[str, Any]]]:
    columns = {}
    for query in QUERIES:
        result = athena.query(query.sql, query.bind({"symbols": "A", "from": "2024-01-01", "to": "2024-01-02"}))
        columns[query.name] = qs.input_columns(result.columns, result.types)
    return columns


def test_each_datasets_columns_are_what_its_query_returns(athena: LocalAthena) -> None:
    """The render infers the columns from the catalog's types; the engine's answer is the judge."""
    returned = _columns(athena)
    for query in QUERIES:
        assert qs.output_columns(query, TABLES) == returned[query.name], query.name
    body = StackTemplate().body
    deployed = {lid: r for lid, r in body["Resources"].items() if r["Type"].startswith("AWS::QuickSight::")}
    assert {r["Condition"] for r in deployed.values()} == {qs.CONDITION}
    assert body["Parameters"][qs.PRINCIPAL]["Default"] == ""  # off unless a principal is given


def test_each_datasets_sql_is_its_query_file(athena: LocalAthena) -> None:
    body = StackTemplate().body
    for query in QUERIES:
        table = body["Resources"][qs.logical_id(query.name)]["Properties"]["PhysicalTableMap"]["query"]
        sql = table["CustomSql"]["SqlQuery"]["Fn::Sub"]
        unqualified = sql.replace(f"{qs.DATABASE}.", "")
        assert re.sub(r"<<\$\w+>>", "?", unqualified) == Path(query.path).read_text(encoding="utf-8")
        assert qs.DATABASE in sql
        # with the stack's database and QuickSight's parameter values written in, the dataset answers as
        # the named query does
        literal = sql.replace(qs.DATABASE, f'"{athena.database}"')
        for parameter in query.parameters:
            literal = literal.replace(f"<<${qs.QS_PARAMETERS[parameter]}>>", f"'{qs.DEFAULTS[parameter]}'")
        expected = athena.query(query.sql, query.bind(qs.DEFAULTS))
        assert athena.query(literal).columns == expected.columns


def test_the_dashboard_shows_the_seeds_four_charts_from_their_datasets() -> None:
    body = StackTemplate().body["Resources"]
    analysis = body["QuickSightAnalysis"]["Properties"]["Definition"]
    dashboard = body["QuickSightDashboard"]["Properties"]["Definition"]
    assert analysis == dashboard
    (sheet,) = dashboard["Sheets"]
    visuals = [next(iter(v.values())) for v in sheet["Visuals"]]
    assert [v["VisualId"] for v in visuals] == ["daily-change", "daily-volume", "monthly-volume", "price-volume"]
    declared = {d["Identifier"] for d in dashboard["DataSetIdentifierDeclarations"]}
    assert declared == set(qs.DASHBOARD_QUERIES)
