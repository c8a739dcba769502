"""The views custom resource's Lambda: runs the statement of athena_views.resource in the stack's
workgroup, waits for Athena to finish it within the invocation's time, and always answers CloudFormation
(an unanswered custom resource holds the stack for an hour)."""

from __future__ import annotations

import json
import logging
import time
import urllib.request
from collections.abc import Callable
from typing import Any

import boto3

from athena_views.resource import Response, ViewError, ViewRequest, parse_request

LOG = logging.getLogger("athena_views")
DONE = {"SUCCEEDED", "FAILED", "CANCELLED"}
MARGIN_S = 10.0  # kept back from the invocation's time to send the answer
POLL_S = (0.5, 5.0)  # first and longest wait between looks at the query


def send(url: str, body: Response, timeout_s: float = 15.0) -> None:
    data = json.dumps(body).encode()
    request = urllib.request.Request(url, data=data, method="PUT",
                                     headers={"Content-Type": "", "Content-Length": str(len(data))})
    with urllib.request.urlopen(request, timeout=timeout_s) as answer:
        answer.read()


def run_statement(athena: Any, request: ViewRequest, statement: str, *, deadline: float,
                  clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> None:
    """Runs one statement to its end; raises ViewError with Athena's reason when it does not succeed."""
    started = athena.start_query_execution(QueryString=statement, WorkGroup=request.work_group,
                                           QueryExecutionContext={"Database": request.database})
    query_id = started["QueryExecutionId"]
    wait = POLL_S[0]
    while True:
        status = athena.get_query_execution(QueryExecutionId=query_id)["QueryExecution"]["Status"]
        if status["State"] in DONE:
            break
        if clock() + wait > deadline:
            athena.stop_query_execution(QueryExecutionId=query_id)
            raise ViewError(f"{request.view_id}: Athena did not finish query {query_id} in time")
        sleep(wait)
        wait = min(wait * 2, POLL_S[1])
    if status["State"] != "SUCCEEDED":
        raise ViewError(f"{request.view_id}: query {query_id} {status['State']}: "
                        f"{status.get('StateChangeReason', 'no reason given')}")


def answer(event: dict[str, Any], athena: Any, *, remaining_s: float, put: Callable[[str, Response], None] = send,
           clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep) -> Response:
    try:
        request = parse_request(event)
    except ViewError as exc:
        LOG.error("refused request: %s", exc)
        url = event.get("ResponseURL")
        failed: Response = {"Status": "FAILED", "Reason": str(exc)[:1000], "StackId": str(event.get("StackId")),
                            "RequestId": str(event.get("RequestId")),
                            "LogicalResourceId": str(event.get("LogicalResourceId")),
                            "PhysicalResourceId": str(event.get("PhysicalResourceId") or "not-created")}
        if isinstance(url, str):
            put(url, failed)
        return failed
    try:
        statement = request.statement()
        if statement is not None:
            run_statement(athena, request, statement, deadline=clock() + remaining_s - MARGIN_S, clock=clock,
                          sleep=sleep)
        body = request.response("SUCCESS")
    except Exception as exc:  # noqa: BLE001 (whatever failed, CloudFormation must hear of it)
        LOG.error("%s %s failed: %s", request.kind, request.view_id, exc)
        body = request.response("FAILED", str(exc))
    put(request.response_url, body)
    return body


def lambda_handler(event: dict[str, Any], context: Any) -> Response:
    logging.getLogger().setLevel(logging.INFO)
    return answer(event, boto3.client("athena"), remaining_s=context.get_remaining_time_in_millis() / 1000)
