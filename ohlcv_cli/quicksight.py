"""`python -m ohlcv_cli.quicksight`: the stack's QuickSight resources as YAML, to paste between the
QuickSight markers of cloudformation/template.yaml after a dashboard query changes (a test fails until
then). Each dataset's columns are what its query returns, asked of the local engine."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml

from lake_sql.athena import LocalAthena
from local_stack.s3 import LocalS3
from stack_tools import quicksight as qs
from stack_tools.queries import named_query
from stack_tools.template import StackTemplate


class _Dumper(yaml.SafeDumper):
    """CloudFormation reads no YAML aliases; SQL reads best as a literal block."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def _text(dumper: yaml.SafeDumper, data: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style="|" if "\n" in data else None)


_Dumper.add_representer(str, _text)


def resources_yaml() -> str:
    queries = [named_query(name) for name in qs.DASHBOARD_QUERIES]
    with tempfile.TemporaryDirectory() as lake:
        athena = LocalAthena(StackTemplate(), LocalS3(Path(lake)))
        columns = {}
        for query in queries:
            result = athena.query(query.sql, query.bind(qs.DEFAULTS))
            columns[query.name] = qs.input_columns(result.columns, result.types)
    text = yaml.dump(qs.resources(queries, columns), Dumper=_Dumper, sort_keys=False, width=110)
    return "\n".join(f"  {line}" if line else line for line in text.splitlines()) + "\n"


if __name__ == "__main__":
    sys.stdout.write(resources_yaml())
