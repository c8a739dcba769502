"""The template is the registry of units: a Glue job, a Glue-job-state rule, a queue and a queue-fed
Lambda added to a copy of the template run in the local stack and are packaged, with no code change."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import orjson

from local_stack.stack import LocalStack, prepare_lake
from ohlcv_cli.demo import REPLAY_PARAMETERS
from ohlcv_core.config import DEFAULT_REGION
from ohlcv_core.envelope import encode_envelope
from producers.aws import firehose_client
from stack_tools.package import Bundle, Script, artifacts
from stack_tools.template import DEFAULT_TEMPLATE, StackTemplate

ADDED_UNITS = """
  AuditJob:
    Type: AWS::Glue::Job
    Properties:
      Name: !Sub "${AWS::StackName}-count-bars"
      Role: !GetAtt QualityJobRole.Arn
      GlueVersion: "5.0"
      Command:
        Name: glueetl
        PythonVersion: "3"
        ScriptLocation: !Sub "s3://${ArtifactBucketName}/tests/fixtures/units/count_bars.py"
      ExecutionProperty:
        MaxConcurrentRuns: 1
      DefaultArguments:
        "--curated_location": !Sub "s3://${CuratedBucket}/"
        "--report_location": !Sub "s3://${CuratedBucket}/audit/"

  AuditQueue:
    Type: AWS::SQS::Queue
    Properties:
      QueueName: !Sub "${AWS::StackName}-audit"

  CompactionAuditRule:
    Type: AWS::Events::Rule
    Properties:
      EventPattern:
        source: [aws.glue]
        detail-type: [Glue Job State Change]
        detail:
          jobName: [!Ref CompactionJob]
          state: [SUCCEEDED]
      Targets:
        - Id: audit-queue
          Arn: !GetAtt AuditQueue.Arn

  AuditTriggerFunction:
    Type: AWS::Lambda::Function
    Properties:
      FunctionName: !Sub "${AWS::StackName}-audit-trigger"
      Runtime: python3.11
      Handler: tests.fixtures.units.quality_trigger.lambda_handler
      Code:
        S3Bucket: !Ref ArtifactBucketName
        S3Key: lambda/audit_trigger.zip
      Role: !GetAtt TriggerRole.Arn
      Timeout: 30
      Environment:
        Variables:
          QUALITY_JOB: !Ref AuditJob

  AuditEventSource:
    Type: AWS::Lambda::EventSourceMapping
    Properties:
      EventSourceArn: !GetAtt AuditQueue.Arn
      FunctionName: !Ref AuditTriggerFunction
      BatchSize: 10
      FunctionResponseTypes: [ReportBatchItemFailures]
"""


def _template_with_added_units(folder: Path) -> Path:
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8")
    head, outputs = text.split("\nOutputs:", 1)
    path = folder / "template.yaml"
    path.write_text(head + ADDED_UNITS + "\nOutputs:" + outputs, encoding="utf-8")
    return path


def _prices(count: int) -> list[bytes]:
    start = 1_692_888_600  # 2023-08-24 14:50 UTC
    return [encode_envelope(orjson.dumps({"event": "price", "symbol": "AAPL", "exchange": "NASDAQ", "mic_code": "XNGS",
                                          "currency": "USD", "type": "Common Stock", "timestamp": start + 10 * i,
                                          "price": 177.0 + i / 100, "day_volume": 1_000 + i}).decode(),
                            (start + 10 * i) * 1000 + 150, "twelvedata.ws") for i in range(count)]


def test_the_packager_lists_the_added_units_artifacts(tmp_path: Path) -> None:
    found = {a.key: a for a in artifacts(StackTemplate(_template_with_added_units(tmp_path)))}
    assert set(found) == {a.key for a in artifacts(StackTemplate())} | {
        "lambda/audit_trigger.zip", "tests/fixtures/units/count_bars.py"}
    trigger = found["lambda/audit_trigger.zip"]
    assert isinstance(trigger, Bundle) and trigger.packages == ("ohlcv_core", "tests")
    assert isinstance(found["tests/fixtures/units/count_bars.py"], Script)


def test_added_units_run_in_the_local_stack_with_no_code_change(spark: Any, tmp_path: Path) -> None:
    # GIVEN the local stack of a template with a second Glue job, started by a queue-fed Lambda on a rule
    # that selects the compaction job's successful runs
    stack = LocalStack(prepare_lake(tmp_path / "lake", fresh=True), lambda: spark,
                       template_path=_template_with_added_units(tmp_path), parameters=REPLAY_PARAMETERS).start()
    try:
        # WHEN a producer sends 18 prices (3 minutes of AAPL) and the stack settles
        client = firehose_client(DEFAULT_REGION, stack.firehose.url)
        reply = client.put_record_batch(DeliveryStreamName=stack.stream_settings.name,
                                        Records=[{"Data": p} for p in _prices(18)])
        assert reply["FailedPutCount"] == 0
        stack.close_intake()
        stack.settle()
    finally:
        stack.stop()
    # THEN compaction ran, its success reached the quality queue, the added Lambda started the added job,
    # and that job read the bars compaction published
    by_job = {run.job_name: run for run in stack.glue.runs}
    compaction, quality = by_job["ohlcv-local-compact-bars"], by_job["ohlcv-local-count-bars"]
    assert (compaction.state, quality.state) == ("SUCCEEDED", "SUCCEEDED"), quality.error_message
    report = json.loads(next((stack.s3.bucket_path("ohlcv-local-curated-000000000000") / "audit").glob("*.json"))
                        .read_text())
    assert report == {"compaction_run": compaction.id, "partitions": 1, "bars_1m": 3}
    assert stack.functions["AuditTriggerFunction"].invocations == 1
    assert stack.queues["AuditQueue"].pending == 0
    # AND each function ran with the environment the template gives it: Powertools' service names and the
    # stack's metrics namespace are in the metrics the functions wrote (their logs, as CloudWatch's)
    namespace = stack.template.parameters["MetricsNamespace"]
    for logical_id, service in (("TransformFunction", "firehose_transform"), ("TriggerFunction", "compaction_trigger")):
        lines = stack.functions[logical_id].log_path.read_text(encoding="utf-8").splitlines()
        emf = [orjson.loads(line) for line in lines if '"_aws"' in line]
        assert emf and {e["_aws"]["CloudWatchMetrics"][0]["Namespace"] for e in emf} == {namespace}
        assert {e["service"] for e in emf} == {service}
