"""`ohlcv deploy` and `ohlcv destroy`: the stack to AWS and back, with the clients passed in.

Deploy packages the artifacts the template names (`ohlcv package`), uploads them and the template to
the artifact bucket, and applies the template through a change set (CREATE for a new stack, UPDATE
otherwise, parameters not given keeping their previous values); it prints what changes, waits, and
prints the outputs. A change set with nothing to change is said so and deleted. A failed deploy says
which resources failed and why, from the stack's events.

Destroy empties the buckets the stack owns (every version and delete marker: CloudFormation cannot
delete a bucket that holds objects), then deletes the stack and waits.
"""

from __future__ import annotations

import hashlib
import re
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from ohlcv_core.errors import ConfigError, PipelineError
from stack_tools.package import build
from stack_tools.template import DEFAULT_TEMPLATE, StackTemplate

# Bucket names are `<stack>-athena-results-<account>` at the longest: 63 characters in all.
_STACK_NAME = re.compile(r"^[a-z][a-z0-9-]{0,34}$")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_DONE = re.compile(r"^(CREATE|UPDATE|IMPORT)_COMPLETE$")
_FAILED = re.compile(r"(FAILED|ROLLBACK_COMPLETE|ROLLBACK_FAILED)$")
NO_CHANGES = ("didn't contain changes", "No updates are to be performed")


@dataclass(frozen=True)
class Waiting:
    """How long and how often to poll CloudFormation (a stack takes minutes; tests poll fast)."""

    timeout_s: float = 3600.0
    every_s: float = 10.0
    sleep: Callable[[float], None] = time.sleep
    clock: Callable[[], float] = time.monotonic


@dataclass(frozen=True)
class DeployRequest:
    stack: str
    bucket: str
    region: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    template_path: Path = DEFAULT_TEMPLATE
    with_dependencies: bool = True

    def check(self) -> StackTemplate:
        """The template, for this stack and these parameters; a bad name or value is one clear error."""
        if not _STACK_NAME.match(self.stack):
            raise ConfigError(f"stack name {self.stack!r}: lower-case letters, digits and -, starting with a letter, "
                              "at most 35 (the stack's bucket names are made from it)")
        if not _BUCKET_NAME.match(self.bucket):
            raise ConfigError(f"bucket {self.bucket!r} is not an S3 bucket name")
        if "ArtifactBucketName" in self.parameters:
            raise ConfigError("ArtifactBucketName is the --bucket given, not a parameter")
        # every value checked as CloudFormation will check it, before anything is uploaded
        return StackTemplate(self.template_path, stack_name=self.stack,
                             parameters={**self.parameters, "ArtifactBucketName": self.bucket})


def parse_parameters(items: list[str]) -> dict[str, str]:
    """`Name=value` pairs, as `make deploy PARAMS=...` and `--parameter` give them."""
    parameters = {}
    for item in items:
        name, sep, value = item.partition("=")
        if not sep or not re.fullmatch(r"[A-Za-z0-9]+", name):
            raise ConfigError(f"parameter {item!r} is not Name=value")
        parameters[name] = value
    return parameters


def _stack_status(cloudformation: Any, stack: str) -> str | None:
    try:
        (found,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if "does not exist" in str(exc):
            return None
        raise
    return str(found["StackStatus"])


def _upload(s3: Any, request: DeployRequest, template: StackTemplate, out: Callable[[str], None]) -> str:
    """The artifacts and the template into the bucket; the template's URL."""
    with tempfile.TemporaryDirectory(prefix="ohlcv-deploy-") as folder:
        for path in build(Path(folder), with_dependencies=request.with_dependencies,
                          template=template):
            key = path.relative_to(folder).as_posix()
            s3.upload_file(str(path), request.bucket, key)
            out(f"uploaded s3://{request.bucket}/{key}")
    body = request.template_path.read_bytes()
    key = f"templates/{request.stack}/{hashlib.sha256(body).hexdigest()[:16]}.yaml"
    s3.put_object(Bucket=request.bucket, Key=key, Body=body)
    return f"https://{request.bucket}.s3.{request.region}.amazonaws.com/{key}"


def _wait(describe: Callable[[], str], done: Callable[[str], bool], failed: Callable[[str], bool],
          waiting: Waiting, what: str) -> str:
    deadline = waiting.clock() + waiting.timeout_s
    while True:
        status = describe()
        if done(status) or failed(status):
            return status
        if waiting.clock() > deadline:
            raise PipelineError(f"{what} still {status} after {waiting.timeout_s:.0f} s")
        waiting.sleep(waiting.every_s)


def _failures(cloudformation: Any, stack: str) -> str:
    events = cloudformation.describe_stack_events(StackName=stack).get("StackEvents", [])
    reasons = [f"{e['LogicalResourceId']} ({e['ResourceType']}): {e.get('ResourceStatusReason', '')}"
               for e in events if str(e.get("ResourceStatus", "")).endswith("FAILED")]
    return "; ".join(reasons[:5]) or "no resource said why (see the stack's events)"


def deploy(request: DeployRequest, *, cloudformation: Any, s3: Any, out: Callable[[str], None] = print,
           waiting: Waiting | None = None) -> dict[str, str]:
    """Package, upload, apply through a change set; the stack's outputs."""
    waiting = waiting or Waiting()
    template = request.check()
    status = _stack_status(cloudformation, request.stack)
    if status is not None and status.endswith("_IN_PROGRESS") and status != "REVIEW_IN_PROGRESS":
        raise ConfigError(f"stack {request.stack} is {status}: wait for it to finish, then deploy again")
    if status == "ROLLBACK_COMPLETE":
        raise ConfigError(f"stack {request.stack} failed to create (ROLLBACK_COMPLETE): `ohlcv destroy` it first")
    creating = status in (None, "REVIEW_IN_PROGRESS")
    url = _upload(s3, request, template, out)
    given = {**request.parameters, "ArtifactBucketName": request.bucket}
    parameters: list[dict[str, str | bool]] = [{"ParameterKey": k, "ParameterValue": v}
                                               for k, v in sorted(given.items())]
    if not creating:
        parameters += [{"ParameterKey": k, "UsePreviousValue": True}
                       for k in sorted(template.cfn.parameters) if k not in given]
    name = f"ohlcv-{int(time.time())}"
    cloudformation.create_change_set(
        StackName=request.stack, ChangeSetName=name, ChangeSetType="CREATE" if creating else "UPDATE",
        TemplateURL=url, Parameters=parameters, Capabilities=["CAPABILITY_IAM"],
        Tags=[{"Key": "ohlcv:stack", "Value": request.stack}])

    def change_set() -> dict[str, Any]:
        described: dict[str, Any] = cloudformation.describe_change_set(StackName=request.stack, ChangeSetName=name)
        return described

    state = _wait(lambda: str(change_set()["Status"]), lambda s: s == "CREATE_COMPLETE",
                  lambda s: s == "FAILED", waiting, f"change set {name}")
    described = change_set()
    if state == "FAILED":
        reason = str(described.get("StatusReason", ""))
        if any(text in reason for text in NO_CHANGES):
            cloudformation.delete_change_set(StackName=request.stack, ChangeSetName=name)
            out(f"stack {request.stack}: no changes")
            return outputs(cloudformation, request.stack)
        raise PipelineError(f"change set for {request.stack} failed: {reason}")
    for change in described.get("Changes", []):
        detail = change.get("ResourceChange", {})
        out(f"  {detail.get('Action', '?'):8} {detail.get('LogicalResourceId', '?')} "
            f"({detail.get('ResourceType', '')})")
    cloudformation.execute_change_set(StackName=request.stack, ChangeSetName=name)
    final = _wait(lambda: _stack_status(cloudformation, request.stack) or "GONE",
                  lambda s: bool(_DONE.match(s)), lambda s: bool(_FAILED.search(s)) or s == "GONE",
                  waiting, f"stack {request.stack}")
    if not _DONE.match(final):
        raise PipelineError(f"stack {request.stack} ended {final}: {_failures(cloudformation, request.stack)}")
    found = outputs(cloudformation, request.stack)
    out(f"stack {request.stack}: {final}")
    for key, value in found.items():
        out(f"  {key}: {value}")
    return found


def outputs(cloudformation: Any, stack: str) -> dict[str, str]:
    (found,) = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    return {str(o["OutputKey"]): str(o["OutputValue"]) for o in found.get("Outputs", [])}


def _empty_bucket(s3: Any, bucket: str) -> int:
    removed = 0
    paginator = s3.get_paginator("list_object_versions")
    for page in paginator.paginate(Bucket=bucket):
        doomed = [{"Key": v["Key"], "VersionId": v["VersionId"]}
                  for v in page.get("Versions", []) + page.get("DeleteMarkers", [])]
        for start in range(0, len(doomed), 1000):
            s3.delete_objects(Bucket=bucket, Delete={"Objects": doomed[start:start + 1000], "Quiet": True})
        removed += len(doomed)
    return removed


def destroy(stack: str, *, cloudformation: Any, s3: Any, out: Callable[[str], None] = print,
            waiting: Waiting | None = None) -> None:
    """Empty the stack's own buckets, delete the stack, wait until it is gone."""
    waiting = waiting or Waiting()
    if _stack_status(cloudformation, stack) is None:
        raise ConfigError(f"there is no stack {stack!r} in this account and region")
    paginator = cloudformation.get_paginator("list_stack_resources")
    buckets = [r["PhysicalResourceId"] for page in paginator.paginate(StackName=stack)
               for r in page["StackResourceSummaries"]
               if r["ResourceType"] == "AWS::S3::Bucket" and r.get("PhysicalResourceId")]
    for bucket in buckets:
        try:
            out(f"emptied s3://{bucket}: {_empty_bucket(s3, bucket)} objects and versions")
        except ClientError as exc:
            if "NoSuchBucket" not in str(exc):
                raise
    cloudformation.delete_stack(StackName=stack)
    final = _wait(lambda: _stack_status(cloudformation, stack) or "DELETE_COMPLETE",
                  lambda s: s == "DELETE_COMPLETE", lambda s: s == "DELETE_FAILED", waiting, f"stack {stack}")
    if final != "DELETE_COMPLETE":
        raise PipelineError(f"stack {stack} ended {final}: {_failures(cloudformation, stack)}")
    out(f"stack {stack}: deleted")
