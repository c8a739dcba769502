"""`ohlcv deploy` and `ohlcv destroy` against moto's server: real boto3 and CloudFormation calls, the CLI
run as a user runs it (AWS_ENDPOINT_URL pointing at the server). moto creates the resource types it
supports; the created resources are read back and checked. The types moto skips are named here, and
the definitions that matter among them (alarms, secret, subscription) are put through their own APIs,
whose request validation checks them; all of them are validated against CloudFormation's schemas by
cfn-lint (`make cfn-lint`). moto gives a stack made through a change set no outputs, so the outputs the
deploy prints are not checked here."""

from __future__ import annotations

import ast
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import boto3
import pytest

from ohlcv_core.config import DEFAULT_REGION
from stack_tools.template import StackTemplate

STACK, BUCKET, ACCOUNT = "ohlcv-test", "ohlcv-test-artifacts", "123456789012"
PARAMETERS = {"ProducerDesiredCount": "1", "DailyTopUp": "true", "AlarmEmail": "ops@example.com",
              "ProducerSymbols": "AAPL,EUR/USD"}
# What moto's CloudFormation does not create (it says so and goes on); each is validated by cfn-lint.
MOTO_SKIPS = {"AWS::Athena::NamedQuery", "AWS::Athena::WorkGroup", "AWS::Glue::DataQualityRuleset",
              "AWS::Glue::Database", "AWS::Glue::Job", "AWS::Glue::Table", "AWS::KinesisFirehose::DeliveryStream",
              "AWS::Logs::LogStream", "AWS::SQS::QueuePolicy", "AWS::SecretsManager::Secret",
              "AWS::CloudWatch::Alarm", "AWS::SNS::Subscription"}
# moto registers a custom resource but cannot run its function (that needs Docker): the views' function is
# tested against its own events in tests/functional/test_athena_views.py.


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def moto_server() -> Iterator[str]:
    port = _free_port()
    server = subprocess.Popen([sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and server.poll() is None, "moto's server did not start"
                time.sleep(0.2)
        yield url
    finally:
        server.terminate()
        server.wait(timeout=30)


@pytest.fixture(scope="module")
def aws_env(moto_server: str) -> dict[str, str]:
    return {**os.environ, "AWS_ENDPOINT_URL": moto_server, "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing", "AWS_REGION": DEFAULT_REGION, "AWS_DEFAULT_REGION": DEFAULT_REGION}


def _client(service: str, url: str) -> Any:
    session = boto3.session.Session(aws_access_key_id="testing", aws_secret_access_key="testing",
                                    region_name=DEFAULT_REGION)
    return session.client(service, endpoint_url=url)  # type: ignore[call-overload]  # any service, by name


def _ohlcv(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "ohlcv_cli", *args], env=env, capture_output=True, text=True,
                          timeout=600, check=False)


@pytest.fixture(scope="module")
def deployed(moto_server: str, aws_env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    _client("s3", moto_server).create_bucket(Bucket=BUCKET)
    argv = ["deploy", "--stack", STACK, "--bucket", BUCKET, "--no-dependencies"]
    for name, value in PARAMETERS.items():
        argv += ["--parameter", f"{name}={value}"]
    return _ohlcv(aws_env, *argv)


def _template() -> StackTemplate:
    return StackTemplate(stack_name=STACK, account_id=ACCOUNT, parameters={**PARAMETERS, "ArtifactBucketName": BUCKET})


def test_deploy_creates_the_stack_and_prints_its_outputs(deployed: subprocess.CompletedProcess[str],
                                                         moto_server: str) -> None:
    assert deployed.returncode == 0, deployed.stderr[-3000:]
    assert f"stack {STACK}: CREATE_COMPLETE" in deployed.stdout
    assert f"uploaded s3://{BUCKET}/lambda/firehose_transform.zip" in deployed.stdout
    assert "  Add      ProducerService (AWS::ECS::Service)" in deployed.stdout
    resources = _client("cloudformation", moto_server).list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    created = {r["LogicalResourceId"] for r in resources if r["ResourceType"]}
    template = _template()
    declared = {lid: r["Type"] for lid, r in template.cfn.resources.items()
                if "Condition" not in r or template.cfn.condition(r["Condition"])}
    assert {t for lid, t in declared.items() if lid not in created} == MOTO_SKIPS
    assert {lid for lid, t in declared.items() if t not in MOTO_SKIPS} <= created


def test_what_moto_skips_cfn_lint_validates_by_schema() -> None:
    """`make cfn-lint` validates every resource against its CloudFormation schema: each type moto skips has one."""
    from cfnlint.schema import PROVIDER_SCHEMA_MANAGER

    for kind in MOTO_SKIPS:
        assert PROVIDER_SCHEMA_MANAGER.get_resource_schema(DEFAULT_REGION, kind).schema["typeName"] == kind


def test_the_roles_hold_exactly_their_grants(deployed: subprocess.CompletedProcess[str], moto_server: str) -> None:
    iam, template = _client("iam", moto_server), _template()
    resources = _client("cloudformation", moto_server).list_stack_resources(StackName=STACK)["StackResourceSummaries"]
    roles = {r["LogicalResourceId"]: r["PhysicalResourceId"] for r in resources
             if r["ResourceType"] == "AWS::IAM::Role"}
    assert len(roles) == len(template.cfn.of_type("AWS::IAM::Role"))
    producer = roles["ProducerTaskRole"]
    (policy,) = iam.list_role_policies(RoleName=producer)["PolicyNames"]
    document = iam.get_role_policy(RoleName=producer, PolicyName=policy)["PolicyDocument"]
    if isinstance(document, str):  # moto's CloudFormation keeps the document as Python's repr of it
        document = ast.literal_eval(document)
    statements = document["Statement"]
    assert [s["Action"] for s in statements] == ["firehose:PutRecordBatch", "secretsmanager:GetSecretValue"]
    # (moto leaves the name of a resource it skipped unresolved; tests/unit/test_stack_contract.py resolves it)
    assert statements[0]["Resource"].startswith(f"arn:aws:firehose:{DEFAULT_REGION}:{ACCOUNT}:deliverystream/")
    assert not iam.list_attached_role_policies(RoleName=producer)["AttachedPolicies"]
    for physical in roles.values():  # no role has a managed policy attached
        assert not iam.list_attached_role_policies(RoleName=physical)["AttachedPolicies"]


def test_the_queues_have_their_dead_letter_queues(deployed: subprocess.CompletedProcess[str],
                                                  moto_server: str) -> None:
    sqs = _client("sqs", moto_server)
    for name in ("compaction", "quality"):
        url = sqs.get_queue_url(QueueName=f"{STACK}-{name}")["QueueUrl"]
        redrive = json.loads(sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["RedrivePolicy"])
                             ["Attributes"]["RedrivePolicy"])
        assert redrive["deadLetterTargetArn"].endswith(f":{STACK}-{name}-dlq") and int(redrive["maxReceiveCount"]) == 5


def test_the_producer_task_and_service(deployed: subprocess.CompletedProcess[str], moto_server: str) -> None:
    ecs = _client("ecs", moto_server)
    definition = ecs.describe_task_definition(taskDefinition=f"{STACK}-producer")["taskDefinition"]
    (container,) = definition["containerDefinitions"]
    # (values naming resources moto skipped, the stream and the secret, come back empty from moto)
    environment = {e["name"]: e.get("value") for e in container["environment"]}
    assert environment["OHLCV_SYMBOLS"] == "AAPL,EUR/USD" and environment["OHLCV_SPOOL_DIR"] == "/var/spool/ohlcv"
    assert "TWELVEDATA_API_KEY" not in environment and "OHLCV_API_KEY_SECRET_ID" in environment
    assert container["readonlyRootFilesystem"] is True
    assert container["healthCheck"]["command"][:4] == ["CMD", "python", "-m", "producers.health"]
    # (moto keeps the volumes and memory of a task definition, not its network mode or compatibilities)
    assert {v["name"] for v in definition["volumes"]} == {"spool", "tmp"} and definition["memory"] == "512"
    (service,) = ecs.describe_services(cluster=f"{STACK}-producers", services=[f"{STACK}-producer"])["services"]
    assert service["desiredCount"] == 1
    rules = _client("events", moto_server)
    (rule,) = [r for r in rules.list_rules()["Rules"] if r.get("ScheduleExpression")]
    assert rule["State"] == "ENABLED"
    (target,) = rules.list_targets_by_rule(Rule=rule["Name"])["Targets"]
    assert target["EcsParameters"]["TaskDefinitionArn"].split("/")[-1].startswith(f"{STACK}-backfill")


def _numbers(properties: dict[str, Any]) -> dict[str, Any]:
    """CloudFormation turns a parameter's text into the API's number; so do we."""
    out = dict(properties)
    for key, kind in (("Threshold", float), ("Period", int), ("EvaluationPeriods", int)):
        if key in out:
            out[key] = kind(out[key])
    for query in out.get("Metrics", []):
        if "MetricStat" in query:
            query["MetricStat"]["Period"] = int(query["MetricStat"]["Period"])
    return out


def test_what_moto_skips_is_accepted_by_its_own_api(deployed: subprocess.CompletedProcess[str],
                                                    moto_server: str) -> None:
    template = _template()
    cloudwatch = _client("cloudwatch", moto_server)
    alarms = template.cfn.of_type("AWS::CloudWatch::Alarm")
    for logical_id, _ in alarms:
        cloudwatch.put_metric_alarm(**_numbers(template.cfn.properties(logical_id)))
    described = cloudwatch.describe_alarms(AlarmNamePrefix=f"{STACK}-")
    assert len(described["MetricAlarms"]) == len(alarms) == 15
    assert all(a["AlarmActions"] == [template.cfn.arn("AlarmTopic")] for a in described["MetricAlarms"])
    secrets = _client("secretsmanager", moto_server)
    secrets.create_secret(**template.cfn.properties("ApiKeySecret"))
    assert json.loads(secrets.get_secret_value(SecretId=f"{STACK}/twelvedata-api-key")["SecretString"]) == \
        {"apikey": ""}
    subscription = template.cfn.properties("AlarmSubscription")
    _client("sns", moto_server).subscribe(**subscription)
    dashboard = _client("cloudwatch", moto_server).get_dashboard(DashboardName=f"{STACK}-pipeline")
    assert len(json.loads(dashboard["DashboardBody"])["widgets"]) == 11


def test_a_second_deploy_updates_keeping_the_parameters_not_given(deployed: subprocess.CompletedProcess[str],
                                                                    moto_server: str, aws_env: dict[str, str]) -> None:
    updated = _ohlcv(aws_env, "deploy", "--stack", STACK, "--bucket", BUCKET, "--no-dependencies",
                     "--parameter", "ProducerDesiredCount=0")
    assert updated.returncode == 0, updated.stderr[-3000:]
    assert f"stack {STACK}: UPDATE_COMPLETE" in updated.stdout
    ecs = _client("ecs", moto_server)
    (service,) = ecs.describe_services(cluster=f"{STACK}-producers", services=[f"{STACK}-producer"])["services"]
    assert service["desiredCount"] == 0
    (stack,) = _client("cloudformation", moto_server).describe_stacks(StackName=STACK)["Stacks"]
    parameters = {p["ParameterKey"]: p.get("ParameterValue") for p in stack["Parameters"]}
    assert parameters["ProducerSymbols"] == "AAPL,EUR/USD" and parameters["DailyTopUp"] == "true"  # kept


def test_destroy_empties_the_buckets_and_deletes_the_stack(deployed: subprocess.CompletedProcess[str],
                                                           moto_server: str, aws_env: dict[str, str]) -> None:
    s3 = _client("s3", moto_server)
    raw = f"{STACK}-raw-{ACCOUNT}"
    s3.put_bucket_versioning(Bucket=raw, VersioningConfiguration={"Status": "Enabled"})  # (moto's CFN skips it)
    s3.put_object(Bucket=raw, Key="raw/kind=price/dt=2024-01-02/hour=14/a.json", Body=b"{}")
    s3.put_object(Bucket=raw, Key="raw/kind=price/dt=2024-01-02/hour=14/a.json", Body=b"{} ")  # a second version
    refused = _ohlcv(aws_env, "destroy", "--stack", STACK)
    assert refused.returncode == 2 and "add --yes" in refused.stderr and "Traceback" not in refused.stderr
    destroyed = _ohlcv(aws_env, "destroy", "--stack", STACK, "--yes")
    assert f"emptied s3://{raw}: 2 objects and versions" in destroyed.stdout
    assert raw not in {b["Name"] for b in s3.list_buckets()["Buckets"]}  # emptied, so CloudFormation deleted it
    if destroyed.returncode != 0:
        # moto's CloudFormation cannot delete the VPC it made (it keeps a dependency of its own); AWS orders
        # the deletion by the template's references. Said in one line, as any refusal is.
        assert destroyed.returncode == 2 and "DependencyViolation" in destroyed.stderr and "vpc" in destroyed.stderr
        assert len(destroyed.stderr.strip().splitlines()) == 1
    missing = _ohlcv(aws_env, "destroy", "--stack", "no-such-stack", "--yes")
    assert missing.returncode == 2 and "there is no stack 'no-such-stack'" in missing.stderr
