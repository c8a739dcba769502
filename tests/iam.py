"""What a unit's AWS calls need of IAM, and whether its role in the template grants it.

`recorded()` records every AWS API call made through botocore while it is open (operation, parameters,
and the error code S3 or another service answered), whatever client made it. `needs` turns a call into
the IAM actions, resources and condition keys AWS authorizes it by, including S3's rule that reading a
key that does not exist answers NoSuchKey only to a caller that may also s3:ListBucket the bucket
(AccessDenied otherwise). `denied` evaluates them against a role's policies in the template: moto's IAM
statement matcher decides Action and Resource; the condition operators the template uses (StringEquals,
StringLike) are evaluated here, and any other operator fails the test rather than being guessed.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from unittest import mock
from urllib.parse import urlparse

from botocore.client import BaseClient
from botocore.exceptions import ClientError
from moto.iam.access_control import IAMPolicyStatement, PermissionResult

from stack_tools.template import StackTemplate


@dataclass(frozen=True)
class Call:
    service: str
    operation: str
    params: Mapping[str, Any]
    error: str | None = None  # the error code the service answered, if it refused
    answer: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Need:
    action: str
    resource: str
    context: Mapping[str, str] = field(default_factory=dict)

    def __str__(self) -> str:
        where = f" with {dict(self.context)}" if self.context else ""
        return f"{self.action} on {self.resource}{where}"


@contextmanager
def recorded() -> Iterator[list[Call]]:
    """Every botocore call made while open, in order (the call itself is made as it would be)."""
    calls: list[Call] = []
    original = BaseClient.__dict__["_make_api_call"]  # (botocore-stubs leave the private method out)

    def recording(client: BaseClient, operation: str, params: dict[str, Any]) -> Any:
        service = client.meta.service_model.service_name
        try:
            answer = original(client, operation, params)
        except ClientError as exc:
            calls.append(Call(service, operation, dict(params), str(exc.response.get("Error", {}).get("Code"))))
            raise
        calls.append(Call(service, operation, dict(params), answer=dict(answer)))
        return answer

    with mock.patch.object(BaseClient, "_make_api_call", recording):
        yield calls


def _queue_arn(url: str, region: str, account: str) -> str:
    parts = urlparse(url).path.strip("/").split("/")
    return f"arn:aws:sqs:{region}:{parts[-2] if len(parts) > 1 else account}:{parts[-1]}"


def with_workgroups(calls: list[Call]) -> list[Call]:
    """Athena authorizes a call on a query by the workgroup it ran in, which only its start names: each
    later call on a query gets its workgroup from the start."""
    started = {c.answer.get("QueryExecutionId"): c.params.get("WorkGroup", "primary")
               for c in calls if c.service == "athena" and c.operation == "StartQueryExecution"}
    return [Call(c.service, c.operation, {**c.params, "WorkGroup": started[c.params["QueryExecutionId"]]},
                 c.error, c.answer) if c.service == "athena" and "QueryExecutionId" in c.params else c
            for c in calls]


def _s3_needs(call: Call) -> list[Need]:
    p = call.params
    bucket = f"arn:aws:s3:::{p['Bucket']}"
    if call.operation in ("GetObject", "HeadObject"):
        found = [Need("s3:GetObject", f"{bucket}/{p['Key']}")]
        if call.error in ("NoSuchKey", "404", "NotFound"):  # S3 says so only to a caller who may list
            found.append(Need("s3:ListBucket", bucket))
        return found
    if call.operation == "PutObject":
        return [Need("s3:PutObject", f"{bucket}/{p['Key']}")]
    if call.operation == "DeleteObjects":
        return [Need("s3:DeleteObject", f"{bucket}/{o['Key']}") for o in p["Delete"]["Objects"]]
    if call.operation in ("ListObjectsV2", "ListObjects"):
        return [Need("s3:ListBucket", bucket, {"s3:prefix": str(p.get("Prefix", ""))})]
    raise AssertionError(f"tests/iam.py does not know what s3:{call.operation} needs of IAM: add it")


def needs(call: Call, *, region: str, account: str) -> list[Need]:
    """What AWS authorizes the call by. An operation not listed here fails the test: add it."""
    if call.service == "s3":
        return _s3_needs(call)
    p, op = call.params, f"{call.service}:{call.operation}"
    resources: dict[str, Callable[[], tuple[str, dict[str, str]]]] = {
        "firehose:PutRecordBatch": lambda: (
            f"arn:aws:firehose:{region}:{account}:deliverystream/{p['DeliveryStreamName']}", {}),
        "firehose:PutRecord": lambda: (
            f"arn:aws:firehose:{region}:{account}:deliverystream/{p['DeliveryStreamName']}", {}),
        "secretsmanager:GetSecretValue": lambda: (str(p["SecretId"]), {}),
        "cloudwatch:PutMetricData": lambda: ("*", {"cloudwatch:namespace": str(p["Namespace"])}),
        "glue:StartJobRun": lambda: (f"arn:aws:glue:{region}:{account}:job/{p['JobName']}", {}),
        "glue:GetJobRun": lambda: (f"arn:aws:glue:{region}:{account}:job/{p['JobName']}", {}),
        "glue:GetJobRuns": lambda: (f"arn:aws:glue:{region}:{account}:job/{p['JobName']}", {}),
        "sqs:SendMessage": lambda: (_queue_arn(str(p["QueueUrl"]), region, account), {}),
        **{f"athena:{name}": lambda: (f"arn:aws:athena:{region}:{account}:workgroup/{p['WorkGroup']}", {})
           for name in ("StartQueryExecution", "GetQueryExecution", "StopQueryExecution")},
    }
    if op not in resources:
        raise AssertionError(f"tests/iam.py does not know what {op} needs of IAM: add it to needs()")
    resource, context = resources[op]()
    return [Need(op, resource, context)]


def role_statements(template: StackTemplate, role: str) -> list[dict[str, Any]]:
    """Every statement of the role's inline policies, resolved as the stack resolves them."""
    resource = dict(template.cfn.of_type("AWS::IAM::Role"))[role]
    policies = template.resolve(resource["Properties"].get("Policies", []))
    statements: list[dict[str, Any]] = []
    for policy in policies:
        found = policy["PolicyDocument"]["Statement"]
        statements += found if isinstance(found, list) else [found]
    return statements


def _condition_holds(condition: Mapping[str, Mapping[str, Any]], context: Mapping[str, str]) -> bool:
    for operator, keys in condition.items():
        for key, expected in keys.items():
            wanted = [expected] if isinstance(expected, str) else list(expected)
            if key not in context:
                return False  # a condition on a key the request does not carry does not hold
            if operator == "StringEquals":
                held = context[key] in wanted
            elif operator == "StringLike":
                held = any(fnmatch.fnmatchcase(context[key], pattern) for pattern in wanted)
            else:
                raise AssertionError(f"tests/iam.py does not evaluate the condition operator {operator}")
            if not held:
                return False
    return True


def grants(statement: Mapping[str, Any], need: Need) -> bool:
    """Whether the statement applies to the need (its action, resource and conditions all match)."""
    matcher = IAMPolicyStatement({k: v for k, v in statement.items() if k != "Condition"})
    result = matcher.is_action_permitted(need.action, need.resource)
    if result is PermissionResult.NEUTRAL:
        return False
    return _condition_holds(statement.get("Condition", {}), need.context)


def denied(statements: list[dict[str, Any]], need: Need) -> bool:
    """IAM's evaluation: an explicit Deny wins, else an Allow that applies, else denied."""
    if any(s["Effect"] == "Deny" and grants(s, need) for s in statements):
        return True
    return not any(s["Effect"] == "Allow" and grants(s, need) for s in statements)
