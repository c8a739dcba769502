"""The local engine gives Athena's answers: queries from Trino's and Athena's documentation with the
results those pages give (tests/fixtures/athena/conformance.yaml), compared as Athena's API prints them.
A query whose answer the local engine cannot give must be refused by name, never answered differently."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import duckdb
import pytest
import yaml

from lake_sql.athena import LocalAthena, athena_text
from lake_sql.dialect import UnsupportedSql
from local_stack.s3 import LocalS3
from ohlcv_core.errors import OhlcvError
from stack_tools.template import StackTemplate
from tests.fixtures import load_text

CASES: list[dict[str, Any]] = yaml.safe_load(load_text("athena/conformance.yaml"))["cases"]


def _expected(value: Any) -> str | None:
    return None if value is None else athena_text(value) if not isinstance(value, str) else value


@pytest.fixture(scope="module")
def athena(tmp_path_factory: pytest.TempPathFactory) -> LocalAthena:
    return LocalAthena(StackTemplate(), LocalS3(tmp_path_factory.mktemp("lake")))


def test_the_suite_is_large_and_every_case_names_its_source() -> None:
    assert len(CASES) >= 60
    docs = (Path(__file__).resolve().parents[2] / "docs" / "sql.md").read_text(encoding="utf-8")
    assert f"runs {len(CASES)} queries" in docs, "docs/sql.md gives the number of conformance cases"
    assert len({c["id"] for c in CASES}) == len(CASES)
    assert all(c["source"].startswith("http") and ("expect" in c) + ("error" in c) + ("refused" in c) == 1
               for c in CASES)


@pytest.mark.parametrize("case", CASES, ids=[c["id"] for c in CASES])
def test_the_local_engine_gives_athenas_answer_or_refuses_by_name(athena: LocalAthena, case: dict[str, Any]) -> None:
    if "refused" in case:
        with pytest.raises(UnsupportedSql, match=case["refused"].replace("(", r"\(")):
            athena.query(case["sql"])
        return
    if "error" in case:
        with pytest.raises(OhlcvError, match=case["error"]):
            athena.query(case["sql"])
        return
    result = athena.query(case["sql"])
    got = [[athena_text(v) for v in row] for row in result.rows]
    assert got == [[_expected(v) for v in row] for row in case["expect"]]


def test_result_columns_are_named_as_athena_names_them(athena: LocalAthena) -> None:
    result = athena.query("SELECT 1, 2 AS two, x FROM (VALUES 3) AS t(x)")
    assert result.columns == ("_col0", "two", "x")


def test_the_session_zone_is_utc_whatever_the_machines(tmp_path: Path) -> None:
    # GIVEN a process whose TZ is New York; WHEN it reads a naive timestamp's hour in a zone and the
    # session's own zone; THEN the answers are the UTC session's
    script = ("from lake_sql.athena import LocalAthena; from local_stack.s3 import LocalS3; "
              "from stack_tools.template import StackTemplate; import sys; from pathlib import Path; "
              "a = LocalAthena(StackTemplate(), LocalS3(Path(sys.argv[1]))); "
              "print(a.query(\"SELECT current_timezone(), hour(from_unixtime(0)), "
              "CAST(date_trunc('day', TIMESTAMP '2024-01-01 02:00:00' AT TIME ZONE 'UTC') AS varchar)\").rows)")
    out = subprocess.run([sys.executable, "-c", script, str(tmp_path)], capture_output=True, text=True, check=True,
                         env={**os.environ, "TZ": "America/New_York"}, timeout=120)
    assert out.stdout.strip() == "[('UTC', 0, '2024-01-01 00:00:00.000 UTC')]"


def test_a_function_the_local_engine_lacks_is_named_in_the_error(athena: LocalAthena) -> None:
    with pytest.raises(UnsupportedSql, match=r"^human_readable_seconds: not a function the local engine runs"):
        athena.query("SELECT human_readable_seconds(96)")


def test_threads_share_one_catalog_and_each_gets_its_own_answer(athena: LocalAthena) -> None:
    def ask(n: int) -> list[tuple[Any, ...]]:
        return athena.query(f"SELECT {n} / 2, current_timezone(), count(*) FROM raw_prices").rows

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(ask, range(64)))
    assert answers == [[(n // 2, "UTC", 0)] for n in range(64)]


@pytest.mark.parametrize("sql", ["SELECT * FROM read_csv('http://127.0.0.1:9/x.csv')",
                                 "SELECT * FROM sqlite_scan('/x.db', 't')",
                                 "SELECT * FROM read_text('/etc/hostname')",
                                 "SET enable_external_access = true"])
def test_the_engine_itself_reaches_nothing_outside_the_lake(athena: LocalAthena, sql: str,
                                                             monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # (below the translator's allow-list: DuckDB's own settings, in case a query ever got past it)
    monkeypatch.setenv("HOME", str(tmp_path))
    with athena.connect() as connection, pytest.raises(duckdb.Error):
        connection.execute(sql).fetchall()
    assert not (tmp_path / ".duckdb").exists()  # no extension was installed on the query's behalf
