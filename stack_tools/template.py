"""Typed views of the resources a CloudFormation template declares: the registry of the stack's units.

The local stack runs what these views enumerate (streams, functions, queues, mappings, rules, jobs,
tables) and the packager builds what they name (code keys, script locations, extra Python files); the
views for ECS, schedules, Athena and alarms are read here for the units that come next. Intrinsic
functions are resolved by `stack_tools.intrinsics`; nothing here knows one unit from another.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from ohlcv_core.config import DEFAULT_REGION
from ohlcv_core.errors import ConfigError
from ohlcv_core.keys import LIVE_PREFIX
from ohlcv_core.limits import MIB
from stack_tools.intrinsics import Intrinsics, load_template

DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "cloudformation" / "template.yaml"
LOCAL_STACK_NAME = "ohlcv-local"
LOCAL_ACCOUNT = "000000000000"
LOCAL_REGION = DEFAULT_REGION
SYMLINK_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"


@dataclass(frozen=True, slots=True)
class LambdaSettings:
    logical_id: str
    function_name: str
    handler: str
    timeout_s: int
    environment: Mapping[str, str]
    arn: str
    runtime: str
    memory_mb: int = 128
    code_key: str | None = None  # Code.S3Key; None for inline code

    @property
    def package(self) -> str:
        """The top-level package the handler lives in (`firehose_transform.handler.x` -> `firehose_transform`)."""
        return self.handler.split(".", 1)[0]


@dataclass(frozen=True, slots=True)
class S3Target:
    """Where a delivery stream writes, as an S3 destination configuration says it: the stream's own
    destination, or its source-record backup (S3BackupMode: Enabled), which has its own hints."""

    bucket: str
    prefix: str
    error_prefix: str
    buffer_size_bytes: int
    buffer_interval_s: int
    compression: str

    @classmethod
    def from_configuration(cls, conf: Mapping[str, Any]) -> S3Target:
        """From a resolved (Extended)S3 destination configuration, with Firehose's defaults."""
        hints = conf.get("BufferingHints", {})
        return cls(bucket=str(conf["BucketARN"]).removeprefix("arn:aws:s3:::"), prefix=conf.get("Prefix", ""),
                   error_prefix=conf.get("ErrorOutputPrefix", ""),
                   buffer_size_bytes=int(hints.get("SizeInMBs", 5)) * 1024 * 1024,
                   buffer_interval_s=int(hints.get("IntervalInSeconds", 300)),
                   compression=conf.get("CompressionFormat", "UNCOMPRESSED"))


@dataclass(frozen=True, slots=True)
class DeliveryStreamSettings:
    name: str
    arn: str
    destination: S3Target
    dynamic_partitioning: bool
    processor: LambdaSettings | None
    processor_buffer_bytes: int
    processor_buffer_interval_s: int
    processor_retries: int
    backup: S3Target | None = None



def firehose_refuses(s: DeliveryStreamSettings) -> str | None:
    """Why CreateDeliveryStream would refuse these settings (None: it would not), for the limits the
    stack's streams come near: buffering hints, the processor's own, and dynamic partitioning's minimums
    (which is why zero buffering needs a stream without it)."""
    d = s.destination
    checks = [
        (1 * MIB <= d.buffer_size_bytes <= 128 * MIB, "BufferingHints.SizeInMBs must be 1-128"),
        (0 <= d.buffer_interval_s <= 900, "BufferingHints.IntervalInSeconds must be 0-900"),
        (not s.dynamic_partitioning or d.buffer_size_bytes >= 64 * MIB,
         "dynamic partitioning needs BufferingHints.SizeInMBs of 64 at least"),
        (not s.dynamic_partitioning or d.buffer_interval_s >= 60,
         "dynamic partitioning needs BufferingHints.IntervalInSeconds of 60 at least (no zero buffering)"),
        (not s.dynamic_partitioning or bool(d.error_prefix), "dynamic partitioning needs an ErrorOutputPrefix"),
        ("!{" not in d.prefix or "!{firehose:error-output-type}" in d.error_prefix,
         "a Prefix with expressions needs an ErrorOutputPrefix with !{firehose:error-output-type}"),
        (s.processor is None or int(0.2 * MIB) <= s.processor_buffer_bytes <= 3 * MIB,
         "the processor's BufferSizeInMBs must be 0.2-3"),
        (s.processor is None or 0 <= s.processor_buffer_interval_s <= 900,
         "the processor's BufferIntervalInSeconds must be 0-900"),
    ]
    return next((reason for holds, reason in checks if not holds), None)


@dataclass(frozen=True, slots=True)
class BucketSettings:
    logical_id: str
    name: str
    eventbridge: bool  # NotificationConfiguration.EventBridgeConfiguration: Object Created events on the bus


@dataclass(frozen=True, slots=True)
class QueueSettings:
    logical_id: str
    name: str
    arn: str
    visibility_timeout_s: int
    dead_letter_queue: str | None  # logical id of the redrive target
    max_receive_count: int | None
    delay_s: int = 0  # DelaySeconds: every message's, unless it gives its own
    url: str = ""  # what Ref gives: the queue's URL


@dataclass(frozen=True, slots=True)
class EventSourceMappingSettings:
    """An SQS queue feeding a Lambda function (AWS::Lambda::EventSourceMapping)."""

    logical_id: str
    queue: QueueSettings
    function: LambdaSettings
    batch_size: int
    window_s: int
    report_batch_item_failures: bool


TargetKind = Literal["sqs", "lambda", "ecs", "other"]


@dataclass(frozen=True, slots=True)
class RuleTarget:
    id: str
    kind: TargetKind
    logical_id: str | None  # the target resource, when the template declares it
    input: str | None = None  # the rule's constant Input (JSON text), else the event itself
    task_definition: str | None = None  # an ECS target's task definition (logical id)


@dataclass(frozen=True, slots=True)
class RuleSettings:
    """An EventBridge rule (AWS::Events::Rule with an EventPattern or a ScheduleExpression) or an
    EventBridge Scheduler schedule (AWS::Scheduler::Schedule), with its targets."""

    logical_id: str
    name: str
    event_pattern: Mapping[str, Any] | None
    schedule: str | None  # rate(...) / cron(...) / at(...)
    targets: tuple[RuleTarget, ...]
    enabled: bool = True


@dataclass(frozen=True, slots=True)
class TableColumn:
    name: str
    type: str
    comment: str | None = None


@dataclass(frozen=True, slots=True)
class TableSettings:
    database: str
    name: str
    location: str
    columns: tuple[TableColumn, ...]
    partition_keys: tuple[TableColumn, ...]
    serde: str
    input_format: str
    output_format: str
    parameters: Mapping[str, str]
    description: str | None = None
    serde_parameters: Mapping[str, str] = field(default_factory=dict)

    @property
    def format(self) -> str:
        return "parquet" if "parquet" in self.serde.lower() else "json"

    @property
    def symlink(self) -> bool:
        """Whether a partition's folder holds manifests naming the data files, not the files themselves."""
        return self.input_format == SYMLINK_INPUT_FORMAT


@dataclass(frozen=True, slots=True)
class GlueJobSettings:
    name: str
    script_location: str
    default_arguments: Mapping[str, str]
    max_concurrent_runs: int
    max_retries: int
    logical_id: str = ""
    timeout_min: int = 2880
    glue_version: str = ""
    worker_type: str = "G.1X"
    number_of_workers: int = 2
    execution_class: str = "STANDARD"

    def tuning_argv(self) -> list[str]:
        """The job's own numeric DefaultArguments (snake_case; Glue's are hyphenated, like `--enable-metrics`),
        as `--name value` pairs: for running the script's `main()` outside a job run (where locations are
        the caller's, and metrics are not published)."""
        argv: list[str] = []
        for name, value in self.default_arguments.items():
            if "_" in name and re.fullmatch(r"-?\d+(\.\d+)?", value):
                argv += [name, value]
        return argv

    @property
    def extra_py_files(self) -> tuple[str, ...]:
        return tuple(u for u in self.default_arguments.get("--extra-py-files", "").split(",") if u)

    @property
    def python_modules(self) -> str:
        """`--additional-python-modules`: what Glue's pip installs before the run (here: a requirements file)."""
        return self.default_arguments.get("--additional-python-modules", "")


@dataclass(frozen=True, slots=True)
class ContainerSettings:
    name: str
    image: str
    command: tuple[str, ...]
    environment: Mapping[str, str]
    secrets: Mapping[str, str]  # variable -> secret ARN (or ARN:json-key::)
    essential: bool = True
    mounts: Mapping[str, str] = field(default_factory=dict)  # container path -> volume name
    health_check: tuple[str, ...] = ()  # the command after CMD
    stop_timeout_s: int | None = None


@dataclass(frozen=True, slots=True)
class TaskDefinitionSettings:
    logical_id: str
    family: str
    cpu: str
    memory: str
    containers: tuple[ContainerSettings, ...]


@dataclass(frozen=True, slots=True)
class ServiceSettings:
    logical_id: str
    name: str
    task_definition: str  # logical id
    desired_count: int


@dataclass(frozen=True, slots=True)
class WorkGroupSettings:
    logical_id: str
    name: str
    output_location: str | None
    bytes_scanned_cutoff: int | None


@dataclass(frozen=True, slots=True)
class NamedQuerySettings:
    logical_id: str
    name: str
    database: str
    query: str
    workgroup: str | None


@dataclass(frozen=True, slots=True)
class AlarmSettings:
    logical_id: str
    name: str
    namespace: str | None
    metric: str | None
    dimensions: Mapping[str, str]
    statistic: str | None
    period_s: int
    evaluation_periods: int
    threshold: float | None
    comparison: str
    treat_missing_data: str


def _columns(raw: list[dict[str, Any]]) -> tuple[TableColumn, ...]:
    return tuple(TableColumn(c["Name"], c["Type"], c.get("Comment")) for c in raw)


class StackTemplate:
    """A parsed template, for one stack (name, account, parameter values), with a view per resource kind."""

    def __init__(self, path: Path = DEFAULT_TEMPLATE, stack_name: str = LOCAL_STACK_NAME,
                 parameters: Mapping[str, str] | None = None, account_id: str = LOCAL_ACCOUNT) -> None:
        self.path = path
        self.body = load_template(path)
        self.cfn = Intrinsics(self.body, path=path, stack_name=stack_name, account_id=account_id,
                              parameters=parameters)
        self.parameters = self.cfn.parameters
        self.pseudo = self.cfn.pseudo

    def resolve(self, value: Any) -> Any:
        return self.cfn.resolve(value)

    # -- compute ---------------------------------------------------------------------------------------
    def lambda_function(self, logical_id: str) -> LambdaSettings:
        if self.cfn.kind(logical_id) != "AWS::Lambda::Function":
            raise ConfigError(f"{self.path}: {logical_id} is not a Lambda function")
        props = self.cfn.properties(logical_id)
        return LambdaSettings(
            logical_id=logical_id, function_name=self.cfn.name(logical_id), handler=str(props["Handler"]),
            timeout_s=int(props.get("Timeout", 3)), memory_mb=int(props.get("MemorySize", 128)),
            environment={k: str(v) for k, v in props.get("Environment", {}).get("Variables", {}).items()},
            arn=self.cfn.arn(logical_id), runtime=str(props.get("Runtime", "")),
            code_key=str(props["Code"]["S3Key"]) if "S3Key" in props.get("Code", {}) else None)

    def lambda_functions(self) -> list[LambdaSettings]:
        return [self.lambda_function(lid) for lid, _ in self.cfn.of_type("AWS::Lambda::Function")]

    def glue_job(self, logical_id: str) -> GlueJobSettings:
        props = self.cfn.properties(logical_id)
        return GlueJobSettings(
            name=str(props["Name"]), script_location=str(props["Command"]["ScriptLocation"]),
            default_arguments={str(k): str(v) for k, v in props.get("DefaultArguments", {}).items()},
            max_concurrent_runs=int(props.get("ExecutionProperty", {}).get("MaxConcurrentRuns", 1)),
            max_retries=int(props.get("MaxRetries", 0)), logical_id=logical_id,
            timeout_min=int(props.get("Timeout", 2880)), glue_version=str(props.get("GlueVersion", "")),
            worker_type=str(props.get("WorkerType", "G.1X")), number_of_workers=int(props.get("NumberOfWorkers", 2)),
            execution_class=str(props.get("ExecutionClass", "STANDARD")))

    def glue_jobs(self) -> list[GlueJobSettings]:
        return [self.glue_job(lid) for lid, _ in self.cfn.of_type("AWS::Glue::Job")]

    # -- storage and streams ---------------------------------------------------------------------------
    def buckets(self) -> list[BucketSettings]:
        buckets = []
        for lid, _ in self.cfn.of_type("AWS::S3::Bucket"):
            props = self.cfn.properties(lid)
            notify = props.get("NotificationConfiguration", {}).get("EventBridgeConfiguration", {})
            buckets.append(BucketSettings(lid, self.cfn.name(lid), bool(notify.get("EventBridgeEnabled"))))
        return buckets

    def delivery_streams(self) -> list[DeliveryStreamSettings]:
        streams = []
        for logical_id, resource in self.cfn.of_type("AWS::KinesisFirehose::DeliveryStream"):
            dest_raw = resource["Properties"]["ExtendedS3DestinationConfiguration"]
            dest = self.resolve(dest_raw)
            processor: LambdaSettings | None = None
            params: dict[str, str] = {}
            processing = dest_raw.get("ProcessingConfiguration", {})
            if processing.get("Enabled"):
                for proc in processing.get("Processors", []):
                    if proc["Type"] != "Lambda":
                        continue
                    for p in proc["Parameters"]:
                        if p["ParameterName"] == "LambdaArn":
                            processor = self.lambda_function(self.cfn.logical_id_of(p["ParameterValue"]))
                        else:
                            params[p["ParameterName"]] = str(self.resolve(p["ParameterValue"]))
            backup = (S3Target.from_configuration(dest["S3BackupConfiguration"])
                      if dest.get("S3BackupMode") == "Enabled" else None)
            settings = DeliveryStreamSettings(
                name=self.cfn.name(logical_id), arn=self.cfn.arn(logical_id),
                destination=S3Target.from_configuration(dest),
                dynamic_partitioning=bool(dest.get("DynamicPartitioningConfiguration", {}).get("Enabled")),
                processor=processor,
                processor_buffer_bytes=int(float(params.get("BufferSizeInMBs", "1")) * 1024 * 1024),
                processor_buffer_interval_s=int(params.get("BufferIntervalInSeconds", "60")),
                processor_retries=int(params.get("NumberOfRetries", "3")),
                backup=backup,
            )
            refused = firehose_refuses(settings)
            if refused:
                raise ConfigError(f"{self.path}: {logical_id}: Firehose would refuse it: {refused}")
            streams.append(settings)
        return streams

    def delivery_stream(self, name: str | None = None) -> DeliveryStreamSettings:
        """The stream named; without a name, the record path's (every stream but the hot path's)."""
        streams = self.delivery_streams()
        for stream in streams:
            if stream.name == name or (name is None and not stream.destination.prefix.startswith(LIVE_PREFIX)):
                return stream
        raise ConfigError(f"no delivery stream {name or 'outside ' + LIVE_PREFIX!r} in {self.path} "
                          f"(have {[s.name for s in streams]})")

    def live_stream(self) -> DeliveryStreamSettings | None:
        """The hot path's stream (writing under live/), when the parameters deploy one."""
        return next((s for s in self.delivery_streams() if s.destination.prefix.startswith(LIVE_PREFIX)), None)

    def tables(self) -> list[TableSettings]:
        tables = []
        for lid, _ in self.cfn.of_type("AWS::Glue::Table"):
            props = self.cfn.properties(lid)
            table = props["TableInput"]
            sd = table["StorageDescriptor"]
            tables.append(TableSettings(
                database=props["DatabaseName"], name=table["Name"], location=sd["Location"],
                columns=_columns(sd["Columns"]), partition_keys=_columns(table.get("PartitionKeys", [])),
                serde=sd["SerdeInfo"]["SerializationLibrary"], input_format=sd["InputFormat"],
                output_format=sd["OutputFormat"],
                parameters={k: str(v) for k, v in table.get("Parameters", {}).items()},
                description=table.get("Description"),
                serde_parameters={k: str(v) for k, v in sd["SerdeInfo"].get("Parameters", {}).items()},
            ))
        return tables

    def table(self, name: str) -> TableSettings:
        for table in self.tables():
            if table.name == name:
                return table
        raise ConfigError(f"no Glue table {name!r} in {self.path}")

    # -- events and queues -----------------------------------------------------------------------------
    def queue(self, logical_id: str) -> QueueSettings:
        if self.cfn.kind(logical_id) != "AWS::SQS::Queue":
            raise ConfigError(f"{self.path}: {logical_id} is not an SQS queue")
        raw = self.cfn.resources[logical_id].get("Properties", {})
        redrive = raw.get("RedrivePolicy") or {}
        return QueueSettings(
            logical_id=logical_id, name=self.cfn.name(logical_id), arn=self.cfn.arn(logical_id),
            visibility_timeout_s=int(self.resolve(raw.get("VisibilityTimeout", 30))),
            delay_s=int(self.resolve(raw.get("DelaySeconds", 0))), url=str(self.resolve({"Ref": logical_id})),
            dead_letter_queue=(self.cfn.logical_id_of(redrive["deadLetterTargetArn"])
                               if "deadLetterTargetArn" in redrive else None),
            max_receive_count=int(self.resolve(redrive["maxReceiveCount"])) if "maxReceiveCount" in redrive else None)

    def queues(self) -> list[QueueSettings]:
        return [self.queue(lid) for lid, _ in self.cfn.of_type("AWS::SQS::Queue")]

    def event_source_mappings(self) -> list[EventSourceMappingSettings]:
        mappings = []
        for lid, resource in self.cfn.of_type("AWS::Lambda::EventSourceMapping"):
            raw = resource["Properties"]
            source = self.cfn.logical_id_of(raw["EventSourceArn"])
            if self.cfn.kind(source) != "AWS::SQS::Queue":
                raise ConfigError(f"{self.path}: {lid} reads {self.cfn.kind(source)}; only SQS sources run locally")
            props = self.cfn.properties(lid)
            mappings.append(EventSourceMappingSettings(
                logical_id=lid, queue=self.queue(source),
                function=self.lambda_function(self.cfn.logical_id_of(raw["FunctionName"])),
                batch_size=int(props.get("BatchSize", 10)),
                window_s=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                report_batch_item_failures="ReportBatchItemFailures" in props.get("FunctionResponseTypes", [])))
        return mappings

    def _target(self, raw: Mapping[str, Any]) -> RuleTarget:
        arn = raw["Arn"]
        try:
            logical_id: str | None = self.cfn.logical_id_of(arn)
        except ConfigError:
            logical_id = None
        kinds: dict[str, TargetKind] = {"AWS::SQS::Queue": "sqs", "AWS::Lambda::Function": "lambda",
                                        "AWS::ECS::Cluster": "ecs"}
        kind = kinds.get(self.cfn.kind(logical_id), "other") if logical_id else "other"
        constant = raw.get("Input")
        task = raw.get("EcsParameters", {}).get("TaskDefinitionArn")
        return RuleTarget(id=str(raw.get("Id", "")), kind=kind, logical_id=logical_id,
                          input=str(self.resolve(constant)) if constant is not None else None,
                          task_definition=self.cfn.logical_id_of(task) if task is not None else None)

    def rules(self) -> list[RuleSettings]:
        rules = []
        for lid, resource in self.cfn.of_type("AWS::Events::Rule"):
            raw = resource["Properties"]
            rules.append(RuleSettings(
                logical_id=lid, name=self.cfn.name(lid),
                event_pattern=self.resolve(raw["EventPattern"]) if "EventPattern" in raw else None,
                schedule=str(self.resolve(raw["ScheduleExpression"])) if "ScheduleExpression" in raw else None,
                targets=tuple(self._target(t) for t in raw.get("Targets", [])),
                enabled=self.resolve(raw.get("State", "ENABLED")) == "ENABLED"))
        for lid, resource in self.cfn.of_type("AWS::Scheduler::Schedule"):
            raw = resource["Properties"]
            rules.append(RuleSettings(
                logical_id=lid, name=self.cfn.name(lid), event_pattern=None,
                schedule=str(self.resolve(raw["ScheduleExpression"])), targets=(self._target(raw["Target"]),),
                enabled=self.resolve(raw.get("State", "ENABLED")) == "ENABLED"))
        return rules

    # -- the units that come next: containers, Athena, alarms --------------------------------------------
    def task_definitions(self) -> list[TaskDefinitionSettings]:
        definitions = []
        for lid, _ in self.cfn.of_type("AWS::ECS::TaskDefinition"):
            props = self.cfn.properties(lid)
            containers = tuple(ContainerSettings(
                name=str(c["Name"]), image=str(c["Image"]), command=tuple(str(a) for a in c.get("Command", [])),
                environment={str(e["Name"]): str(e["Value"]) for e in c.get("Environment", [])},
                secrets={str(s["Name"]): str(s["ValueFrom"]) for s in c.get("Secrets", [])},
                essential=bool(c.get("Essential", True)),
                mounts={str(m["ContainerPath"]): str(m["SourceVolume"]) for m in c.get("MountPoints", [])},
                health_check=tuple(str(a) for a in c.get("HealthCheck", {}).get("Command", [])[1:]),
                stop_timeout_s=int(c["StopTimeout"]) if "StopTimeout" in c else None)
                for c in props.get("ContainerDefinitions", []))
            definitions.append(TaskDefinitionSettings(lid, str(props.get("Family", self.cfn.name(lid))),
                                                      str(props.get("Cpu", "")), str(props.get("Memory", "")),
                                                      containers))
        return definitions

    def services(self) -> list[ServiceSettings]:
        services = []
        for lid, resource in self.cfn.of_type("AWS::ECS::Service"):
            raw = resource["Properties"]
            services.append(ServiceSettings(lid, self.cfn.name(lid), self.cfn.logical_id_of(raw["TaskDefinition"]),
                                            int(self.resolve(raw.get("DesiredCount", 1)))))
        return services

    def workgroups(self) -> list[WorkGroupSettings]:
        groups = []
        for lid, _ in self.cfn.of_type("AWS::Athena::WorkGroup"):
            props = self.cfn.properties(lid)
            conf = props.get("WorkGroupConfiguration", {})
            cutoff = conf.get("BytesScannedCutoffPerQuery")
            groups.append(WorkGroupSettings(lid, str(props["Name"]),
                                            conf.get("ResultConfiguration", {}).get("OutputLocation"),
                                            int(cutoff) if cutoff is not None else None))
        return groups

    def named_queries(self) -> list[NamedQuerySettings]:
        queries = []
        for lid, _ in self.cfn.of_type("AWS::Athena::NamedQuery"):
            props = self.cfn.properties(lid)
            queries.append(NamedQuerySettings(lid, str(props.get("Name", lid)), str(props["Database"]),
                                              str(props["QueryString"]), props.get("WorkGroup")))
        return queries

    def alarms(self) -> list[AlarmSettings]:
        alarms = []
        for lid, _ in self.cfn.of_type("AWS::CloudWatch::Alarm"):
            props = self.cfn.properties(lid)
            threshold = props.get("Threshold")
            alarms.append(AlarmSettings(
                logical_id=lid, name=self.cfn.name(lid), namespace=props.get("Namespace"),
                metric=props.get("MetricName"),
                dimensions={str(d["Name"]): str(d["Value"]) for d in props.get("Dimensions", [])},
                statistic=props.get("Statistic"), period_s=int(props.get("Period", 60)),
                evaluation_periods=int(props["EvaluationPeriods"]),
                threshold=float(threshold) if threshold is not None else None,
                comparison=str(props["ComparisonOperator"]),
                treat_missing_data=str(props.get("TreatMissingData", "missing"))))
        return alarms
