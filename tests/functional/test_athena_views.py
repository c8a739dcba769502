"""The custom resource that creates sql/views/ on AWS: CloudFormation's own sample events (Powertools'
copies) with our properties, Athena's API from moto, and a real HTTP server on loopback standing in for
the pre-signed response URL. It always answers, and only ever drops the view it made."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import boto3
import pytest
from moto import mock_aws

from athena_views.handler import answer
from athena_views.resource import ViewError, parse_request
from stack_tools.template import StackTemplate
from tests.fixtures import load_json

SQL = "CREATE OR REPLACE VIEW ohlcv.bars_1m_live AS SELECT 1 AS x"


class Responses(BaseHTTPRequestHandler):
    received: list[dict[str, Any]]

    def do_PUT(self) -> None:
        length = int(self.headers["Content-Length"])
        type(self).received.append({"path": self.path, "body": json.loads(self.rfile.read(length))})
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        return


@pytest.fixture
def cloudformation() -> Iterator[tuple[str, list[dict[str, Any]]]]:
    received: list[dict[str, Any]] = []
    handler = type("Handler", (Responses,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/presigned?sig=1", received
    finally:
        server.shutdown()
        server.server_close()


def _event(sample: str, url: str, **properties: str) -> dict[str, Any]:
    event: dict[str, Any] = load_json(f"aws-events/{sample}")
    event["ResponseURL"] = url
    event["ResourceProperties"] = {"ServiceToken": event["ServiceToken"], "WorkGroup": "stack-analytics",
                                   "Database": "ohlcv", "ViewName": "bars_1m_live", "ViewSql": SQL, **properties}
    return event


@pytest.fixture
def athena() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("athena", region_name="us-east-1")
        client.create_work_group(Name="stack-analytics")
        yield client


def test_create_runs_the_view_in_the_workgroup_and_answers_success(athena: Any, cloudformation: Any) -> None:
    url, received = cloudformation
    body = answer(_event("customResourceCreate.json", url), athena, remaining_s=60)
    assert body["Status"] == "SUCCESS" and body["PhysicalResourceId"] == "ohlcv.bars_1m_live"
    (sent,) = received
    assert sent["path"] == "/presigned?sig=1" and sent["body"] == body
    (query_id,) = athena.list_query_executions(WorkGroup="stack-analytics")["QueryExecutionIds"]
    execution = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]
    assert execution["Query"] == SQL and execution["QueryExecutionContext"]["Database"] == "ohlcv"


def test_delete_of_a_view_never_created_does_nothing_and_succeeds(athena: Any, cloudformation: Any) -> None:
    url, received = cloudformation
    event = _event("cloudformationCustomResourceDelete.json", url)  # the sample carries no PhysicalResourceId
    assert answer(event, athena, remaining_s=60)["Status"] == "SUCCESS"
    assert athena.list_query_executions(WorkGroup="stack-analytics")["QueryExecutionIds"] == []
    assert received[0]["body"]["Status"] == "SUCCESS"


def test_delete_drops_only_the_view_the_resource_made(athena: Any, cloudformation: Any) -> None:
    url, _ = cloudformation
    event = _event("cloudformationCustomResourceDelete.json", url)
    event["PhysicalResourceId"] = "ohlcv.bars_1m_live"
    answer(event, athena, remaining_s=60)
    (query_id,) = athena.list_query_executions(WorkGroup="stack-analytics")["QueryExecutionIds"]
    assert athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Query"] == \
        'DROP VIEW IF EXISTS "ohlcv"."bars_1m_live"'


def test_sql_that_creates_another_view_fails_the_update_with_its_reason(athena: Any, cloudformation: Any) -> None:
    url, received = cloudformation
    event = _event("cloudformationCustomResourceUpdate.json", url,
                   ViewSql="CREATE OR REPLACE VIEW ohlcv.other AS SELECT 1 AS x")
    body = answer(event, athena, remaining_s=60)
    assert body["Status"] == "FAILED" and "CREATE OR REPLACE VIEW ohlcv.bars_1m_live" in body["Reason"]
    assert received[0]["body"]["PhysicalResourceId"] == "xxxxxxxxx"  # the old resource stays as it was


class _SlowAthena:
    """Athena's API answering RUNNING forever (a query that hangs), then recording the stop."""

    def __init__(self) -> None:
        self.stopped: list[str] = []

    def start_query_execution(self, **_: Any) -> dict[str, str]:
        return {"QueryExecutionId": "q-1"}

    def get_query_execution(self, QueryExecutionId: str) -> dict[str, Any]:
        return {"QueryExecution": {"Status": {"State": "RUNNING"}}}

    def stop_query_execution(self, QueryExecutionId: str) -> None:
        self.stopped.append(QueryExecutionId)


def test_a_query_that_outlives_the_invocation_is_stopped_and_reported(cloudformation: Any) -> None:
    url, received = cloudformation
    now = [0.0]
    slow = _SlowAthena()
    body = answer(_event("customResourceCreate.json", url), slow, remaining_s=30, clock=lambda: now[0],
                  sleep=lambda s: now.__setitem__(0, now[0] + s))
    assert body["Status"] == "FAILED" and "did not finish" in body["Reason"] and slow.stopped == ["q-1"]
    assert now[0] <= 30 - 10  # the answer went out with the margin kept
    assert received[0]["body"]["Status"] == "FAILED"


def test_a_request_missing_its_properties_still_gets_an_answer(cloudformation: Any) -> None:
    url, received = cloudformation
    event = load_json("aws-events/customResourceCreate.json")
    event["ResponseURL"] = url
    assert answer(event, None, remaining_s=60)["Status"] == "FAILED"
    assert "WorkGroup" in received[0]["body"]["Reason"]


def test_names_outside_athenas_rules_are_refused() -> None:
    event = _event("customResourceCreate.json", "https://x", ViewName="Bars-Live",
                   ViewSql="CREATE OR REPLACE VIEW ohlcv.Bars-Live AS SELECT 1")
    with pytest.raises(ViewError, match="lower-case"):
        parse_request(event)


def test_the_views_role_reaches_only_the_stacks_workgroup_database_and_results() -> None:
    role = StackTemplate().body["Resources"]["ViewsRole"]["Properties"]
    statements = [s for p in role["Policies"] for s in p["PolicyDocument"]["Statement"]]
    resources = json.dumps([s["Resource"] for s in statements])
    assert "*\"" not in resources.replace("/*\"", "")  # no bare wildcard: only paths under the stack's own
    assert "${AnalyticsWorkGroup}" in resources and "${GlueDatabase}" in resources
    assert "${QueryResultsBucket.Arn}/results/*" in resources
