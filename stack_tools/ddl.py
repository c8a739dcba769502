"""Athena DDL for the stack's Glue tables, written from the template's tables (which are rendered from
ohlcv_core/catalog.py).

`sql/tables/` holds it with the stack name and account left as `${AWS::StackName}` and `${AWS::AccountId}`,
written by `make template` (stack_tools/render.py); `ohlcv ddl --stack-name … --account-id …` prints it for
one deployed stack, for a catalog managed outside CloudFormation.
"""

from __future__ import annotations

from pathlib import Path

from stack_tools.template import StackTemplate, TableColumn, TableSettings

SQL_TABLES = Path(__file__).resolve().parent.parent / "sql" / "tables"
PLACEHOLDER_STACK, PLACEHOLDER_ACCOUNT = "${AWS::StackName}", "${AWS::AccountId}"


def _string(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"


def _identifier(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _column(column: TableColumn) -> str:
    comment = f" COMMENT {_string(column.comment)}" if column.comment else ""
    return f"{_identifier(column.name)} {column.type}{comment}"


def _properties(values: dict[str, str]) -> str:
    return ",\n".join(f"  {_string(k)}={_string(v)}" for k, v in sorted(values.items()))


def table_ddl(table: TableSettings) -> str:
    lines = [f"CREATE EXTERNAL TABLE IF NOT EXISTS {_identifier(table.database)}.{_identifier(table.name)} (",
             ",\n".join(f"  {_column(c)}" for c in table.columns), ")"]
    if table.description:
        lines.append(f"COMMENT {_string(table.description)}")
    if table.partition_keys:
        lines.append(f"PARTITIONED BY ({', '.join(_column(c) for c in table.partition_keys)})")
    lines.append(f"ROW FORMAT SERDE {_string(table.serde)}")
    if table.serde_parameters:
        lines.append(f"WITH SERDEPROPERTIES (\n{_properties(dict(table.serde_parameters))}\n)")
    lines += [f"STORED AS INPUTFORMAT {_string(table.input_format)}",
              f"OUTPUTFORMAT {_string(table.output_format)}",
              f"LOCATION {_string(table.location)}"]
    if table.parameters:
        lines.append(f"TBLPROPERTIES (\n{_properties(dict(table.parameters))}\n)")
    return "\n".join(lines) + ";\n"


def render(template: StackTemplate, *, placeholders: bool) -> dict[str, str]:
    """File name -> DDL text, one file per table."""
    def header(table: TableSettings) -> str:
        keys = [f"${{{c.name}}}" for c in table.partition_keys]
        verb = "are" if len(keys) > 1 else "is"
        projected = f"; {' and '.join(keys)} {verb} partition projection's own" if keys else ""
        return ("-- Rendered by `make template` from ohlcv_core/catalog.py; edit that, not this.\n"
                + ("-- Replace ${AWS::StackName} and ${AWS::AccountId} with your stack's (or run `ohlcv ddl "
                   f"--stack-name … --account-id …`);\n-- the database is the stack's name with _ for -{projected}.\n"
                   if placeholders else ""))

    return {f"{table.name}.sql": header(table) + table_ddl(table) for table in template.tables()}


def placeholder_template() -> StackTemplate:
    return StackTemplate(stack_name=PLACEHOLDER_STACK, account_id=PLACEHOLDER_ACCOUNT)
