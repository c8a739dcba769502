"""The core package stays free of I/O frameworks: no boto3, sockets or Spark (the architecture's rule)."""

from __future__ import annotations

import ast
from pathlib import Path

import ohlcv_core

BANNED = {"boto3", "botocore", "socket", "pyspark", "websockets", "requests", "duckdb", "http", "urllib3",
          "aws_lambda_powertools", "asyncio"}


def test_core_imports_nothing_that_does_io() -> None:
    offenders = []
    for path in Path(ohlcv_core.__file__).parent.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in BANNED]
    assert offenders == []
