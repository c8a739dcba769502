"""`ohlcv query`: a named query with its parameters over a lake, in each output format; ad-hoc SQL; a
bad parameter is one line and exit 2."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import orjson
import pyarrow.parquet as pq
import pytest

from local_stack.s3 import LocalS3
from ohlcv_cli.main import main
from stack_tools.template import StackTemplate
from tests.functional.test_compaction_job import T0, _record, _write_raw

ARGS = ["intraday_candles", "--symbols", "AAPL", "--from", "2023-08-24", "--to", "2023-08-24"]


@pytest.fixture
def lake(tmp_path: Path) -> Path:
    (prices,) = [t for t in StackTemplate().tables() if t.name == "raw_prices"]
    raw = LocalS3(tmp_path / "s3").path_of(prices.location)
    _write_raw(raw, "14", "a", [_record("AAPL", T0 + s, 100 + s % 7, 1_000 + s * 10) for s in range(0, 300, 4)])
    return tmp_path


def test_a_named_query_prints_a_table_and_writes_csv_jsonl_and_parquet(
        lake: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", *ARGS, "--lake", str(lake)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[0].split()[:3] == ["symbol", "bar_start", "open"] and table[-1] == "(5 rows)"
    assert "2023-08-24 14:50:00.000" in table[2]
    for fmt in ("csv", "jsonl", "parquet"):
        assert main(["query", *ARGS, "--format", fmt, "--out", str(tmp_path / f"out.{fmt}"), "--lake", str(lake)]) == 0
    rows = list(csv.DictReader(io.StringIO((tmp_path / "out.csv").read_text())))
    lines = [orjson.loads(line) for line in (tmp_path / "out.jsonl").read_bytes().splitlines()]
    parquet = pq.read_table(tmp_path / "out.parquet").to_pylist()
    assert len(rows) == len(lines) == len(parquet) == 5
    assert rows[0]["bar_start"] == lines[0]["bar_start"] == "2023-08-24 14:50:00.000"
    assert float(rows[0]["open"]) == lines[0]["open"] == parquet[0]["open"] == 100.0
    assert lines[0]["compacted"] is False and rows[0]["compacted"] == "false"


def test_ad_hoc_sql_runs_with_athenas_semantics(lake: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", "SELECT 7 / 2 AS half, count(*) AS prices FROM raw_prices", "--format", "csv",
                 "--lake", str(lake)]) == 0
    assert capsys.readouterr().out == "half,prices\n3,75\n"


@pytest.mark.parametrize(("argv", "message"), [
    (["query", "daily_change", "--symbols", "AAPL", "--from", "2024-02-01", "--to", "2024-01-01"], "is after"),
    (["query", "no_such_query"], "no named query 'no_such_query'"),
    (["query", "daily_change", "--symbols", "AAPL", "--from", "2024-01-01", "--to", "2024-01-02", "--format",
      "parquet"], "give --out"),
    (["query", "SELECT typeof(1)"], "typeof: type names differ"),
    (["query", "SELECT FROM ("], "not valid Athena SQL"),
])
def test_a_user_error_is_one_line_and_exit_2(lake: Path, capsys: pytest.CaptureFixture[str], argv: list[str],
                                             message: str) -> None:
    assert main([*argv, "--lake", str(lake)]) == 2
    err = capsys.readouterr().err
    assert message in err and len(err.strip().splitlines()) == 1
