"""The DDL of sql/tables/ and `ohlcv ddl` register what the template's Glue tables do."""

from __future__ import annotations

import pytest
import sqlglot
from sqlglot import exp

from ohlcv_cli.main import main
from stack_tools import ddl
from stack_tools.template import StackTemplate, TableSettings


def _literal(node: exp.Expression | None) -> str:
    assert isinstance(node, exp.Literal)
    return str(node.this)


def _read_back(text: str) -> dict[str, object]:
    """What Athena would register, read from the DDL by sqlglot's parser (not by the renderer's code)."""
    create = sqlglot.parse_one(text, read="athena")
    assert isinstance(create, exp.Create) and create.kind == "TABLE"
    schema = create.this
    assert isinstance(schema, exp.Schema)
    table = schema.this
    props = create.args["properties"].expressions

    def columns(defs: list[exp.Expression]) -> list[tuple[str, str]]:
        return [(d.name, d.args["kind"].sql(dialect="hive").lower()) for d in defs]

    (partitioned,) = [p for p in props if isinstance(p, exp.PartitionedByProperty)]
    (formats,) = [p.this for p in props if isinstance(p, exp.FileFormatProperty)]
    return {
        "table": (table.db, table.name),
        "columns": columns(schema.expressions),
        "partition_keys": columns(partitioned.this.expressions),
        "serde": _literal(next(p for p in props if isinstance(p, exp.RowFormatSerdeProperty)).this),
        "formats": (_literal(formats.args["input_format"]), _literal(formats.args["output_format"])),
        "location": _literal(next(p for p in props if isinstance(p, exp.LocationProperty)).this),
        "parameters": {_literal(p.this): _literal(p.args["value"]) for p in props if type(p) is exp.Property},
        "external": any(isinstance(p, exp.ExternalProperty) for p in props),
    }


def _expected(table: TableSettings) -> dict[str, object]:
    return {"table": (table.database, table.name), "columns": [(c.name, c.type) for c in table.columns],
            "partition_keys": [(c.name, c.type) for c in table.partition_keys], "serde": table.serde,
            "formats": (table.input_format, table.output_format), "location": table.location,
            "parameters": dict(table.parameters), "external": True}


@pytest.mark.parametrize("table", StackTemplate(stack_name="prod", account_id="123456789012").tables(),
                         ids=lambda t: t.name)
def test_the_ddl_registers_what_the_template_does(table: TableSettings) -> None:
    concrete = ddl.render(StackTemplate(stack_name="prod", account_id="123456789012"), placeholders=False)
    assert _read_back(concrete[f"{table.name}.sql"]) == _expected(table)
    assert "prod-" in str(table.location) and "123456789012" in str(table.location)


def test_the_command_renders_one_stack_or_asks_for_both_names(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ddl", "--stack-name", "prod", "--account-id", "123456789012"]) == 0
    out = capsys.readouterr().out
    assert "LOCATION 's3://prod-curated-123456789012/bars_1m/'" in out and "${AWS::" not in out
    assert main(["ddl", "--stack-name", "prod"]) == 2
    assert "--account-id" in capsys.readouterr().err
