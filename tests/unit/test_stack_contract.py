"""The deployed stack's promises that need no AWS: the producer and backfill tasks get exactly the
settings their code reads, the container health check is the image's, every IAM grant stays inside the
stack, and every metric an alarm or the dashboard reads is one the code emits."""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Iterator, Mapping
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from local_stack.tasks import IMAGE_ENTRYPOINT
from ohlcv_core import config
from producers import backfill_main
from producers.settings import ProducerSettings
from stack_tools.template import StackTemplate
from tests.packages import DEPLOYABLE

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = (ROOT / "producers" / "Dockerfile").read_text(encoding="utf-8")
STACK, ACCOUNT = "market-prod", "123456789012"
EMITTERS = sorted(DEPLOYABLE)  # the units AWS runs, whose metric lines the alarms and the dashboard read


class ReadLog(Mapping[str, str]):
    """An environment that remembers which variables were looked up."""

    def __init__(self, values: Mapping[str, str]) -> None:
        self._values = dict(values)
        self.read: set[str] = set()

    def __getitem__(self, key: str) -> str:
        self.read.add(key)
        return self._values[key]

    def get(self, key: str, default: Any = None) -> Any:
        self.read.add(key)
        return self._values.get(key, default)

    def __iter__(self) -> Iterator[str]:
        return iter(self._values)

    def __len__(self) -> int:
        return len(self._values)


def _template(**parameters: str) -> StackTemplate:
    return StackTemplate(stack_name=STACK, account_id=ACCOUNT, parameters=parameters)


def _container(template: StackTemplate, logical_id: str) -> Any:
    (definition,) = [d for d in template.task_definitions() if d.logical_id == logical_id]
    (container,) = definition.containers
    return container


def test_the_producer_task_sets_exactly_settings_the_producer_reads() -> None:
    template = _template(ProducerSymbols="AAPL,EUR/USD")
    container = _container(template, "ProducerTaskDefinition")
    env = ReadLog(container.environment)
    settings = ProducerSettings.resolve(environ=env)
    assert set(container.environment) <= set(config.ALL_VARIABLES)
    assert set(container.environment) <= env.read, "a variable the task sets that the producer never reads"
    assert settings.symbols == ("AAPL", "EUR/USD")
    assert settings.stream_name == f"{STACK}-prices"
    assert settings.api_key is None and settings.api_key_secret_id == \
        f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{STACK}/twelvedata-api-key"
    assert settings.firehose_endpoint is None  # Firehose's own endpoint on AWS
    assert settings.metrics_namespace == template.cfn.parameters["MetricsNamespace"]
    # the spool and the health file are on the task's volumes, and SIGKILL waits for the shutdown deadline
    assert settings.spool_dir is not None and str(settings.spool_dir) in container.mounts
    assert settings.health_file is not None and str(settings.health_file.parent) in container.mounts
    assert container.stop_timeout_s > settings.shutdown_deadline_s


def test_an_existing_secret_is_used_as_given() -> None:
    arn = f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:shared/twelvedata-AbCdEf"
    template = _template(ApiKeySecretArn=arn)
    assert not template.cfn.of_type("AWS::SecretsManager::Secret")
    assert _container(template, "ProducerTaskDefinition").environment[config.ENV_API_KEY_SECRET_ID] == arn


def test_the_backfill_task_runs_the_daily_top_up_with_settings_it_reads() -> None:
    container = _container(_template(), "BackfillTaskDefinition")
    assert container.command[0] == "backfill"
    parser = argparse.ArgumentParser()
    backfill_main.add_arguments(parser)
    args = parser.parse_args(list(container.command[1:]))
    env = ReadLog(container.environment)
    settings = backfill_main.BackfillSettings.from_args(args, env, today=date(2026, 12, 7))  # a Monday
    assert set(container.environment) <= set(config.ALL_VARIABLES) and set(container.environment) <= env.read
    assert settings.checkpoints == f"s3://{STACK}-raw-{ACCOUNT}/backfill-checkpoints/"
    assert settings.metrics_namespace == _template().cfn.parameters["MetricsNamespace"]  # the alarm's
    assert (settings.span.start.date().isoformat(), settings.span.end.date().isoformat()) == \
        ("2026-12-02", "2026-12-07")  # the five days before, the day of the run excluded


def test_the_container_health_check_and_entry_point_are_the_images() -> None:
    healthcheck = re.search(r"^HEALTHCHECK (.+?)\\?\n\s+CMD (\[.+\])$", DOCKERFILE, re.M)
    assert healthcheck is not None
    options = dict(re.findall(r"--([a-z-]+)=(\d+)s?", healthcheck.group(1)))
    container = _container(_template(), "ProducerTaskDefinition")
    assert list(container.health_check) == json.loads(healthcheck.group(2))
    raw = _template().cfn.resources["ProducerTaskDefinition"]["Properties"]["ContainerDefinitions"][0]["HealthCheck"]
    assert (raw["Interval"], raw["Timeout"], raw["StartPeriod"], raw["Retries"]) == \
        (int(options["interval"]), int(options["timeout"]), int(options["start-period"]), int(options["retries"]))
    entrypoint = re.search(r"^ENTRYPOINT (\[.+\])$", DOCKERFILE, re.M)
    assert entrypoint is not None and json.loads(entrypoint.group(1)) == ["python", *IMAGE_ENTRYPOINT]
    volumes = re.search(r"^VOLUME (\[.+\])$", DOCKERFILE, re.M)
    assert volumes is not None and set(json.loads(volumes.group(1))) == set(container.mounts)


# Grants whose resource is not one of the stack's, each with why.
NOT_THE_STACKS = {
    "*": "actions with no resource-level permissions: ecr:GetAuthorizationToken, cloudwatch:PutMetricData",
    f"arn:aws:logs:us-east-1:{ACCOUNT}:log-group:/aws-glue/jobs/*": "Glue's own log groups for a run's output",
    f"arn:aws:glue:us-east-1:{ACCOUNT}:dataQualityRuleset/*": "results of a job's inline ruleset",
    f"arn:aws:glue:us-east-1:{ACCOUNT}:catalog": "Glue authorizes a table action on the catalog too",
}
STAR_ACTIONS = {"ecr:GetAuthorizationToken", "cloudwatch:PutMetricData"}


def _statements(template: StackTemplate) -> Iterator[tuple[str, dict[str, Any]]]:
    for logical_id, resource in template.cfn.of_type("AWS::IAM::Role"):
        assert "ManagedPolicyArns" not in resource["Properties"], f"{logical_id}: a managed policy"
        for policy in template.cfn.properties(logical_id).get("Policies", []):
            for statement in policy["PolicyDocument"]["Statement"]:
                yield logical_id, statement


@pytest.mark.parametrize("secret", ["", f"arn:aws:secretsmanager:us-east-1:{ACCOUNT}:secret:{STACK}-key-AbCdEf"])
def test_every_iam_grant_is_on_the_stacks_own_resources(secret: str) -> None:
    # the artifact bucket and the image repository are the ones the parameters name (here, with the stack's name)
    template = _template(ApiKeySecretArn=secret, ArtifactBucketName=f"{STACK}-artifacts",
                         ProducerImageRepository=f"{STACK}/producer")
    database = STACK.replace("-", "_")
    checked = 0
    for logical_id, statement in _statements(template):
        assert statement["Effect"] == "Allow"
        resources = statement["Resource"] if isinstance(statement["Resource"], list) else [statement["Resource"]]
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        for resource in resources:
            checked += 1
            if resource in NOT_THE_STACKS:
                if resource == "*":
                    assert set(actions) <= STAR_ACTIONS, f"{logical_id}: {actions} on *"
                    if "cloudwatch:PutMetricData" in actions:  # only into the stack's namespace (and Glue's)
                        assert statement["Condition"]["StringEquals"]["cloudwatch:namespace"][0] == \
                            template.cfn.parameters["MetricsNamespace"]
                continue
            assert STACK in resource or f"/{database}" in resource, f"{logical_id}: {actions} on {resource}"
    assert checked > 40


def test_each_role_is_assumed_by_one_service() -> None:
    for logical_id, resource in _template().cfn.of_type("AWS::IAM::Role"):
        (statement,) = resource["Properties"]["AssumeRolePolicyDocument"]["Statement"]
        assert len(statement["Principal"]) == 1 and isinstance(statement["Principal"]["Service"], str), logical_id


def _emitted(name: str) -> bool:
    return any(f'"{name}"' in path.read_text(encoding="utf-8")
               for package in EMITTERS for path in (ROOT / package).rglob("*.py"))


def test_every_metric_the_alarms_and_dashboard_read_is_emitted() -> None:
    template = _template()
    namespace = template.cfn.parameters["MetricsNamespace"]
    read: set[tuple[str, str, tuple[tuple[str, str], ...]]] = set()
    for alarm in template.alarms():
        if alarm.metric is not None:
            read.add((str(alarm.namespace), alarm.metric, tuple(alarm.dimensions.items())))
    for logical_id, _ in template.cfn.of_type("AWS::CloudWatch::Alarm"):
        for query in template.cfn.properties(logical_id).get("Metrics", []):
            if "MetricStat" in query:
                metric = query["MetricStat"]["Metric"]
                read.add((metric["Namespace"], metric["MetricName"],
                          tuple((d["Name"], d["Value"]) for d in metric.get("Dimensions", []))))
    (dashboard,) = [lid for lid, _ in template.cfn.of_type("AWS::CloudWatch::Dashboard")]
    body = json.loads(template.cfn.properties(dashboard)["DashboardBody"])
    alarm_arns = {template.cfn.arn(lid) for lid, _ in template.cfn.of_type("AWS::CloudWatch::Alarm")}
    (alarm_widget,) = [w for w in body["widgets"] if w["type"] == "alarm"]
    assert set(alarm_widget["properties"]["alarms"]) == alarm_arns
    for widget in body["widgets"]:
        for row in widget["properties"].get("metrics", []):
            fields = [f for f in row if isinstance(f, str)]
            read.add((fields[0], fields[1], tuple(zip(fields[2::2], fields[3::2], strict=True))))
    services = {f.environment.get("POWERTOOLS_SERVICE_NAME") for f in template.lambda_functions()}
    ours = [(name, dims) for ns, name, dims in read if ns == namespace]
    assert len(ours) > 15
    for name, dimensions in ours:
        assert _emitted(name), f"{name}: no code emits it"
        for key, value in dimensions:  # the service (Powertools' from the template) or job the emitter names
            assert _emitted(value) or (key == "service" and value in services), f"{name}: {key}={value}"
