"""`python -m stack_tools.render` (`make template`): cloudformation/template.yaml, rendered from its sources.

cloudformation/source.yaml holds what is written by hand. Each of its lines `# render: <block>` is replaced by
resources generated from the file that defines them, so that a fact is written once:

    tables        the Glue tables            ohlcv_core/catalog.py (columns from ohlcv_core/schema.py)
    queries       the Athena named queries   sql/queries/
    views         the Athena views           sql/views/ (each after the tables it reads; a view named
                                             <table>_live returns every column of <table>, or is refused)
    ruleset       the quality ruleset        glue_jobs/ruleset.dqdl
    quicksight    the QuickSight resources   stack_tools/charts.py, sql/ (stack_tools/quicksight.py)

The DDL of sql/tables/ is written from the rendered template in the same step (stack_tools/ddl.py).
`--check` writes nothing and fails, naming the file, when a committed copy differs from its rendering.
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlglot
import yaml
from sqlglot import exp

from ohlcv_core.catalog import TABLES, Table
from ohlcv_core.errors import ConfigError
from stack_tools import ddl
from stack_tools import quicksight as qs
from stack_tools.queries import NamedQuery, named_queries, tables_read
from stack_tools.template import StackTemplate

ROOT = Path(__file__).resolve().parent.parent
SOURCE = ROOT / "cloudformation" / "source.yaml"
TEMPLATE = ROOT / "cloudformation" / "template.yaml"
SQL = ROOT / "sql"
RULESET = ROOT / "glue_jobs" / "ruleset.dqdl"
_MARKER = re.compile(r"^(?P<indent> *)# render: (?P<block>[a-z]+)\n", re.MULTILINE)
_BUCKETS = {"raw": "RawBucket", "curated": "CuratedBucket"}
_SERDES = {"json": "org.openx.data.jsonserde.JsonSerDe",
           "manifest": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe",
           "parquet": "org.apache.hadoop.hive.ql.io.parquet.serde.ParquetHiveSerDe"}
_FORMATS = {"json": ("org.apache.hadoop.mapred.TextInputFormat",
                     "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"),
            "manifest": ("org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat",
                         "org.apache.hadoop.hive.ql.io.HiveIgnoreKeyTextOutputFormat"),
            "parquet": ("org.apache.hadoop.hive.ql.io.parquet.MapredParquetInputFormat",
                        "org.apache.hadoop.hive.ql.io.parquet.MapredParquetOutputFormat")}
# A resource's logical id is its name's: a deployed stack replaces a resource whose id changes, and a Glue
# table cannot be replaced by one of the same name, so an id from before the render keeps its old form.
_KEPT_IDS = {"quality_quarantine": "QuarantineTable"}


@dataclass(frozen=True)
class Sources:
    """What the render reads; a test renders with a column, a query or a view of its own."""
    tables: Sequence[Table] = TABLES
    sql: Path = SQL
    ruleset: Path = RULESET
    def named_queries(self) -> Mapping[str, NamedQuery]:
        return named_queries(self.sql / "queries")

    def views(self) -> dict[str, tuple[Path, str]]:
        """Each view of sql/views/ by name: its file and its text."""
        return {path.stem: (path, path.read_text(encoding="utf-8"))
                for path in sorted((self.sql / "views").glob("*.sql"))}


def _camel(name: str) -> str:
    return "".join(word[:1].upper() + word[1:] for word in name.split("_"))


def table_id(name: str) -> str:
    return _KEPT_IDS.get(name) or f"{_camel(name)}Table"


# -- the blocks ---------------------------------------------------------------------------------------------
class _Flow(dict[str, Any]):
    """A mapping written on one line (a table's column)."""


def _columns(columns: Sequence[Any]) -> list[_Flow]:
    return [_Flow(Name=c.name, Type=c.type, Comment=c.comment) for c in columns]


def _table(table: Table) -> dict[str, Any]:
    location = f"s3://${{{_BUCKETS[table.zone]}}}/{table.folder}"
    parameters: dict[str, Any] = {"classification": "json" if table.storage == "json" else "parquet"}
    if table.storage != "json":
        parameters["parquet.compression"] = "SNAPPY"
    parameters["projection.enabled"] = "true"
    for partition in table.partitions:
        for setting, value in partition.projection:
            parameters[f"projection.{partition.column.name}.{setting}"] = value
    folders = "/".join(f"{c.name}=${{!{c.name}}}" for c in table.partition_columns)
    parameters["storage.location.template"] = {"Fn::Sub": f"{location}{folders}/"}
    input_format, output_format = _FORMATS[table.storage]
    return {"Type": "AWS::Glue::Table", "Properties": {
        "CatalogId": {"Ref": "AWS::AccountId"}, "DatabaseName": {"Ref": "GlueDatabase"},
        "TableInput": {
            "Name": table.name, "Description": table.description, "TableType": "EXTERNAL_TABLE",
            "Parameters": parameters, "PartitionKeys": _columns(table.partition_columns),
            "StorageDescriptor": {
                "Location": {"Fn::Sub": location}, "InputFormat": input_format, "OutputFormat": output_format,
                "SerdeInfo": {"SerializationLibrary": _SERDES[table.storage]},
                "Columns": _columns(table.columns)}}}}


def tables(sources: Sources) -> dict[str, Any]:
    return {table_id(t.name): _table(t) for t in sources.tables}


def queries(sources: Sources) -> dict[str, Any]:
    return {f"{_camel(q.name)}Query": {"Type": "AWS::Athena::NamedQuery", "Properties": {
        "Name": q.name, "Description": q.description, "Database": {"Ref": "GlueDatabase"},
        "WorkGroup": {"Ref": "AnalyticsWorkGroup"}, "QueryString": q.sql}}
        for q in sorted(sources.named_queries().values(), key=lambda q: q.name)}


def views(sources: Sources) -> dict[str, Any]:
    known = [t.name for t in sources.tables]
    out = {}
    for path, text in sources.views().values():
        create = sqlglot.parse_one(text, read="athena")
        if not isinstance(create, exp.Create):
            raise ConfigError(f"{path}: a file in sql/views/ holds one CREATE OR REPLACE VIEW")
        reads = tables_read(create) - {create.this.name}
        unknown = sorted(reads - set(known))
        if unknown:
            raise ConfigError(f"{path}: reads {', '.join(unknown)}, which the catalog (ohlcv_core/catalog.py) "
                              "does not define")
        _check_live(path, create, {t.name: t for t in sources.tables})
        out[f"{_camel(path.stem)}View"] = {
            "Type": "Custom::AthenaView", "DependsOn": [table_id(t) for t in known if t in reads],
            "Properties": {"ServiceToken": {"Fn::GetAtt": ["ViewsFunction", "Arn"]},
                           "WorkGroup": {"Ref": "AnalyticsWorkGroup"}, "Database": {"Ref": "GlueDatabase"},
                           "ViewName": path.stem, "ViewSql": text}}
    return out


def _check_live(path: Path, create: exp.Create, tables: Mapping[str, Table]) -> None:
    """A live view stands in for its table (bars_1m_live for bars_1m): a column added to the table must be
    given to the view's rows too, or readers of the view would silently go without it."""
    presented = tables.get(path.stem.removesuffix("_live")) if path.stem.endswith("_live") else None
    if presented is None:
        return
    returned = {s.alias_or_name for s in create.expression.selects}
    missing = [c.name for c in (*presented.columns, *presented.partition_columns) if c.name not in returned]
    if missing:
        raise ConfigError(f"{path}: returns no {', '.join(missing)}, which {presented.name} has; give its rows "
                          f"{'those columns' if len(missing) > 1 else 'that column'} (NULL until compaction "
                          "if the raw zone cannot compute it)")


def ruleset(sources: Sources) -> dict[str, Any]:
    return {"QualityRuleset": {"Type": "AWS::Glue::DataQualityRuleset", "Properties": {
        "Name": {"Fn::Sub": "${AWS::StackName}-curated-bars"},
        "Description": "The quality job's rules for the curated bars (glue_jobs/ruleset.dqdl).",
        "Ruleset": sources.ruleset.read_text(encoding="utf-8")}}}


def quicksight(sources: Sources) -> dict[str, Any]:
    named = sources.named_queries()
    chosen = {name: named[name] for name in qs.datasets()}
    views = {name: text for name, (_, text) in sources.views().items()}
    columns = {name: qs.output_columns(q, sources.tables, views) for name, q in chosen.items()}
    return qs.resources(chosen, columns)


_BLOCKS: dict[str, tuple[Callable[[Sources], dict[str, Any]], str]] = {
    "tables": (tables, "ohlcv_core/catalog.py"),
    "queries": (queries, "sql/queries/"),
    "views": (views, "sql/views/"),
    "ruleset": (ruleset, "glue_jobs/ruleset.dqdl"),
    "quicksight": (quicksight, "stack_tools/charts.py and sql/ by stack_tools/quicksight.py"),
}


# -- writing YAML -------------------------------------------------------------------------------------------
class _Dumper(yaml.SafeDumper):
    """CloudFormation's short forms for Ref, Sub and GetAtt, SQL and rules as literal blocks, no aliases."""

    def ignore_aliases(self, data: Any) -> bool:
        return True

    def choose_scalar_style(self) -> str:
        # PyYAML quotes every scalar with a tag of its own; `!Ref Name` needs no quotes where it could be plain.
        event = self.event
        if isinstance(event, yaml.ScalarEvent) and event.tag in ("!Ref", "!GetAtt") and not event.style:
            self.analysis = self.analysis or self.analyze_scalar(event.value)
            if self.analysis.allow_block_plain and not self.flow_level:
                return ""
        return str(super().choose_scalar_style())


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


def _mapping(dumper: yaml.SafeDumper, data: dict[str, Any]) -> yaml.Node:
    if len(data) == 1:
        ((key, value),) = data.items()
        if key == "Ref" and isinstance(value, str):
            return dumper.represent_scalar("!Ref", value)
        if key == "Fn::Sub" and isinstance(value, str):
            return dumper.represent_scalar("!Sub", value, style="|" if "\n" in value else '"')
        if key == "Fn::GetAtt" and isinstance(value, list):
            return dumper.represent_scalar("!GetAtt", ".".join(value))
    return dumper.represent_dict(data)


def _flow(dumper: yaml.SafeDumper, data: _Flow) -> yaml.Node:
    return dumper.represent_mapping("tag:yaml.org,2002:map", data, flow_style=True)


_Dumper.add_representer(str, _text)
_Dumper.add_representer(dict, _mapping)
_Dumper.add_representer(_Flow, _flow)


def _yaml(resources: Mapping[str, Any], indent: str) -> str:
    blocks = [yaml.dump({lid: body}, Dumper=_Dumper, sort_keys=False, width=120, allow_unicode=True)
              for lid, body in resources.items()]
    text = "\n".join(blocks)
    return "".join(f"{indent}{line}" if line.strip() else line for line in text.splitlines(keepends=True))


# -- the render ---------------------------------------------------------------------------------------------
HEADER = ("# Rendered by `make template` (python -m stack_tools.render) from cloudformation/source.yaml and the\n"
          "# files each rendered block names: edit those, not this. A test fails while this file differs.\n")


def render(source: str, sources: Sources | None = None) -> str:
    chosen = sources or Sources()
    body = source
    while body.startswith("#"):  # the source's own header describes the source
        body = body.split("\n", 1)[1]

    def block(match: re.Match[str]) -> str:
        name = match["block"]
        if name not in _BLOCKS:
            raise ConfigError(f"cloudformation/source.yaml: no block {name!r} to render ({', '.join(_BLOCKS)})")
        make, origin = _BLOCKS[name]
        return (f"{match['indent']}# -- rendered from {origin}: edit that, then `make template` --\n"
                + _yaml(make(chosen), match["indent"]))

    return HEADER + _MARKER.sub(block, body)


def outputs(sources: Sources | None = None, source: Path = SOURCE) -> dict[Path, str]:
    """Every rendered file and its text: the template, and the DDL of each of its tables."""
    template = render(source.read_text(encoding="utf-8"), sources)
    with tempfile.TemporaryDirectory(prefix="ohlcv-render-") as folder:  # StackTemplate reads a file
        path = Path(folder) / "template.yaml"
        path.write_text(template, encoding="utf-8")
        rendered = ddl.render(StackTemplate(path, stack_name=ddl.PLACEHOLDER_STACK,
                                            account_id=ddl.PLACEHOLDER_ACCOUNT), placeholders=True)
    return {TEMPLATE: template} | {ddl.SQL_TABLES / name: text for name, text in rendered.items()}


def stale(rendered: Mapping[Path, str], folder: Path) -> list[Path]:
    """Files that differ from their rendering, and DDL files no table renders any more."""
    changed = [p for p, text in rendered.items()
               if not p.exists() or p.read_text(encoding="utf-8") != text]
    extra = sorted(set(folder.glob("*.sql")) - set(rendered))
    return sorted(changed) + extra


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m stack_tools.render", description=__doc__.split("\n\n")[0])
    parser.add_argument("--check", action="store_true", help="write nothing; fail if a rendered file is stale")
    args = parser.parse_args(argv)
    try:
        rendered = outputs()
    except ConfigError as exc:
        print(f"render: {exc}", file=sys.stderr)
        return 2
    differing = stale(rendered, ddl.SQL_TABLES)
    if args.check:
        for path in differing:
            print(f"render: {path.relative_to(ROOT)} is not its rendering; run `make template`", file=sys.stderr)
        return 1 if differing else 0
    for path in differing:  # (only those: an unchanged file keeps its time, and the template's parse cache)
        if path in rendered:
            path.write_text(rendered[path], encoding="utf-8")
            print(f"render: wrote {path.relative_to(ROOT)}", file=sys.stderr)
        else:
            path.unlink()
            print(f"render: removed {path.relative_to(ROOT)}: no table of the catalog renders it", file=sys.stderr)
    print(f"render: {len(differing)} of {len(rendered)} files changed", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
