"""Every AWS call each deployed unit makes is allowed by its role in the template, and every grant is used.

Each unit's own code runs against moto with the names and settings the stack gives it (its container's
or function's environment, its job's arguments), while tests/iam.py records the calls botocore makes.
Each call is then evaluated against that unit's role as the template resolves it. Spark's reads and
writes on Glue go through Hadoop, not botocore: they are listed from each job's arguments instead.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import boto3
import orjson
import pytest
from moto import mock_aws
from moto.moto_api import state_manager

from athena_views.handler import answer
from glue_jobs.compact_bars import CompactionResult, metric_lines
from glue_jobs.job_metrics import MetricPublisher, emit
from glue_jobs.publish import Publisher
from glue_jobs.store import S3Store
from job_trigger.handler import handle_batch, settings_from
from ohlcv_core.backfill import Checkpoint
from ohlcv_core.curated import partition_of, written_url
from producers.aws import firehose_client
from producers.backfill_main import checkpoint_store
from producers.firehose_sink import FirehoseSink
from producers.hot_path import HotPathCopy
from producers.secrets import api_key_from_secret
from stack_tools.template import StackTemplate
from tests.fixtures import load_json
from tests.iam import Call, Need, denied, grants, needs, recorded, role_statements, with_workgroups

REGION, ACCOUNT = "us-east-1", "000000000000"
DEPLOYED = {"LivePath": "true"}  # every unit and grant the template can deploy (the hot path's are optional)
LOG = logging.getLogger("tests.grants")

# Grants no code of ours exercises, because an AWS service uses them on the unit's behalf.
USED_BY_THE_PLATFORM = {
    "logs:CreateLogStream": "the Lambda, ECS and Glue runtimes write the unit's log",
    "logs:PutLogEvents": "the Lambda, ECS and Glue runtimes write the unit's log",
    "sqs:ReceiveMessage": "Lambda's event source mapping polls the queue for the function",
    "sqs:DeleteMessage": "Lambda's event source mapping deletes what the function handled",
    "sqs:GetQueueAttributes": "Lambda's event source mapping reads the queue's settings",
    "sqs:ChangeMessageVisibility": "Lambda's event source mapping returns failed messages",
    "glue:PublishDataQuality": "EvaluateDataQuality (awsgluedq, on Glue only) publishes the quality job's results",
}
# Grants a role holds for an AWS service to use with the unit's credentials: Athena runs the views
# function's DDL with its Glue catalog and results-bucket grants.
ON_THE_UNITS_BEHALF = {
    "ViewsRole": {"glue:GetDatabase", "glue:GetTable", "glue:GetTables", "glue:CreateTable", "glue:UpdateTable",
                  "glue:DeleteTable", "s3:GetBucketLocation", "s3:ListBucket", "s3:PutObject", "s3:GetObject",
                  "s3:AbortMultipartUpload"},
}


@pytest.fixture
def aws(monkeypatch: pytest.MonkeyPatch) -> Iterator[StackTemplate]:
    """moto as the stack's account, with the stack's buckets, stream, secret, queues and jobs."""
    monkeypatch.setenv("MOTO_ACCOUNT_ID", ACCOUNT)
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    for name in ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_GLUE", "AWS_ENDPOINT_URL_SQS"):
        monkeypatch.delenv(name, raising=False)
    template = StackTemplate(parameters=DEPLOYED)
    with mock_aws():
        s3 = boto3.client("s3", region_name=REGION)
        for bucket in template.buckets():
            s3.create_bucket(Bucket=bucket.name)
        for stream in template.delivery_streams():
            boto3.client("firehose", region_name=REGION).create_delivery_stream(
                DeliveryStreamName=stream.name, ExtendedS3DestinationConfiguration={
                    "RoleARN": f"arn:aws:iam::{ACCOUNT}:role/firehose",
                    "BucketARN": f"arn:aws:s3:::{stream.destination.bucket}"})
        secret = _env("BackfillTaskDefinition")["OHLCV_API_KEY_SECRET_ID"]
        boto3.client("secretsmanager", region_name=REGION).create_secret(
            Name=secret.rsplit(":secret:", 1)[1], SecretString='{"apikey": "k"}')
        sqs = boto3.client("sqs", region_name=REGION)
        for queue in template.queues():
            sqs.create_queue(QueueName=queue.name)
        glue = boto3.client("glue", region_name=REGION)
        boto3.client("athena", region_name=REGION).create_work_group(
            Name=template.resolve({"Ref": "AnalyticsWorkGroup"}))
        for job in ("CompactionJob", "QualityJob"):
            glue.create_job(Name=template.glue_job(job).name, Role=f"arn:aws:iam::{ACCOUNT}:role/glue",
                            Command={"Name": "glueetl", "ScriptLocation": "s3://artifacts/glue_jobs/x.py"})
        yield template


def _env(task: str) -> dict[str, str]:
    (definition,) = [d for d in StackTemplate(parameters=DEPLOYED).task_definitions() if d.logical_id == task]
    return dict(definition.containers[0].environment)


def _refusals(template: StackTemplate, role: str, calls: list[Call], extra: Sequence[Need] = ()) -> list[str]:
    statements = role_statements(template, role)
    wanted = [need for call in calls for need in needs(call, region=REGION, account=ACCOUNT)] + list(extra)
    return [f"{role} may not {need}" for need in wanted if denied(statements, need)]


# -- each unit's calls ------------------------------------------------------------------------------------
def producer(template: StackTemplate) -> list[Call]:
    env = _env("ProducerTaskDefinition")
    with recorded() as calls:
        api_key_from_secret(boto3.client("secretsmanager", region_name=REGION), env["OHLCV_API_KEY_SECRET_ID"])
        FirehoseSink(firehose_client(REGION), env["OHLCV_FIREHOSE_STREAM"]).send([b'{"event": "price"}\n'])
        hot_path = HotPathCopy(firehose_client(REGION), env["OHLCV_LIVE_STREAM"]).start()
        hot_path.offer([b'{"event": "price"}\n'])
        hot_path.close()
        assert hot_path.stats.records_sent == 1
    return calls


def backfill(template: StackTemplate) -> list[Call]:
    env = _env("BackfillTaskDefinition")
    with recorded() as calls:
        api_key_from_secret(boto3.client("secretsmanager", region_name=REGION), env["OHLCV_API_KEY_SECRET_ID"])
        store = checkpoint_store(env["OHLCV_BACKFILL_CHECKPOINTS"], REGION)
        assert store.load("AAPL", "1min") is None  # the first run: none yet
        store.save(Checkpoint("AAPL", "1min", bars=1, calls=1, updated_ms=1))
        assert store.load("AAPL", "1min") is not None
        FirehoseSink(firehose_client(REGION), env["OHLCV_FIREHOSE_STREAM"]).send([b'{"event": "bar"}\n'])
    return calls


def _job(template: StackTemplate, job: str, table: str) -> list[Call]:
    """A run's publication on S3 (the job's data files written where its Spark write puts them) and its
    metrics, as the job makes them."""
    arguments = template.glue_job(job).default_arguments
    root = arguments["--curated_location" if job == "CompactionJob" else "--quality_location"].rstrip("/")
    s3 = boto3.client("s3", region_name=REGION)
    with recorded() as calls:
        publisher = Publisher(S3Store(s3), root, keep_superseded_s=0)
        part = partition_of(table, "2023-08-24")
        publisher.outdated(table)
        for run in ("a", "b"):
            publisher.begin(run, {table: [part]})
            url = f"{written_url(root, run, table, part)}/part-0.parquet"
            bucket, key = url.removeprefix("s3://").split("/", 1)
            s3.put_object(Bucket=bucket, Key=key, Body=b"PAR1")
            publisher.publish(table, [part], publisher.written(run))
            publisher.finish(run)
        if job == "QualityJob":  # it reads the curated bars
            curated = arguments["--curated_location"].rstrip("/")
            Publisher(S3Store(s3), curated, keep_superseded_s=0).files("bars_1m", ["dt=2023-08-24"])
        result = CompactionResult("a", ("2023-08-24",), 1, 1, 0, 0, 0, 0, 1, 0, {"bars_1m": 1}, 1.0)
        emit(metric_lines(result, 0, arguments["--metrics_namespace"]), LOG.info,
             MetricPublisher(boto3.client("cloudwatch", region_name=REGION)))
    return calls


def _spark_needs(template: StackTemplate, job: str) -> list[Need]:
    """What the job's Spark reads and writes on S3 need (Hadoop's calls, not botocore's)."""
    arguments = template.glue_job(job).default_arguments

    def bucket_key(url: str) -> tuple[str, str]:
        bucket, _, key = url.removeprefix("s3://").partition("/")
        return f"arn:aws:s3:::{bucket}", key

    raw_bucket, raw_key = bucket_key(arguments["--raw_location"])
    found = [Need("s3:ListBucket", raw_bucket, {"s3:prefix": f"{raw_key}dt=2023-08-24/"}),
             Need("s3:GetObject", f"{raw_bucket}/{raw_key}dt=2023-08-24/hour=14/part")]
    curated_bucket, curated_key = bucket_key(arguments["--curated_location"])
    found += [Need("s3:GetObject", f"{curated_bucket}/{curated_key}data/run=a/table=bars_1m/dt=2023-08-24/p.parquet"),
              Need("s3:PutObject", f"{curated_bucket}/{curated_key}data/run=b/table=bars_1m/dt=2023-08-24/p.parquet")]
    scripts = template.glue_job(job).script_location
    bucket, key = bucket_key(scripts)
    return [*found, Need("s3:GetObject", f"{bucket}/{key}")]


def compaction_job(template: StackTemplate) -> list[Call]:
    return _job(template, "CompactionJob", "bars_1d")


def quality_job(template: StackTemplate) -> list[Call]:
    return _job(template, "QualityJob", "quarantine")


def _sqs_event(bodies: list[str]) -> dict[str, Any]:
    sample = load_json("aws-events/sqsEvent.json")
    records = []
    for index, body in enumerate(bodies):
        record = copy.deepcopy(sample["Records"][0])
        record["messageId"], record["body"] = f"m{index}", body
        records.append(record)
    return {"Records": records}


def _state_change(job: str, state: str, run: str) -> str:
    return orjson.dumps({"version": "0", "id": "e", "detail-type": "Glue Job State Change", "source": "aws.glue",
                         "detail": {"jobName": job, "state": state, "jobRunId": run}}).decode()


def _trigger(template: StackTemplate, function: str, first: list[str]) -> list[Call]:
    """A batch that starts a run, one that must wait for the next (deferred on the trigger's own queue),
    and one that redrives a failed run (its dates read from the run)."""
    settings = settings_from(template.lambda_function(function).environment)
    glue, sqs = boto3.client("glue", region_name=REGION), boto3.client("sqs", region_name=REGION)
    with recorded() as calls:
        for _ in range(2):
            handle_batch(_sqs_event(first), glue, settings, LOG, sqs=sqs)
    (run,) = glue.get_job_runs(JobName=settings.job)["JobRuns"]
    with recorded() as redrive:
        handle_batch(_sqs_event([_state_change(settings.job, "FAILED", run["Id"])]), glue, settings, LOG, sqs=sqs)
    return [*calls, *redrive]


def compaction_trigger(template: StackTemplate) -> list[Call]:
    event: dict[str, Any] = copy.deepcopy(load_json("aws-events/s3EventBridgeNotificationObjectCreatedEvent.json"))
    event["detail"]["bucket"]["name"] = template.lambda_function("TriggerFunction").environment["OHLCV_RAW_BUCKET"]
    event["detail"]["object"]["key"] = "raw/kind%3Dprice/dt%3D2023-08-24/hour%3D14/x"
    return _trigger(template, "TriggerFunction", [orjson.dumps(event).decode()])


def quality_trigger(template: StackTemplate) -> list[Call]:
    compaction = template.glue_job("CompactionJob").name
    run = boto3.client("glue", region_name=REGION).start_job_run(
        JobName=compaction, Arguments={"--dates": "2023-08-24"})["JobRunId"]
    return _trigger(template, "QualityTriggerFunction", [_state_change(compaction, "SUCCEEDED", run)])


def views_function(template: StackTemplate) -> list[Call]:
    """The custom resource's create of each view, as CloudFormation asks it, in the stack's workgroup."""
    athena = boto3.client("athena", region_name=REGION)
    views = [props for _, props in template.cfn.of_type("Custom::AthenaView")]
    events = [{**load_json("aws-events/customResourceCreate.json"), "ResourceProperties": template.resolve(
        view["Properties"])} for view in views]
    with recorded() as calls:
        for event in events:
            assert answer(event, athena, remaining_s=60, put=lambda _url, _body: None)["Status"] == "SUCCESS"
    # and a query Athena does not finish in the function's time: stopped
    state_manager.set_transition(model_name="athena::execution", transition={"progression": "manual", "times": 99})
    now = [0.0]
    try:
        with recorded() as stopped:
            assert answer(events[0], athena, remaining_s=60, put=lambda _url, _body: None, clock=lambda: now[0],
                          sleep=lambda seconds: now.__setitem__(0, now[0] + seconds))["Status"] == "FAILED"
    finally:
        state_manager.unset_transition(model_name="athena::execution")
    return with_workgroups([*calls, *stopped])


UNITS: dict[str, tuple[str, Callable[[StackTemplate], list[Call]], str | None]] = {
    "producer": ("ProducerTaskRole", producer, None),
    "backfill": ("BackfillTaskRole", backfill, None),
    "compaction job": ("CompactionJobRole", compaction_job, "CompactionJob"),
    "quality job": ("QualityJobRole", quality_job, "QualityJob"),
    "compaction trigger": ("TriggerRole", compaction_trigger, None),
    "quality trigger": ("QualityTriggerRole", quality_trigger, None),
    "views function": ("ViewsRole", views_function, None),
}


def _exercise(template: StackTemplate, unit: str) -> tuple[str, list[Call], list[Need]]:
    role, run, job = UNITS[unit]
    return role, run(template), _spark_needs(template, job) if job else []


@pytest.mark.parametrize("unit", UNITS)
def test_every_call_a_unit_makes_is_granted_to_its_role(aws: StackTemplate, unit: str) -> None:
    role, calls, extra = _exercise(aws, unit)
    assert calls, f"{unit} made no AWS call"
    assert _refusals(aws, role, calls, extra) == []


def test_every_grant_of_the_units_roles_is_used(aws: StackTemplate) -> None:
    unused = []
    for unit in UNITS:
        role, calls, extra = _exercise(aws, unit)
        used = [need for call in calls for need in needs(call, region=REGION, account=ACCOUNT)] + extra
        for statement in role_statements(aws, role):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            for action in actions:
                if action in USED_BY_THE_PLATFORM or action in ON_THE_UNITS_BEHALF.get(role, set()):
                    continue
                narrowed = {**statement, "Action": action}
                if not any(grants(narrowed, need) for need in used):
                    unused.append(f"{role}: {action} on {statement.get('Resource')}")
    assert unused == [], "\n".join(unused)


def test_a_missing_grant_is_named_with_the_call_that_needs_it(aws: StackTemplate) -> None:
    # GIVEN the backfill role without its s3:ListBucket on the checkpoints' prefix
    role, calls, _ = _exercise(aws, "backfill")
    statements = [s for s in role_statements(aws, role) if s["Action"] != "s3:ListBucket"]
    refused = [str(need) for call in calls for need in needs(call, region=REGION, account=ACCOUNT)
               if denied(statements, need)]
    assert refused and all(r.startswith("s3:ListBucket on arn:aws:s3:::ohlcv-local-raw-000000000000") for r in refused)


def test_removing_any_grant_a_unit_uses_names_a_call_it_refuses(aws: StackTemplate) -> None:
    # (the grants the test above finds used: each is needed, none merely shadows another)
    for unit in UNITS:
        role, calls, extra = _exercise(aws, unit)
        wanted = [need for call in calls for need in needs(call, region=REGION, account=ACCOUNT)] + extra
        statements = role_statements(aws, role)
        for index, statement in enumerate(statements):
            actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
            if all(a in USED_BY_THE_PLATFORM or a in ON_THE_UNITS_BEHALF.get(role, set()) for a in actions):
                continue
            without = statements[:index] + statements[index + 1:]
            assert any(denied(without, need) for need in wanted), f"{role} without {actions} refuses nothing"
