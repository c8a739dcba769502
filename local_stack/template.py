"""Reads cloudformation/template.yaml and resolves what the local stand-ins need from it.

Only the intrinsic functions the template uses are resolved (Ref, Fn::Sub, Fn::GetAtt, Fn::Join),
with the local stack's pseudo parameters. Anything else is an error, not a guess.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from ohlcv_core.errors import ConfigError

DEFAULT_TEMPLATE = Path(__file__).resolve().parent.parent / "cloudformation" / "template.yaml"
LOCAL_STACK_NAME = "ohlcv-local"
LOCAL_ACCOUNT = "000000000000"
LOCAL_REGION = "us-east-1"
SYMLINK_INPUT_FORMAT = "org.apache.hadoop.hive.ql.io.SymlinkTextInputFormat"

_TAGS = {"Ref": "Ref", "Sub": "Fn::Sub", "GetAtt": "Fn::GetAtt", "Join": "Fn::Join", "Select": "Fn::Select",
         "If": "Fn::If", "Equals": "Fn::Equals", "Not": "Fn::Not", "ImportValue": "Fn::ImportValue",
         "FindInMap": "Fn::FindInMap", "Split": "Fn::Split", "Base64": "Fn::Base64"}


class _CfnLoader(yaml.SafeLoader):
    pass


def _construct_tag(loader: yaml.Loader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    name = _TAGS.get(suffix)
    if name is None:
        raise ConfigError(f"unsupported CloudFormation tag !{suffix}")
    value: Any
    if isinstance(node, yaml.ScalarNode):
        value = loader.construct_scalar(node)
        if name == "Fn::GetAtt":
            value = str(value).split(".", 1)
    elif isinstance(node, yaml.SequenceNode):
        value = loader.construct_sequence(node, deep=True)
    else:
        value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
    return {name: value}


_CfnLoader.add_multi_constructor("!", _construct_tag)

_SUB_RE = re.compile(r"\$\{([^}]*)\}")


@dataclass(frozen=True, slots=True)
class LambdaSettings:
    logical_id: str
    function_name: str
    handler: str
    timeout_s: int
    environment: Mapping[str, str]
    arn: str
    runtime: str


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


@dataclass(frozen=True, slots=True)
class RuleSettings:
    """An EventBridge rule and the queue it feeds."""

    name: str
    event_pattern: Mapping[str, Any]
    target_queue: str  # logical id


@dataclass(frozen=True, slots=True)
class EventSourceSettings:
    """An SQS queue feeding a Lambda through an event source mapping."""

    queue_name: str
    queue_arn: str
    function: LambdaSettings
    batch_size: int
    window_s: int
    max_receive_count: int | None
    dead_letter_queue: str | None
    rules: tuple[RuleSettings, ...]


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


def _check_parameter(name: str, spec: Mapping[str, Any], value: str) -> None:
    """The checks CloudFormation makes before it deploys: AllowedValues, MinValue, MaxValue."""
    allowed = spec.get("AllowedValues")
    if allowed is not None and value not in [str(a) for a in allowed]:
        raise ConfigError(f"parameter {name}={value!r} is not one of {allowed}")
    if spec.get("Type") == "Number":
        try:
            number = float(value)
        except ValueError as exc:
            raise ConfigError(f"parameter {name}={value!r} is not a number") from exc
        if "MinValue" in spec and number < float(spec["MinValue"]):
            raise ConfigError(f"parameter {name}={value} is below its MinValue {spec['MinValue']}")
        if "MaxValue" in spec and number > float(spec["MaxValue"]):
            raise ConfigError(f"parameter {name}={value} is above its MaxValue {spec['MaxValue']}")


class StackTemplate:
    """A parsed template with the local pseudo parameters and the parameters' defaults."""

    def __init__(self, path: Path = DEFAULT_TEMPLATE, stack_name: str = LOCAL_STACK_NAME,
                 parameters: Mapping[str, str] | None = None, account_id: str = LOCAL_ACCOUNT) -> None:
        try:
            loaded = yaml.load(path.read_text(encoding="utf-8"), Loader=_CfnLoader)
        except (OSError, yaml.YAMLError) as exc:
            raise ConfigError(f"cannot read the stack template {path}: {exc}") from exc
        self.path = path
        self.body: dict[str, Any] = loaded
        self.resources: dict[str, dict[str, Any]] = loaded.get("Resources", {})
        self.pseudo = {"AWS::StackName": stack_name, "AWS::AccountId": account_id,
                       "AWS::Region": LOCAL_REGION, "AWS::Partition": "aws", "AWS::URLSuffix": "amazonaws.com"}
        specs: dict[str, dict[str, Any]] = loaded.get("Parameters", {})
        self.parameters = {name: str(spec.get("Default", "")) for name, spec in specs.items()}
        for name, value in (parameters or {}).items():
            if name not in specs:
                raise ConfigError(f"{path} has no parameter {name!r} (have {sorted(specs)})")
            _check_parameter(name, specs[name], value)
            self.parameters[name] = str(value)

    # -- intrinsic functions -------------------------------------------------------------------
    def _resource_name(self, logical_id: str) -> str:
        resource = self.resources[logical_id]
        props = resource.get("Properties", {})
        for key in ("BucketName", "DeliveryStreamName", "FunctionName", "Name", "LogGroupName", "QueueName"):
            if key in props:
                return str(self.resolve(props[key]))
        if resource["Type"] == "AWS::Glue::Database":
            return str(self.resolve(props["DatabaseInput"]["Name"]))
        return f"{self.pseudo['AWS::StackName']}-{logical_id}"

    def _ref(self, name: str) -> str:
        if name in self.pseudo:
            return self.pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.resources:
            return self._resource_name(name)
        raise ConfigError(f"{self.path}: !Ref to unknown name {name!r}")

    def _get_att(self, logical_id: str, attribute: str) -> str:
        if logical_id not in self.resources:
            raise ConfigError(f"{self.path}: !GetAtt on unknown resource {logical_id!r}")
        kind = self.resources[logical_id]["Type"]
        name = self._resource_name(logical_id)
        account, region = self.pseudo["AWS::AccountId"], self.pseudo["AWS::Region"]
        if attribute != "Arn":
            raise ConfigError(f"{self.path}: !GetAtt {logical_id}.{attribute} is not resolved locally")
        arns = {
            "AWS::S3::Bucket": f"arn:aws:s3:::{name}",
            "AWS::Lambda::Function": f"arn:aws:lambda:{region}:{account}:function:{name}",
            "AWS::KinesisFirehose::DeliveryStream": f"arn:aws:firehose:{region}:{account}:deliverystream/{name}",
            "AWS::Logs::LogGroup": f"arn:aws:logs:{region}:{account}:log-group:{name}:*",
            "AWS::IAM::Role": f"arn:aws:iam::{account}:role/{name}",
            "AWS::SQS::Queue": f"arn:aws:sqs:{region}:{account}:{name}",
            "AWS::Events::Rule": f"arn:aws:events:{region}:{account}:rule/{name}",
        }
        if kind not in arns:
            raise ConfigError(f"{self.path}: no local ARN for {kind}")
        return arns[kind]

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            token = match.group(1)
            if token.startswith("!"):
                return "${" + token[1:] + "}"
            if token in variables:
                return str(self.resolve(variables[token]))
            if "." in token:
                logical_id, attribute = token.split(".", 1)
                return self._get_att(logical_id, attribute)
            return self._ref(token)

        return _SUB_RE.sub(replace, text)

    def _intrinsic(self, key: str, arg: Any) -> Any:
        if key == "Ref":
            return self._ref(str(arg))
        if key == "Fn::GetAtt":
            return self._get_att(str(arg[0]), str(arg[1]))
        if key == "Fn::Sub":
            return self._sub(str(arg[0]), arg[1]) if isinstance(arg, list) else self._sub(str(arg), {})
        if key == "Fn::Join":
            return str(arg[0]).join(str(self.resolve(v)) for v in arg[1])
        raise ConfigError(f"{self.path}: {key} is not resolved by the local stack")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self.resolve(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (key, arg), = value.items()
            if key == "Ref" or key.startswith("Fn::"):
                return self._intrinsic(key, arg)
        return {k: self.resolve(v) for k, v in value.items()}

    def _of_type(self, kind: str) -> list[tuple[str, dict[str, Any]]]:
        return [(lid, r) for lid, r in self.resources.items() if r.get("Type") == kind]

    # -- what the stand-ins need ---------------------------------------------------------------
    def lambda_function(self, logical_id: str) -> LambdaSettings:
        props = self.resolve(self.resources[logical_id]["Properties"])
        return LambdaSettings(
            logical_id=logical_id, function_name=props["FunctionName"], handler=props["Handler"],
            timeout_s=int(props.get("Timeout", 3)),
            environment=dict(props.get("Environment", {}).get("Variables", {})),
            arn=self._get_att(logical_id, "Arn"), runtime=str(props.get("Runtime", "")),
        )

    def delivery_streams(self) -> list[DeliveryStreamSettings]:
        streams = []
        for logical_id, resource in self._of_type("AWS::KinesisFirehose::DeliveryStream"):
            raw = resource["Properties"]
            dest_raw = raw["ExtendedS3DestinationConfiguration"]
            dest = self.resolve(dest_raw)
            processor: LambdaSettings | None = None
            params: dict[str, str] = {}
            processing = dest_raw.get("ProcessingConfiguration", {})
            if processing.get("Enabled"):
                for proc in processing.get("Processors", []):
                    if proc["Type"] != "Lambda":
                        continue
                    for p in proc["Parameters"]:
                        value = p["ParameterValue"]
                        if p["ParameterName"] == "LambdaArn":
                            if not (isinstance(value, dict) and "Fn::GetAtt" in value):
                                raise ConfigError("the processor's LambdaArn must be !GetAtt <function>.Arn")
                            processor = self.lambda_function(value["Fn::GetAtt"][0])
                        else:
                            params[p["ParameterName"]] = str(self.resolve(value))
            backup = (S3Target.from_configuration(dest["S3BackupConfiguration"])
                      if dest.get("S3BackupMode") == "Enabled" else None)
            streams.append(DeliveryStreamSettings(
                name=self._resource_name(logical_id),
                arn=self._get_att(logical_id, "Arn"),
                destination=S3Target.from_configuration(dest),
                dynamic_partitioning=bool(dest.get("DynamicPartitioningConfiguration", {}).get("Enabled")),
                processor=processor,
                processor_buffer_bytes=int(float(params.get("BufferSizeInMBs", "1")) * 1024 * 1024),
                processor_buffer_interval_s=int(params.get("BufferIntervalInSeconds", "60")),
                processor_retries=int(params.get("NumberOfRetries", "3")),
                backup=backup,
            ))
        return streams

    def delivery_stream(self, name: str | None = None) -> DeliveryStreamSettings:
        streams = self.delivery_streams()
        for stream in streams:
            if name is None or stream.name == name:
                return stream
        raise ConfigError(f"no delivery stream {name!r} in {self.path} (have {[s.name for s in streams]})")

    def tables(self) -> list[TableSettings]:
        tables = []
        for _, resource in self._of_type("AWS::Glue::Table"):
            props = self.resolve(resource["Properties"])
            table = props["TableInput"]
            sd = table["StorageDescriptor"]
            tables.append(TableSettings(
                database=props["DatabaseName"], name=table["Name"], location=sd["Location"],
                columns=tuple(TableColumn(c["Name"], c["Type"], c.get("Comment")) for c in sd["Columns"]),
                partition_keys=tuple(TableColumn(c["Name"], c["Type"], c.get("Comment"))
                                     for c in table.get("PartitionKeys", [])),
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

    def _logical_id_of_arn(self, value: Any) -> str:
        if isinstance(value, dict) and "Fn::GetAtt" in value:
            return str(value["Fn::GetAtt"][0])
        raise ConfigError(f"{self.path}: expected !GetAtt <resource>.Arn, got {value!r}")

    def event_source(self, function_logical_id: str) -> EventSourceSettings:
        """The SQS event source of a function, the queue's redrive policy and the rules that feed it."""
        for _, resource in self._of_type("AWS::Lambda::EventSourceMapping"):
            props = resource["Properties"]
            function = props["FunctionName"]
            if not (isinstance(function, dict) and function.get("Ref") == function_logical_id):
                continue
            queue_id = self._logical_id_of_arn(props["EventSourceArn"])
            queue = self.resolve(self.resources[queue_id].get("Properties", {}))
            redrive = queue.get("RedrivePolicy") or {}
            dlq_arn = redrive.get("deadLetterTargetArn")
            rules = tuple(
                RuleSettings(self._resource_name(rule_id), self.resolve(rule["Properties"]["EventPattern"]), queue_id)
                for rule_id, rule in self._of_type("AWS::Events::Rule")
                if any(self._logical_id_of_arn(t["Arn"]) == queue_id for t in rule["Properties"].get("Targets", [])))
            return EventSourceSettings(
                queue_name=self._resource_name(queue_id), queue_arn=self._get_att(queue_id, "Arn"),
                function=self.lambda_function(function_logical_id), batch_size=int(props.get("BatchSize", 10)),
                window_s=int(props.get("MaximumBatchingWindowInSeconds", 0)),
                max_receive_count=int(redrive["maxReceiveCount"]) if "maxReceiveCount" in redrive else None,
                dead_letter_queue=str(dlq_arn).rsplit(":", 1)[-1] if dlq_arn else None, rules=rules)
        raise ConfigError(f"{self.path}: no event source mapping for {function_logical_id}")

    def glue_job(self, logical_id: str) -> GlueJobSettings:
        props = self.resolve(self.resources[logical_id]["Properties"])
        return GlueJobSettings(
            name=props["Name"], script_location=props["Command"]["ScriptLocation"],
            default_arguments={str(k): str(v) for k, v in props.get("DefaultArguments", {}).items()},
            max_concurrent_runs=int(props.get("ExecutionProperty", {}).get("MaxConcurrentRuns", 1)),
            max_retries=int(props.get("MaxRetries", 0)),
        )
