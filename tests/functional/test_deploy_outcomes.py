"""What `ohlcv deploy` does with CloudFormation's answers that moto never gives: a stack that rolls back
(its failed resources named, with their reasons), a change set with nothing to change, a stack that never
settles (the wait is bounded), and the outputs printed. CloudFormation here is a scripted client answering
as the service documents; S3 is moto's, and the packaging is real."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError
from moto import mock_aws

from ohlcv_core.errors import ConfigError, PipelineError
from stack_tools.deploy import DeployRequest, Waiting, deploy

REQUEST = DeployRequest("ohlcv-prod", "ohlcv-artifacts", "us-east-1", {"ProducerDesiredCount": "1"},
                        with_dependencies=False)


class ScriptedCloudFormation:
    """A CloudFormation client: the stack is `before` (None: no stack), then, once the change set is
    executed, goes through `after` (the last status stays)."""

    def __init__(self, after: list[str], *, before: str | None = None, change_set: str = "CREATE_COMPLETE",
                 reason: str = "") -> None:
        self.before, self.after = before, after
        self.change_set_status, self.reason = change_set, reason
        self.executed = self.deleted_change_set = False
        self.calls: list[str] = []

    def describe_stacks(self, StackName: str) -> dict[str, Any]:
        if not self.executed and self.before is None:
            raise ClientError({"Error": {"Code": "ValidationError",
                                         "Message": f"Stack with id {StackName} does not exist"}}, "DescribeStacks")
        status = self.after[0] if self.executed else self.before
        if self.executed and len(self.after) > 1:
            self.after.pop(0)
        return {"Stacks": [{"StackName": StackName, "StackStatus": status, "Outputs": [
            {"OutputKey": "DeliveryStreamName", "OutputValue": f"{StackName}-prices"},
            {"OutputKey": "PipelineDashboardUrl", "OutputValue": "https://console/dashboards"}]}]}

    def create_change_set(self, **kwargs: Any) -> None:
        self.calls.append(kwargs["ChangeSetType"])
        self.parameters = kwargs["Parameters"]

    def describe_change_set(self, StackName: str, ChangeSetName: str) -> dict[str, Any]:
        return {"Status": self.change_set_status, "StatusReason": self.reason, "Changes": [
            {"ResourceChange": {"Action": "Add", "LogicalResourceId": "ProducerService",
                                "ResourceType": "AWS::ECS::Service"}}]}

    def delete_change_set(self, StackName: str, ChangeSetName: str) -> None:
        self.deleted_change_set = True

    def execute_change_set(self, StackName: str, ChangeSetName: str) -> None:
        self.executed = True

    def describe_stack_events(self, StackName: str) -> dict[str, Any]:
        return {"StackEvents": [
            {"LogicalResourceId": "ProducerService", "ResourceType": "AWS::ECS::Service",
             "ResourceStatus": "CREATE_FAILED", "ResourceStatusReason": "Invalid subnet"},
            {"LogicalResourceId": "RawBucket", "ResourceType": "AWS::S3::Bucket", "ResourceStatus": "CREATE_COMPLETE"}]}


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def s3() -> Iterator[Any]:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=REQUEST.bucket)
        yield client


def _waiting(clock: Clock) -> Waiting:
    return Waiting(timeout_s=60, every_s=5, sleep=clock.sleep, clock=clock)


def test_a_created_stack_prints_its_changes_and_outputs(s3: Any) -> None:
    cloudformation, lines = ScriptedCloudFormation(["CREATE_IN_PROGRESS", "CREATE_COMPLETE"]), list[str]()
    outputs = deploy(REQUEST, cloudformation=cloudformation, s3=s3, out=lines.append, waiting=_waiting(Clock()))
    assert cloudformation.calls == ["CREATE"]
    assert {"ParameterKey": "ArtifactBucketName", "ParameterValue": "ohlcv-artifacts"} in cloudformation.parameters
    assert outputs == {"DeliveryStreamName": "ohlcv-prod-prices", "PipelineDashboardUrl": "https://console/dashboards"}
    assert "  Add      ProducerService (AWS::ECS::Service)" in lines
    assert lines[-3:] == ["stack ohlcv-prod: CREATE_COMPLETE", "  DeliveryStreamName: ohlcv-prod-prices",
                          "  PipelineDashboardUrl: https://console/dashboards"]
    keys = {o["Key"] for o in s3.list_objects_v2(Bucket=REQUEST.bucket)["Contents"]}
    assert {"lambda/firehose_transform.zip", "glue_jobs/compact_bars.py"} <= keys
    assert any(k.startswith("templates/ohlcv-prod/") for k in keys)


def test_a_rolled_back_stack_names_the_resources_that_failed(s3: Any) -> None:
    cloudformation = ScriptedCloudFormation(["UPDATE_IN_PROGRESS", "UPDATE_ROLLBACK_COMPLETE"],
                                            before="UPDATE_COMPLETE")
    with pytest.raises(PipelineError, match=r"ended UPDATE_ROLLBACK_COMPLETE: ProducerService \(AWS::ECS::Service\): "
                                            r"Invalid subnet$"):
        deploy(REQUEST, cloudformation=cloudformation, s3=s3, out=lambda _: None, waiting=_waiting(Clock()))
    assert cloudformation.calls == ["UPDATE"]  # the parameters not given keep their values
    assert {"ParameterKey": "AlarmEmail", "UsePreviousValue": True} in cloudformation.parameters


def test_a_change_set_with_nothing_to_change_is_said_and_deleted(s3: Any) -> None:
    cloudformation = ScriptedCloudFormation(["UPDATE_COMPLETE"], before="UPDATE_COMPLETE", change_set="FAILED",
                                            reason="The submitted information didn't contain changes.")
    lines: list[str] = []
    deploy(REQUEST, cloudformation=cloudformation, s3=s3, out=lines.append, waiting=_waiting(Clock()))
    assert "stack ohlcv-prod: no changes" in lines and cloudformation.deleted_change_set
    assert not cloudformation.executed


def test_the_wait_is_bounded(s3: Any) -> None:
    clock = Clock()
    cloudformation = ScriptedCloudFormation(["CREATE_IN_PROGRESS"])
    with pytest.raises(PipelineError, match="still CREATE_IN_PROGRESS after 60 s"):
        deploy(REQUEST, cloudformation=cloudformation, s3=s3, out=lambda _: None, waiting=_waiting(clock))
    assert 60 < clock.now <= 70


@pytest.mark.parametrize(("request_", "message"), [
    (DeployRequest("Ohlcv", "b-u-c", "us-east-1"), "lower-case letters"),
    (DeployRequest("ohlcv", "B", "us-east-1"), "not an S3 bucket name"),
    (DeployRequest("ohlcv", "bucket", "us-east-1", {"ProducerDesiredCount": "3"}), "ProducerDesiredCount"),
    (DeployRequest("ohlcv", "bucket", "us-east-1", {"ArtifactBucketName": "x"}), "is the --bucket given"),
])
def test_a_bad_request_is_refused_before_any_call(request_: DeployRequest, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        deploy(request_, cloudformation=object(), s3=object(), out=lambda _: None)
