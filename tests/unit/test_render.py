"""cloudformation/template.yaml and sql/tables/ are rendered from their sources (stack_tools/render.py): the
committed files are their rendering, and a fact changed at its source reaches every form of it."""

from __future__ import annotations

import shutil
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from lake_sql.athena import LocalAthena
from local_stack.s3 import LocalS3
from ohlcv_core.catalog import TABLES, Table
from ohlcv_core.errors import ConfigError
from ohlcv_core.schema import Column
from stack_tools import ddl, render
from stack_tools.intrinsics import parse_template
from stack_tools.template import StackTemplate

VWAP = Column("vwap", "double", "volume-weighted average price")


def _body(text: str) -> dict[str, Any]:
    return parse_template(text)


def test_the_committed_template_and_ddl_are_their_rendering() -> None:
    rendered = render.outputs()
    stale = render.stale(rendered, ddl.SQL_TABLES)
    assert not stale, f"{', '.join(p.name for p in stale)}: run `make template`"


def test_the_source_holds_no_resource_that_is_rendered() -> None:
    source = _body(render.SOURCE.read_text(encoding="utf-8"))["Resources"]
    rendered = _body(render.TEMPLATE.read_text(encoding="utf-8"))["Resources"]
    kinds = {"AWS::Glue::Table", "AWS::Athena::NamedQuery", "Custom::AthenaView", "AWS::Glue::DataQualityRuleset"}
    assert not [lid for lid, r in source.items() if r["Type"] in kinds or r["Type"].startswith("AWS::QuickSight")]
    assert len([r for r in rendered.values() if r["Type"] == "AWS::Glue::Table"]) == len(TABLES)


def _with_column(tables: tuple[Table, ...], name: str, column: Column) -> tuple[Table, ...]:
    return tuple(replace(t, columns=(*t.columns, column)) if t.name == name else t for t in tables)


def _live_view_with(sql: Path, column: Column) -> None:
    """The edit a developer makes to the live view: compacted minutes have the column, provisional ones not yet."""
    view = sql / "views" / "bars_1m_live.sql"
    text = view.read_text(encoding="utf-8")
    compacted = "tick_count, source, final, true AS compacted"
    provisional = "f.final,\n       false AS compacted"
    assert compacted in text and provisional in text
    view.write_text(text.replace(compacted, f"tick_count, source, final, {column.name}, true AS compacted")
                    .replace(provisional, f"f.final, CAST(NULL AS {column.type}) AS {column.name},\n"
                                          "       false AS compacted"), encoding="utf-8")


def test_a_column_added_to_a_table_reaches_the_template_the_ddl_and_the_live_view(tmp_path: Path) -> None:
    tables = _with_column(TABLES, "bars_1m", VWAP)
    source = render.SOURCE.read_text(encoding="utf-8")

    # the live view stands in for bars_1m: the render refuses until the view gives its rows the column too
    with pytest.raises(ConfigError, match=r"bars_1m_live\.sql: returns no vwap, which bars_1m has"):
        render.render(source, render.Sources(tables=tables))

    sql = tmp_path / "sql"
    shutil.copytree(render.SQL, sql)
    _live_view_with(sql, VWAP)
    sources = render.Sources(tables=tables, sql=sql)
    outputs = render.outputs(sources)
    body = _body(outputs[render.TEMPLATE])["Resources"]

    columns = body["Bars1mTable"]["Properties"]["TableInput"]["StorageDescriptor"]["Columns"]
    assert columns[-1] == {"Name": "vwap", "Type": "double", "Comment": "volume-weighted average price"}
    assert "`vwap` double COMMENT 'volume-weighted average price'" in outputs[ddl.SQL_TABLES / "bars_1m.sql"]
    assert "vwap" not in outputs[ddl.SQL_TABLES / "bars_5m.sql"]
    assert "AS vwap" in body["Bars1mLiveView"]["Properties"]["ViewSql"]

    # and the engine reads the rendered catalog and the edited view: the view returns the new column
    (tmp_path / "template.yaml").write_text(outputs[render.TEMPLATE], encoding="utf-8")
    athena = LocalAthena(StackTemplate(tmp_path / "template.yaml"), LocalS3(tmp_path / "lake"), sql_dir=sql)
    assert "vwap" in athena.query("SELECT * FROM bars_1m_live LIMIT 0").columns


def _rendered_with(tmp_path: Path, name: str, text: str) -> dict[str, Any]:
    """The template's resources rendered with one more file of sql/ (`queries/x.sql`, `views/y.sql`)."""
    sql = tmp_path / "sql"
    shutil.copytree(render.SQL, sql, dirs_exist_ok=True)
    (sql / name).write_text(text, encoding="utf-8")
    resources: dict[str, Any] = _body(render.render(render.SOURCE.read_text(encoding="utf-8"),
                                                    render.Sources(sql=sql)))["Resources"]
    return resources


def test_a_named_query_added_is_one_file(tmp_path: Path) -> None:
    body = _rendered_with(tmp_path, "queries/busiest_minutes.sql",
                          "-- busiest_minutes: the minutes with the most ticks.\n-- parameters: from, to\n"
                          "SELECT symbol, bar_start, tick_count FROM bars_1m WHERE dt BETWEEN ? AND ? "
                          "ORDER BY tick_count DESC\n")
    query = body["BusiestMinutesQuery"]["Properties"]
    assert query["Name"] == "busiest_minutes" and query["Description"] == "the minutes with the most ticks."
    assert query["WorkGroup"] == {"Ref": "AnalyticsWorkGroup"} and query["Database"] == {"Ref": "GlueDatabase"}


def test_a_view_is_created_after_exactly_the_tables_it_reads(tmp_path: Path) -> None:
    body = _rendered_with(tmp_path, "views/daily_bars.sql",
                          "CREATE OR REPLACE VIEW daily_bars AS\nWITH b AS (SELECT * FROM bars_1d)\n"
                          "SELECT b.symbol, b.close, r.rule FROM b JOIN withheld_bars AS r ON r.symbol = b.symbol\n")
    assert body["DailyBarsView"]["DependsOn"] == ["Bars1dTable", "WithheldBarsTable"]
    assert body["Bars1mLiveView"]["DependsOn"] == ["RawPricesTable", "RawBarsTable", "LivePricesTable", "Bars1mTable"]

    with pytest.raises(ConfigError, match="reads bars_1w, which the catalog"):
        _rendered_with(tmp_path, "views/daily_bars.sql", "CREATE OR REPLACE VIEW daily_bars AS SELECT * FROM bars_1w\n")


def test_a_quarantine_table_keeps_its_deployed_logical_id() -> None:
    # a renamed Glue table resource would be replaced by one of the same name, which CloudFormation refuses
    assert render.table_id("quality_quarantine") == "QuarantineTable"
    assert render.table_id("bars_1m") == "Bars1mTable"


def test_an_unknown_block_is_one_clear_error() -> None:
    with pytest.raises(ConfigError, match="no block 'tabels' to render"):
        render.render("Resources:\n  # render: tabels\n")


def test_check_names_a_stale_file_and_a_ddl_file_no_table_renders(tmp_path: Path) -> None:
    rendered = {tmp_path / "template.yaml": "rendered\n", tmp_path / "bars_1m.sql": "ddl\n"}
    for path, text in rendered.items():
        path.write_text(text, encoding="utf-8")
    assert render.stale(rendered, tmp_path) == []
    (tmp_path / "template.yaml").write_text("edited by hand\n", encoding="utf-8")
    (tmp_path / "dropped_table.sql").write_text("-- a table the catalog no longer has\n", encoding="utf-8")
    assert render.stale(rendered, tmp_path) == [tmp_path / "template.yaml", tmp_path / "dropped_table.sql"]


def test_the_command_checks_without_writing(capsys: pytest.CaptureFixture[str]) -> None:
    before = render.TEMPLATE.stat().st_mtime_ns
    assert render.main(["--check"]) == 0
    assert render.TEMPLATE.stat().st_mtime_ns == before and capsys.readouterr().err == ""
