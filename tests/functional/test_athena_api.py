"""The local Athena API (local_stack/athena_api.py) fails where Athena fails: a workgroup the stack does
not declare, ExecutionParameters that are not literals or not as many as the `?`s, a query over the
workgroup's bytes-scanned cutoff, results asked before the query ended; and it pages as Athena pages."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from benchmarks.sql import lake_locations, write_raw
from lake_sql.athena import LocalAthena
from local_stack.api import ApiError
from local_stack.athena_api import AthenaApi
from local_stack.s3 import LocalS3
from stack_tools.template import StackTemplate, WorkGroupSettings

COUNT = "SELECT count(*) AS n FROM raw_prices WHERE symbol = ?"


def _api(tmp_path: Path, cutoff: int | None) -> AthenaApi:
    write_raw(lake_locations(tmp_path / "s3")["raw_prices"], symbols=2, days=1)
    athena = LocalAthena(StackTemplate(), LocalS3(tmp_path / "s3"))
    return AthenaApi(athena, [WorkGroupSettings("Group", "analytics", "s3://results/", cutoff)])


def _ended(api: AthenaApi, body: dict[str, Any]) -> dict[str, Any]:
    execution_id = api.start_query_execution({"WorkGroup": "analytics", **body})["QueryExecutionId"]
    for _ in range(600):
        execution: dict[str, Any] = api.get_query_execution({"QueryExecutionId": execution_id})["QueryExecution"]
        if execution["Status"]["State"] not in ("QUEUED", "RUNNING"):
            return execution
        time.sleep(0.05)
    raise AssertionError("the query did not end")


def test_a_query_runs_with_literal_parameters_and_reports_what_it_scanned(tmp_path: Path) -> None:
    api = _api(tmp_path, cutoff=None)
    execution = _ended(api, {"QueryString": COUNT, "ExecutionParameters": ["'SYM00'"]})
    assert execution["Status"]["State"] == "SUCCEEDED"
    assert execution["Statistics"]["DataScannedInBytes"] > 0
    rows = api.get_query_results({"QueryExecutionId": execution["QueryExecutionId"]})["ResultSet"]["Rows"]
    assert rows[0] == {"Data": [{"VarCharValue": "n"}]} and int(rows[1]["Data"][0]["VarCharValue"]) > 0
    api.close()


def test_results_come_in_pages_with_a_header_row_first(tmp_path: Path) -> None:
    api = _api(tmp_path, cutoff=None)
    execution = _ended(api, {"QueryString": "SELECT symbol, price FROM raw_prices LIMIT 25"})
    first = api.get_query_results({"QueryExecutionId": execution["QueryExecutionId"], "MaxResults": 10})
    pages, token = [first], first.get("NextToken")
    while token:
        pages.append(api.get_query_results({"QueryExecutionId": execution["QueryExecutionId"], "MaxResults": 10,
                                            "NextToken": token}))
        token = pages[-1].get("NextToken")
    assert [len(p["ResultSet"]["Rows"]) for p in pages] == [10, 10, 6]  # the header, then 25 rows
    assert [c["Type"] for c in first["ResultSet"]["ResultSetMetadata"]["ColumnInfo"]] == ["varchar", "double"]
    api.close()


def test_over_the_workgroups_cutoff_the_query_fails_and_has_no_results(tmp_path: Path) -> None:
    api = _api(tmp_path, cutoff=1000)
    execution = _ended(api, {"QueryString": COUNT, "ExecutionParameters": ["'SYM00'"]})
    assert execution["Status"]["State"] == "FAILED"
    assert "BytesScannedCutoffPerQuery" in execution["Status"]["StateChangeReason"]
    with pytest.raises(ApiError, match="Current state: FAILED"):
        api.get_query_results({"QueryExecutionId": execution["QueryExecutionId"]})
    api.close()


@pytest.mark.parametrize(("body", "message"), [
    ({"QueryString": COUNT, "WorkGroup": "primary"}, "WorkGroup primary is not found"),
    ({"QueryString": COUNT, "ExecutionParameters": ["SYM00"]}, "must be a literal"),
    ({"QueryString": COUNT, "ExecutionParameters": ["'a'", "'b'"]}, "1 parameters and 2 ExecutionParameters"),
])
def test_a_request_athena_refuses_is_refused(tmp_path: Path, body: dict[str, Any], message: str) -> None:
    api = _api(tmp_path, cutoff=None)
    with pytest.raises(ApiError, match=message):
        api.start_query_execution({"WorkGroup": "analytics", **body})
    api.close()


def test_a_statement_the_engine_refuses_fails_with_its_reason(tmp_path: Path) -> None:
    api = _api(tmp_path, cutoff=None)
    execution = _ended(api, {"QueryString": "SELECT nope FROM raw_prices"})
    assert execution["Status"]["State"] == "FAILED" and "nope" in execution["Status"]["StateChangeReason"]
    api.close()


def test_counts_and_integer_sums_are_athenas_bigint(tmp_path: Path) -> None:
    """The engine makes count_if and a sum of integers 128-bit; Athena types them bigint, and a client
    reads them as whole numbers (the dashboard's "12 rules passed", not "12.0")."""
    api = _api(tmp_path, cutoff=None)
    execution = _ended(api, {"QueryString": "SELECT count_if(price > 0) AS n, sum(day_volume) AS v, "
                                            "count(*) AS c FROM raw_prices"})
    info = api.get_query_results({"QueryExecutionId": execution["QueryExecutionId"]})["ResultSet"][
        "ResultSetMetadata"]["ColumnInfo"]
    assert [c["Type"] for c in info] == ["bigint", "bigint", "bigint"]
    api.close()
